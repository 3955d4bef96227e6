"""The normal log-likelihood of incomplete data, pattern by pattern (FIML's objective).

The casewise log-likelihood of the FIML fit measures (``statistics.fit_measures``; the FIML
estimator, ``engines.fiml``, evaluates the same sum with the patterns stacked by size): rows
are grouped by their pattern of observed items, and each
pattern contributes tr(Sigma_k^-1 S_k) + n_k log|Sigma_k| with Sigma_k, mu_k the moments of its
observed items and S_k = sum over its rows of (x - mu_k)(x - mu_k)'. With respondent weights
(lavaan's sampling.weights, normalized to sum to the rows) each row's term counts w_i times:
S_k = sum w_i (x - mu_k)(x - mu_k)' and n_k = sum w_i.
"""

from __future__ import annotations

import numpy as np

LOG2PI = np.log(2 * np.pi)


def missing_patterns(X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(observed-item mask, row numbers)] for each pattern of observed items in X."""
    observed = np.isfinite(X)
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    return [(key, np.flatnonzero(inverse.ravel() == k)) for k, key in enumerate(keys)]


def observed_blocks(X: np.ndarray, weights: np.ndarray | None = None) -> list[tuple]:
    """[(observed item indices, those items' values in the pattern's rows, the rows'
    weights or None)]; rows with nothing observed add nothing to the likelihood and are
    left out."""
    return [(np.flatnonzero(mask), X[np.ix_(rows, np.flatnonzero(mask))],
             None if weights is None else np.asarray(weights, float)[rows])
            for mask, rows in missing_patterns(X) if mask.any()]


def discrepancy(blocks, sigma: np.ndarray, mu: np.ndarray) -> float:
    """f = sum_k [tr(Sigma_k^-1 S_k) + n_k log|Sigma_k|] (inf where a Sigma_k is not PD)."""
    total = 0.0
    try:
        for idx, X, w in blocks:
            S_o = sigma[np.ix_(idx, idx)]
            # Cholesky, not the determinant's sign (which passes two negative eigenvalues)
            logdet = 2 * np.log(np.diagonal(np.linalg.cholesky(S_o))).sum()
            resid = X - mu[idx]
            if w is None:
                total += np.einsum("ij,ji->", resid, np.linalg.solve(S_o, resid.T)) + len(X) * logdet
            else:
                total += (np.einsum("ij,ji->", resid * w[:, None], np.linalg.solve(S_o, resid.T))
                          + w.sum() * logdet)
    except np.linalg.LinAlgError:
        return np.inf
    return float(total)


def casewise_loglik(X: np.ndarray, Sigma: np.ndarray, mu: np.ndarray,
                    weights: np.ndarray | None = None) -> float:
    """Sum over rows of the (weighted) normal log-density of each row's observed items:
    -(f + log(2 pi) x number of observed cells, each counted w_i times) / 2."""
    blocks = observed_blocks(X, weights)
    cells = sum(X_k.size if w is None else X_k.shape[1] * w.sum() for _, X_k, w in blocks)
    return -0.5 * (discrepancy(blocks, Sigma, mu) + cells * LOG2PI)
