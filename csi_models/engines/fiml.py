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

import numpy as np

from csi_models.data.weights import normalized
from csi_models.engines.optimize import numeric_hessian
from csi_models.statistics.likelihood import discrepancy, observed_blocks


class FIML:
    """Objective, gradient and expected information of incomplete data (see module doc)."""

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
        try:
            sigma, mu, *_ = self._implied(x)
        except np.linalg.LinAlgError:
            return np.inf
        return discrepancy(self.patterns, sigma, mu)

    def gradient(self, x) -> np.ndarray:
        """df/dtheta = dSigma/dtheta : G + dmu/dtheta . h, with G and h the derivatives of f
        with respect to Sigma and mu summed over the patterns (each on its observed items):
        one product with the parameters' derivatives instead of one per pattern."""
        try:
            G = h = None
            for idx, resid, inv, w, cells, flat, dmu in self._pattern_terms(x):
                if G is None:
                    G, h = np.zeros(dmu.shape[1] ** 2), np.zeros(dmu.shape[1])
                a = inv @ resid.T                       # (p_o, n_k)
                G[cells] += (w.sum() * inv - (a * w) @ a.T).ravel()
                h[idx] -= 2 * (a @ w)
            return np.zeros(x.size) if G is None else flat @ G + dmu @ h
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
        sum_k n_k [tr(Sigma_o^-1 D_i Sigma_o^-1 D_j) + 2 dmu_i' Sigma_o^-1 dmu_j]."""
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
                    baseline: tuple) -> dict:
    """lavaan's Yuan-Bentler (Mplus) scaling of the chi-square with missing data:
    c0 = tr(A^-1 B) / q of the model (A, B: ``sandwich`` at its estimates), c1 the same of
    the unrestricted model (p means and p(p+1)/2 covariances) at its EM estimates ``h1``
    (unstructured, as lavaan), c = (p1 c1 - q c0) / df; the baseline's factor from the
    independence model (means and variances) at ``baseline`` with the same c1."""
    p = X.shape[1]
    q = A.shape[0]
    c0 = float(np.trace(np.linalg.solve(A, B))) / q
    full = FreeMoments(p, [(i, j) for j in range(p) for i in range(j, p)])
    c1 = _trace_ratio(full, *h1, X, weights)
    p1 = p + p * (p + 1) // 2
    independence = FreeMoments(p, [(j, j) for j in range(p)])
    base_mu, base_var = baseline
    c0_base = _trace_ratio(independence, base_mu, np.diag(base_var), X, weights)
    df, df_base = p1 - q, p1 - 2 * p
    return {"c": (p1 * c1 - q * c0) / df if df > 0 else np.nan,
            "c_base": (p1 * c1 - 2 * p * c0_base) / df_base,
            "scaling.factor.h1": c1, "scaling.factor.h0": c0}
