"""CB-SEM refits of many row sets at once (bootstrap resamples) through the batched ML kernel.

The spec is parsed by semopy once; every resample's sample covariance (divisor n) comes from
its own product of row counts (``_moments``), and the resamples are minimized together (``engines.mlfit``: damped
Fisher scoring, or BFGS steps for the last start, then Newton steps) in chunks
(``engines.multistart``), each chunk through all its starts in one job of ``n_jobs``
processes. Each resample starts from its own data-based start (``engines.start``); where
that does not converge, from semopy's default start, and then from ``start`` when given
(e.g. the full-sample estimates; first, before the other two, when it is a proper solution),
then from its best point so far with the negative variances reset (``multistart.repaired``),
and last by BFGS steps from the data-based start (``multistart.QUASI_NEWTON``: another path,
which reaches the optimum lavaan's nlminb reaches on resamples where Fisher scoring follows
another valley); every start whose Newton steps stop making progress, or whose first phase
ends far from an optimum, is given up early (``mlfit``'s and ``quasi_newton``'s
``give_up``), so a resample that converges from no start costs four short minimizations and
at most 400 BFGS evaluations of F and 100 Newton steps, instead of five minimizations to the
cap; ``extras['start']`` names the start of the estimates. A resample is
converged when max |gradient| < ``cbsem.GRADIENT_TOLERANCE`` (as a single fit); one that runs
into an improper region (``mlfit``) says so in its reason. Converged solutions that are
improper (negative variances, standardized paths beyond 1, latent correlations near 1:
``cbsem_solution.improper_problems``) carry the problems in ``Estimates.extras['improper']``; with
``improper='drop'`` they count as failures. Two outputs of the same minimization:
``fit_resamples`` (an Estimates per resample, with its parameter table) and
``resample_stack`` (what the bootstrap takes, for all resamples at once). Identical numbers
for any ``n_jobs`` and chunking: each resample's minimization is its own.
"""

from __future__ import annotations

import types
import warnings
from dataclasses import replace

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from csi_models.engines import cbsem, cbsem_weights, mlfit, multistart
from csi_models.engines import mlkernel as mk
from csi_models.engines.base import Layout, Resamples
from csi_models.engines.cbsem_checks import checked_start
from csi_models.engines.cbsem_solution import (_estimates, _Template, improper_mask,
                                               improper_problems, problem_texts, solution)
from csi_models.engines.mlfit import variance_parameters
from csi_models.errors import EstimationError
from csi_models.statistics.moments import BatchMoments, counts

def _refit_chunks(structure, S, logdet, starts, n_jobs) -> multistart.Refits:
    """``multistart.refit`` of every resample, one job per chunk (``multistart.chunks``)."""
    jobs = 1 if n_jobs in (None, 1) else effective_n_jobs(n_jobs)
    # polished as far as a single fit (cbsem.POLISHED): on a flat ridge, where many points
    # pass the 1e-6 gradient test, both then stop at the same point
    args = (starts, cbsem.GRADIENT_TOLERANCE, cbsem.POLISHED)
    parts = multistart.chunks(len(S), jobs, structure.n_free)
    run = [(structure, S[c], logdet[c], *args) for c in parts]
    if jobs == 1 or len(run) == 1:
        done = [multistart.refit(*a) for a in run]
    else:   # multistart imports numpy only: workers start without semopy
        done = Parallel(n_jobs=n_jobs)(delayed(multistart.refit)(*a) for a in run)
    out = multistart.Refits.empty(len(S), structure.n_free)
    for c, part in zip(parts, done):
        out.put(c, part)
    return out


def _solve(spec, survey, rows_list, start, n_jobs, improper):
    """Minimize every row set (module docstring): a namespace with the semopy model, layout,
    names, kernel structure, sample covariances S, and per set x, F, max|g|, iterations,
    falling variance, what moved, whether and why it was given up (``mlfit.STALLED``,
    ``mlfit.FAR_AFTER_SCORING`` or 0), the winning start's label and whether S was usable."""
    if improper not in ("keep", "drop"):
        raise EstimationError(f"improper={improper!r}: use 'keep' or 'drop'")
    if survey.missing == "fiml":
        raise EstimationError("fit_resamples takes complete data; refit FIML resamples with "
                              "cbsem.fit")
    formative = [c.name for c in spec.constructs if c.mode == "formative"]
    if formative:
        raise EstimationError(f"CB-SEM models every construct as a common factor, but "
                              f"{', '.join(formative)} is formative: fit with method='pls'")
    layout = Layout.from_spec(spec)
    model, frame, names, _ = cbsem._build(spec, layout, survey, survey.missing)
    with warnings.catch_warnings(), cbsem._quiet_semopy():
        warnings.simplefilter("ignore")
        model.load(frame)
    structure = mk.Structure.from_semopy(model)
    start = checked_start(start, model)
    values = frame[list(structure.observed)].to_numpy(float)
    S, logdet, moments = _moments(values, getattr(survey, "weights", None), rows_list)
    starts = [("data", None), ("semopy default", model.param_vals)]
    if start is not None:
        if _proper(model, layout, names, structure, start):
            starts.insert(0, ("given", start))
        else:
            starts.append(("given", start))
    starts += [("repaired", None), (multistart.QUASI_NEWTON, None)]
    usable = np.isfinite(logdet)
    refits = multistart.Refits.empty(len(S), structure.n_free)
    if usable.any():
        refits.put(usable, _refit_chunks(structure, S[usable], logdet[usable], starts, n_jobs))
    return types.SimpleNamespace(model=model, layout=layout, names=names, structure=structure,
                                 S=S, moments=moments, usable=usable,
                                 **vars(refits))


def _proper(model, layout, names, structure, x) -> bool:
    """Whether x (the full sample's estimates) is a proper solution: then it is the first
    start of every resample (on a simulated CCSI sample 5.7 iterations a resample against
    8.2 from the data-based start). An improper one sits where resamples stall (ECSI: from
    it 23 of 100 resamples converged, 57 from their data-based starts), so it comes last."""
    sol = solution(_Template.of(model, layout, names), layout, x[None], None)
    variances = variance_parameters(structure)
    return not improper_mask(x[None][:, variances], sol["paths"], sol["construct_cor"],
                             layout)[0]


def _moments(values, weights, rows_list):
    """(S, log|S|, (cor, mean, sd)) of every row set: S with divisor n (with respondent
    weights: weighted, divisor the set's summed weight, a resampled respondent bringing its
    weight along, as in the PLS bootstrap), and the item correlations, means and sds (n - 1)
    of ``with_moments``, in the columns' order of ``values``. Row sets of one length come from
    products of their row counts with the centred items' pairwise products
    (``statistics.moments.BatchMoments``: a tenth of the time of centring a copy of every
    set's rows), one row set at a time. One product for the whole stack rounded a row by the
    stack's size (BLAS's blocking; 8e-15 in an ECSI covariance), and on a resample near the
    edge of two valleys that decided whether it converged, by what else was refitted with it
    (1000 ECSI resamples: 20 ms instead of 7). Other row sets go through
    ``mk.sample_moments`` (weighted: one by one), with moments None."""
    if len({len(r) for r in rows_list}) != 1:
        S, logdet = (mk.sample_moments(values, rows_list) if weights is None
                     else cbsem_weights.resample_moments(values, weights, rows_list))
        return S, logdet, None
    batch = BatchMoments(values, weights)
    F = counts(np.stack(rows_list), batch.n)
    size = np.array([f @ batch.w for f in F])
    cor, mean, sd = batch.from_sums(np.stack([f @ batch.G for f in F]), size)
    S = np.ascontiguousarray(cor * sd[:, :, None] * sd[:, None, :]
                             * ((size - 1) / size)[:, None, None])   # cor is copies-last
    sign, logdet = np.linalg.slogdet(np.where(np.isfinite(S), S, 0.0))
    logdet = np.where((sign > 0) & np.isfinite(S).all(axis=(1, 2)), logdet, np.nan)
    return S, logdet, (cor, mean, sd)


SINGULAR = ("the resample's item covariance matrix is singular (an item constant in the "
            "resample, or repeated rows)")


def _reason(sol, k) -> str | None:
    """Why row set k has no estimates (None when it converged)."""
    if not sol.usable[k]:
        return SINGULAR
    if sol.gmax[k] >= cbsem.GRADIENT_TOLERANCE:
        return _failure(sol.structure, sol.names, sol.x[k], sol.gmax[k], sol.iters[k],
                        sol.falling[k], sol.moved[k], sol.given_up[k])
    return None


def fit_resamples(spec, survey, rows_list, start=None, n_jobs: int = 1,
                  improper: str = "keep") -> list[tuple]:
    """One (Estimates, None) or (None, reason) per row set in ``rows_list`` (arrays of row
    positions into ``survey.values``); complete data only (FIML refits go through
    ``cbsem.fit``). ``start``: free-parameter values in semopy's order
    (``Estimates.extras['x']``), one more start where the first two do not converge.
    ``improper``: 'keep' (as lavaan's bootstrap) or 'drop' (an improper solution counts as a
    failure whose reason names the problems). Estimates carry no standard errors. What a
    bootstrap needs of them comes faster, for all row sets at once, from ``resample_stack``."""
    rows_list = [np.asarray(r, dtype=np.intp) for r in rows_list]
    if not rows_list:
        return []
    sol = _solve(spec, survey, rows_list, start, n_jobs, improper)
    out = []
    for k, rows in enumerate(rows_list):
        reason = _reason(sol, k)
        if reason is not None:
            out.append((None, reason))
            continue
        est = _resample_estimates(sol.model, sol.layout, sol.names, survey, rows, sol.x[k],
                                  sol.F[k], sol.gmax[k], sol.iters[k], sol.S[k], sol.labels[k])
        problems = improper_problems(est)
        if problems:
            if improper == "drop":
                out.append((None, "improper solution: " + "; ".join(problems)))
                continue
            est = replace(est, extras={**est.extras, "improper": problems})
        out.append((est, None))
    return out


def resample_stack(spec, survey, rows_list, start=None, n_jobs: int = 1,
                   improper: str = "keep") -> Resamples:
    """What a bootstrap takes of ``fit_resamples``' estimates (standardized paths, loadings,
    factor-score weights, R2 and the item moments of each row set, with ``with_moments``'
    rules), computed for every row set at once (``cbsem_solution.solution``), with the same
    reasons for the failed ones and the same improper flags; ``rows_list``: equal-length
    arrays of row positions (bootstrap resamples, jackknife samples)."""
    rows = np.asarray(rows_list, dtype=np.intp).reshape(len(rows_list), -1)
    if not len(rows):
        layout = Layout.from_spec(spec)
        p, J = len(layout.items), len(layout.constructs)
        return Resamples(np.empty((0, J, J)), np.empty((0, p)), np.empty((0, p)), np.empty((0, J)),
                         np.empty((0, p)), np.empty((0, p)), np.empty((0, p, p)),
                         np.zeros(0, bool), (), np.zeros(0, bool))
    sol = _solve(spec, survey, list(rows), start, n_jobs, improper)
    layout = sol.layout
    p, J, K = len(layout.items), len(layout.constructs), len(rows)
    tpl = _Template.of(sol.model, layout, sol.names)
    ok = sol.usable & (sol.gmax < cbsem.GRADIENT_TOLERANCE)
    n, items = rows.shape[1], np.asarray(tpl.items)
    cor, mean, sd = sol.moments                   # the fit's columns -> the layout's items
    cor, mean, sd = cor[:, items[:, None], items[None, :]], mean[:, items], sd[:, items]
    C = sol.S[ok][:, items[:, None], items[None, :]] * (n / (n - 1))   # as _resample_estimates
    stack = solution(tpl, layout, sol.x[ok], C)
    variances = variance_parameters(sol.structure)
    bad = improper_mask(sol.x[ok][:, variances], stack["paths"], stack["construct_cor"], layout)
    reasons = [_reason(sol, k) or "" for k in range(K)]
    if improper == "drop" and bad.any():
        names = [parameter_text(sol.structure, sol.names, j).split(" ~~ ")[0] for j in variances]
        for i, k in zip(np.flatnonzero(bad), np.flatnonzero(ok)[bad]):
            problems = problem_texts(list(zip(names, sol.x[k, variances])), stack["paths"][i],
                                     stack["construct_cor"][i], layout)
            reasons[k] = "improper solution: " + "; ".join(problems)
    arrays = {"paths": np.full((K, J, J), np.nan), "weights": np.full((K, p), np.nan),
              "loadings": np.full((K, p), np.nan), "r2": np.full((K, J), np.nan)}
    for name, arr in arrays.items():
        arr[ok] = stack[name]
    improper_flags = np.zeros(K, bool)
    improper_flags[ok] = bad
    keep = ok & ~improper_flags if improper == "drop" else ok
    for arr in (*arrays.values(), mean, sd, cor):
        arr[~keep] = np.nan
    return Resamples(**arrays, item_mean=mean, item_sd=sd, item_cor=cor, ok=keep,
                     reasons=tuple(reasons), improper=improper_flags & keep)


def _failure(structure, names, x, gmax, iters, falling, moved, given_up=0) -> str:
    """Why a resample has no estimates: it runs into an improper region, or did not converge
    (naming what still moved most over the last Newton steps: on ECSI a ridge where paths from
    near-collinear constructs run off while the fit function keeps falling; or, ``given_up``
    by ``mlfit``'s give_up, the rule and the lowest variance where one is below 0)."""
    if falling >= 0:
        return "runs into an improper region: " + variance_text(structure, names, falling, x)
    text = (f"did not converge: max |gradient| = {gmax:.2e} after {iters} iterations "
            f"(tolerance {cbsem.GRADIENT_TOLERANCE:g})")
    if given_up:
        text += f"; {mlfit.GIVEN_UP_TEXT[given_up]} " + (
            f"{mlfit.STALL_DROP:g} over {mlfit.STALL_WINDOW} Newton steps"
            if given_up == mlfit.STALLED else
            f"{mlfit.HOPELESS_GRADIENT:g} after the scoring (or quasi-Newton) steps")
        variances = variance_parameters(structure)
        j = variances[np.argmin(x[variances])] if variances.size else None
        if j is not None and x[j] < 0:
            text += f", with {variance_name(structure, names, j)} below 0 (now {x[j]:.3g})"
        return text
    if np.isfinite(moved).all() and np.abs(moved).max() > 1e-3:
        j = int(np.argmax(np.abs(moved)))
        text += (f"; still moving: {parameter_text(structure, names, j)} from "
                 f"{x[j] - moved[j]:.3g} to {x[j]:.3g} over the last Newton steps")
    return text


def parameter_text(structure, names, j) -> str:
    """lavaan's notation of free parameter j in the spec's names ('Satisfaction ~ Quality')."""
    back = {v: k for k, v in names.items()}
    obs, lat = structure.observed, structure.latent
    for kind, op in (("lambda", "=~"), ("beta", "~"), ("psi", "~~"), ("theta", "~~")):
        idx, r, c = structure.free[kind]
        hit = np.flatnonzero(idx == j)
        if hit.size:
            r, c = r[hit[0]], c[hit[0]]
            rows, cols = {"lambda": (lat, obs), "beta": (lat, lat), "psi": (lat, lat),
                          "theta": (obs, obs)}[kind]
            a, b = (rows[c], cols[r]) if kind == "lambda" else (rows[r], cols[c])
            return f"{back.get(a, a)} {op} {back.get(b, b)}"
    return f"free parameter {j}"


def variance_text(structure, names, j, x) -> str:
    """'the residual variance of CUSCO falls below 0 and keeps falling (now -1.2)'."""
    return f"{variance_name(structure, names, j)} falls below 0 and keeps falling (now {x[j]:.3g})"


def variance_name(structure, names, j) -> str:
    """'the residual variance of CUSCO' (a construct with paths into it: its disturbance
    variance)."""
    back = {v: k for k, v in names.items()}
    for kind, labels in (("theta", structure.observed), ("psi", structure.latent)):
        idx, r, c = structure.free[kind]
        hit = np.flatnonzero((idx == j) & (r == c))
        if hit.size:
            row = r[hit[0]]
            if kind == "theta":
                what = "residual variance"
            else:   # beta's rows are the constructs a path points to
                endogenous = ((structure.free["beta"][1] == row).any()
                              or structure.base["beta"][row].any())
                what = "disturbance variance" if endogenous else "variance"
            name = back.get(labels[row], labels[row])
            return f"the {what} of {name}"
    return f"free parameter {j}"


def _resample_estimates(model, layout, names, survey, rows, x, F, gmax, iters, S, label):
    data = types.SimpleNamespace(values=None, missing=survey.missing)  # S stands for the rows
    with np.errstate(all="ignore"):
        est = _estimates(model, layout, names, None, x, F, gmax, True, int(iters), data,
                         n_obs=len(rows), sample=S)
    return replace(est, extras={**est.extras, "start": label})
