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
    (``solution``) and a table layout built once per semopy model (``_Template``).
    ``sample`` replaces the covariance matrix of the data semopy was loaded with (semopy's
    order)."""
    tpl = _Template.of(model, layout, names)
    x = np.asarray(x, float)
    if sample is None:
        sample = model.mx_cov if hasattr(model, "mx_cov") else None
    if sample is not None:
        sample = sample[np.ix_(tpl.items, tpl.items)]
    n = int(n_obs or model.n_samples)
    C = item_covariance(layout, data, None if sample is None else sample * n / (n - 1))
    sol = solution(tpl, layout, x[None], None if C is None else C[None])
    if sol["weights"] is None:       # FIML: scores standardized under the model
        sol["weights"] = block_weights(layout, sol["implied"], sol["Lambda"], sol["implied"])
    one = {k: v[0] for k, v in sol.items()}
    with np.errstate(invalid="ignore", divide="ignore"):  # a negative variance: std_all NaN
        table = tpl.table(x, vcov_se)
    return Estimates(
        method="cbsem", layout=layout, weights=one["weights"], loadings=one["loadings"],
        cross_loadings=one["cross"], paths=one["paths"], r2=one["r2"],
        construct_cor=one["construct_cor"], converged=converged, iterations=iterations,
        parameters=table, implied_cov=one["implied"], sample_cov=sample,
        objective=float(objective), gradient_norm=float(gradient_norm),
        extras={"n_obs": n, "n_free": int(x.size), "x": x.copy(),
                "vcov": None if vcov_se is None else vcov_se[0]})


def item_covariance(layout, data, cov):
    """The item covariance matrix C that standardizes the scores and enters the index: the
    sample covariance (n - 1) of the rows used with complete data (``cov`` when given),
    None with FIML (the model-implied Sigma then: ``_estimates``)."""
    if data.missing == "fiml":
        return None
    return cov if cov is not None else np.cov(data.values[list(layout.items)].to_numpy(float),
                                              rowvar=False)


def solution(tpl, layout, X: np.ndarray, C: np.ndarray | None) -> dict:
    """The standardized solution at parameter vectors X (K, n_free), all at once (a single
    fit is a stack of one; bootstrap refits stack every resample): 'implied' (item Sigma),
    'Lambda', 'paths' [source, target], 'loadings', 'cross' (cross-loadings), 'r2',
    'construct_cor' and the own-block factor-score 'weights' (``block_weights`` with the item
    covariances C (K, p, p); None when C is None)."""
    sigma, (lam, _, psi, M) = mk.implied(tpl.structure, X)
    xs, f = np.asarray(tpl.items), np.asarray(tpl.constructs)
    implied = sigma[:, xs[:, None], xs[None, :]]
    phi = M[:, f[:, None], f[None, :]]
    Lambda = lam[:, xs[:, None], f[None, :]]
    B = tpl.structure.matrices(X)["beta"][:, f[:, None], f[None, :]].transpose(0, 2, 1)
    sd_x = np.sqrt(np.diagonal(implied, axis1=1, axis2=2))
    var_f = np.diagonal(phi, axis1=1, axis2=2)
    sd_f = np.sqrt(np.abs(var_f))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"implied": implied, "Lambda": Lambda,
               "construct_cor": phi / (sd_f[:, :, None] * sd_f[:, None, :]),
               "paths": B * sd_f[:, :, None] / sd_f[:, None, :],
               "cross": (Lambda @ phi) / (sd_x[:, :, None] * sd_f[:, None, :]),
               "r2": np.where(layout.adjacency.any(axis=0),
                              1 - np.diagonal(psi, axis1=1, axis2=2)[:, f] / var_f, np.nan)}
    out["loadings"] = (Lambda * layout.membership).sum(axis=2) * (sd_f[:, layout.block] / sd_x)
    out["weights"] = None if C is None else block_weights(layout, implied, Lambda, C)
    return out


def block_weights(layout, implied, Lambda, C) -> np.ndarray:
    """Own-block factor-score weights on standardized items, scaled to a unit-variance score,
    for one fit (2-d arguments) or a stack (3-d).

    Raw weights r_j = Sigma_jj^-1 lambda_j (the regression method applied to each construct's
    own items; model-implied Sigma, unstandardized loadings), then w_i = r_i s_i / sqrt(r' C_jj r)
    with C the item covariance matrix that also standardizes the scores and enters the index
    (``indices.index_moments``, ``item_covariance``): the sample covariance (n - 1) of the rows
    used with complete data, the model-implied Sigma with FIML; s = sqrt(diag C). So w / s is
    proportional to r, and the score w'z has variance 1 in the sample (complete data) or
    under the model (FIML)."""
    one = np.ndim(implied) == 2
    implied, Lambda, C = (np.asarray(a)[None] if one else np.asarray(a)
                          for a in (implied, Lambda, C))
    sd = np.sqrt(np.diagonal(C, axis1=1, axis2=2))
    weights = np.zeros(sd.shape)
    for j in range(len(layout.constructs)):
        idx = np.flatnonzero(layout.membership[:, j])
        block = np.ix_(np.arange(len(C)), idx, idx)
        raw = np.linalg.solve(implied[block], Lambda[:, idx, j][:, :, None])[:, :, 0]
        scale = np.einsum("ki,kij,kj->k", raw, C[block], raw)
        weights[:, idx] = raw * sd[:, idx] / np.sqrt(scale)[:, None]
    return weights[0] if one else weights


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
    table = est.parameters
    lhs, op, rhs = (table[c].to_numpy() for c in ("lhs", "op", "rhs"))
    value, free = table["est"].to_numpy(float), table["free"].to_numpy(bool)
    variance = (op == "~~") & (lhs == rhs) & free
    return problem_texts(list(zip(lhs[variance], value[variance])), est.paths,
                         est.construct_cor, est.layout)


def improper_mask(variances: np.ndarray, paths: np.ndarray, construct_cor: np.ndarray,
                  layout) -> np.ndarray:
    """(K,) True where a stack of solutions is improper (``improper_problems``' rules):
    ``variances`` (K, v) the free variance parameters."""
    upper = np.triu(np.ones(construct_cor.shape[1:], bool), 1)
    with np.errstate(invalid="ignore"):
        return ((variances < 0).any(axis=1) | (np.abs(paths[:, layout.adjacency != 0]) > 1).any(axis=1)
                | (np.abs(construct_cor[:, upper]) >= NEAR_ONE).any(axis=1))


def problem_texts(variances: list, paths: np.ndarray, construct_cor: np.ndarray,
                  layout) -> list[str]:
    """The texts of ``improper_problems`` from (name, value) of every free variance, the
    standardized paths and the latent correlations of one solution."""
    problems = []
    negative = [(name, v) for name, v in variances if v < 0]
    if negative:
        problems.append("negative variance of " + ", ".join(f"{a} ({v:.3g})" for a, v in negative))
    names = layout.constructs
    big = [(names[i], names[j], paths[i, j]) for i, j in zip(*np.nonzero(layout.adjacency))
           if abs(paths[i, j]) > 1]
    if big:
        problems.append("standardized paths beyond +-1: " + ", ".join(
            f"{a} -> {b} ({v:.3f})" for a, b, v in big))
    J = len(names)
    near = [(names[i], names[j], construct_cor[i, j]) for i in range(J) for j in range(i + 1, J)
            if abs(construct_cor[i, j]) >= NEAR_ONE]
    if near:
        problems.append("latent correlations near 1: " + ", ".join(
            f"{a}~{b} ({v:.3f})" for a, b, v in near))
    return problems
