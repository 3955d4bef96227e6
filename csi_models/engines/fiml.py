"""Full-information ML for incomplete survey data, on a semopy ModelMeans.

semopy supplies the model-implied moments and their parameter derivatives (Sigma, mu,
dSigma/dtheta, dmu/dtheta); here they are combined per missing-data pattern in a few
vectorized numpy calls. semopy's own FIML routine loops over parameters x patterns in
Python and its SLSQP run stops far from the optimum on CSI models (ECSI, 2.4% missing:
20 s and max |gradient| 155), so we use Fisher scoring with the pattern-wise expected
information, then Newton steps (``engines.optimize``).

f(theta) = sum_k [ tr(Sigma_k^-1 S_k) + n_k log|Sigma_k| ]  (= -2 log L up to a constant),
with Sigma_k, mu_k the moments of pattern k's observed items and
S_k = sum over its rows of (x - mu_k)(x - mu_k)'. The same function semopy minimizes; with
respondent weights (lavaan's sampling.weights with missing = "ml") every row's term counts
w_i times (``statistics.likelihood``);
``statistics.likelihood.casewise_loglik`` adds the constant back for the fit measures (lavaan's logl with
missing = "ml"; tests/test_fit_indices.py).
"""

from __future__ import annotations

import warnings

import numpy as np

from csi_models.data.weights import normalized
from csi_models.engines.mlkernel import cholesky_stack
from csi_models.engines.optimize import numeric_hessian
from csi_models.statistics.likelihood import observed_blocks


class _SizeGroup:
    """The patterns with the same number m of observed items, stacked: their items (K, m),
    flat positions in p x p (K, m*m), summed weights n_k, and the data's weighted sums
    t1 = sum w y (K, m) and T2 = sum w y y' (K, m, m) over each pattern's rows, y = x - c
    (c the items' observed means: sums of centred values lose no digits to the scale's
    offset), from which S_k(mu) = sum w (y - u)(y - u)' = T2 - t1 u' - u t1' + n_k u u' at
    any mu, u = mu - c."""

    def __init__(self, blocks: list, p: int, center: np.ndarray):
        self.idx = np.stack([idx for idx, *_ in blocks])
        self.cells = (self.idx[:, :, None] * p + self.idx[:, None, :]).reshape(len(blocks), -1)
        self.center = center
        self.n = np.array([w.sum() for _, _, w, _ in blocks])
        Y = [X - center[idx] for idx, X, _, _ in blocks]
        self.t1 = np.stack([w @ y for y, (_, _, w, _) in zip(Y, blocks)])
        self.T2 = np.stack([(y * w[:, None]).T @ y for y, (_, _, w, _) in zip(Y, blocks)])

    def terms(self, sigma: np.ndarray, mu: np.ndarray):
        """(Sigma_o^-1 (K, m, m), log|Sigma_o| (K,), S_k (K, m, m), d_k = t1 - n_k u_o)
        or None where a Sigma_o is not positive definite."""
        # a Cholesky factor, not the determinant's sign: that passes a block with two
        # negative eigenvalues, where f is unbounded below (a FIML start ran off to 1e11)
        L, ok = cholesky_stack(sigma[self.idx[:, :, None], self.idx[:, None, :]])
        if not ok.all():
            return None
        logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        inv = np.linalg.inv(sigma[self.idx[:, :, None], self.idx[:, None, :]])
        m_o = (mu - self.center)[self.idx]
        d = self.t1 - self.n[:, None] * m_o
        S = (self.T2 - self.t1[:, :, None] * m_o[:, None, :] - m_o[:, :, None] * d[:, None, :])
        return inv, logdet, S, d


class FIML:
    """Objective, gradient and expected information of incomplete data (see module doc),
    evaluated pattern-size by pattern-size (``_SizeGroup``: all patterns with m observed
    items in stacked arrays; 5% of ECSI's answers missing at random gave 110 patterns in 7
    sizes), the information and the respondents' scores pattern by pattern."""

    def __init__(self, model, data: np.ndarray, weights: np.ndarray | None = None):
        """``model``: a loaded semopy ModelMeans, or a ``FreeMoments``; ``weights``: lavaan's
        sampling.weights, normalized here to sum to the rows."""
        self.model = model
        # semopy's derivatives, or the model's own (FreeMoments)
        self._derivatives = None if hasattr(model, "derivatives") else SemopyDerivatives(model)
        self.patterns = observed_blocks(data, None if weights is None else normalized(weights))
        self.n = len(data)
        p = data.shape[1]
        # per pattern: its rows' weights (ones without) and the flat positions of its
        # observed block in a p x p matrix
        self._blocks = [(idx, X, np.ones(len(X)) if w is None else w,
                         (idx[:, None] * p + idx[None, :]).ravel())
                        for idx, X, w in self.patterns]
        sizes = sorted({idx.size for idx, *_ in self._blocks})
        with warnings.catch_warnings():          # an item never answered: no pattern has it
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nan_to_num(np.nanmean(data, axis=0))
        self._groups = [_SizeGroup([b for b in self._blocks if b[0].size == m], p, center)
                        for m in sizes]

    def _implied(self, x):
        """Sigma, mu and semopy's intermediate matrices (m, c) at x."""
        model = self.model
        model.update_matrices(x)
        sigma, (m, c) = model.calc_sigma()
        return sigma, np.asarray(model.calc_mean(m))[:, 0], m, c

    def _moments(self, x):
        """(Sigma, mu, dSigma (k, p, p), dmu (k, p)) at x: semopy's derivatives
        (``SemopyDerivatives``), or the model's own (``FreeMoments``: constant ones)."""
        model = self.model
        if self._derivatives is None:
            return model.derivatives(x)
        sigma, mu, m, c = self._implied(x)
        return (sigma, mu, *self._derivatives(model, m, c, sigma.shape[0], x.size))

    def _pattern_terms(self, x):
        """Per pattern: (observed items, residuals, Sigma_o^-1, the rows' weights (ones
        without weights), the block's flat positions in p x p, dSigma (k, p*p), dmu (k, p))."""
        sigma, mu, dsigma, dmu = self._moments(x)
        flat = dsigma.reshape(len(dsigma), -1)
        for idx, X, w, cells in self._blocks:
            inv = np.linalg.inv(sigma.ravel()[cells].reshape(idx.size, idx.size))
            yield idx, X - mu[idx], inv, w, cells, flat, dmu

    def objective(self, x) -> float:
        """f = sum_k [tr(Sigma_o^-1 S_k) + n_k log|Sigma_o|] (inf where a Sigma_o is not
        positive definite)."""
        try:
            sigma, mu, *_ = self._implied(x)
            total = 0.0
            for group in self._groups:
                terms = group.terms(sigma, mu)
                if terms is None:
                    return np.inf
                inv, logdet, S, _ = terms
                total += np.einsum("kij,kji->", inv, S) + group.n @ logdet
            return float(total)
        except np.linalg.LinAlgError:
            return np.inf

    def gradient(self, x) -> np.ndarray:
        """df/dtheta = dSigma/dtheta : G + dmu/dtheta . h, with G = sum_k (n_k Sigma_o^-1 -
        Sigma_o^-1 S_k Sigma_o^-1) and h = -2 sum_k Sigma_o^-1 d_k placed on each pattern's
        observed items: one product with the parameters' derivatives."""
        try:
            sigma, mu, dsigma, dmu = self._moments(x)
            p = len(mu)
            G, h = np.zeros(p * p), np.zeros(p)
            for group in self._groups:
                terms = group.terms(sigma, mu)
                if terms is None:
                    return np.full(x.size, np.inf)
                inv, _, S, d = terms
                block = group.n[:, None, None] * inv - inv @ S @ inv
                G += np.bincount(group.cells.ravel(), block.ravel(), minlength=p * p)
                h -= 2 * np.bincount(group.idx.ravel(), (inv @ d[:, :, None]).ravel(),
                                     minlength=p)
            return dsigma.reshape(len(dsigma), -1) @ G + dmu @ h
        except np.linalg.LinAlgError:
            return np.full(x.size, np.inf)

    def scores(self, x) -> np.ndarray:
        """Each respondent's gradient of its own term f_i of f (rows with anything observed,
        pattern by pattern), (rows, k): tr(Sigma_o^-1 D) - a_i' D a_i - 2 dmu_o' a_i with
        a_i = Sigma_o^-1 (x_i - mu_o), times the row's weight. Their sum is ``gradient``; the
        robust (Huber-White) standard errors take their outer products (with weights
        sum w_i^2 s_i s_i', as lavaan's sampling.weights)."""
        out = []
        for idx, resid, inv, w, cells, flat, dmu in self._pattern_terms(x):
            D = flat[:, cells]                                   # (k, p_o * p_o)
            a = resid @ inv                                      # (n_k, p_o)
            pairs = (a[:, :, None] * a[:, None, :]).reshape(len(a), -1)
            out.append(((D @ inv.ravel())[None] - pairs @ D.T
                        - 2 * a @ dmu[:, idx].T) * w[:, None])
        return np.concatenate(out)

    def information(self, x) -> np.ndarray:
        """Expected information of f (twice that of log L): Fisher scoring's matrix,
        sum_k n_k [tr(Sigma_o^-1 D_i Sigma_o^-1 D_j) + 2 dmu_i' Sigma_o^-1 dmu_j], pattern by
        pattern (two BLAS products each, near their arithmetic's time: stacking the patterns
        of one size cost twice as much in the copies of their derivatives)."""
        info = np.zeros((x.size, x.size))
        for idx, resid, inv, w, cells, flat, dmu in self._pattern_terms(x):
            q, m = x.size, len(idx)
            n_k = w.sum()
            D = flat[:, cells].reshape(q * m, m)                 # rows: (parameter, item)
            B = (D @ inv).reshape(q, m, m).transpose(0, 2, 1)    # Sigma_o^-1 D_i (symmetric D)
            info += n_k * (B.reshape(q, -1) @ B.transpose(0, 2, 1).reshape(q, -1).T)
            info += 2 * n_k * dmu[:, idx] @ inv @ dmu[:, idx].T
        return info


class SemopyDerivatives:
    """dSigma/dtheta and dmu/dtheta of a semopy ``ModelMeans``: semopy's own formulas
    (``calc_sigma_grad``, ``calc_mean_grad``: per parameter, per matrix, in Python loops, and
    the mean's derivative for every respondent's column) evaluated for all parameters at once
    from the nonzero entries of their derivative matrices (``mx_diffs``), for one column of
    the mean. FIML's gradient took ~10 ms in semopy's loops on ECSI, most of a fit."""

    def __init__(self, model):
        self.entries = []      # per matrix (beta, lambda, psi, theta, gamma1, gamma2)
        for kind in range(6):
            found = [(k, r, c, diffs[kind][r, c]) for k, diffs in enumerate(model.mx_diffs)
                     if len(diffs) > kind and diffs[kind] is not None
                     for r, c in zip(*np.nonzero(diffs[kind]))]
            k, r, c, v = (np.array(a) for a in zip(*found)) if found else ([],) * 4
            self.entries.append((np.asarray(k, int), np.asarray(r, int), np.asarray(c, int),
                                 np.asarray(v, float)))

    def __call__(self, model, m, c, p: int, k: int):
        dsigma, dmu = np.zeros((k, p, p)), np.zeros((k, p))
        P = c @ model.matrices[2]                    # (I - B)^-1 Psi
        D = P @ m.T
        g = np.asarray(model.mx_g, float)[:, 0]
        w = c @ (model.mx_gamma1 @ g)
        (kb, rb, cb, vb), (kl, rl, cl, vl), (kp, rp, cp, vp), (kt, rt, ct, vt), \
            (k1, r1, c1, v1), (k2, r2, c2, v2) = self.entries
        if kb.size:     # beta: m (E P + P' E') m'
            U, V = m[:, rb].T * vb[:, None], (m @ P[cb].T).T
            outer = U[:, :, None] * V[:, None, :]
            np.add.at(dsigma, kb, outer + outer.transpose(0, 2, 1))
            np.add.at(dmu, kb, m[:, rb].T * (vb * w[cb])[:, None])
        if kl.size:     # lambda: E D + D' E'
            rows = D[cl] * vl[:, None]
            np.add.at(dsigma, (kl, rl), rows)
            np.add.at(dsigma.transpose(0, 2, 1), (kl, rl), rows)
            np.add.at(dmu, (kl, rl), vl * w[cl])
        if kp.size:     # psi: m E m'
            np.add.at(dsigma, kp, (m[:, rp].T * vp[:, None])[:, :, None] * m[:, cp].T[:, None, :])
        if kt.size:     # theta: E
            np.add.at(dsigma, (kt, rt, ct), vt)
        if k1.size:     # gamma1 (latent means): m E g
            np.add.at(dmu, k1, m[:, r1].T * (v1 * g[c1])[:, None])
        if k2.size:     # gamma2 (intercepts): E g
            np.add.at(dmu, (k2, r2), v2 * g[c2])
        return dsigma, dmu


def sandwich(objective: FIML, x: np.ndarray):
    """(A, B) at x: the observed information (half the Hessian of f, differenced from the
    analytic gradient) and the outer products of the respondents' scores (halves of
    ``FIML.scores``, weighted), both summed over respondents: lavaan's robust.huber.white
    with missing = "ml" is A^-1 B A^-1."""
    A = numeric_hessian(objective.gradient, x) / 2
    scores = objective.scores(x) / 2
    return A, scores.T @ scores


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
