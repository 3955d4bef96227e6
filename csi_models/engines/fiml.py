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
        """``model``: a loaded semopy ModelMeans, or a ``fiml_h1.FreeMoments``; ``weights``:
        lavaan's sampling.weights, normalized here to sum to the rows."""
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
        (``SemopyDerivatives``), or the model's own (``fiml_h1.FreeMoments``: constant ones)."""
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
