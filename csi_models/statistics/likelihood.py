"""The normal log-likelihood of incomplete data, pattern by pattern (FIML's objective).

One casewise log-likelihood for the FIML estimator (``engines.fiml``) and the FIML fit measures
(``statistics.fit_measures``): rows are grouped by their pattern of observed items, and each
pattern contributes tr(Sigma_k^-1 S_k) + n_k log|Sigma_k| with Sigma_k, mu_k the moments of its
observed items and S_k = sum over its rows of (x - mu_k)(x - mu_k)'.
"""

from __future__ import annotations

import numpy as np

LOG2PI = np.log(2 * np.pi)


def missing_patterns(X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(observed-item mask, row numbers)] for each pattern of observed items in X."""
    observed = np.isfinite(X)
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    return [(key, np.flatnonzero(inverse.ravel() == k)) for k, key in enumerate(keys)]


def observed_blocks(X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(observed item indices, those items' values in the pattern's rows)]; rows with
    nothing observed add nothing to the likelihood and are left out."""
    return [(np.flatnonzero(mask), X[np.ix_(rows, np.flatnonzero(mask))])
            for mask, rows in missing_patterns(X) if mask.any()]


def discrepancy(blocks, sigma: np.ndarray, mu: np.ndarray) -> float:
    """f = sum_k [tr(Sigma_k^-1 S_k) + n_k log|Sigma_k|] (inf where a Sigma_k is not PD)."""
    total = 0.0
    try:
        for idx, X in blocks:
            S_o = sigma[np.ix_(idx, idx)]
            sign, logdet = np.linalg.slogdet(S_o)
            if sign <= 0:
                return np.inf
            resid = X - mu[idx]
            total += np.einsum("ij,ji->", resid, np.linalg.solve(S_o, resid.T)) + len(X) * logdet
    except np.linalg.LinAlgError:
        return np.inf
    return float(total)


def casewise_loglik(X: np.ndarray, Sigma: np.ndarray, mu: np.ndarray) -> float:
    """Sum over rows of the normal log-density of each row's observed items:
    -(f + log(2 pi) x number of observed cells) / 2."""
    blocks = observed_blocks(X)
    cells = sum(X_k.size for _, X_k in blocks)
    return -0.5 * (discrepancy(blocks, Sigma, mu) + cells * LOG2PI)
