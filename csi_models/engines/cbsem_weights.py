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
  saturated model at S_w, as lavaan's ``test = "yuan.bentler.mplus"`` (``cbsem_robust``).
  ``fit_measures`` gives every entry of lavaan's ``fitMeasures``: the unscaled ones on S_w
  (``statistics.fit_measures.ml_measures``) and the ``.scaled`` and ``.robust`` ones
  (``cbsem_robust.robust_measures``); all match lavaan to 1e-6.
* The bootstrap resamples respondents with their weights (``resample_moments``, as PLS).
* With missing data (``missing='fiml'``, lavaan's ``missing = "ml"``): FIML with each row's
  log-likelihood counted w_i times (``engines.fiml``; ``cbsem.fit`` takes the weights),
  robust SEs (the sandwich of the observed information and the weighted casewise scores,
  lavaan's default there too), fit measures on the weighted H0 and H1 (EM) log-likelihoods
  (``fit_measures.fiml_measures``), and lavaan's Yuan-Bentler scaled test with missing data
  (``fiml_h1.scaling_factors``: the unrestricted model's factor at its EM estimates) with the
  ``.scaled`` measures, and the FIML-corrected ``.robust`` ones (``fiml_h1.corrected_test``).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from csi_models.data.weights import normalized, weighted_cov
from csi_models.engines import mlkernel as mk
from csi_models.engines.base import Estimates, Layout
from csi_models.engines.cbsem_robust import (case_scores, fiml_fit_measures,
                                             observed_information, sigma_jacobian,
                                             with_scaled_test)
from csi_models.errors import EstimationError


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


def robust_vcov(structure, x, values: np.ndarray, weights: np.ndarray):
    """(vcov, A, B) of the free parameters: lavaan's robust.huber.white with observed
    information and sampling weights (module docstring); A, B per case."""
    w = normalized(weights)
    n = len(w)
    mean, S = weighted_cov(values, w)
    A = observed_information(structure, np.asarray(x, float), S)
    sigma, D = sigma_jacobian(structure, x)
    scores = case_scores(D, sigma, values - mean) * w[:, None]
    B = scores.T @ scores / n
    Ainv = np.linalg.inv(A)
    return Ainv @ B @ Ainv / n, A, B
