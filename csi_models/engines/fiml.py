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

from csi_models.engines.optimize import numeric_hessian
from csi_models.statistics.likelihood import discrepancy, observed_blocks


class FIML:
    """Objective, gradient and expected information of incomplete data (see module doc)."""

    def __init__(self, model, data: np.ndarray, weights: np.ndarray | None = None):
        self.model = model
        self.patterns = observed_blocks(data, weights)
        self.n = len(data)

    def _implied(self, x):
        """Sigma, mu and semopy's intermediate matrices (m, c) at x."""
        model = self.model
        model.update_matrices(x)
        sigma, (m, c) = model.calc_sigma()
        return sigma, np.asarray(model.calc_mean(m))[:, 0], m, c

    def _moments(self, x):
        model = self.model
        sigma, mu, m, c = self._implied(x)
        p, k = sigma.shape[0], x.size
        dsigma = np.zeros((k, p, p))
        dmu = np.zeros((k, p))
        for i, (ds, dm) in enumerate(zip(model.calc_sigma_grad(m, c), model.calc_mean_grad(m, c))):
            if np.ndim(ds):
                dsigma[i] = ds
            if np.ndim(dm):
                dmu[i] = np.asarray(dm)[:, 0]
        return sigma, mu, dsigma, dmu

    def _pattern_terms(self, x):
        """Per pattern: (observed items, residuals, Sigma_o^-1, the rows' weights (ones
        without weights), Sigma, dSigma, dmu)."""
        sigma, mu, dsigma, dmu = self._moments(x)
        for idx, X, w in self.patterns:
            inv = np.linalg.inv(sigma[np.ix_(idx, idx)])
            yield idx, X - mu[idx], inv, (np.ones(len(X)) if w is None else w), dsigma, dmu

    def objective(self, x) -> float:
        try:
            sigma, mu, *_ = self._implied(x)
        except np.linalg.LinAlgError:
            return np.inf
        return discrepancy(self.patterns, sigma, mu)

    def gradient(self, x) -> np.ndarray:
        try:
            g = np.zeros(x.size)
            for idx, resid, inv, w, dsigma, dmu in self._pattern_terms(x):
                a = inv @ resid.T                       # (p_o, n_k)
                A = w.sum() * inv - (a * w) @ a.T        # derivative of f wrt Sigma_o
                g += np.einsum("ab,iab->i", A, dsigma[:, idx][:, :, idx])
                g -= 2 * dmu[:, idx] @ (a @ w)
            return g
        except np.linalg.LinAlgError:
            return np.full(x.size, np.inf)

    def scores(self, x) -> np.ndarray:
        """Each respondent's gradient of its own term f_i of f (rows with anything observed,
        pattern by pattern), (rows, k): tr(Sigma_o^-1 D) - a_i' D a_i - 2 dmu_o' a_i with
        a_i = Sigma_o^-1 (x_i - mu_o), times the row's weight. Their sum is ``gradient``; the
        robust (Huber-White) standard errors take their outer products (with weights
        sum w_i^2 s_i s_i', as lavaan's sampling.weights)."""
        out = []
        for idx, resid, inv, w, dsigma, dmu in self._pattern_terms(x):
            D = dsigma[:, idx][:, :, idx]                       # (k, p_o, p_o)
            a = resid @ inv                                      # (n_k, p_o)
            own = np.einsum("ab,kba->k", inv, D)                 # tr(Sigma_o^-1 D_k)
            out.append((own[None] - np.einsum("na,kab,nb->nk", a, D, a)
                        - 2 * a @ dmu[:, idx].T) * w[:, None])
        return np.concatenate(out)

    def information(self, x) -> np.ndarray:
        """Expected information of f (twice that of log L): Fisher scoring's matrix."""
        info = np.zeros((x.size, x.size))
        for idx, resid, inv, w, dsigma, dmu in self._pattern_terms(x):
            n_k = w.sum()
            B = inv @ dsigma[:, idx][:, :, idx]          # (k, p_o, p_o)
            info += n_k * np.einsum("iab,jba->ij", B, B)
            info += 2 * n_k * dmu[:, idx] @ inv @ dmu[:, idx].T
        return info


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
    (``pairs`` (i, j), i >= j), offering what ``FIML`` reads of a semopy model: the
    unrestricted model (every entry, H1) and the independence model (the variances) of
    lavaan's scaled test with missing data."""

    def __init__(self, p: int, pairs: list):
        self.p, self.pairs = p, list(pairs)
        self.mu, self.sigma = np.zeros(p), np.zeros((p, p))

    def vector(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return np.concatenate([mu, [sigma[i, j] for i, j in self.pairs]])

    def update_matrices(self, x):
        self.mu = np.asarray(x[:self.p], float)
        self.sigma = np.zeros((self.p, self.p))
        for k, (i, j) in enumerate(self.pairs):
            self.sigma[i, j] = self.sigma[j, i] = x[self.p + k]

    def calc_sigma(self):
        return self.sigma, (None, None)

    def calc_mean(self, _):
        return self.mu[:, None]

    def calc_sigma_grad(self, *_):
        out = [0] * self.p
        for i, j in self.pairs:
            unit = np.zeros((self.p, self.p))
            unit[i, j] = unit[j, i] = 1.0
            out.append(unit)
        return out

    def calc_mean_grad(self, *_):
        return list(np.eye(self.p)[:, :, None]) + [0] * len(self.pairs)


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
    p1 = p + len(full.pairs)
    independence = FreeMoments(p, [(j, j) for j in range(p)])
    base_mu, base_var = baseline
    c0_base = _trace_ratio(independence, base_mu, np.diag(base_var), X, weights)
    df, df_base = p1 - q, p1 - 2 * p
    return {"c": (p1 * c1 - q * c0) / df if df > 0 else np.nan,
            "c_base": (p1 * c1 - 2 * p * c0_base) / df_base,
            "scaling.factor.h1": c1, "scaling.factor.h0": c0}


def robust_fit_measures(values: np.ndarray, estimates, weights=None):
    """lavaan's fitMeasures of FIML with robust SEs (estimator MLR, or respondent weights):
    those of the (weighted) H0 and H1 log-likelihoods (``fiml_measures``), then with df > 0
    the Yuan-Bentler scaled test and the ``.scaled`` measures (``scaling_factors``,
    ``cbsem_weights.robust_measures``). The ``.robust`` CFI, TLI and
    RMSEA are NaN: lavaan 0.6-14 computes them otherwise with missing data (ours, from the
    complete-data formulas, were 0.1-2% off), so rather than a different number we give none."""
    import pandas as pd

    from csi_models.engines.cbsem_weights import robust_measures
    from csi_models.statistics import fit_measures as fm

    out = fm.fiml_measures(values, estimates.implied_cov, estimates.item_mean,
                           int(estimates.extras["n_free"]), weights)
    if out["df"] > 0:
        A, B = estimates.extras["sandwich"]
        h1 = fm.em_moments(values, weights=weights)[:2]
        c = scaling_factors(A, B, values, weights, h1, fm.independence_moments(values, weights))
        extra = robust_measures(out, c["c"], c["c_base"])
        extra.update({k: c[k] for k in ("scaling.factor.h1", "scaling.factor.h0")})
        extra.update({k: np.nan for k in extra if k.endswith(".robust")})
        out = pd.concat([out, pd.Series(extra, dtype=float)])
    return out
