"""Covariance-based SEM by maximum likelihood through semopy, taken to the true optimum.

semopy builds the model (the spec's lavaan syntax), its objective (Wishart ML, or FIML with
a mean structure for incomplete data) and its analytic gradient. Its optimizer's success
flag is not convergence: on ill-conditioned CSI models (latent correlations near 1) SLSQP
stops where the gradient is still large. We therefore polish every solution
(``engines.optimize``): Fisher scoring on semopy's expected information, then Newton steps on
a Hessian differenced from semopy's analytic gradient, and report the final max |gradient|.
Like lavaan, variances are not bounded at zero (a negative variance is reported as an
improper solution, not hidden at a bound). A fresh semopy Model is built for every fit, so
fits cannot contaminate each other. Matches lavaan 0.6 (polished) to 1e-6 on the ECSI model
(tests/test_cbsem_lavaan.py).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import semopy
from scipy.stats import norm
from semopy.stats import calc_se
from semopy.utils import chol_inv2
from threadpoolctl import threadpool_limits

from csi_models.engines.base import Engine, Estimates, Layout, Option, Resamples, choice
from csi_models.engines.fiml import FIML
from csi_models.engines.optimize import fisher_scoring, newton, numeric_hessian
from csi_models.errors import ConvergenceWarning, CSIError, EstimationError, ImproperSolutionWarning
from csi_models.spec.lavaan import to_lavaan

GRADIENT_TOLERANCE = 1e-6   # max |gradient| of the ML fit function accepted as converged
NEAR_ONE = 0.95             # |latent correlation| flagged as near 1


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


def _complete_data_fit(model, frame, cov=None, start=None):
    """ML (Wishart) fit polished by Fisher scoring; ``cov`` replaces the sample covariance.
    Without ``start``, semopy's SLSQP from its default starting values finds the basin."""
    if start is not None:
        model.load(frame)
    elif cov is None:
        model.fit(frame, obj="MLW")
    else:
        model.fit(cov=cov, obj="MLW", n_samples=len(frame))
    fun, grad = _ml_discrepancy(model), model.get_objective("MLW")[1]

    def information(x):  # semopy's expected information is of log L; F = -2 log L / n
        model.update_matrices(x)
        return model.calc_fim() * 2 / model.n_samples

    x = fisher_scoring(fun, grad, information, model.param_vals.copy() if start is None else start)
    return fun, grad, information, x


def _objective(model, frame, syntax: str, fiml: bool, start=None):
    """(fun, grad, information, start) of the ML fit function for this data. FIML starts
    from the complete-data ML fit to the pairwise covariances and the items' means; a given
    ``start`` replaces both."""
    if not fiml:
        return _complete_data_fit(model, frame, start=start)
    model.load(frame)
    objective = FIML(model, frame[model.vars["observed"]].to_numpy(float))  # semopy's order
    if start is not None:
        return objective.objective, objective.gradient, objective.information, start
    base = semopy.Model(syntax)
    for param in base.parameters.values():
        param.bound = (None, None)
    *_, x_base = _complete_data_fit(base, frame, cov=frame.cov(ddof=0))
    values = {_where(base, p): value for p, value in
              zip([p for p in base.parameters.values() if p.active], x_base)}
    means = frame.mean()
    x = model.param_vals.copy()
    for k, param in enumerate(p for p in model.parameters.values() if p.active):
        kind, a, b = _where(model, param)
        x[k] = means[a] if kind == "gamma2" else values.get((kind, a, b), x[k])
    return objective.objective, objective.gradient, objective.information, x


def _start_vector(start, model) -> np.ndarray | None:
    """``start`` as a float vector of the model's free parameters, or a clear error."""
    if start is None:
        return None
    k = sum(param.active for param in model.parameters.values())
    try:
        x = np.array(start, dtype=float).ravel()
    except (TypeError, ValueError):
        x = np.array([np.nan])
    if x.size != k or not np.isfinite(x).all():
        raise EstimationError(f"start: give the {k} finite free-parameter values of this model in "
                              "semopy's order (Estimates.extras['x'] of a fit of the same spec "
                              f"and missing-data rule); got {np.size(start)} value(s)")
    return x


def fit(spec, data, se: str = "standard", start=None) -> Estimates:
    """Estimate the spec as a CB-SEM by ML (FIML when ``data.missing == 'fiml'``).

    ``se``: 'standard' = expected information for complete data (lavaan's default) and
    observed information for FIML (lavaan's default with missing='ml'); 'robust' = semopy's
    Huber-White sandwich on casewise scores (complete data only).
    ``start``: starting values of the free parameters in semopy's active-parameter order,
    as recorded in ``Estimates.extras["x"]`` (the final values of every fit; with FIML they
    include the item intercepts). Given, semopy's SLSQP is skipped and Fisher scoring and
    Newton steps start there (a bootstrap resample started from the full-sample estimates
    reaches the optimum that semopy's default start reaches, faster); should that not
    converge, the fit is repeated from semopy's default start (``_warm``).
    ``extras["start"]`` says which start gave the estimates."""
    formative = [c.name for c in spec.constructs if c.mode == "formative"]
    if formative:
        raise EstimationError(f"CB-SEM models every construct as a common factor, but "
                              f"{', '.join(formative)} is formative (mode B): fit with "
                              "method='pls', or set its mode to reflective")
    if data.missing == "mean":
        raise EstimationError("missing='mean' is for PLS; for CB-SEM use missing='listwise' or "
                              "missing='fiml' (full-information ML)")
    if se not in ("standard", "robust"):
        raise EstimationError(f"se={se!r}: use 'standard' or 'robust'")
    fiml = data.missing == "fiml"
    if fiml and se == "robust":
        raise EstimationError("robust standard errors are not available with FIML here; use "
                              "se='standard' (observed information) or listwise deletion")
    layout = Layout.from_spec(spec)
    model = _build(spec, layout, data, data.missing)
    _check_identified(spec, model[0], len(layout.items), fiml)
    start = _start_vector(start, model[0])
    _check_covariance(data, layout)
    if start is None:
        estimates = _estimate(model, layout, data, se, None)
    else:
        estimates = _warm(spec, layout, data, se, start, model)
    if not estimates.converged:
        warnings.warn(f"CB-SEM did not converge: max |gradient| = {estimates.gradient_norm:.2e} "
                      f"after polishing (tolerance {GRADIENT_TOLERANCE:g}); estimates are unreliable",
                      ConvergenceWarning, stacklevel=3)
    problems = _improper(estimates)
    if problems:
        warnings.warn("improper CB-SEM solution: " + "; ".join(problems) + ". The constructs "
                      "may not be empirically distinct; consider merging them, or PLS",
                      ImproperSolutionWarning, stacklevel=3)
        estimates = replace(estimates, extras={**estimates.extras, "improper": problems})
    return estimates


def _warm(spec, layout, data, se, start, model) -> Estimates:
    """A fit from ``start``; if it does not converge, also from semopy's default start, and
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
        cold = _estimate(_build(spec, layout, data, data.missing), layout, data, se, None,
                         "semopy default (the given start did not converge)")
    except EstimationError:
        if warm is None:
            raise
        return warm
    if warm is None or cold.converged or cold.objective < warm.objective:
        return cold
    return warm


def _estimate(model, layout, data, se, start, label: str = "semopy default") -> Estimates:
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
            fun, grad, information, x = _objective(model, frame, syntax, fiml, start)
            x = fisher_scoring(fun, grad, information, x)
            x, iterations = newton(grad, x)
            model.param_vals = x
            model.update_matrices(x)
            # FIML's objective sums over rows: compare its gradient per respondent
            gradient_norm = np.abs(grad(x)).max() / (len(frame) if fiml else 1)
            if fiml:  # observed information: vcov = inverse of half the Hessian of -2 log L
                vcov = np.linalg.pinv(numeric_hessian(grad, x) / 2)
                se_values = np.sqrt(np.where(np.diag(vcov) > 0, np.diag(vcov), np.nan))
            else:
                se_values = calc_se(model, robust=(se == "robust"))
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
        raise EstimationError(f"CB-SEM estimation failed in semopy: {exc}") from None
    if not np.isfinite(fun(x)):
        raise EstimationError("CB-SEM estimation failed: the model-implied covariance matrix is "
                              "not positive definite at every point the optimizer tried")
    estimates = _estimates(model, layout, names, se_values, x, fun(x), gradient_norm,
                           bool(gradient_norm < GRADIENT_TOLERANCE), iterations, data)
    return replace(estimates, extras={**estimates.extras, "start": label})


def _check_identified(spec, model, p: int, fiml: bool) -> None:
    """Counting rule (Bollen 1989, t-rule): no more free parameters than the p(p+1)/2 item
    variances and covariances (+ p means with FIML's mean structure), i.e. df >= 0; as
    lavaan's npar and df. A reflective construct with 2 items is identified only through its
    correlation or path to another construct, so those are named as the usual cause."""
    npar = sum(param.active for param in model.parameters.values())
    moments = p * (p + 1) // 2 + (p if fiml else 0)
    if npar <= moments:
        return
    two = [f"{c.name} ({len(c.items)} items)" for c in spec.constructs if len(c.items) == 2]
    cause = (f"constructs with fewer than 3 items carry too little information of their own: "
             f"{', '.join(two)}. Add items to them (3 or more each), link them by paths to other "
             "constructs, or fit with method='pls'" if two else
             "remove structural paths, or fit with method='pls'")
    what = "variances, covariances and means" if fiml else "variances and covariances"
    raise EstimationError(f"the CB-SEM model is not identified: it has {npar} free parameters but "
                          f"its {p} items give only {moments} {what} (df = {moments - npar}); "
                          f"{cause}")


def _check_covariance(data, layout) -> None:
    """A positive-definite (pairwise, for FIML) item covariance matrix, or a clear error."""
    values = data.values
    if data.missing != "fiml" and len(values) <= len(layout.items):
        raise EstimationError(f"CB-SEM needs more rows ({len(values)}) than items "
                              f"({len(layout.items)}) for a positive-definite covariance matrix")
    eig = np.linalg.eigvalsh(values.cov().to_numpy(float))
    if not np.isfinite(eig).all() or eig[0] <= 1e-10 * max(eig[-1], 1e-300):
        raise EstimationError("the items' covariance matrix is singular: some items are exact "
                              "linear combinations of others (duplicated or summed columns) or "
                              "there are fewer respondents than items; drop the redundant items")


class _quiet_semopy:
    """Silence semopy's logging (it logs optimizer chatter at WARNING level)."""

    def __enter__(self):
        self.logger = logging.getLogger()
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def _estimates(model, layout, names, se_values, x, objective, gradient_norm, converged,
               iterations, data) -> Estimates:
    """Standardized solution and our parameter table from semopy's matrices."""
    back = {v: k for k, v in names.items()}
    beta, lam, psi, theta = (pd.DataFrame(m, index=n[0], columns=n[1]) for m, n in
                             zip(model.matrices[:4], model.names[:4]))
    sigma, (_, c) = model.calc_sigma()
    latent_names = model.names[0][0]
    lat_cov = pd.DataFrame(c @ psi.to_numpy() @ c.T, index=latent_names, columns=latent_names)
    obs_names = model.names[1][0]
    implied = pd.DataFrame(sigma, index=obs_names, columns=obs_names)

    f = [names[c] for c in layout.constructs]
    xs = [names[i] for i in layout.items]
    implied = implied.loc[xs, xs].to_numpy()
    phi = lat_cov.loc[f, f].to_numpy()
    Lambda = lam.loc[xs, f].to_numpy()
    B = beta.loc[f, f].to_numpy().T            # [source, target]
    sd_x, sd_f = np.sqrt(np.diag(implied)), np.sqrt(np.abs(np.diag(phi)))
    with np.errstate(invalid="ignore", divide="ignore"):
        construct_cor = phi / np.outer(sd_f, sd_f)
        paths = B * sd_f[:, None] / sd_f[None, :]
        cross = (Lambda @ phi) / np.outer(sd_x, sd_f)
        r2 = np.where(layout.adjacency.any(axis=0), 1 - np.diag(psi.loc[f, f]) / np.diag(phi), np.nan)
    M = layout.membership
    loadings = (Lambda * M).sum(axis=1) * (sd_f[layout.block] / sd_x)
    weights = _factor_score_weights(layout, implied, Lambda, data)

    with np.errstate(invalid="ignore", divide="ignore"):  # a negative variance: std_all NaN
        table = _parameter_table(model, back, se_values, x, implied, phi, f, xs)
    sample = model.mx_cov if hasattr(model, "mx_cov") else None
    if sample is not None:
        order = [obs_names.index(v) for v in xs]
        sample = sample[np.ix_(order, order)]
    return Estimates(
        method="cbsem", layout=layout, weights=weights, loadings=loadings,
        cross_loadings=cross, paths=paths, r2=r2, construct_cor=construct_cor,
        converged=converged, iterations=iterations, parameters=table, implied_cov=implied,
        sample_cov=sample, objective=float(objective), gradient_norm=float(gradient_norm),
        extras={"n_obs": int(model.n_samples), "n_free": int(x.size), "x": x.copy()})


def _factor_score_weights(layout, implied, Lambda, data) -> np.ndarray:
    """Own-block factor-score weights on standardized items, scaled to a unit-variance score.

    Raw weights r_j = Sigma_jj^-1 lambda_j (the regression method applied to each construct's
    own items; model-implied Sigma, unstandardized loadings), then w_i = r_i s_i / sqrt(r' C_jj r)
    with C the item covariance matrix that also standardizes the scores and enters the index
    (``indices.index_moments``): the sample covariance (n - 1) of the rows used with complete
    data, the model-implied Sigma with FIML; s = sqrt(diag C). So w / s is proportional to r,
    and the score w'z has variance 1 in the sample (complete data) or under the model (FIML)."""
    items = list(layout.items)
    C = implied if data.missing == "fiml" else data.values[items].cov().to_numpy(float)
    sd = np.sqrt(np.diag(C))
    weights = np.zeros(len(items))
    for j in range(len(layout.constructs)):
        idx = np.flatnonzero(layout.membership[:, j])
        raw = np.linalg.solve(implied[np.ix_(idx, idx)], Lambda[idx, j])
        weights[idx] = raw * sd[idx] / np.sqrt(raw @ C[np.ix_(idx, idx)] @ raw)
    return weights


def _parameter_table(model, back, se_values, x, implied, phi, f, xs) -> pd.DataFrame:
    """lavaan-style rows (lhs, op, rhs, free, est, se, z, pvalue, std_all) in our names."""
    var = {**dict(zip(xs, np.diag(implied))), **dict(zip(f, np.diag(phi)))}
    rows = []
    k_free = 0
    for param in model.parameters.values():
        if param.active:
            est, se_value, k_free = x[k_free], se_values[k_free], k_free + 1
        else:
            est, se_value = param.start, np.nan
        for loc in param.locations:
            k = next(i for i, mx in enumerate(model.matrices) if mx is loc.matrix)
            kind = model.matrices_names[k]
            a, b = (model.names[k][0][loc.indices[0]], model.names[k][1][loc.indices[1]])
            if kind == "lambda":
                lhs, op, rhs = b, "=~", a
                std = est * np.sqrt(var[b] / var[a])
            elif kind == "beta":
                lhs, op, rhs = a, "~", b
                std = est * np.sqrt(var[b] / var[a])
            elif kind in ("psi", "theta"):
                lhs, op, rhs = a, "~~", b
                std = est / np.sqrt(var[a] * var[b])
            else:  # intercepts of the FIML mean structure
                lhs, op, rhs, std = a, "~1", "", np.nan
            rows.append((back.get(lhs, lhs), op, back.get(rhs, rhs), param.active, float(est),
                         float(se_value), std))
    table = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "free", "est", "se", "std_all"])
    table["z"] = table["est"] / table["se"]
    table["pvalue"] = 2 * norm.sf(np.abs(table["z"]))
    return _canonical(table, [back[v] for v in (*f, *xs)])[
        ["lhs", "op", "rhs", "free", "est", "se", "z", "pvalue", "std_all"]]


def _canonical(table: pd.DataFrame, names: list) -> pd.DataFrame:
    """Rows in one order on every run: semopy keeps covariances in hash-ordered sets, so
    'visual ~~ textual' could come out as 'textual ~~ visual' depending on PYTHONHASHSEED.
    A covariance is written with its two names in spec order (constructs, then items), and
    rows are sorted by operator (=~, ~, ~~, ~1), then by the spec order of lhs and rhs."""
    pos = {name: k for k, name in enumerate(names)}
    swap = (table.op == "~~") & (table.lhs.map(pos) > table.rhs.map(pos))
    table.loc[swap, ["lhs", "rhs"]] = table.loc[swap, ["rhs", "lhs"]].to_numpy()
    key = pd.DataFrame({"op": table.op.map({"=~": 0, "~": 1, "~~": 2, "~1": 3}),
                        "lhs": table.lhs.map(pos), "rhs": table.rhs.map(pos).fillna(-1)})
    order = np.lexsort((key.rhs.to_numpy(), key.lhs.to_numpy(), key.op.to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _improper(est: Estimates) -> list[str]:
    """What makes a solution improper: negative variances, |standardized path| > 1, latent
    correlations near 1 (one text per kind of problem; empty when admissible)."""
    problems = []
    table = est.parameters
    variances = table[(table.op == "~~") & (table.lhs == table.rhs) & table.free]
    negative = variances[variances.est < 0]
    if len(negative):
        problems.append("negative variance of " + ", ".join(
            f"{r.lhs} ({r.est:.3g})" for r in negative.itertuples()))
    names = est.layout.constructs
    big = [(names[i], names[j], est.paths[i, j]) for i, j in zip(*np.nonzero(est.layout.adjacency))
           if abs(est.paths[i, j]) > 1]
    if big:
        problems.append("standardized paths beyond +-1: " + ", ".join(
            f"{a} -> {b} ({v:.3f})" for a, b, v in big))
    J = len(names)
    near = [(names[i], names[j], est.construct_cor[i, j]) for i in range(J) for j in range(i + 1, J)
            if abs(est.construct_cor[i, j]) >= NEAR_ONE]
    if near:
        problems.append("latent correlations near 1: " + ", ".join(
            f"{a}~{b} ({v:.3f})" for a, b, v in near))
    return problems


# --- resampling: fresh refits, in parallel processes ---------------------------------------
def chunks(n_tasks: int, n_jobs) -> list[np.ndarray]:
    """Task numbers split into about four chunks per worker that ``n_jobs`` gives
    (``joblib.effective_n_jobs``: -1 = every core), so that workers stay busy and the
    progress bar moves. Results do not depend on the chunking."""
    from joblib import effective_n_jobs

    workers = max(1, effective_n_jobs(n_jobs))
    parts = np.array_split(np.arange(n_tasks), max(1, min(n_tasks, 4 * workers)))
    return [c for c in parts if c.size]


def _refit(spec, survey, rows, se, start):
    """One refit of ``survey`` restricted to ``rows``: (Estimates with the sample's moments,
    None) or (None, the reason it failed)."""
    sample = replace(survey, values=survey.values.iloc[rows].reset_index(drop=True))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = fit(spec, sample, se=se) if start is None else fit(spec, sample, se=se, start=start)
    except Exception as exc:  # noqa: BLE001 - a resample never stops the bootstrap
        kind = "" if isinstance(exc, CSIError) else f"{type(exc).__name__}: "
        return None, f"failed: {kind}{(str(exc).splitlines() or [''])[0][:120]}"
    if not est.converged:
        return None, f"not converged (max |gradient| {est.gradient_norm:.1e})"
    return with_moments(est, sample), None


def _refit_many(spec, survey, rows_list, se, start):
    return [_refit(spec, survey, rows, se, start) for rows in rows_list]


def fit_resamples(spec, survey, rows_list, start=None, n_jobs=1, se="standard", progress=None):
    """Refit every row set of ``rows_list`` (row positions into ``survey.values``): one
    (Estimates, None) or (None, reason) per set, in order. Fresh fits in parallel processes
    (joblib, ``n_jobs``), each started from ``start`` (the full-sample solution vector)."""
    from joblib import Parallel, delayed

    jobs = (delayed(_refit_many)(spec, survey, [rows_list[i] for i in c], se, start)
            for c in chunks(len(rows_list), n_jobs))
    results = []
    for part in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
        results += part
        if progress is not None:
            progress(len(part))
    return results


def with_moments(est: Estimates, survey) -> Estimates:
    """The estimates with the item moments that standardize scores and enter the index:
    sample means and sds (n - 1) of the rows used, or with FIML the model's means (the
    ``~1`` rows) and implied sds; and the sample item correlations (pairwise with FIML)."""
    items = list(est.layout.items)
    values = survey.values[items]
    if survey.missing == "fiml":
        table = est.parameters
        mean = table[table.op == "~1"].set_index("lhs")["est"].reindex(items).to_numpy(float)
        sd = np.sqrt(np.diag(est.implied_cov))
    else:
        mean, sd = values.mean().to_numpy(float), values.std(ddof=1).to_numpy(float)
    return replace(est, item_mean=mean, item_sd=sd, item_cor=values.corr().to_numpy(float))


class CBSEMEngine(Engine):
    """Covariance-based SEM by ML (see the module docstring)."""

    name, title = "cbsem", "CB-SEM"
    options = {"se": Option("standard", choice("standard", "robust"),
                            "{key}={value!r}: use 'standard' or 'robust'",
                            "standard errors: expected information or Huber-White sandwich")}
    missing_rules = ("listwise", "fiml")
    group_test = "invariance"
    long_title = "CB-SEM (maximum likelihood)"
    fit_keys = ("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower",
                "rmsea.ci.upper", "rmsea.pvalue", "srmr", "logl", "aic", "bic", "bic2")
    fit_rules = (("cfi", "<", 0.95), ("tli", "<", 0.95), ("rmsea", ">", 0.06),
                 ("srmr", ">", 0.08))   # Hu & Bentler (1999)
    refused_missing = {"mean": "missing='mean' is for PLS; for CB-SEM use missing='listwise' or "
                               "missing='fiml' (full-information ML)"}

    def fit(self, spec, survey, options) -> Estimates:
        return with_moments(fit(spec, survey, se=options["se"]), survey)

    def _stack(self, results, layout) -> Resamples:
        p, J = len(layout.items), len(layout.constructs)
        empty = {"paths": np.full((J, J), np.nan), "weights": np.full(p, np.nan),
                 "loadings": np.full(p, np.nan), "r2": np.full(J, np.nan),
                 "item_mean": np.full(p, np.nan), "item_sd": np.full(p, np.nan),
                 "item_cor": np.full((p, p), np.nan)}
        arrays = {k: np.stack([v if est is None else getattr(est, k) for est, _ in results])
                  for k, v in empty.items()} if results else \
            {k: np.empty((0, *v.shape)) for k, v in empty.items()}
        return Resamples(**arrays, ok=np.array([est is not None for est, _ in results], bool),
                         reasons=tuple(reason or "" for _, reason in results),
                         improper=np.array([est is not None and bool(est.extras.get("improper"))
                                            for est, _ in results], bool))

    def resample(self, spec, survey, estimates, options, rows, n_jobs=1, progress=None):
        results = fit_resamples(spec, survey, list(rows), estimates.extras.get("x"), n_jobs,
                                options["se"], progress)
        return self._stack(results, estimates.layout)

    def leave_one_out(self, spec, survey, estimates, options, n_jobs=1, progress=None):
        n = len(survey.values)
        rows = [np.delete(np.arange(n), i) for i in range(n)]
        results = fit_resamples(spec, survey, rows, estimates.extras.get("x"), n_jobs,
                                options["se"], progress)
        return self._stack(results, estimates.layout)

    def settings(self, spec, survey, estimates, options) -> dict:
        fiml = survey.missing == "fiml"
        return {
            "algorithm": "maximum likelihood via semopy, polished by Fisher scoring and Newton steps",
            "estimator": "FIML (casewise ML with mean structure)" if fiml else "ML (Wishart)",
            "covariance_divisor": "n (maximum likelihood)",
            "standard_errors": ("robust (Huber-White sandwich)" if options["se"] == "robust"
                                else "expected information") + " of the unstandardized "
                               "estimates; delta method for the standardized ones",
            "scaling": "first loading of each construct fixed to 1; standardized = lavaan std.all",
            "variance_bounds": "none (negative variances reported, as in lavaan)",
            "gradient_norm": estimates.gradient_norm, "gradient_tolerance": GRADIENT_TOLERANCE,
            "newton_steps": estimates.iterations,
            "weights": "own-block factor-score weights, proportional to Sigma_jj^-1 lambda_j",
            "index_moments": ("the model's: FIML means (mean structure) and the implied covariance"
                              if fiml else "sample means and covariance of the rows used")}

    def status(self, estimates, settings) -> str:
        state = "converged" if estimates.converged else "NOT converged"
        return f"{state}: max |gradient| {estimates.gradient_norm:.1e}"

    def reliability(self, estimates):
        from csi_models.statistics.quality import factor_reliability

        return factor_reliability(estimates.layout, estimates)

    def fit_measures(self, survey, estimates):
        from csi_models.statistics import fit_measures as fm

        npar = int(estimates.extras["n_free"])
        values = survey.values[list(estimates.layout.items)].to_numpy(float)
        if survey.missing == "fiml":
            return fm.fiml_measures(values, estimates.implied_cov, estimates.item_mean, npar)
        S = np.cov(values, rowvar=False, bias=True)
        return fm.ml_measures([fm.Moments(S, estimates.implied_cov, len(values))], npar)

    def f_squared(self, estimates, options):
        from csi_models.statistics.quality import f_squared_latent

        return f_squared_latent(estimates.construct_cor, estimates.layout, estimates.paths,
                                estimates.r2)


ENGINE = CBSEMEngine()
