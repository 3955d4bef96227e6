"""The solution of a CB-SEM fit as our ``Estimates``: from semopy's matrices at the optimum,
the standardized solution (lavaan's std.all), the parameter table with delta-method SEs of the
standardized estimates (``engines.delta``), own-block factor-score weights, and the
admissibility checks (negative variances, standardized paths beyond 1, latent correlations
near 1). Used by single fits (``engines.cbsem``) and batched refits (``engines.resamples``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from csi_models.engines.base import Estimates
from csi_models.engines.delta import delta_method

NEAR_ONE = 0.95             # |latent correlation| flagged as near 1


def _estimates(model, layout, names, vcov_se, x, objective, gradient_norm, converged,
               iterations, data, n_obs=None, sample=None) -> Estimates:
    """Standardized solution and our parameter table from semopy's matrices (at ``x``; with
    ``vcov_se`` None, as for a bootstrap resample, without standard errors). ``sample``
    replaces the covariance matrix of the data semopy was loaded with (semopy's order)."""
    model.update_matrices(x)
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
        table = _parameter_table(model, back, vcov_se, x)
    if sample is None:
        sample = model.mx_cov if hasattr(model, "mx_cov") else None
    if sample is not None:
        order = [obs_names.index(v) for v in xs]
        sample = sample[np.ix_(order, order)]
    return Estimates(
        method="cbsem", layout=layout, weights=weights, loadings=loadings,
        cross_loadings=cross, paths=paths, r2=r2, construct_cor=construct_cor,
        converged=converged, iterations=iterations, parameters=table, implied_cov=implied,
        sample_cov=sample, objective=float(objective), gradient_norm=float(gradient_norm),
        extras={"n_obs": int(n_obs or model.n_samples), "n_free": int(x.size), "x": x.copy(),
                "vcov": None if vcov_se is None else vcov_se[0]})


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
    return block_weights(layout, implied, Lambda, C)


def block_weights(layout, implied, Lambda, C) -> np.ndarray:
    """``_factor_score_weights`` with the item covariance matrix C given."""
    items = list(layout.items)
    sd = np.sqrt(np.diag(C))
    weights = np.zeros(len(items))
    for j in range(len(layout.constructs)):
        idx = np.flatnonzero(layout.membership[:, j])
        raw = np.linalg.solve(implied[np.ix_(idx, idx)], Lambda[idx, j])
        weights[idx] = raw * sd[idx] / np.sqrt(raw @ C[np.ix_(idx, idx)] @ raw)
    return weights


def _locations(model, back) -> list[tuple]:
    """One row per matrix location of every semopy parameter: (free index or None, fixed
    value, matrix kind, row name, column name), in semopy's parameter order."""
    rows, k_free = [], 0
    for param in model.parameters.values():
        k = k_free if param.active else None
        k_free += bool(param.active)
        for loc in param.locations:
            m = next(i for i, mx in enumerate(model.matrices) if mx is loc.matrix)
            a, b = model.names[m][0][loc.indices[0]], model.names[m][1][loc.indices[1]]
            rows.append((k, float(param.start), model.matrices_names[m], a, b))
    return rows


def standardizer(model, locations):
    """x -> the std.all value of every location (lavaan's ``standardizedSolution()``):
    loadings lambda sd(construct)/sd(item), regressions b sd(source)/sd(target), variances
    over the model-implied variance, residual covariances (Theta, Psi off the diagonal) over
    the square root of the product of the two residual variances (a residual correlation);
    NaN for the intercepts of the mean structure and where a variance is negative."""
    kinds = [kind for _, _, kind, _, _ in locations]
    free = np.array([k is not None for k, *_ in locations])
    index = np.array([k if k is not None else 0 for k, *_ in locations])
    fixed = np.array([value for _, value, *_ in locations])

    def standardize(x):
        model.update_matrices(x)
        sigma, (_, c) = model.calc_sigma()
        lat = c @ model.matrices[2] @ c.T
        var = {**dict(zip(model.names[1][0], np.diag(sigma))),
               **dict(zip(model.names[0][0], np.diag(lat)))}
        residual = {kind: dict(zip(model.names[m][0], np.diag(model.matrices[m])))
                    for m, kind in enumerate(model.matrices_names) if kind in ("psi", "theta")}
        est = np.where(free, np.asarray(x)[index], fixed)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.array([
                np.sqrt(var[b] / var[a]) if kind in ("lambda", "beta") else
                1 / np.sqrt(var[a] * var[b]) if kind in ("psi", "theta") and a == b else
                1 / np.sqrt(residual[kind][a] * residual[kind][b]) if kind in ("psi", "theta")
                else np.nan for kind, (_, _, _, a, b) in zip(kinds, locations)])
        return est * scale

    return standardize


def _parameter_table(model, back, vcov_se, x) -> pd.DataFrame:
    """lavaan-style rows (lhs, op, rhs, free, est, se, z, pvalue, std_all, std_all_se) in our
    names. ``std_all_se`` is the delta-method se of ``std_all`` (``engines.delta``; lavaan's
    ``standardizedSolution()`` se, matched to 1e-4 in tests/test_delta.py)."""
    locations = _locations(model, back)
    standardize = standardizer(model, locations)
    try:
        if vcov_se is None:  # a bootstrap resample: no standard errors
            se_values = np.full(x.size, np.nan)
            std = standardize(x)
            std_se = np.full(std.size, np.nan)
        else:
            vcov, se_values = vcov_se
            std, std_se, _ = delta_method(standardize, x, vcov)
    finally:
        model.update_matrices(x)
    rows = []
    for (k, value, kind, a, b), s, s_se in zip(locations, std, std_se):
        est, se_value = (x[k], se_values[k]) if k is not None else (value, np.nan)
        if kind == "lambda":
            lhs, op, rhs = b, "=~", a
        elif kind == "beta":
            lhs, op, rhs = a, "~", b
        elif kind in ("psi", "theta"):
            lhs, op, rhs = a, "~~", b
        else:  # intercepts of the FIML mean structure
            lhs, op, rhs = a, "~1", ""
        rows.append((back.get(lhs, lhs), op, back.get(rhs, rhs), k is not None, float(est),
                     float(se_value), s, s_se))
    table = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "free", "est", "se", "std_all",
                                        "std_all_se"])
    table["z"] = table["est"] / table["se"]
    table["pvalue"] = 2 * norm.sf(np.abs(table["z"]))
    order = [v for k, v in back.items() if k.startswith("f")] + \
        [v for k, v in back.items() if k.startswith("x")]   # constructs, then items
    return _canonical(table, order)[
        ["lhs", "op", "rhs", "free", "est", "se", "z", "pvalue", "std_all", "std_all_se"]]


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


def improper_problems(est: Estimates) -> list[str]:
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
