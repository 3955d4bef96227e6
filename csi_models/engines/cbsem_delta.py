"""Delta-method inference for any smooth function of a CB-SEM solution, and specific
indirect effects through a named chain of constructs.

``delta_for_fit(spec, survey, estimates, fun)`` evaluates ``fun(solution)`` at the estimates
and differentiates it numerically in the free parameters (``engines.delta``), with the fit's
parameter covariance matrix (``extras['vcov']``). ``solution`` holds, in the layout's order,

    B      (constructs, constructs) unstandardized paths [source, target]
    Lambda (items, constructs)      unstandardized loadings
    phi    (constructs, constructs) model-implied construct covariances
    sigma  (items, items)           model-implied item covariances

so indices, impacts or effects written as functions of these get lavaan-style delta-method
standard errors. An indirect effect through A -> B -> C is the product of the unstandardized
paths b_AB b_BC (lavaan's ``:=`` defined parameter ``ind := a*b``), standardized by
sd(A)/sd(C) (lavaan's ``standardizedSolution()`` of it); both match lavaan 0.6-14 to 1e-6
(tests/test_cbsem_delta.py; make_lavaan_refs.R, section 13).

``derived_inference`` gives the kernel's 0-100 indices, standardized effects and impacts
(``statistics.kernel.Statistics.derive``, the one place that computes them) their delta-method
inference: ``derive`` itself is the function differentiated, on the solution at each x (paths
standardized by the implied latent sds, factor-score weights from the implied Sigma). The item
means, sds and sample covariance in those formulas are held fixed at their sample values, as
lavaan treats numbers written into a ``:=`` definition; they match lavaan's ``:=`` defined
parameters to 1e-4 (make_lavaan_refs.R, section 14).
"""

from __future__ import annotations

import types
from dataclasses import replace

import numpy as np
import pandas as pd

from csi_models.engines.delta import delta_method, wald
from csi_models.errors import EstimationError, SpecError

#: the kernel's statistics that get delta-method inference in a CB-SEM fit without bootstrap
DERIVED = ("indices", "direct", "indirect", "total", "impacts")


def _solution_function(spec, survey, estimates, fun):
    from csi_models.engines import cbsem

    if estimates.method != "cbsem" or estimates.extras.get("vcov") is None:
        raise EstimationError("delta-method inference needs a CB-SEM fit with standard errors "
                              "(method='cbsem'); refit that way")
    layout = estimates.layout
    model, frame, names, _ = cbsem._build(spec, layout, survey, survey.missing)
    if isinstance(frame, pd.DataFrame):
        model.load(frame)
    else:   # a fit from moments (``moments_fit``): only the model's structure is needed
        model.load(cov=frame.cov(), n_samples=frame.n)
    obs, lat = model.names[1][0], model.names[0][0]
    xs = [obs.index(names[i]) for i in layout.items]
    fs = [lat.index(names[c]) for c in layout.constructs]

    def evaluate(x):
        model.update_matrices(x)
        sigma, (_, c) = model.calc_sigma()
        beta, lam, psi = model.matrices[0], model.matrices[1], model.matrices[2]
        phi = c @ psi @ c.T
        solution = types.SimpleNamespace(
            B=beta[np.ix_(fs, fs)].T, Lambda=lam[np.ix_(xs, fs)],
            phi=phi[np.ix_(fs, fs)], sigma=sigma[np.ix_(xs, xs)])
        return np.atleast_1d(np.asarray(fun(solution), float))

    return evaluate, model


def delta_for_fit(spec, survey, estimates, fun):
    """(values, se, covariance) of ``fun(solution)`` at a CB-SEM fit's estimates (module
    docstring); ``survey`` is the prepared data of the fit."""
    evaluate, model = _solution_function(spec, survey, estimates, fun)
    x = estimates.extras["x"]
    try:
        return delta_method(evaluate, x, estimates.extras["vcov"])
    finally:
        model.update_matrices(x)


def indirect_effect(spec, survey, estimates, chain, level: float = 0.95) -> pd.DataFrame:
    """One row: the specific indirect effect through ``chain`` (construct names, each
    consecutive pair a path of the spec): source, target, through, estimate (standardized),
    se, statistic, p_value, ci_lower, ci_upper (Wald, ``level``), n_boot (NaN),
    unstandardized, unstandardized_se."""
    from scipy.stats import norm

    chain = list(chain)
    layout = estimates.layout
    unknown = [c for c in chain if c not in layout.constructs]
    if len(chain) < 2 or unknown:
        raise SpecError(f"indirect_effect takes a chain of at least two constructs of the model "
                        f"(e.g. ['Expectation', 'Quality', 'Satisfaction']); "
                        f"{'unknown: ' + ', '.join(map(repr, unknown)) if unknown else 'got ' + repr(chain)}")
    idx = [layout.constructs.index(c) for c in chain]
    missing = [f"{a} -> {b}" for a, b in zip(chain, chain[1:]) if (a, b) not in set(spec.paths)]
    if missing:
        raise SpecError(f"the chain {' -> '.join(chain)} follows no path of the model at "
                        f"{', '.join(missing)}; name constructs joined by paths")

    def both(s):
        raw = np.prod([s.B[i, j] for i, j in zip(idx, idx[1:])])
        return [raw, raw * np.sqrt(s.phi[idx[0], idx[0]] / s.phi[idx[-1], idx[-1]])]

    (raw, std), (raw_se, std_se), _ = delta_for_fit(spec, survey, estimates, both)
    columns = {k: float(v) for k, v in wald(std, std_se, norm.ppf(0.5 + level / 2)).items()}
    return pd.DataFrame([{
        "source": chain[0], "target": chain[-1], "through": " -> ".join(chain),
        "estimate": std, **columns, "n_boot": np.nan, "unstandardized": raw,
        "unstandardized_se": raw_se}])


def derived_inference(spec, survey, estimates, statistics) -> dict:
    """kind -> (estimate, se) of the kernel's ``DERIVED`` statistics by the delta method, for
    a complete-data CB-SEM fit with standard errors; {} for any other fit (PLS, FIML, no
    ``vcov``), whose tables keep NaN. Indices are functions of the factor-score weights
    Sigma_jj^-1 lambda_j only (module docstring); a one-item construct's index and the
    direct effect between constructs with no path get se 0."""
    from csi_models.engines.base import Resamples
    from csi_models.engines.cbsem_solution import block_weights

    if (estimates.method != "cbsem" or estimates.extras.get("vcov") is None
            or survey.missing == "fiml"):
        return {}
    one = Resamples.of(estimates)
    # the item covariance (n - 1) that standardized the fit's scores, weighted with respondent
    # weights (``cbsem_engine.with_moments``); fixed, as in lavaan
    C = estimates.item_cor * np.outer(estimates.item_sd, estimates.item_sd)

    def derived(s):
        sd = np.sqrt(np.abs(np.diag(s.phi)))
        with np.errstate(invalid="ignore", divide="ignore"):
            paths = s.B * sd[:, None] / sd[None, :]
        weights = block_weights(estimates.layout, s.sigma, s.Lambda, C)
        out = statistics.derive(replace(one, paths=paths[None], weights=weights[None]))
        return np.concatenate([out[kind][0] for kind in DERIVED])

    values, se, _ = delta_for_fit(spec, survey, estimates, derived)
    result, start = {}, 0
    for kind in DERIVED:
        k = len(statistics.keys(kind))
        result[kind] = (values[start:start + k], se[start:start + k])
        start += k
    return result
