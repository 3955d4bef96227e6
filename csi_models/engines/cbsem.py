"""Covariance-based SEM by maximum likelihood through semopy, taken to the true optimum.

semopy builds the model (the spec's lavaan syntax). Complete data are fitted by our batched
ML kernel (``engines.mlkernel``/``mlfit``: scoring, then Newton on the exact Hessian) from the
data-based start (``engines.start``), then semopy's; only where neither converges does
semopy's SLSQP look for the basin (its success flag is not convergence: on ill-conditioned CSI
models it stops where the gradient is still large), polished by ``engines.optimize``. FIML
uses semopy's objective and ``engines.fiml``. The final max |gradient| is reported.
Like lavaan, variances are not bounded at zero (a negative variance is reported as an
improper solution, not hidden at a bound). A fresh semopy Model is built for every fit, so
fits cannot contaminate each other. Matches lavaan 0.6 (polished) to 1e-6 on the ECSI model
(tests/test_cbsem_lavaan.py). Beside the fit: its input checks (``engines.cbsem_checks``), its
standard errors (``engines.cbsem_standard_errors``) and its solution (``engines.cbsem_solution``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import semopy
from semopy.utils import chol_inv2
from threadpoolctl import threadpool_limits

from csi_models.engines import mlkernel as mk
from csi_models.engines import multistart
from csi_models.engines.base import Estimates, Layout
from csi_models.engines.cbsem_checks import (check_arguments, check_covariance,
                                             check_identified, checked_start)
from csi_models.engines.cbsem_solution import _estimates, improper_problems
from csi_models.engines.cbsem_standard_errors import no_standard_errors, standard_errors
from csi_models.engines.fiml import FIML
from csi_models.engines.fiml_h1 import moments_jacobian
from csi_models.engines.optimize import fisher_scoring, newton
from csi_models.engines.start import data_start
from csi_models.errors import ConvergenceWarning, EstimationError, ImproperSolutionWarning
from csi_models.spec.lavaan import to_lavaan

GRADIENT_TOLERANCE = 1e-6   # max |gradient| of the ML fit function accepted as converged
POLISHED = 1e-9             # max |gradient| to which complete-data fits are polished
# extras["start"] of a FIML fit from its own start (a FIML fit was labelled with semopy's
# SLSQP start, which it never used)
FIML_START = "complete-data ML on the pairwise covariances"
FIML_DATA_START = "data-based, of the pairwise covariances"
SLSQP_START = "semopy default (SLSQP)"


def _names(layout: Layout) -> dict:
    """Plain ASCII names for semopy (whose parser cannot take every survey column name)."""
    names = {item: f"x{i}" for i, item in enumerate(layout.items)}
    names.update({c: f"f{j}" for j, c in enumerate(layout.constructs)})
    return names


def _build(spec, layout, data, missing):
    """A fresh semopy model loaded with the data; variances unbounded, as in lavaan."""
    names = _names(layout)
    syntax = to_lavaan(spec, rename=names)
    frame = data.values.rename(columns=names).reset_index(drop=True)
    model = semopy.ModelMeans(syntax) if missing == "fiml" else semopy.Model(syntax)
    for param in model.parameters.values():
        param.bound = (None, None)
    return model, frame, names, syntax


def _where(model, param) -> tuple:
    """(matrix kind, row name, column name) of a semopy parameter's first location."""
    loc = param.locations[0]
    k = next(i for i, mx in enumerate(model.matrices) if mx is loc.matrix)
    rows, cols = model.names[k]
    return model.matrices_names[k], rows[loc.indices[0]], cols[loc.indices[1]]


def _ml_discrepancy(model):
    """The ML fit function F = tr(S Sigma^-1) - p + log|Sigma| - log|S| (semopy's MLW) at x,
    inf where Sigma is not positive definite. F >= 0 in exact arithmetic; at a perfect fit
    (a just-identified model, df = 0) it evaluates to a rounding error either side of 0, and
    semopy's own objective returns inf for any negative value, which on some OpenBLAS kernels
    failed every fit of such a model. A negative value is rounding: it is taken as 0."""

    def fun(x):
        model.update_matrices(x)
        try:
            sigma, _ = model.calc_sigma()
            inv_sigma, logdet_sigma = chol_inv2(sigma)
        except np.linalg.LinAlgError:
            return np.inf
        loss = np.einsum("ij,ji->", model.mx_cov, inv_sigma) - sigma.shape[0] \
            + logdet_sigma - model.cov_logdet
        return max(float(loss), 0.0) if np.isfinite(loss) else np.inf

    return fun


def _kernel_fit(model, frame, start, cov=None, quick: bool = False) -> tuple:
    """(x, start label, iterations) of the ML optimum by the batched kernel
    (``multistart.refit`` of a stack of one, never giving up early; the iterations of every
    start tried), or (None, None, iterations) where it converges from no start. Tried in
    turn: ``start`` when given, else the data-based start (``engines.start``, as lavaan's),
    semopy's default start, BFGS steps from the data-based start
    (``multistart.QUASI_NEWTON``) and the same with the variances held at or above 0
    (``multistart.ADMISSIBLE``, also where an earlier start converged improper).
    ``cov``: a covariance matrix (divisor n) standing for the rows. ``quick`` (FIML's start,
    which need not be the complete-data optimum): no admissible start, and every start given
    up as in a bootstrap refit (a failing FIML resample of ECSI spent 4.5 s of its 8.4 s in
    the single-fit BFGS steps on its pairwise covariances)."""
    structure = mk.Structure.from_semopy(model)
    if cov is None and not isinstance(frame, pd.DataFrame):
        cov = frame.cov(ddof=0)     # a fit from moments: their covariance stands for the rows
    if cov is None:
        S, logdet_S = mk.sample_moments(frame[list(structure.observed)].to_numpy(float),
                                        [np.arange(len(frame))])
    else:
        S = cov.loc[list(structure.observed), list(structure.observed)].to_numpy(float)[None]
        sign, logdet_S = np.linalg.slogdet(S)
        logdet_S = np.where(sign > 0, logdet_S, np.nan)
    starts = [("given", np.asarray(start, float))] if start is not None else \
        [("data", None), ("semopy default", model.param_vals.copy()),
         (multistart.QUASI_NEWTON, None)] + ([] if quick else [(multistart.ADMISSIBLE, None)])
    out = multistart.refit(structure, S, logdet_S, starts, GRADIENT_TOLERANCE, POLISHED,
                           give_up=quick)
    if out.gmax[0] < GRADIENT_TOLERANCE:
        return out.x[0], out.labels[0], int(out.iters[0])
    return None, None, int(out.iters[0])


def _complete_data_fit(model, frame, cov=None, start=None):
    """ML (Wishart) fit polished by Fisher scoring; ``cov`` replaces the sample covariance
    (FIML's start: the pairwise covariances). First through the batched kernel
    (``_kernel_fit``); only where that does not converge does semopy's SLSQP from its
    default starting values look for the basin.
    Returns (fun, grad, information, x, start label or None, the kernel's iterations)."""
    label, iterations = None, 0
    if cov is None:
        _load(model, frame)
    else:
        model.load(cov=cov, n_samples=len(frame))
    if cov is None or np.isfinite(cov.to_numpy(float)).all():
        x, label, iterations = _kernel_fit(model, frame, start, cov, quick=cov is not None)
        if x is not None:
            fun, grad = _ml_discrepancy(model), model.get_objective("MLW")[1]
            return fun, grad, _information(model), x, label, iterations
    if start is not None:
        _load(model, frame)
    elif cov is None and isinstance(frame, pd.DataFrame):
        model.fit(frame, obj="MLW")
        label = SLSQP_START
    elif cov is None:   # a fit from moments
        model.fit(cov=frame.cov(ddof=0), obj="MLW", n_samples=len(frame))
        label = SLSQP_START
    else:
        model.fit(cov=cov, obj="MLW", n_samples=len(frame))
    fun, grad = _ml_discrepancy(model), model.get_objective("MLW")[1]
    information = _information(model)
    x = fisher_scoring(fun, grad, information, model.param_vals.copy() if start is None else start)
    return fun, grad, information, x, label, iterations


def _load(model, frame) -> None:
    """semopy's model loaded with the rows; for a fit from moments (``moments_fit``: ``frame``
    holds only the items' moments) with their covariance (divisor n) and n, and semopy's
    starting loadings computed from that covariance as semopy computes them from rows (the
    slope of each item on its construct's first item), so both fits start alike."""
    if isinstance(frame, pd.DataFrame):
        model.load(frame)
        return
    cov = frame.cov(ddof=0)
    model.load(cov=cov, n_samples=len(frame))
    obs, lat = model.vars["observed"], model.vars["latent"]
    S = cov.loc[obs, obs].to_numpy(float)
    k = model.matrices_names.index("lambda")
    rows, cols = model.names[k]
    for name in getattr(model, "params_to_start", []):
        loc = model.parameters[name].locations[0]
        if loc.matrix is not model.matrices[k]:
            continue
        item, construct = rows[loc.indices[0]], cols[loc.indices[1]]
        first = model.first_manifs.get(construct) if construct in lat else None
        if first in obs:
            i, j = obs.index(first), obs.index(item)
            model.parameters[name].start = S[i, j] / S[i, i]
    model.prepare_params()


def _information(model):
    def information(x):  # semopy's expected information is of log L; F = -2 log L / n
        model.update_matrices(x)
        return model.calc_fim() * 2 / model.n_samples

    return information


def _objective(model, frame, syntax: str, fiml: bool, start=None, weights=None):
    """(fun, grad, information, start, start label, iterations so far, further starts) of the
    ML fit function for this data (``_complete_data_fit``). FIML starts from the
    complete-data ML fit to the pairwise covariances and the items' means; where that does
    not converge, from the data-based start of those covariances (``engines.start``, as
    lavaan's: ECSI with 5% of its answers missing at random (seed 5) ran from the first
    into an improper region, max |gradient| 58, and converged from this one at lavaan's
    chi-square), then from semopy's default start: the further starts, (label, x) pairs;
    a given ``start`` replaces them all. FIML takes respondent ``weights`` (lavaan's
    sampling.weights, which ``FIML`` normalizes to sum to the rows; the starts stay
    unweighted)."""
    if not fiml:
        return (*_complete_data_fit(model, frame, start=start), [])
    model.load(frame)
    objective = FIML(model, frame[model.vars["observed"]].to_numpy(float), weights)
    functions = (objective.objective, objective.gradient, objective.information)
    if start is not None:
        return (*functions, start, None, 0, [])
    default = model.param_vals.copy()
    base = semopy.Model(syntax)
    for param in base.parameters.values():
        param.bound = (None, None)
    cov = frame.cov(ddof=0)
    x_base = _complete_data_fit(base, frame, cov=cov)[3]
    structure = mk.Structure.from_semopy(base)
    observed = list(structure.observed)
    S = cov.loc[observed, observed].to_numpy(float)[None]
    means = frame.mean()

    def in_model(x_base):       # the base model's values, and the items' means, for FIML's
        values = {_where(base, p): value for p, value in
                  zip([p for p in base.parameters.values() if p.active], x_base)}
        x = default.copy()
        for k, param in enumerate(p for p in model.parameters.values() if p.active):
            kind, a, b = _where(model, param)
            x[k] = means[a] if kind == "gamma2" else values.get((kind, a, b), x[k])
        return x

    further = [(FIML_DATA_START, in_model(data_start(structure, S)[0])),
               ("semopy default", default)]
    return (*functions, in_model(x_base), FIML_START, 0, further)


def _minimize(fun, grad, information, x, tol):
    """Fisher scoring, then Newton steps to max |g| < ``tol``: (x, Newton steps)."""
    return newton(grad, fisher_scoring(fun, grad, information, x), tol=tol)


def fit(spec, data, se: str = "standard", start=None) -> Estimates:
    """Estimate the spec as a CB-SEM by ML (FIML when ``data.missing == 'fiml'``).

    ``se``: 'standard' = expected information for complete data (lavaan's default) and
    observed information for FIML (lavaan's default with missing='ml'); 'robust' = the
    Huber-White sandwich on casewise scores, lavaan's MLR (complete data: on the expected
    information, ``cbsem_robust.expected_sandwich``; FIML: on the observed information).
    Respondent weights (``data.weights``) are taken here with FIML only (complete data
    with weights: ``engines.cbsem_weights.fit``).
    ``start``: starting values of the free parameters in semopy's active-parameter order,
    as recorded in ``Estimates.extras["x"]`` (the final values of every fit; with FIML they
    include the item intercepts). Without it, complete data start from the data-based start
    (``engines.start``, as lavaan's), then semopy's, then BFGS steps from the data-based
    start, then those steps with the variances held at or above 0 (``_kernel_fit``);
    given, the fit starts there and, should that not converge, is repeated from the default
    starts (``_warm``). ``extras["start"]`` says which start gave the estimates:
    'data', 'semopy default', 'data, quasi-Newton', 'admissible', 'given',
    'semopy default (SLSQP)' (the last resort); with FIML ``FIML_START``, ``FIML_DATA_START``,
    'semopy default' (``_objective``) or 'given'."""
    check_arguments(spec, data, se)
    layout = Layout.from_spec(spec)
    model = _build(spec, layout, data, data.missing)
    check_identified(spec, model[0], len(layout.items), data.missing == "fiml")
    start = checked_start(start, model[0])
    check_covariance(data, layout)
    if start is None:
        estimates = _estimate(model, layout, data, se, None)
    else:
        estimates = _warm(spec, layout, data, se, start, model)
    if not estimates.converged:
        warnings.warn(f"CB-SEM did not converge: max |gradient| = {estimates.gradient_norm:.2e} "
                      f"after polishing (tolerance {GRADIENT_TOLERANCE:g}); estimates are unreliable",
                      ConvergenceWarning, stacklevel=3)
    problems = improper_problems(estimates)
    if problems:
        warnings.warn("improper CB-SEM solution: " + "; ".join(problems) + ". The constructs "
                      "may not be empirically distinct; consider merging them, or PLS",
                      ImproperSolutionWarning, stacklevel=3)
        estimates = replace(estimates, extras={**estimates.extras, "improper": problems})
    return estimates


def _warm(spec, layout, data, se, start, model) -> Estimates:
    """A fit from ``start``; if it does not converge, also from the default starts, and
    the better of the two (converged first, then lower fit function). On ill-conditioned
    models a start far from this sample's optimum can strand the scoring steps (ECSI
    bootstrap resamples: 2 of 8 converged from semopy's start but not from the full-sample
    estimates, while on ACSI 2 of 8 converged only from the full-sample estimates)."""
    try:
        warm = _estimate(model, layout, data, se, start, "given")
        if warm.converged:
            return warm
    except EstimationError:
        warm = None
    try:
        cold = _estimate(_build(spec, layout, data, data.missing), layout, data, se, None)
        cold = replace(cold, extras={**cold.extras, "start": cold.extras["start"] +
                                     " (the given start did not converge)"})
    except EstimationError:
        if warm is None:
            raise
        return warm
    if warm is None or cold.converged or cold.objective < warm.objective:
        return cold
    return warm


def _estimate(model, layout, data, se, start, label: str = SLSQP_START) -> Estimates:
    """One ML fit of a freshly built model (``_build``) from ``start`` (None: semopy's);
    ``label`` says which start it was (``extras["start"]``)."""
    model, frame, names, syntax = model
    fiml = data.missing == "fiml"
    try:
        # 24x24 matrices gain nothing from threaded BLAS, and on a busy machine its threads
        # made an ECSI fit 2-4x slower (measured 0.75 s vs 1.7-3.3 s with both cores loaded)
        with warnings.catch_warnings(), _quiet_semopy(), np.errstate(all="ignore"), \
                threadpool_limits(1):
            warnings.simplefilter("ignore")
            fun, grad, information, x, found, iterations, further = _objective(
                model, frame, syntax, fiml, start, getattr(data, "weights", None))
            # FIML's objective sums over rows: compare its gradient per respondent
            per_row = len(frame) if fiml else 1

            def converged(x):
                return np.abs(grad(x)).max() / per_row < GRADIENT_TOLERANCE

            # the kernel's optimum (max |g| < POLISHED) is final: a Newton step on semopy's
            # rounding of the same gradient could slide along a flat ridge
            if found in (None, SLSQP_START, FIML_START):
                # FIML's gradient sums over rows: 1e-12 per row (its rounding floor; a
                # tolerance below it spent Newton steps, each a differenced Hessian, on noise)
                tol = 1e-12 * len(frame) if fiml else POLISHED
                x, polish = _minimize(fun, grad, information, x, tol)
                iterations += polish
                for other, x0 in further:          # FIML: until one start converges
                    if converged(x):
                        break
                    x_new, polish = _minimize(fun, grad, information, x0, tol)
                    iterations += polish
                    # only a converged point replaces the first start's: an unconverged one
                    # with a lower f has run further into an improper region (ECSI, 5%
                    # missing: to parameters of 1e11, where the SEs' Hessian had no SVD)
                    if converged(x_new):
                        x, found = x_new, other
            model.param_vals = x
            model.update_matrices(x)
            gradient_norm = np.abs(grad(x)).max() / per_row
            vcov, se_values, bread_meat = (
                standard_errors(model, grad, x, fiml, se == "robust") if se != "none"
                else no_standard_errors(x.size))
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
        raise EstimationError(f"CB-SEM estimation failed in semopy: {exc}") from None
    if not np.isfinite(fun(x)):
        raise EstimationError("CB-SEM estimation failed: the model-implied covariance matrix is "
                              "not positive definite at every point the optimizer tried")
    estimates = _estimates(model, layout, names, (vcov, se_values), x, fun(x), gradient_norm,
                           bool(gradient_norm < GRADIENT_TOLERANCE), iterations, data)
    extra = {"start": found or label}
    if bread_meat is not None:
        extra["sandwich"] = bread_meat                       # se="robust": the scaled test's
    if fiml and se != "none":      # FIML's .robust fit measures (fiml_h1.corrected_test)
        extra["moments_jacobian"] = moments_jacobian(grad.__self__, x, [
            model.vars["observed"].index(names[item]) for item in layout.items])
    return replace(estimates, extras={**estimates.extras, **extra})


class _quiet_semopy:
    """Silence semopy's logging (it logs optimizer chatter at WARNING level)."""

    def __enter__(self):
        self.logger = logging.getLogger()
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
