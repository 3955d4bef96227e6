"""lavaan's robust ML (MLR) test and fit measures: the Yuan-Bentler (Mplus) scaled chi-square,
the ``.scaled`` and ``.robust`` measures, and the sandwich they are built from.

* Complete data, ``se="robust"``: the sandwich (A, B) per case, A the expected information
  and B the cross-products of the casewise scores (``expected_sandwich``; lavaan's MLR with
  ``information = "expected"``), and the scaled test ``chisq / c``, c = (p* c1 - q c0) / df,
  c0 = tr(A^-1 B) / q of the model and c1 of the unrestricted covariance model at the sample
  covariance (``scaled_test``, lavaan's ``test = "yuan.bentler.mplus"``; with respondent
  weights on the weighted covariance, ``engines.cbsem_weights``), with lavaan's fitMeasures
  from it (``with_scaled_test``, ``robust_measures``).
* FIML (``fiml_fit_measures``): the scaled test of lavaan's MLR with missing data
  (``fiml_h1.scaling_factors``) and the FIML-corrected ``.robust`` CFI, TLI and RMSEA that lavaan
  computes for every FIML fit (``fiml_h1.corrected_test``).

Nothing here grows as p^4: D'(P x P)D is taken as the traces of D_k P D_l P, the scores from
the half-vectorized products of each case (``vech_scores``), and the unrestricted and
baseline models' traces from each case's Mahalanobis distance and standardized squares
(``unrestricted_trace``, ``baseline_trace``; also for multi-group fits,
``engines.multigroup``); at 100 items a Kronecker product P x P alone held 800 MB, and that
model's information p* x p* = 5050 x 5050.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from csi_models.data.weights import normalized, weighted_cov
from csi_models.engines import mlkernel as mk
from csi_models.engines.fiml_h1 import h1_pairs
from csi_models.errors import CSIWarning

CASES_BYTES = 2 ** 24    # one (rows, p*) array of a block of ``case_scores`` (16 MB; two at most)


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
    the FIML-corrected chi-squares (``fiml_h1.corrected_test``; lavaan computes them for every
    FIML fit; NaN for a fit made without standard errors, which keeps no
    ``extras['moments_jacobian']``) and, with robust SEs (estimator MLR, or respondent
    weights), the Yuan-Bentler scaled test and the ``.scaled`` measures
    (``fiml_h1.scaling_factors``, ``scaled_measures``). At df = 0 lavaan's values: rmsea.robust
    0, CFI/TLI/RNI 1, and with robust SEs the baseline's scaled test beside chisq.scaled =
    chisq. NaN, with a warning, where the unrestricted model's information is singular."""
    from csi_models.engines.fiml_h1 import corrected_test, saturated_sandwich, scaling_factors
    from csi_models.statistics import fit_measures as fm

    h1 = fm.em_moments(values, weights=weights)[:2]
    out = fm.fiml_measures(values, estimates.implied_cov, estimates.item_mean,
                           int(estimates.extras["n_free"]), weights, em=h1)
    robust = "sandwich" in estimates.extras
    jacobian = estimates.extras.get("moments_jacobian")
    just = out["df"] <= 0
    scaled = dict.fromkeys(SCALED_KEYS + (() if just else ("scaling.factor.h1",
                                                           "scaling.factor.h0")), np.nan) \
        if robust else {}
    if just:                 # lavaan's values at df = 0: with FIML its CFI/TLI/RNI are 1
        corrected = robust_indices(np.nan, out["df"], out["ntotal"], *(np.nan,) * 4)
        corrected.update({k: 1.0 for k in ("cfi.robust", "tli.robust", "nnfi.robust",
                                          "rni.robust")})
    else:
        corrected = dict.fromkeys(ROBUST_KEYS, np.nan)
    if robust or (jacobian is not None and not just):
        baseline = fm.independence_moments(values, weights)
        try:
            saturated = saturated_sandwich(values, weights, h1)
            if robust:   # at df = 0 no model factor: lavaan's df = 0 values, the baseline's
                A, B = estimates.extras["sandwich"]
                c = scaling_factors(A, B, values, weights, h1, baseline, saturated)
                scaled.update(scaled_measures(out, c["c"], c["c_base"]))
                if not just:
                    scaled.update({k: c[k] for k in ("scaling.factor.h1", "scaling.factor.h0")})
            if jacobian is not None and not just:
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


def vech_scores(P: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """(n, p(p+1)/2): each case's score of the unrestricted covariance model, 1/2 f (u_i u_j -
    P_ij) for the entries (i, j) of ``fiml_h1.h1_pairs`` (f = 2 off the diagonal), u = P z, z the
    case's residual. Times the rows of a symmetric Jacobian D at those entries, the scores
    1/2 D' vec(P z z' P - P) of any covariance model."""
    rows, cols = (np.array(v, int) for v in zip(*h1_pairs(P.shape[0])))
    u = Z @ P
    out = u[:, rows]
    out *= u[:, cols]                 # in place: a block holds two (n, p*) arrays at most
    out -= P[rows, cols]
    out *= np.where(rows != cols, 1.0, 0.5)
    return out


def case_scores(D: np.ndarray, sigma: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Casewise scores of the normal log-likelihood, (n, q): 1/2 D' vec(P z z' P - P), P =
    Sigma^-1, z the case centred at the (weighted) mean; D (p*p, q) from ``sigma_jacobian``.
    Taken ``CASES_BYTES`` of products at a time."""
    p = sigma.shape[0]
    rows, cols = (np.array(v, int) for v in zip(*h1_pairs(p)))
    P, Dv = np.linalg.inv(sigma), D[rows * p + cols]
    if not len(Z):
        return np.zeros((0, D.shape[1]))
    step = max(1, CASES_BYTES // (8 * len(rows)))
    return np.concatenate([vech_scores(P, Z[a:a + step]) @ Dv for a in range(0, len(Z), step)])


def expected_information(D: np.ndarray, P: np.ndarray) -> np.ndarray:
    """D'(P x P)D / 2, the expected information per case of the parameters whose Jacobian of
    vec(Sigma) is D (p*p, q), P = Sigma^-1: entry (k, l) is tr(P D_k P D_l) / 2."""
    p = P.shape[0]
    PDP = P @ D.T.reshape(-1, p, p) @ P                     # (q, p, p)
    return PDP.reshape(len(PDP), -1) @ D / 2


def observed_information(structure, x: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Half the exact Hessian of F_ML at x for the sample covariance S (``mk.hessian``):
    lavaan's observed information per case."""
    sigma, parts = mk.implied(structure, x[None])
    return mk.hessian(structure, S[None], np.linalg.inv(sigma), parts)[0] / 2


def expected_sandwich(structure, x: np.ndarray, values: np.ndarray) -> tuple:
    """(A, B) per case of unweighted complete data at x: A the expected information
    (``expected_information``), B the cross-products of the casewise scores (centred at the
    sample mean). A^-1 B A^-1 / n is the robust covariance of ``se="robust"`` (lavaan's MLR
    with information = "expected"), and (A, B) give its scaled test."""
    sigma, D = sigma_jacobian(structure, np.asarray(x, float))
    scores = case_scores(D, sigma, values - values.mean(axis=0))
    return expected_information(D, np.linalg.inv(sigma)), scores.T @ scores / len(values)


def scaled_test(A, B, values: np.ndarray, weights, chisq: float, df: int) -> dict:
    """Yuan-Bentler (Mplus) scaling of the chi-square, lavaan's ``yuan.bentler.mplus``:
    c0 = tr(A^-1 B) / q of the model (A, B per case: ``expected_sandwich`` or, weighted,
    ``cbsem_weights.robust_vcov``), c1 = tr(A1^-1 B1) / p* of the unrestricted covariance
    model at Sigma = S_w (``unrestricted_trace``), and c = (p* c1 - q c0) / df. ``weights``
    None: every case weighs 1."""
    p = values.shape[1]
    q, pstar = A.shape[0], p * (p + 1) // 2
    c0 = np.trace(np.linalg.solve(A, B)) / q
    c1 = unrestricted_trace(values, weights) / pstar
    c = (pstar * c1 - q * c0) / df if df > 0 else np.nan
    return {"chisq.scaled": chisq / c if df > 0 else chisq, "chisq.scaling.factor": c,
            "scaling.factor.h1": c1, "scaling.factor.h0": c0}


def _standardized(values: np.ndarray, weights):
    """(weights summing to N, residuals from the weighted mean, S_w)."""
    w = np.ones(len(values)) if weights is None else normalized(weights)
    mean, S = weighted_cov(values, w)
    return w, values - mean, S


def unrestricted_trace(values: np.ndarray, weights=None, means: bool = False) -> float:
    """tr(A1^-1 B1) per case of the unrestricted model (its covariances; with ``means`` also
    the p means) at the (weighted) sample moments, A1 its information and B1 its (weighted)
    scores' cross-products, without the p* x p* matrices: A1^-1 = 2 D+(S x S)D+' for the
    covariances, so a case's s' A1^-1 s is tr(M S M S) / 2 with M = P z z' P - P (P = S^-1),
    i.e. ((d - 1)^2 + p - 1) / 2 with d = z' P z its squared Mahalanobis distance (Mardia's
    kurtosis; the trace is p* for normal data), plus d for the means (A1 is block diagonal)."""
    w, Z, S = _standardized(values, weights)
    d = np.einsum("ij,ij->i", Z @ np.linalg.inv(S), Z)
    per_case = ((d - 1) ** 2 + S.shape[0] - 1) / 2 + (d if means else 0.0)
    return float(w ** 2 @ per_case) / len(w)


def baseline_trace(values: np.ndarray, weights=None, means: bool = False) -> float:
    """tr(A^-1 B) per case of the independence model (the p variances v = diag S_w; with
    ``means`` also the p means) at its estimates: A is diagonal, 1 / (2 v^2) (and 1 / v), the
    scores (z^2 / v - 1) / (2 v) (and z / v), so only B's diagonal counts."""
    w, Z, S = _standardized(values, weights)
    r = Z ** 2 / np.diag(S)
    per_case = ((r - 1) ** 2 / 2 + (r if means else 0.0)).sum(axis=1)
    return float(w ** 2 @ per_case) / len(w)


def baseline_scaling(values: np.ndarray, weights) -> float:
    """The scaling factor of the baseline (independence) model's chi-square: the same
    Yuan-Bentler formula with the model's p variances as its parameters."""
    p = values.shape[1]
    return (unrestricted_trace(values, weights) - baseline_trace(values, weights)) \
        / (p * (p - 1) // 2)


ROBUST_KEYS = ("rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust",
               "rmsea.pvalue.robust", "rmsea.notclose.pvalue.robust", "cfi.robust",
               "rni.robust", "tli.robust", "nnfi.robust")
SCALED_KEYS = ("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
               "baseline.chisq.scaled", "baseline.df.scaled", "baseline.pvalue.scaled",
               "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled", "nnfi.scaled",
               "rfi.scaled", "nfi.scaled", "pnfi.scaled", "ifi.scaled", "rni.scaled",
               "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
               "rmsea.pvalue.scaled", "rmsea.notclose.pvalue.scaled")


def robust_measures(measures: pd.Series, c: float, c_base: float, groups: int = 1) -> dict:
    """lavaan's scaled and robust fit measures of complete data from the unscaled ones
    (``ml_measures`` on S_w; of ``groups`` groups) and the scaling factors of the model (c)
    and of the baseline model (c_base): ``scaled_measures``, and ``robust_indices`` of the
    same chi-squares."""
    return {**scaled_measures(measures, c, c_base, groups),
            **robust_indices(measures["chisq"], measures["df"], measures["ntotal"], c,
                             measures["baseline.chisq"], measures["baseline.df"], c_base,
                             groups)}


def scaled_measures(measures: pd.Series, c: float, c_base: float, groups: int = 1) -> dict:
    """The ``.scaled`` measures (``SCALED_KEYS``): chisq / c (its p-value on df) and the
    incremental indices on the scaled chi-squares; rmsea.scaled and its interval and
    p-values from the unscaled chi-square on df2 = c df degrees of freedom (lavaan's trace
    of UGamma; times sqrt(groups), as every RMSEA of lavaan). NaN where a scaling factor is
    not a positive number; at df = 0 lavaan's
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
    scaled = _rmsea(X2, c * df, N, groups)
    for key in ("rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue",
                "rmsea.notclose.pvalue"):
        out[f"{key}.scaled"] = scaled[key]
    return out


def robust_indices(X2: float, df: float, N: int, c: float, Xb: float, df_b: float,
                   c_base: float, groups: int = 1) -> dict:
    """The ``.robust`` measures (Brosseau-Liard & Savalei 2012, 2014) of a chi-square X2 on
    df with scaling factor c, and the baseline's Xb on df_b with c_base, with lavaan 0.6's
    edge rules (lav_fit_rmsea, lav_fit_cfi, lav_fit_tli, lav_fit_rni): rmsea =
    sqrt(max(X2 / (N df) - c / N, 0)), its interval sqrt(c) times the one of X2 / c on df
    (0 to 0 where c < 0), p-values with noncentrality N df h0^2 / c (of G groups: rmsea and
    interval times sqrt(G), noncentrality over G, as lavaan); with t = X2 - c df and
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
    out["rmsea.robust"] = np.sqrt(groups * max(X2 / (N * df) - c / N, 0.0))
    if c > 0:
        robust = _rmsea(X2 / c, df, N, groups)
        out["rmsea.ci.lower.robust"] = np.sqrt(c) * robust["rmsea.ci.lower"]
        out["rmsea.ci.upper.robust"] = np.sqrt(c) * robust["rmsea.ci.upper"]
        ncp = N * df / (c * groups)
        out["rmsea.pvalue.robust"] = ncx2.sf(X2 / c, df, ncp * 0.05 ** 2)
        out["rmsea.notclose.pvalue.robust"] = ncx2.cdf(X2 / c, df, ncp * 0.08 ** 2)
    else:           # lavaan: X2 / c < 0 lies below every noncentral quantile
        out["rmsea.ci.lower.robust"] = out["rmsea.ci.upper.robust"] = 0.0
    t, t_b = X2 - c * df, Xb - c_base * df_b
    t1, t2 = max(t, 0.0), max(t, t_b, 0.0)
    out["cfi.robust"] = 1.0 if abs(t1) < 1.5e-8 and abs(t2) < 1.5e-8 else 1 - t1 / t2
    out["rni.robust"] = np.nan if abs(t_b) < 1.5e-8 else 1 - t / t_b
    out["tli.robust"] = out["nnfi.robust"] = 1 - (t * df_b) / (t_b * df) if t_b != 0 else 1.0
    return out
