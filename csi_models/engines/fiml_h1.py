"""FIML's unrestricted (H1) and independence models, for lavaan's tests with missing data.

The unrestricted model has the p item means and the p(p+1)/2 covariance entries as its
parameters (``FreeMoments`` with ``h1_pairs``), the independence model the means and the
variances. From them come lavaan's Yuan-Bentler scaled test with missing data
(``scaling_factors``, on ``saturated_sandwich``: the unrestricted model's observed information
under missing data, analytic, and its respondents' scores) and the FIML-corrected
chi-squares of Zhang & Savalei (2022) behind lavaan's ``.robust`` CFI, TLI and RMSEA
(``corrected_test``, with the model's ``moments_jacobian``). ``engines.cbsem_robust`` turns
both into fit measures.
"""

from __future__ import annotations

import numpy as np

from csi_models.engines.fiml import FIML, sandwich


class FreeMoments:
    """A model whose parameters are the item means and the given covariance entries
    (``pairs`` (i, j), i >= j), offering what ``FIML`` reads of a semopy model (and its
    constant derivatives): the unrestricted model (every entry, H1) and the independence
    model (the variances) of lavaan's scaled test with missing data."""

    def __init__(self, p: int, pairs: list):
        self.p = p
        self.rows, self.cols = (np.array(v, int) for v in zip(*pairs))
        k = p + len(self.rows)
        self.dsigma, self.dmu = np.zeros((k, p, p)), np.zeros((k, p))
        self.dmu[np.arange(p), np.arange(p)] = 1.0
        at = p + np.arange(len(self.rows))
        self.dsigma[at, self.rows, self.cols] = self.dsigma[at, self.cols, self.rows] = 1.0
        self.update_matrices(np.zeros(k))

    def vector(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return np.concatenate([mu, sigma[self.rows, self.cols]])

    def update_matrices(self, x):
        self.mu = np.asarray(x[:self.p], float)
        self.sigma = np.zeros((self.p, self.p))
        self.sigma[self.rows, self.cols] = self.sigma[self.cols, self.rows] = x[self.p:]

    def calc_sigma(self):
        return self.sigma, (None, None)

    def calc_mean(self, _):
        return self.mu[:, None]

    def derivatives(self, x):
        """(Sigma, mu, dSigma, dmu) at x."""
        self.update_matrices(x)
        return self.sigma, self.mu, self.dsigma, self.dmu


def _trace_ratio(model: FreeMoments, mu, sigma, X, weights) -> float:
    """tr(A^-1 B) / parameters of ``model`` at (mu, sigma)."""
    x = model.vector(mu, sigma)
    A, B = sandwich(FIML(model, X, weights), x)
    return float(np.trace(np.linalg.solve(A, B))) / x.size


def scaling_factors(A: np.ndarray, B: np.ndarray, X: np.ndarray, weights, h1: tuple,
                    baseline: tuple, saturated: tuple | None = None) -> dict:
    """lavaan's Yuan-Bentler (Mplus) scaling of the chi-square with missing data:
    c0 = tr(A^-1 B) / q of the model (A, B: ``sandwich`` at its estimates), c1 the same of
    the unrestricted model (p means and p(p+1)/2 covariances) at its EM estimates ``h1``
    (unstructured, as lavaan), c = (p1 c1 - q c0) / df; the baseline's factor from the
    independence model (means and variances) at ``baseline`` with the same c1.
    ``saturated``: ``saturated_sandwich`` at ``h1`` when already computed."""
    p = X.shape[1]
    q = A.shape[0]
    c0 = float(np.trace(np.linalg.solve(A, B))) / q
    A1, B1 = saturated if saturated is not None else saturated_sandwich(X, weights, h1)
    c1 = float(np.trace(np.linalg.solve(A1, B1))) / len(A1)
    p1 = p + p * (p + 1) // 2
    independence = FreeMoments(p, [(j, j) for j in range(p)])
    base_mu, base_var = baseline
    c0_base = _trace_ratio(independence, base_mu, np.diag(base_var), X, weights)
    df, df_base = p1 - q, p1 - 2 * p
    return {"c": (p1 * c1 - q * c0) / df if df > 0 else np.nan,
            "c_base": (p1 * c1 - 2 * p * c0_base) / df_base,
            "scaling.factor.h1": c1, "scaling.factor.h0": c0}


def h1_pairs(p: int) -> list:
    """The covariance entries (i, j), i >= j, column by column: with the p means, the
    parameters of the unrestricted model (H1)."""
    return [(i, j) for j in range(p) for i in range(j, p)]


def saturated_sandwich(X: np.ndarray, weights, h1: tuple):
    """(A, B) of the unrestricted model (means, ``h1_pairs``) at its EM estimates ``h1``, as
    ``sandwich`` gives them: A its observed information under missing data, analytic
    (``_saturated_information``: differencing the gradient took p + p(p+1)/2 gradients, 1.3
    s on ECSI), B the cross-products of the respondents' scores."""
    m, S = h1
    full = FreeMoments(X.shape[1], h1_pairs(X.shape[1]))
    objective = FIML(full, X, weights)
    scores = objective.scores(full.vector(m, S)) / 2
    return _saturated_information(objective, m, S), scores.T @ scores


def _saturated_information(objective: FIML, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Half the Hessian of f = sum_k [n_k log|Sigma_o| + tr(Sigma_o^-1 S_k)] with respect to
    the means and covariance entries (``h1_pairs``), pattern by pattern. With P = Sigma_o^-1,
    s = the (weighted) sum of the pattern's residuals, v = P s, Q = P S_k P and every
    covariance entry's derivative written D_b = f_b (e_i e_j' + e_j e_i') (f_b = 1/2 on the
    diagonal): d2f/dmu dmu' = 2 n_k P, d2f/dmu_a dsigma_b = 2 f_b (P_ai v_j + P_aj v_i) and
    d2f/dsigma_b dsigma_c = -n_k tr(P D_b P D_c) + T_bc + T_cb, T_bc = tr(P D_b P D_c Q)."""
    p = mean.size
    position = {pair: p + a for a, pair in enumerate(h1_pairs(p))}
    H = np.zeros((len(position) + p, len(position) + p))
    for idx, X, w, _ in objective._blocks:
        P = np.linalg.inv(sigma[np.ix_(idx, idx)])
        R = X - mean[idx]
        n_k, v = w.sum(), P @ (w @ R)
        Q = P @ ((R * w[:, None]).T @ R) @ P
        i, j = np.tril_indices(idx.size)                   # local entries, i >= j
        at = np.array([position[(a, b)] for a, b in zip(idx[i], idx[j])])
        f = np.where(i != j, 1.0, 0.5)
        I, J, K, L = i[:, None], j[:, None], i[None, :], j[None, :]
        ff = f[:, None] * f[None, :]
        trace = 2 * ff * (P[I, K] * P[J, L] + P[I, L] * P[J, K])
        T = ff * (P[J, K] * Q[L, I] + P[J, L] * Q[K, I] + P[I, K] * Q[L, J] + P[I, L] * Q[K, J])
        mixed = 2 * f * (P[:, i] * v[j] + P[:, j] * v[i])
        H[np.ix_(idx, idx)] += 2 * n_k * P
        H[np.ix_(idx, at)] += mixed
        H[np.ix_(at, idx)] += mixed.T
        H[np.ix_(at, at)] += -n_k * trace + T + T.T
    return H / 2


def moments_jacobian(objective: FIML, x: np.ndarray, order) -> np.ndarray:
    """Delta, (p + p(p+1)/2, q): the derivatives of the model's means and covariance entries
    (``h1_pairs``) with respect to its free parameters at x, the items taken in ``order``
    (their positions in the model's observed order)."""
    _, _, dsigma, dmu = objective._moments(np.asarray(x, float))
    o = np.asarray(order)
    rows, cols = (o[np.array(v)] for v in zip(*h1_pairs(o.size)))
    return np.concatenate([dmu[:, o].T, dsigma[:, rows, cols].T])


def covariance_information(P: np.ndarray) -> np.ndarray:
    """Per case, the complete-data normal information of the covariance entries
    (``h1_pairs``) at Sigma = P^-1: 1/2 tr(P D_a P D_b) with D_a = e_i e_j' + e_j e_i'
    (e_i e_i' on the diagonal), entry by entry (no p^4 Kronecker product)."""
    rows, cols = (np.array(v) for v in zip(*h1_pairs(len(P))))
    block = P[rows[:, None], rows[None, :]] * P[cols[:, None], cols[None, :]] \
        + P[rows[:, None], cols[None, :]] * P[cols[:, None], rows[None, :]]
    off = np.where(rows != cols, 2.0, 1.0)
    return block * off[:, None] * off[None, :] / 4


def _complete_information(mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Per respondent, the complete-data normal information of the unrestricted model's
    parameters (means, ``h1_pairs``) at (mean, sigma): Sigma^-1 for the means and
    ``covariance_information`` for the covariance entries."""
    p = mean.size
    P = np.linalg.inv(sigma)
    cov = covariance_information(P)
    out = np.zeros((p + len(cov), p + len(cov)))
    out[:p, :p] = P
    out[p:, p:] = cov
    return out


def corrected_test(X: np.ndarray, weights, h1: tuple, baseline: tuple, sigma: np.ndarray,
                   mu: np.ndarray, jacobian: np.ndarray, robust: bool,
                   saturated: tuple | None = None) -> dict:
    """The FIML-corrected chi-squares and scaling factors from which lavaan (0.6-13 on)
    computes the ``.robust`` CFI, TLI and RMSEA with missing data (Zhang & Savalei 2022,
    "New computations for RMSEA and CFI following FIML and TS estimation with missing
    data"): for the model (Sigma, mu at its FIML estimates; ``jacobian`` from
    ``moments_jacobian``) and for the independence model (``baseline``: its means and
    variances), the complete-data ML chi-square against the EM moments ``h1`` and
    c = k / df with, per respondent, W_m the observed information of the unrestricted model
    at ``h1`` (under missing data), J_m its scores' cross-products, W_c its complete-data
    information and U = W_m - W_m D (D' W_m D)^-1 D' W_m:
    k = tr(U W_m^-1 W_c W_m^-1 U W_m^-1 J_m W_m^-1) with robust SEs or weights (lavaan's
    "V3"), else k = tr(W_c W_m^-1 U W_m^-1) ("V6"). ``saturated``: ``saturated_sandwich``
    at ``h1`` when already computed."""
    from csi_models.statistics.fit_measures import ml_chisq

    n, p = X.shape
    m, S = h1
    A, B = saturated if saturated is not None else saturated_sandwich(X, weights, h1)
    Wm, Jm = A / n, B / n
    Wm_inv = np.linalg.inv(Wm)
    middle = Wm_inv @ _complete_information(m, S) @ Wm_inv
    if robust:
        gamma = Wm_inv @ Jm @ Wm_inv

    def trace(D):
        WD = Wm @ D
        U = Wm - WD @ np.linalg.solve(D.T @ WD, WD.T)
        return float(np.trace(U @ middle @ U @ gamma) if robust else np.trace(middle @ U))

    independence = np.zeros((Wm.shape[0], 2 * p))     # d(means, h1_pairs)/d(means, variances)
    independence[np.arange(p), np.arange(p)] = 1
    diagonal = [p + a for a, (i, j) in enumerate(h1_pairs(p)) if i == j]
    independence[diagonal, p + np.arange(p)] = 1
    base_mean, base_var = baseline
    df = Wm.shape[0] - jacobian.shape[1]
    df_base = p * (p - 1) // 2
    return {"chisq": ml_chisq(S, sigma, n, m - mu), "df": df,
            "c": trace(jacobian) / df if df > 0 else np.nan,
            "baseline.chisq": ml_chisq(S, np.diag(base_var), n, m - base_mean),
            "baseline.df": df_base, "c_base": trace(independence) / df_base}
