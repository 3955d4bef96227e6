"""Model fit of a CB-SEM (ML, FIML): lavaan's fit measures (PLS: ``statistics.pls_fit_measures``).

``ml_measures`` and ``fiml_measures`` are computed by us from the implied and sample moments,
because semopy's ``calc_stats`` differs from lavaan (its LogLik is the fit-function value, its
RMSEA uses N - 1, its GFI is the NFI formula, it has no SRMR, and a fixed zero residual breaks
its baseline model). Keys and definitions are lavaan 0.6's ``fitMeasures`` (normal
likelihood: moments with the N divisor); they match the committed lavaan fixtures to 1e-6
(tests/test_fit_indices.py). With G groups of sizes n_g (N = sum n_g), p items and
F_g = log|Sigma_g| + tr(S_g Sigma_g^-1) - log|S_g| - p + (m_g - mu_g)' Sigma_g^-1 (m_g - mu_g):

* chisq = sum n_g F_g, df = G (p(p+1)/2 [+ p with a mean structure]) - npar, fmin = chisq/2N;
  with missing data (FIML) chisq = 2 (logl_H1 - logl_H0), H1 the saturated model fitted by EM.
* baseline (independence: free means and variances): chisq_b = sum n_g (sum log s_ii - log|S_g|),
  df_b = G p(p-1)/2. cfi = 1 - max(chisq - df, 0) / max(chisq - df, chisq_b - df_b, 0);
  tli = nnfi = (chisq_b/df_b - chisq/df) / (chisq_b/df_b - 1); nfi, rfi, ifi, rni, pnfi likewise.
* logl = sum -n_g/2 (p log 2 pi + log|Sigma_g| + tr(S_g Sigma_g^-1) + d'Sigma_g^-1 d);
  aic = -2 logl + 2 npar, bic = -2 logl + npar log N, bic2 = -2 logl + npar log((N + 2)/24).
* rmsea = sqrt(G) sqrt(max(chisq - df, 0) / (df N)) (lavaan uses N, not N - 1); the 90%
  interval inverts the noncentral chi-square in its noncentrality; rmsea.pvalue
  = P(chi2(df, ncp = N df 0.05^2 / G) >= chisq) (p-close). At df = 0 (a just-identified
  model) every key is still there, with lavaan's values: rmsea 0, interval 0 to 0,
  pvalue / rmsea.pvalue NaN, tli = rfi = nfi = agfi = 1.
* srmr (= srmr_bentler): root mean square of (s_ij - sigma_ij)/sqrt(s_ii s_jj) over i <= j
  (and (m_i - mu_i)/sqrt(s_ii) with means), averaged over groups with weights n_g/N; rmr the
  same unscaled; crmr on correlation residuals without the diagonal; srmr_mplus as Mplus.
* gfi = 1 - tr((Sigma^-1 (S - Sigma))^2) / tr((Sigma^-1 S)^2), agfi, pgfi, mfi, ecvi, cn_05/01.
  With FIML, gfi/agfi/pgfi are NaN (lavaan weights them by a missing-data information matrix
  that we do not reproduce). The FIML ``.robust`` CFI, TLI and RMSEA (Zhang & Savalei's
  FIML-corrected ones, as lavaan) come from ``engines.fiml_h1.corrected_test``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from csi_models.statistics.likelihood import casewise_loglik, missing_patterns

LOG2PI = np.log(2 * np.pi)


@dataclass
class Moments:
    """One group's sample and implied moments (means None without a mean structure)."""

    S: np.ndarray
    Sigma: np.ndarray
    n: int
    m: np.ndarray | None = None
    mu: np.ndarray | None = None


def _logdet(A: np.ndarray) -> float:
    sign, value = np.linalg.slogdet(A)
    return value if sign > 0 else np.nan


def _loglik(S, Sigma, n, d=None) -> float:
    """Normal log-likelihood of n rows with sample moments S (N divisor) and mean residual d."""
    Si = np.linalg.inv(Sigma)
    extra = 0.0 if d is None else d @ Si @ d
    return -n / 2 * (len(S) * LOG2PI + _logdet(Sigma) + np.trace(S @ Si) + extra)


def ml_chisq(S, Sigma, n, d=None) -> float:
    """The ML chi-square n F_ML = 2 (logl of the unrestricted model - logl) of n rows with
    sample moments S (N divisor) and mean residual d against Sigma."""
    return -2 * _loglik(S, Sigma, n, d) - n * (len(S) * LOG2PI + _logdet(S) + len(S))


def _ncp_root(x: float, df: float, target: float) -> float:
    """lambda with P(chi2(df, lambda) <= x) = target; 0 when already below at lambda = 0."""
    from scipy.optimize import brentq
    from scipy.stats import chi2, ncx2

    f = lambda lam: (chi2.cdf(x, df) if lam == 0 else ncx2.cdf(x, df, lam)) - target  # noqa: E731
    if f(0.0) < 0:
        return 0.0
    hi = max(x, 1.0)
    while f(hi) > 0:
        hi *= 2
    return brentq(f, 0.0, hi, xtol=1e-12)


def _residual_rms(groups: list[Moments], ntotal: int) -> dict:
    """rmr, srmr (Bentler), crmr and srmr_mplus, with and without means, weighted by n_g/N."""
    out = {k: 0.0 for k in ("rmr", "rmr_nomean", "srmr_bentler", "srmr_bentler_nomean", "crmr",
                            "crmr_nomean", "srmr_mplus", "srmr_mplus_nomean")}
    for g in groups:
        p = len(g.S)
        low = np.tril_indices(p)
        off = np.tril_indices(p, k=-1)
        sd_s, sd_h = np.sqrt(np.diag(g.S)), np.sqrt(np.diag(g.Sigma))
        raw = (g.S - g.Sigma)[low]
        std = ((g.S - g.Sigma) / np.outer(sd_s, sd_s))[low]
        cor = (g.S / np.outer(sd_s, sd_s) - g.Sigma / np.outer(sd_h, sd_h))
        mplus = cor.copy()
        np.fill_diagonal(mplus, (np.diag(g.S) - np.diag(g.Sigma)) / np.diag(g.S))
        parts = {"rmr": (raw, None), "srmr_bentler": (std, None), "crmr": (cor[off], None),
                 "srmr_mplus": (mplus[low], None)}
        if g.m is not None:
            d = g.m - g.mu
            parts = {"rmr": (raw, d), "srmr_bentler": (std, d / sd_s),
                     "crmr": (cor[off], d / sd_s),
                     "srmr_mplus": (mplus[low], g.m / sd_s - g.mu / sd_h)}
        w = g.n / ntotal
        for key, (cov_part, mean_part) in parts.items():
            out[key + "_nomean"] += w * np.sqrt(np.mean(cov_part ** 2))
            both = cov_part if mean_part is None else np.concatenate([cov_part, mean_part])
            out[key] += w * np.sqrt(np.mean(both ** 2))
    out["srmr"] = out["srmr_bentler"]
    return out


def _gfi(groups: list[Moments], ntotal: int) -> float:
    """lavaan's ML GFI; with a mean structure on the moment matrices augmented by the means."""
    value = 0.0
    for g in groups:
        S, Sigma = g.S, g.Sigma
        if g.m is not None:
            S = np.block([[g.S + np.outer(g.m, g.m), g.m[:, None]], [g.m[None, :], np.ones((1, 1))]])
            Sigma = np.block([[g.Sigma + np.outer(g.mu, g.mu), g.mu[:, None]],
                              [g.mu[None, :], np.ones((1, 1))]])
        Si = np.linalg.inv(Sigma)
        A, B = Si @ (S - Sigma), Si @ S
        value += g.n / ntotal * (1 - np.trace(A @ A) / np.trace(B @ B))
    return value


def _incremental(chisq: float, df: float, base: float, df_b: float) -> dict:
    """cfi, tli/nnfi, rfi, nfi, pnfi, ifi, rni with lavaan 0.6's edge rules (lav_fit_cfi etc.):
    at df = 0 tli, rfi, nfi are 1; rfi/nfi are NaN when df > df_b; ifi is 1 when
    chisq_b < df and rni NaN when chisq_b = df_b; rfi is 1 when chisq/df > chisq_b/df_b."""
    t1, t2 = max(chisq - df, 0.0), max(chisq - df, base - df_b, 0.0)
    tli_1, tli_2 = (chisq - df) * df_b, (base - df_b) * df
    out = {"cfi": 1.0 if abs(t1) < 1.5e-8 and abs(t2) < 1.5e-8 else 1 - t1 / t2,
           "tli": 1 - tli_1 / tli_2 if df > 0 and abs(tli_2) > 0 else 1.0}
    out["nnfi"] = out["tli"]
    if df > df_b:
        out["rfi"] = np.nan
    elif df > 0 and df_b > 0:
        r1, r2 = base / df_b - chisq / df, base / df_b
        out["rfi"] = 1.0 if r1 < 0 or r2 < 0 else r1 / r2
    else:
        out["rfi"] = 1.0
    out["nfi"] = (np.nan if df > df_b or abs(base) < 1.5e-8 else
                  (base - chisq) / base if df > 0 else 1.0)
    out["pnfi"] = df / df_b * (base - chisq) / base if df_b > 0 and base > 0 else np.nan
    i2 = base - df
    out["ifi"] = 1.0 if i2 < 0 else np.nan if abs(i2) < 1.5e-8 else (base - chisq) / i2
    out["rni"] = np.nan if abs(base - df_b) < 1.5e-8 else 1 - (chisq - df) / (base - df_b)
    return out


def _rmsea(chisq: float, df: float, N: int, G: int) -> dict:
    """RMSEA, its 90% interval and the close / not-close fit p-values. At df = 0 lavaan
    reports rmsea = 0 with interval 0 to 0 and no p-values (NaN)."""
    from scipy.stats import ncx2

    out = {"rmsea": 0.0, "rmsea.ci.lower": 0.0, "rmsea.ci.upper": 0.0, "rmsea.ci.level": 0.90,
           "rmsea.pvalue": np.nan, "rmsea.close.h0": 0.05, "rmsea.notclose.pvalue": np.nan,
           "rmsea.notclose.h0": 0.08}
    if df > 0:
        scale = np.sqrt(G / (N * df))
        out["rmsea"] = np.sqrt(max(chisq - df, 0.0)) * scale
        out["rmsea.ci.lower"] = np.sqrt(_ncp_root(chisq, df, 0.95)) * scale
        out["rmsea.ci.upper"] = np.sqrt(_ncp_root(chisq, df, 0.05)) * scale
        out["rmsea.pvalue"] = ncx2.sf(chisq, df, N * df * 0.05 ** 2 / G)
        out["rmsea.notclose.pvalue"] = ncx2.cdf(chisq, df, N * df * 0.08 ** 2 / G)
    return out


def _critical_n(chisq: float, df: float, N: int, alpha: float) -> float:
    """Hoelter's critical N; lavaan's rule at df = 0: NaN when chisq < machine epsilon, else 1."""
    from scipy.stats import chi2

    if df == 0:
        return np.nan if chisq < np.finfo(float).eps else 1.0
    return chi2.ppf(1 - alpha, df) / (chisq / N) + 1


def ml_measures(groups: list[Moments], npar: int, chisq: float | None = None,
                logl: float | None = None, unrestricted_logl: float | None = None,
                baseline_chisq: float | None = None) -> pd.Series:
    """lavaan's fitMeasures for an ML fit of one or more groups (see module docstring).
    Every key is present for any df >= 0 (at df = 0 with lavaan's values: rmsea 0, its
    interval 0 to 0, pvalue and rmsea.pvalue NaN; tests/test_fit_indices.py checks a
    just-identified model against lavaan).

    ``chisq``, ``logl``, ``unrestricted_logl`` and ``baseline_chisq`` override the
    complete-data formulas (FIML passes its casewise values)."""
    from scipy.stats import chi2  # here, not at import: PLS users never need scipy.stats

    G = len(groups)
    N = sum(g.n for g in groups)
    p = len(groups[0].S)
    means = groups[0].m is not None
    nel = G * (p * (p + 1) // 2 + (p if means else 0))
    df = nel - npar
    if logl is None:
        logl = sum(_loglik(g.S, g.Sigma, g.n, None if g.m is None else g.m - g.mu) for g in groups)
    if unrestricted_logl is None:
        unrestricted_logl = sum(-g.n / 2 * (p * LOG2PI + _logdet(g.S) + p) for g in groups)
    if chisq is None:
        chisq = 2 * (unrestricted_logl - logl)
    if baseline_chisq is None:
        baseline_chisq = sum(g.n * (np.log(np.diag(g.S)).sum() - _logdet(g.S)) for g in groups)
    df_b = G * p * (p - 1) // 2
    out = {
        "npar": npar, "fmin": chisq / (2 * N), "chisq": chisq, "df": df,
        "pvalue": chi2.sf(chisq, df) if df > 0 else np.nan,
        "baseline.chisq": baseline_chisq, "baseline.df": df_b,
        "baseline.pvalue": chi2.sf(baseline_chisq, df_b),
        **_incremental(chisq, df, baseline_chisq, df_b),
        "logl": logl, "unrestricted.logl": unrestricted_logl,
        "aic": -2 * logl + 2 * npar, "bic": -2 * logl + npar * np.log(N), "ntotal": N,
        "bic2": -2 * logl + npar * np.log((N + 2) / 24),
        **_rmsea(chisq, df, N, G),
        **_residual_rms(groups, N),
        "cn_05": _critical_n(chisq, df, N, 0.05), "cn_01": _critical_n(chisq, df, N, 0.01),
    }
    gfi = _gfi(groups, N)
    out.update({"gfi": gfi, "agfi": 1 - nel / df * (1 - gfi) if df > 0 else 1.0,
                "pgfi": df / nel * gfi if nel else np.nan,
                "mfi": np.exp(-0.5 * (chisq - df) / N), "ecvi": chisq / N + 2 * npar / N})
    return pd.Series(out, name="value", dtype=float)


def chisq_difference(restricted: pd.Series, general: pd.Series) -> dict:
    """Likelihood-ratio (chi-square difference) test of two nested ML fits, lavaan's
    ``lavTestLRT``: chisq_diff = chisq_r - chisq_g on df_diff = df_r - df_g, p_value =
    P(chi2(df_diff) >= chisq_diff) (NaN unless df_diff > 0). Where both fits carry a
    Yuan-Bentler scaled test (se="robust", lavaan's MLR; respondent weights) it is scaled as
    lavaan's default there, Satorra & Bentler (2001): divided by c_d = (df_r c_r - df_g c_g) /
    df_diff (c_g df_g = 0 for a general model with df = 0; NaN where a factor is missing).
    Takes fit-measure Series (``ml_measures``)."""
    from scipy.stats import chi2

    diff, ddf = restricted["chisq"] - general["chisq"], restricted["df"] - general["df"]
    if ddf > 0 and "chisq.scaled" in restricted and "chisq.scaled" in general:   # robust
        c_r, c_g = (m.get("chisq.scaling.factor", np.nan) for m in (restricted, general))
        general_part = 0.0 if general["df"] == 0 else general["df"] * c_g   # lavaan's c_g df_g
        # a factor that could not be computed gives no test rather than the unscaled one
        diff = diff / ((restricted["df"] * c_r - general_part) / ddf)
    return {"chisq_diff": diff, "df_diff": ddf,
            "p_value": chi2.sf(diff, ddf) if ddf > 0 and np.isfinite(diff) else np.nan}


# --- missing data (FIML) ----------------------------------------------------------------------
def em_moments(X: np.ndarray, tol: float = 1e-10, max_iter: int = 5000,
               weights: np.ndarray | None = None):
    """ML mean and covariance (N divisor) of incomplete normal data by EM (Dempster, Laird &
    Rubin 1977): the unrestricted H1 model of FIML; with respondent ``weights`` (summing to
    N) each row counts w_i times. Returns (mean, cov, iterations)."""
    n, p = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    total = w.sum()
    mu = np.nanmean(X, axis=0)
    Sigma = np.diag(np.nanvar(X, axis=0))
    patterns = missing_patterns(X)
    for it in range(1, max_iter + 1):
        T1, T2 = np.zeros(p), np.zeros((p, p))
        for obs, rows in patterns:
            mis = ~obs
            Xr = X[rows].copy()
            C = np.zeros((p, p))
            if mis.any():
                if obs.any():
                    B = np.linalg.solve(Sigma[np.ix_(obs, obs)], Sigma[np.ix_(obs, mis)])
                    Xr[:, mis] = mu[mis] + (Xr[:, obs] - mu[obs]) @ B
                    C[np.ix_(mis, mis)] = Sigma[np.ix_(mis, mis)] - Sigma[np.ix_(mis, obs)] @ B
                else:
                    Xr[:, mis] = mu[mis]
                    C = Sigma.copy()
            if weights is None:
                T1 += Xr.sum(axis=0)
                T2 += Xr.T @ Xr + len(rows) * C
            else:
                wr = w[rows]
                T1 += wr @ Xr
                T2 += (Xr * wr[:, None]).T @ Xr + wr.sum() * C
        mu_new = T1 / total
        Sigma_new = T2 / total - np.outer(mu_new, mu_new)
        change = max(np.abs(mu_new - mu).max(), np.abs(Sigma_new - Sigma).max())
        mu, Sigma = mu_new, Sigma_new
        if change < tol:
            break
    return mu, Sigma, it


def independence_moments(X: np.ndarray, weights: np.ndarray | None = None):
    """The independence (baseline) model of FIML: each item's ML mean and variance over its
    observed rows (weighted with respondent weights)."""
    if weights is None:
        return np.nanmean(X, axis=0), np.nanvar(X, axis=0)
    w = np.asarray(weights, float)[:, None] * np.isfinite(X)
    mean = np.nansum(X * w, axis=0) / w.sum(axis=0)
    return mean, np.nansum(w * (X - mean) ** 2, axis=0) / w.sum(axis=0)


def fiml_measures(X: np.ndarray, Sigma: np.ndarray, mu: np.ndarray, npar: int,
                  weights: np.ndarray | None = None, em: tuple | None = None) -> pd.Series:
    """lavaan's fit measures for FIML (missing = "ml"): H0 and H1 casewise log-likelihoods,
    H1 by EM (``em``: its (mean, cov) when already computed); residual-based measures use
    the EM moments as the sample moments. With respondent ``weights`` (normalized to sum to
    the rows, as lavaan's sampling.weights) every log-likelihood and the EM moments are
    weighted."""
    m, S = em if em is not None else em_moments(X, weights=weights)[:2]
    logl = casewise_loglik(X, Sigma, mu, weights)
    h1 = casewise_loglik(X, S, m, weights)
    base_mu, base_var = independence_moments(X, weights)
    base = sum(casewise_loglik(X[:, [k]], np.array([[base_var[k]]]), base_mu[[k]], weights)
               for k in range(X.shape[1]))
    out = ml_measures([Moments(S, Sigma, len(X), m, mu)], npar, logl=logl, unrestricted_logl=h1,
                      baseline_chisq=2 * (h1 - base))
    # lavaan weights GFI by the missing-data (pattern-wise) h1 information; we do not
    # reproduce that, so rather than a different number we give none
    out[["gfi", "agfi", "pgfi"]] = np.nan
    return out
