"""The solution of a CB-SEM fit as our ``Estimates``: from semopy's matrices at the optimum,
the standardized solution (lavaan's std.all), the parameter table with delta-method SEs of the
standardized estimates (``engines.delta``), own-block factor-score weights, and the
admissibility checks (negative variances, standardized paths beyond 1, latent correlations
near 1). Used by single fits (``engines.cbsem``) and batched refits (``engines.resamples``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from csi_models.engines import mlkernel as mk
from csi_models.engines.base import Estimates
from csi_models.engines.delta import delta_method

NEAR_ONE = 0.95             # |latent correlation| flagged as near 1


def _estimates(model, layout, names, vcov_se, x, objective, gradient_norm, converged,
               iterations, data, n_obs=None, sample=None) -> Estimates:
    """Standardized solution and our parameter table at ``x`` (with ``vcov_se`` None, as for
    a bootstrap resample, without standard errors), from the kernel's matrices
    (``mlkernel.implied``) and a table layout built once per semopy model (``_Template``).
    ``sample`` replaces the covariance matrix of the data semopy was loaded with (semopy's
    order)."""
    tpl = _Template.of(model, layout, names)
    x = np.asarray(x, float)
    sigma, (lam, _, psi, M) = mk.implied(tpl.structure, x[None])
    xs, f = tpl.items, tpl.constructs
    implied = sigma[0][np.ix_(xs, xs)]
    phi = M[0][np.ix_(f, f)]
    Lambda = lam[0][np.ix_(xs, f)]
    B = tpl.structure.matrices(x[None])["beta"][0][np.ix_(f, f)].T      # [source, target]
    sd_x, sd_f = np.sqrt(np.diag(implied)), np.sqrt(np.abs(np.diag(phi)))
    with np.errstate(invalid="ignore", divide="ignore"):
        construct_cor = phi / np.outer(sd_f, sd_f)
        paths = B * sd_f[:, None] / sd_f[None, :]
        cross = (Lambda @ phi) / np.outer(sd_x, sd_f)
        r2 = np.where(layout.adjacency.any(axis=0), 1 - np.diag(psi[0])[f] / np.diag(phi), np.nan)
    M_ = layout.membership
    loadings = (Lambda * M_).sum(axis=1) * (sd_f[layout.block] / sd_x)
    if sample is None:
        sample = model.mx_cov if hasattr(model, "mx_cov") else None
    if sample is not None:
        sample = sample[np.ix_(xs, xs)]
    n = int(n_obs or model.n_samples)
    weights = _factor_score_weights(layout, implied, Lambda, data,
                                    None if sample is None else sample * n / (n - 1))
    with np.errstate(invalid="ignore", divide="ignore"):  # a negative variance: std_all NaN
        table = tpl.table(x, vcov_se)
    return Estimates(
        method="cbsem", layout=layout, weights=weights, loadings=loadings,
        cross_loadings=cross, paths=paths, r2=r2, construct_cor=construct_cor,
        converged=converged, iterations=iterations, parameters=table, implied_cov=implied,
        sample_cov=sample, objective=float(objective), gradient_norm=float(gradient_norm),
        extras={"n_obs": n, "n_free": int(x.size), "x": x.copy(),
                "vcov": None if vcov_se is None else vcov_se[0]})


def _factor_score_weights(layout, implied, Lambda, data, cov=None) -> np.ndarray:
    """Own-block factor-score weights on standardized items, scaled to a unit-variance score.

    Raw weights r_j = Sigma_jj^-1 lambda_j (the regression method applied to each construct's
    own items; model-implied Sigma, unstandardized loadings), then w_i = r_i s_i / sqrt(r' C_jj r)
    with C the item covariance matrix that also standardizes the scores and enters the index
    (``indices.index_moments``): the sample covariance (n - 1) of the rows used with complete
    data, the model-implied Sigma with FIML; s = sqrt(diag C). So w / s is proportional to r,
    and the score w'z has variance 1 in the sample (complete data) or under the model (FIML)."""
    items = list(layout.items)
    if data.missing == "fiml":
        C = implied
    else:   # ``cov``: the same, from the sample covariance (divisor n) of the fit
        C = cov if cov is not None else np.cov(data.values[items].to_numpy(float), rowvar=False)
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


class _Template:
    """What a semopy model's parameter table looks like, worked out once per model (cached on
    it): one row per matrix location of every parameter (lavaan's lhs, op, rhs in our names,
    in ``_canonical`` order), where its value sits in x or its fixed value, and how it is
    standardized (``standardize``)."""

    def __init__(self, model, layout, names):
        self.structure = mk.Structure.from_semopy(model)
        obs, lat = list(self.structure.observed), list(self.structure.latent)
        self.items = [obs.index(names[i]) for i in layout.items]
        self.constructs = [lat.index(names[c]) for c in layout.constructs]
        back = {v: k for k, v in names.items()}
        rows, k_free = [], 0
        for param in model.parameters.values():
            k = k_free if param.active else None
            k_free += bool(param.active)
            for loc in param.locations:
                m = next(i for i, mx in enumerate(model.matrices) if mx is loc.matrix)
                rows.append((k, float(param.start), model.matrices_names[m], *loc.indices,
                             model.names[m][0][loc.indices[0]], model.names[m][1][loc.indices[1]]))
        kinds = np.array([r[2] for r in rows], object)
        labels = []
        for _, _, kind, _, _, a, b in rows:
            lhs, op, rhs = ((b, "=~", a) if kind == "lambda" else (a, "~", b) if kind == "beta"
                            else (a, "~~", b) if kind in ("psi", "theta") else (a, "~1", ""))
            labels.append((back.get(lhs, lhs), op, back.get(rhs, rhs)))
        order = [v for k, v in back.items() if k.startswith("f")] + \
            [v for k, v in back.items() if k.startswith("x")]   # constructs, then items
        labels, self.order = _canonical(labels, order)
        self.labels = {"lhs": np.array([r[0] for r in labels], object),
                       "op": np.array([r[1] for r in labels], object),
                       "rhs": np.array([r[2] for r in labels], object),
                       "free": np.array([rows[k][0] is not None for k in self.order])}
        self.free = np.array([r[0] is not None for r in rows])
        self.index = np.array([r[0] if r[0] is not None else 0 for r in rows])
        self.fixed = np.array([r[1] for r in rows])
        self.kinds = kinds
        self.ia = np.array([r[3] for r in rows])
        self.ib = np.array([r[4] for r in rows])

    @classmethod
    def of(cls, model, layout, names) -> "_Template":
        tpl = getattr(model, "_csi_template", None)
        if tpl is None:
            tpl = model._csi_template = cls(model, layout, names)
        return tpl

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """(n, locations) std.all values (lavaan's ``standardizedSolution()``) for parameter
        vectors X (n, n_free): loadings lambda sd(construct)/sd(item), regressions
        b sd(source)/sd(target), variances over the model-implied variance, residual
        covariances over the square root of the product of the two residual variances (a
        residual correlation); NaN for intercepts and where a variance is negative."""
        X = np.atleast_2d(X)
        mats = self.structure.matrices(X)
        sigma, (_, _, psi, M) = mk.implied(self.structure, X)
        var_x, var_f = np.diagonal(sigma, axis1=1, axis2=2), np.diagonal(M, axis1=1, axis2=2)
        res = {"psi": np.diagonal(psi, axis1=1, axis2=2),
               "theta": np.diagonal(mats["theta"], axis1=1, axis2=2)}
        est = np.where(self.free, X[:, self.index], self.fixed)
        scale = np.full(est.shape, np.nan)
        a, b, kinds = self.ia, self.ib, self.kinds
        with np.errstate(invalid="ignore", divide="ignore"):
            k = kinds == "lambda"
            scale[:, k] = np.sqrt(var_f[:, b[k]] / var_x[:, a[k]])
            k = kinds == "beta"
            scale[:, k] = np.sqrt(var_f[:, b[k]] / var_f[:, a[k]])
            for kind, var in (("psi", var_f), ("theta", var_x)):
                k = (kinds == kind) & (a == b)
                scale[:, k] = 1 / var[:, a[k]]
                k = (kinds == kind) & (a != b)
                scale[:, k] = 1 / np.sqrt(res[kind][:, a[k]] * res[kind][:, b[k]])
        return est * scale

    def table(self, x, vcov_se) -> pd.DataFrame:
        """lavaan-style rows (lhs, op, rhs, free, est, se, z, pvalue, std_all, std_all_se) in
        our names. ``std_all_se`` is the delta-method se of ``std_all`` (``engines.delta``;
        lavaan's ``standardizedSolution()`` se, matched to 1e-4 in tests/test_delta.py)."""
        if vcov_se is None:  # a bootstrap resample: no standard errors
            se_values = np.full(x.size, np.nan)
            std = self.standardize(x)[0]
            std_se = np.full(std.size, np.nan)
        else:
            vcov, se_values = vcov_se
            std, std_se, _ = delta_method(lambda z: self.standardize(z), x, vcov, batched=True)
            std = np.ravel(std)
        est = np.where(self.free, x[self.index], self.fixed)[self.order]
        se = np.where(self.free, se_values[self.index], np.nan)[self.order]
        with np.errstate(invalid="ignore", divide="ignore"):
            z = est / se
        return pd.DataFrame({**self.labels, "est": est, "se": se, "z": z,
                             "pvalue": 2 * norm.sf(np.abs(z)), "std_all": std[self.order],
                             "std_all_se": std_se[self.order]})


def _canonical(labels: list, names: list) -> tuple[list, np.ndarray]:
    """(labels, order): rows in one order on every run. semopy keeps covariances in
    hash-ordered sets, so 'visual ~~ textual' could come out as 'textual ~~ visual' depending
    on PYTHONHASHSEED. A covariance is written with its two names in spec order (constructs,
    then items), and rows are sorted by operator (=~, ~, ~~, ~1), then by the spec order of
    lhs and rhs; ``order`` maps the sorted rows to the given ones."""
    pos = {name: k for k, name in enumerate(names)}
    out = [(rhs, op, lhs) if op == "~~" and pos.get(lhs, -1) > pos.get(rhs, -1) else
           (lhs, op, rhs) for lhs, op, rhs in labels]
    ops = {"=~": 0, "~": 1, "~~": 2, "~1": 3}
    order = np.array(sorted(range(len(out)), key=lambda k: (ops[out[k][1]], pos.get(out[k][0], -1),
                                                            pos.get(out[k][2], -1))), int)
    return [out[k] for k in order], order


def improper_problems(est: Estimates) -> list[str]:
    """What makes a solution improper: negative variances, |standardized path| > 1, latent
    correlations near 1 (one text per kind of problem; empty when admissible)."""
    problems = []
    table = est.parameters
    lhs, op, rhs = (table[c].to_numpy() for c in ("lhs", "op", "rhs"))
    value, free = table["est"].to_numpy(float), table["free"].to_numpy(bool)
    negative = np.flatnonzero((op == "~~") & (lhs == rhs) & free & (value < 0))
    if negative.size:
        problems.append("negative variance of " + ", ".join(
            f"{lhs[k]} ({value[k]:.3g})" for k in negative))
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
