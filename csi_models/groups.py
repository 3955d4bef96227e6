"""One model across groups: per-group fits, PLS permutation MGA, CB-SEM invariance.

PLS multi-group analysis by permutation (Chin & Dibbern 2010; Henseler, Ringle & Sarstedt
2016): for each pair of groups the observed difference of every path (and R^2) is compared
with its distribution when the pooled respondents are randomly re-assigned to two groups of
the observed sizes; p = (1 + #{|d*| >= |d|}) / (1 + valid permutations), two-sided. Items are
standardized within each (permuted) group, as in the separate fits. All permutations run as
one batch of correlation matrices through ``pls.estimate_batch``; a permutation on which PLS
fails is counted out (``permutations`` gives the valid count), never a crash.

CB-SEM: configural, metric and scalar invariance on the groups that fitted
(``csi_models.multigroup``), with chi-square difference tests.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from csi_models.errors import DataError

MGA_COLUMNS = ["test", "group_1", "group_2", "parameter", "estimate_1", "estimate_2",
               "difference", "p_value", "permutations"]


def split_groups(data: pd.DataFrame, by: str):
    """[(label, rows)] in order of first appearance; rows without a label are left out."""
    if not isinstance(data, pd.DataFrame):
        raise DataError("compare(..., by=...) needs the survey as a DataFrame")
    if by not in data.columns:
        raise DataError(f"group column {by!r} is not in the data; columns are "
                        f"{', '.join(map(str, data.columns[:12]))}{' ...' if data.shape[1] > 12 else ''}")
    labels = data[by]
    return [(label, data[labels == label]) for label in pd.unique(labels.dropna())], int(labels.isna().sum())


def _correlations(X: np.ndarray, G: np.ndarray, chunk_floats: int = 2 ** 22) -> np.ndarray:
    """Item correlation matrices of the rows selected by each row of the 0/1 matrix G: all
    cross-product matrices from one matrix product per chunk of respondents."""
    n = G.sum(axis=1)
    sums = G @ X
    p = X.shape[1]
    cross = np.zeros((len(G), p * p))
    step = max(1, chunk_floats // (p * p))
    for start in range(0, len(X), step):
        Xc = X[start:start + step]
        cross += G[:, start:start + step] @ (Xc[:, :, None] * Xc[:, None, :]).reshape(len(Xc), -1)
    cross = cross.reshape(len(G), p, p)
    cov = cross - sums[:, :, None] * sums[:, None, :] / n[:, None, None]
    sd = np.sqrt(np.einsum("bii->bi", cov))
    return cov / (sd[:, :, None] * sd[:, None, :])


def _parameters(layout, paths: np.ndarray, r2: np.ndarray):
    """Names and values (..., k) of every path and every endogenous R^2."""
    src, tgt = np.nonzero(layout.adjacency)
    names = [f"{layout.constructs[s]} -> {layout.constructs[t]}" for s, t in zip(src, tgt)]
    endo = layout.endogenous
    names += [f"R2 {layout.constructs[j]}" for j in endo]
    return names, np.concatenate([paths[..., src, tgt], r2[..., endo]], axis=-1)


def permutation_mga(res_1, res_2, labels, permutations: int, rng) -> pd.DataFrame:
    """Two-sided permutation test of every path and R^2 between two PLS fits."""
    from csi_models.engines.pls import estimate_batch

    layout = res_1.estimates.layout
    s = res_1.settings
    X1, X2 = res_1.data.values.to_numpy(float), res_2.data.values.to_numpy(float)
    X = np.vstack([X1, X2])
    X = (X - X.mean(axis=0)) / X.std(axis=0)   # conditioning only: correlations are unchanged
    n1, n = len(X1), len(X)
    G = np.zeros((permutations, n))
    for k in range(permutations):
        G[k, rng.permutation(n)[:n1]] = 1.0
    stack = np.concatenate([_correlations(X, G), _correlations(X, 1.0 - G)])
    batch = estimate_batch(stack, layout, s["inner_scheme"], s["tolerance"], s["max_iter"])
    names, values = _parameters(layout, batch.paths, batch.r2)
    _, obs_1 = _parameters(layout, res_1.estimates.paths, res_1.estimates.r2)
    _, obs_2 = _parameters(layout, res_2.estimates.paths, res_2.estimates.r2)
    ok = batch.ok[:permutations] & batch.ok[permutations:]
    perm_diff = values[:permutations][ok] - values[permutations:][ok]
    observed = obs_1 - obs_2
    exceed = (np.abs(perm_diff) >= np.abs(observed) - 1e-12).sum(axis=0)
    return pd.DataFrame({
        "test": "permutation", "group_1": labels[0], "group_2": labels[1], "parameter": names,
        "estimate_1": obs_1, "estimate_2": obs_2, "difference": observed,
        "p_value": (1 + exceed) / (1 + ok.sum()), "permutations": int(ok.sum())})


def _invariance_tests(results: dict) -> tuple[pd.DataFrame, list[str]]:
    from csi_models.fit_indices import Moments
    from csi_models.multigroup import invariance, per_group_values

    if len(results) < 2:
        return pd.DataFrame(), ["invariance needs at least two fitted groups"]
    if any(r.data.missing == "fiml" for r in results.values()):
        return pd.DataFrame(), ["invariance tests are not available with missing='fiml' "
                                "(the stacked model uses complete-data moments); use listwise"]
    layout = next(iter(results.values())).estimates.layout
    moments, starts = [], []
    for res in results.values():
        X = res.data.values.to_numpy(float)
        mean = X.mean(axis=0)
        moments.append(Moments(np.cov(X, rowvar=False, bias=True), None, len(X), mean, None))
        starts.append(per_group_values(res.parameters, layout, mean))
    table = invariance(layout, moments, starts, list(results))
    table.insert(0, "test", "invariance")
    notes = [] if table.converged.all() else [
        "an invariance step did not converge (max |gradient| above 1e-6): see gradient_norm"]
    return table, notes


def compare_groups(spec, data, by: str, method: str, permutations: int, random_state,
                   min_size: int, options: dict):
    """The ``compare(..., by=...)`` implementation; see ``csi_models.compare``."""
    from csi_models.compare import Comparison, fit_quietly, result_rows

    groups, unlabeled = split_groups(data, by)
    results, status, rows = {}, [], []
    notes = [f"{unlabeled} rows have no {by!r} value and were left out"] if unlabeled else []
    for label, rows_g in groups:
        if len(rows_g) < min_size:
            status.append({"group": label, "n": len(rows_g), "status": "too small", "converged": None,
                           "message": f"{len(rows_g)} rows < min_size={min_size}; not fitted"})
            continue
        res, state, message = fit_quietly(spec, rows_g, method, options)
        status.append({"group": label, "n": len(rows_g) if res is None else res.n, "status": state,
                       "converged": None if res is None else res.converged, "message": message})
        if res is not None:
            results[label] = res
            rows += [(label, *r) for r in result_rows(res)]
    table = pd.DataFrame(rows, columns=["group", "section", "name", "value"])
    if method == "pls":
        rng = np.random.default_rng(random_state)
        tests = [permutation_mga(results[a], results[b], (a, b), permutations, rng)
                 for a, b in combinations(results, 2)]
        tests = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(columns=MGA_COLUMNS)
    else:
        tests, more = _invariance_tests(results)
        notes += more
    return Comparison(table=table, tests=tests, status=pd.DataFrame(status, columns=[
        "group", "n", "status", "converged", "message"]), results=results, by="group", notes=notes)
