"""CB-SEM with respondent weights, as lavaan 0.6-14's ``sem(..., sampling.weights = "w")``.

What lavaan does (read off its options and checked against it, tests/test_cbsem_weights.py):

* The weights are normalized to sum to the number of rows N (``sampling.weights.normalization
  = "total"``); N, not the sum of the raw weights, is the sample size of every statistic.
* The estimator stays ML, on the weighted mean and the weighted covariance with divisor N,
  ``S_w = sum w_i (x_i - m_w)(x_i - m_w)' / N``. ML depends on the data only through S and N,
  so the estimates are those of an ordinary fit to any N rows with covariance S_w: we fit
  ``moment_frame`` (the real rows, whitened and recoloured to S_w) with ``cbsem.fit``.
  Integer weights give exactly the estimates of the repeated rows (not their SEs: N differs).
* Standard errors: robust (``se = "robust.huber.white"``), the sandwich
  ``A^-1 B A^-1 / N`` with A the observed information (half the Hessian of F_ML at S_w,
  differenced from the analytic gradient, as lavaan's ``observed.information = "hessian"``)
  and B = sum_i w_i^2 s_i s_i' / N from the casewise scores s_i of the normal log-likelihood.
* Test: the unscaled chi-square N F_ML(S_w), and the Yuan-Bentler (Mplus) scaled chi-square
  ``chisq / c``, c = (p* c1 - q c0) / df, c0 = tr(A^-1 B) / q of the model and c1 of the
  saturated model at S_w, as lavaan's ``test = "yuan.bentler.mplus"`` (``scaled_test``).
  ``fit_measures`` gives every entry of lavaan's ``fitMeasures``: the unscaled ones on S_w
  (``statistics.fit_measures.ml_measures``) and the ``.scaled`` and ``.robust`` ones
  (``robust_measures``); all match lavaan to 1e-6.
* The bootstrap resamples respondents with their weights (``resample_moments``, as PLS).
* With missing data (``missing='fiml'``, lavaan's ``missing = "ml"``): FIML with each row's
  log-likelihood counted w_i times (``engines.fiml``; ``cbsem.fit`` takes the weights),
  robust SEs (the sandwich of the observed information and the weighted casewise scores,
  lavaan's default there too), fit measures on the weighted H0 and H1 (EM) log-likelihoods
  (``fit_measures.fiml_measures``), and lavaan's Yuan-Bentler scaled test with missing data
  (``fiml.scaling_factors``: the unrestricted model's factor at its EM estimates) with the
  ``.scaled`` measures, and the FIML-corrected ``.robust`` ones (``fiml.corrected_test``).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from csi_models.engines import mlkernel as mk
from csi_models.data.weights import normalized
from csi_models.engines.base import Estimates, Layout
from csi_models.errors import CSIWarning, EstimationError


def weighted_cov(values: np.ndarray, weights: np.ndarray):
    """(weighted mean, weighted covariance with divisor sum w): lavaan's S_w."""
    w = np.asarray(weights, float)
    mean = (w @ values) / w.sum()
    z = values - mean
    return mean, (z * w[:, None]).T @ z / w.sum()


def moment_frame(values: pd.DataFrame, weights: np.ndarray) -> pd.DataFrame:
    """N rows with the weighted mean and, with divisor N, exactly the weighted covariance:
    the rows centred, whitened (Cholesky factor of their own covariance) and recoloured by
    the Cholesky factor of S_w. What ML sees of weighted data, as plain data."""
    X = values.to_numpy(float)
    mean, S = weighted_cov(X, weights)
    Xc = X - X.mean(axis=0)
    try:
        whiten = np.linalg.inv(np.linalg.cholesky(Xc.T @ Xc / len(X)))
        colour = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise EstimationError("the weighted item covariance matrix is singular: some items are "
                              "linear combinations of others among the respondents with a "
                              "positive weight, or too few respondents have one") from None
    return pd.DataFrame(mean + Xc @ whiten.T @ colour.T, columns=values.columns)


def resample_moments(values: np.ndarray, weights: np.ndarray, rows_list):
    """(S, log|S|) of each row set, weighted (divisor: the set's summed weight), as
    ``mlkernel.sample_moments`` gives them unweighted: a resampled respondent brings its
    weight along, as in the PLS bootstrap (``statistics.moments.BatchMoments``)."""
    w = np.asarray(weights, float)
    X = values - (w @ values) / w.sum()
    out = np.empty((len(rows_list), X.shape[1], X.shape[1]))
    for k, rows in enumerate(rows_list):
        u = np.bincount(np.asarray(rows), minlength=len(X)) * w
        mean = (u @ X) / u.sum()
        out[k] = (X * u[:, None]).T @ X / u.sum() - np.outer(mean, mean)
    sign, logdet = np.linalg.slogdet(out)
    return out, np.where(sign > 0, logdet, np.nan)


def fit(spec, survey) -> Estimates:
    """The ML estimates of weighted complete data with lavaan's robust standard errors:
    ``cbsem.fit`` of the moment frame, its parameter table rebuilt with ``robust_vcov``
    (``extras['sandwich']`` keeps A and B for the scaled test). With FIML: ``cbsem.fit``
    of the weighted casewise likelihood, robust SEs."""
    from csi_models.engines import cbsem
    from csi_models.engines.cbsem_solution import _estimates

    if survey.missing == "fiml":
        return cbsem.fit(spec, survey, se="robust")
    layout = Layout.from_spec(spec)
    items = list(layout.items)
    view = replace(survey, values=moment_frame(survey.values[items], survey.weights),
                   weights=None)
    est = cbsem.fit(spec, view, se="standard")
    model, frame, names, _ = cbsem._build(spec, layout, view, "listwise")
    with warnings.catch_warnings(), cbsem._quiet_semopy():
        warnings.simplefilter("ignore")
        model.load(frame)
    structure = mk.Structure.from_semopy(model)
    back = {v: k for k, v in names.items()}
    values = survey.values[[back[o] for o in structure.observed]].to_numpy(float)
    x = est.extras["x"]
    vcov, A, B = robust_vcov(structure, x, values, survey.weights)
    variances = np.diag(vcov)
    se = np.sqrt(np.where(variances >= 0, variances, np.nan))
    robust = _estimates(model, layout, names, (vcov, se), x, est.objective, est.gradient_norm,
                        est.converged, est.iterations, view)
    return replace(robust, extras={**est.extras, "vcov": vcov, "sandwich": (A, B)})


def fit_measures(survey, estimates) -> pd.Series:
    """lavaan's fitMeasures of a weighted fit: the ML measures of S_w with N rows, then the
    scaled and robust ones (``with_scaled_test``; at df = 0 lavaan's values there)."""
    from csi_models.statistics import fit_measures as fm

    layout = estimates.layout
    values = survey.values[list(layout.items)].to_numpy(float)
    if survey.missing == "fiml":
        return fiml_fit_measures(values, estimates, normalized(survey.weights))
    out = fm.ml_measures([fm.Moments(estimates.sample_cov, estimates.implied_cov, len(values))],
                         int(estimates.extras["n_free"]))
    return with_scaled_test(out, values, estimates.extras["sandwich"], survey.weights)


def with_scaled_test(out: pd.Series, values: np.ndarray, sandwich: tuple, weights) -> pd.Series:
    """The ML measures ``out`` of complete data, with df > 0 followed by the Yuan-Bentler
    scaled test (``scaled_test``, the model's ``sandwich`` (A, B) per case) and the
    ``.scaled`` and ``.robust`` measures (``robust_measures``): lavaan's MLR, and its default
    with sampling weights."""
    c_base = baseline_scaling(values, weights)
    if out["df"] <= 0:                 # lavaan: no model factor; its df = 0 values
        extra = robust_measures(out, np.nan, c_base)
        return pd.concat([out, pd.Series(extra, dtype=float)])
    A, B = sandwich
    c = scaled_test(A, B, values, weights, out["chisq"], int(out["df"]))
    extra = robust_measures(out, c["chisq.scaling.factor"], c_base)
    extra.update({k: c[k] for k in ("scaling.factor.h1", "scaling.factor.h0")})
    return pd.concat([out, pd.Series(extra, dtype=float)])


def fiml_fit_measures(values: np.ndarray, estimates, weights=None) -> pd.Series:
    """lavaan's fitMeasures of a FIML fit (``missing = "ml"``): those of the (weighted) H0
    and H1 log-likelihoods (``fiml_measures``), then the ``.robust`` CFI, TLI and RMSEA from
    the FIML-corrected chi-squares (``fiml.corrected_test``; lavaan computes them for every
    FIML fit; NaN for a fit made without standard errors, which keeps no
    ``extras['moments_jacobian']``) and, with robust SEs (estimator MLR, or respondent
    weights), the Yuan-Bentler scaled test and the ``.scaled`` measures
    (``fiml.scaling_factors``, ``scaled_measures``). NaN, with a warning, where the
    unrestricted model's information is singular."""
    from csi_models.engines.fiml import corrected_test, saturated_sandwich, scaling_factors
    from csi_models.statistics import fit_measures as fm

    h1 = fm.em_moments(values, weights=weights)[:2]
    out = fm.fiml_measures(values, estimates.implied_cov, estimates.item_mean,
                           int(estimates.extras["n_free"]), weights, em=h1)
    robust = "sandwich" in estimates.extras
    jacobian = estimates.extras.get("moments_jacobian")
    if out["df"] <= 0:       # lavaan's values at df = 0: with FIML its CFI/TLI/RNI are 1
        corrected = robust_indices(np.nan, out["df"], out["ntotal"], *(np.nan,) * 4)
        corrected.update({k: 1.0 for k in ("cfi.robust", "tli.robust", "nnfi.robust",
                                          "rni.robust")})
        return pd.concat([out, pd.Series(corrected, dtype=float)])
    scaled = dict.fromkeys(SCALED_KEYS + ("scaling.factor.h1", "scaling.factor.h0"), np.nan) \
        if robust else {}
    corrected = dict.fromkeys(ROBUST_KEYS, np.nan)
    if robust or jacobian is not None:
        baseline = fm.independence_moments(values, weights)
        try:
            saturated = saturated_sandwich(values, weights, h1)
            if robust:
                A, B = estimates.extras["sandwich"]
                c = scaling_factors(A, B, values, weights, h1, baseline, saturated)
                scaled.update(scaled_measures(out, c["c"], c["c_base"]))
                scaled.update({k: c[k] for k in ("scaling.factor.h1", "scaling.factor.h0")})
            if jacobian is not None:
                t = corrected_test(values, weights, h1, baseline, estimates.implied_cov,
                                   estimates.item_mean, jacobian, robust, saturated)
                corrected = robust_indices(t["chisq"], t["df"], out["ntotal"], t["c"],
                                           t["baseline.chisq"], t["baseline.df"], t["c_base"])
        except np.linalg.LinAlgError as exc:      # lavaan: a warning, and NA
            warnings.warn(f"the scaled and robust fit measures could not be computed ({exc}): "
                          "they are NaN", CSIWarning, stacklevel=2)
    return pd.concat([out, pd.Series({**scaled, **corrected}, dtype=float)])


# --- derivatives of the implied covariance ------------------------------------------------
def sigma_jacobian(structure: mk.Structure, x: np.ndarray):
    """(Sigma, D) at x: D (p*p, q) holds vec(dSigma/dx_k) of Sigma = Lambda A Psi A' Lambda' +
    Theta (A = (I - B)^-1): a loading lambda_rc gives e_r G_c' + G_c e_r' (G = Lambda A Psi
    A'), a path b_rc gives L_r G_c' + G_c L_r' (L = Lambda A), a Psi location (r, c) L_r L_c',
    a Theta location e_r e_c', summed over each parameter's locations."""
    sigma, (lam, A, _, M) = mk.implied(structure, np.asarray(x, float)[None])
    sigma, lam, A, M = sigma[0], lam[0], A[0], M[0]
    p = sigma.shape[0]
    G, L, E = lam @ M, lam @ A, np.eye(p)
    D = np.zeros((p, p, structure.n_free))
    for kind in mk.KINDS:
        for k, r, c in zip(*structure.free[kind]):
            if kind == "lambda":
                u, v, both = E[:, r], G[:, c], True
            elif kind == "beta":
                u, v, both = L[:, r], G[:, c], True
            elif kind == "psi":
                u, v, both = L[:, r], L[:, c], False
            else:
                u, v, both = E[:, r], E[:, c], False
            D[:, :, k] += np.outer(u, v) + (np.outer(v, u) if both else 0)
    return sigma, D.reshape(p * p, -1)


def _scores(D, sigma, Z):
    """Casewise scores of the normal log-likelihood, (n, q): 1/2 D' vec(P z z' P - P), P =
    Sigma^-1, z the case centred at the (weighted) mean."""
    P = np.linalg.inv(sigma)
    u = Z @ P
    outer = (u[:, :, None] * u[:, None, :]).reshape(len(Z), -1) - P.ravel()
    return outer @ D / 2


def observed_information(structure, x: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Half the exact Hessian of F_ML at x for the sample covariance S (``mk.hessian``):
    lavaan's observed information per case."""
    sigma, parts = mk.implied(structure, x[None])
    return mk.hessian(structure, S[None], np.linalg.inv(sigma), parts)[0] / 2


def expected_sandwich(structure, x: np.ndarray, values: np.ndarray) -> tuple:
    """(A, B) per case of unweighted complete data at x: A = D'(P x P)D / 2 the expected
    information (P = Sigma^-1), B the cross-products of the casewise scores (centred at the
    sample mean). A^-1 B A^-1 / n is the robust covariance of ``se="robust"`` (lavaan's MLR
    with information = "expected"), and (A, B) give its scaled test."""
    sigma, D = sigma_jacobian(structure, np.asarray(x, float))
    P = np.linalg.inv(sigma)
    scores = _scores(D, sigma, values - values.mean(axis=0))
    return D.T @ np.kron(P, P) @ D / 2, scores.T @ scores / len(values)


def robust_vcov(structure, x, values: np.ndarray, weights: np.ndarray):
    """(vcov, A, B) of the free parameters: lavaan's robust.huber.white with observed
    information and sampling weights (module docstring); A, B per case."""
    w = normalized(weights)
    n = len(w)
    mean, S = weighted_cov(values, w)
    A = observed_information(structure, np.asarray(x, float), S)
    sigma, D = sigma_jacobian(structure, x)
    scores = _scores(D, sigma, values - mean) * w[:, None]
    B = scores.T @ scores / n
    Ainv = np.linalg.inv(A)
    return Ainv @ B @ Ainv / n, A, B


def scaled_test(A, B, values: np.ndarray, weights: np.ndarray, chisq: float, df: int) -> dict:
    """Yuan-Bentler (Mplus) scaling of the chi-square, lavaan's ``yuan.bentler.mplus``:
    c0 = tr(A^-1 B) / q of the model (A, B from ``robust_vcov``), c1 = tr(A1^-1 B1) / p* of the
    saturated model in vech(Sigma) at Sigma = S_w (its information D'(P x P)D / 2, P = S_w^-1,
    and its weighted casewise scores), and c = (p* c1 - q c0) / df."""
    w = normalized(weights)
    mean, S = weighted_cov(values, w)
    p = S.shape[0]
    P = np.linalg.inv(S)
    rows, cols = np.triu_indices(p)
    dup = np.zeros((p * p, rows.size))            # duplication matrix: vec = dup @ vech
    dup[rows * p + cols, np.arange(rows.size)] = 1
    dup[cols * p + rows, np.arange(rows.size)] = 1
    A1 = dup.T @ np.kron(P, P) @ dup / 2
    s1 = _scores(dup, S, values - mean) * w[:, None]
    B1 = s1.T @ s1 / len(w)
    q, pstar = A.shape[0], rows.size
    c0 = np.trace(np.linalg.solve(A, B)) / q
    c1 = np.trace(np.linalg.solve(A1, B1)) / pstar
    c = (pstar * c1 - q * c0) / df if df > 0 else np.nan
    return {"chisq.scaled": chisq / c if df > 0 else chisq, "chisq.scaling.factor": c,
            "scaling.factor.h1": c1, "scaling.factor.h0": c0}


def baseline_scaling(values: np.ndarray, weights: np.ndarray) -> float:
    """The scaling factor of the baseline (independence) model's chi-square: the same
    Yuan-Bentler formula with the model's p variances (diag S_w) as its parameters."""
    w = normalized(weights)
    mean, S = weighted_cov(values, w)
    p = S.shape[0]
    base = np.diag(np.diag(S))
    P = np.linalg.inv(base)
    D = np.zeros((p * p, p))                      # dSigma/d(variance j) = e_j e_j'
    D[np.arange(p) * (p + 1), np.arange(p)] = 1
    A = D.T @ np.kron(P, P) @ D / 2
    s = _scores(D, base, values - mean) * w[:, None]
    B = s.T @ s / len(w)
    return scaled_test(A, B, values, weights, 1.0, p * (p - 1) // 2)["chisq.scaling.factor"]


ROBUST_KEYS = ("rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust",
               "rmsea.pvalue.robust", "rmsea.notclose.pvalue.robust", "cfi.robust",
               "rni.robust", "tli.robust", "nnfi.robust")
SCALED_KEYS = ("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
               "baseline.chisq.scaled", "baseline.df.scaled", "baseline.pvalue.scaled",
               "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled", "nnfi.scaled",
               "rfi.scaled", "nfi.scaled", "pnfi.scaled", "ifi.scaled", "rni.scaled",
               "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
               "rmsea.pvalue.scaled", "rmsea.notclose.pvalue.scaled")


def robust_measures(measures: pd.Series, c: float, c_base: float) -> dict:
    """lavaan's scaled and robust fit measures of complete data from the unscaled ones
    (``ml_measures`` on S_w) and the scaling factors of the model (c) and of the baseline
    model (c_base): ``scaled_measures``, and ``robust_indices`` of the same chi-squares."""
    return {**scaled_measures(measures, c, c_base),
            **robust_indices(measures["chisq"], measures["df"], measures["ntotal"], c,
                             measures["baseline.chisq"], measures["baseline.df"], c_base)}


def scaled_measures(measures: pd.Series, c: float, c_base: float) -> dict:
    """The ``.scaled`` measures (``SCALED_KEYS``): chisq / c (its p-value on df) and the
    incremental indices on the scaled chi-squares; rmsea.scaled and its interval and
    p-values from the unscaled chi-square on df2 = c df degrees of freedom (lavaan's trace
    of UGamma). NaN where a scaling factor is not a positive number; at df = 0 lavaan's
    values (chisq.scaled = chisq, the baseline's scaled test, indices 1, no model factor)."""
    from scipy.stats import chi2

    from csi_models.statistics.fit_measures import _incremental, _rmsea

    X2, df, N = measures["chisq"], measures["df"], measures["ntotal"]
    Xb, df_b = measures["baseline.chisq"], measures["baseline.df"]
    if df == 0 and c_base > 0 and np.isfinite(c_base):     # lavaan's values at df = 0
        out = dict.fromkeys(SCALED_KEYS, np.nan)
        out.update({"chisq.scaled": X2, "df.scaled": 0, "baseline.chisq.scaled": Xb / c_base,
                    "baseline.df.scaled": df_b,
                    "baseline.pvalue.scaled": chi2.sf(Xb / c_base, df_b),
                    "baseline.chisq.scaling.factor": c_base})
        out.update({f"{k}.scaled": v for k, v in _incremental(X2, 0, Xb / c_base, df_b).items()})
        return out
    if not (c > 0 and c_base > 0 and np.isfinite(c) and np.isfinite(c_base)):
        return dict.fromkeys(SCALED_KEYS, np.nan)
    out = {"chisq.scaled": X2 / c, "df.scaled": df, "pvalue.scaled": chi2.sf(X2 / c, df),
           "chisq.scaling.factor": c, "baseline.chisq.scaled": Xb / c_base,
           "baseline.df.scaled": df_b, "baseline.pvalue.scaled": chi2.sf(Xb / c_base, df_b),
           "baseline.chisq.scaling.factor": c_base}
    out.update({f"{k}.scaled": v for k, v in _incremental(X2 / c, df, Xb / c_base, df_b).items()})
    scaled = _rmsea(X2, c * df, N, 1)
    for key in ("rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue",
                "rmsea.notclose.pvalue"):
        out[f"{key}.scaled"] = scaled[key]
    return out


def robust_indices(X2: float, df: float, N: int, c: float, Xb: float, df_b: float,
                   c_base: float) -> dict:
    """The ``.robust`` measures (Brosseau-Liard & Savalei 2012, 2014) of a chi-square X2 on
    df with scaling factor c, and the baseline's Xb on df_b with c_base, with lavaan 0.6's
    edge rules (lav_fit_rmsea, lav_fit_cfi, lav_fit_tli, lav_fit_rni): rmsea =
    sqrt(max(X2 / (N df) - c / N, 0)), its interval sqrt(c) times the one of X2 / c on df
    (0 to 0 where c < 0), p-values with noncentrality N df h0^2 / c; with t = X2 - c df and
    t_b = Xb - c_base df_b, cfi = 1 - max(t, 0) / max(t, t_b, 0) (1 where both are 0),
    tli = 1 - (t df_b) / (t_b df) (1 where t_b = 0), rni = 1 - t / t_b (NaN where t_b = 0).
    At df = 0: rmsea 0 with interval 0 to 0, the rest NaN (lavaan's, complete data).
    Complete data: the ML chi-squares and the Yuan-Bentler factors; FIML: the
    FIML-corrected ones."""
    from scipy.stats import ncx2

    from csi_models.statistics.fit_measures import _rmsea

    out = dict.fromkeys(ROBUST_KEYS, np.nan)
    if df == 0:              # lavaan: rmsea 0 (interval 0 to 0); no factor for CFI and TLI
        out.update({"rmsea.robust": 0.0, "rmsea.ci.lower.robust": 0.0,
                    "rmsea.ci.upper.robust": 0.0})
        return out
    if not np.isfinite([X2, df, Xb, df_b, c, c_base]).all() or c == 0:
        return out
    out["rmsea.robust"] = np.sqrt(max(X2 / (N * df) - c / N, 0.0))
    if c > 0:
        robust = _rmsea(X2 / c, df, N, 1)
        out["rmsea.ci.lower.robust"] = np.sqrt(c) * robust["rmsea.ci.lower"]
        out["rmsea.ci.upper.robust"] = np.sqrt(c) * robust["rmsea.ci.upper"]
        out["rmsea.pvalue.robust"] = ncx2.sf(X2 / c, df, N * df * 0.05 ** 2 / c)
        out["rmsea.notclose.pvalue.robust"] = ncx2.cdf(X2 / c, df, N * df * 0.08 ** 2 / c)
    else:           # lavaan: X2 / c < 0 lies below every noncentral quantile
        out["rmsea.ci.lower.robust"] = out["rmsea.ci.upper.robust"] = 0.0
    t, t_b = X2 - c * df, Xb - c_base * df_b
    t1, t2 = max(t, 0.0), max(t, t_b, 0.0)
    out["cfi.robust"] = 1.0 if abs(t1) < 1.5e-8 and abs(t2) < 1.5e-8 else 1 - t1 / t2
    out["rni.robust"] = np.nan if abs(t_b) < 1.5e-8 else 1 - t / t_b
    out["tli.robust"] = out["nnfi.robust"] = 1 - (t * df_b) / (t_b * df) if t_b != 0 else 1.0
    return out
