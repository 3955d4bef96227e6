"""One model across groups: per-group fits, PLS permutation MGA, CB-SEM invariance.

PLS multi-group analysis by permutation (Chin & Dibbern 2010; Henseler, Ringle & Sarstedt
2016): for each pair of groups the observed difference of every path, R^2 and 0-100 index is compared
with its distribution when the pooled respondents are randomly re-assigned to two groups of
the observed sizes (with respondent weights, each respondent keeps its weight); p = (1 + #{|d*| >= |d|}) / (1 + valid permutations), two-sided. Items are
standardized within each (permuted) group, as in the separate fits. The permutations run in
chunks of correlation matrices through ``pls.estimate_batch`` (memory bounded, results
independent of the chunk size); a permutation on which PLS fails is counted out
(``permutations`` gives the valid count), never a crash.

CB-SEM: configural, metric and scalar invariance on the groups that fitted
(``csi_models.engines.invariance``), with chi-square difference tests.

``permutations=0`` switches the permutation tests (and MICOM) off: the side-by-side table of
many groups comes fast. ``adjust`` ('none', 'holm', 'bh') adds ``p_adjusted`` to the tests,
adjusted across all of them (``comparison.table.with_adjusted``).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from csi_models.errors import DataError

GROUP_BYTES = 2 ** 26   # size of one chunk's permutation matrix (64 MB), as in the bootstrap
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


def pooled_weights(surveys: list):
    """The respondent weights of the surveys' rows, one after another, rescaled to sum to the
    number of rows (paths, R^2 and indices do not depend on the weights' scale; a permuted
    group's sds then never meet a summed weight below 1); None when no survey has weights
    (a weighted group beside an unweighted one: the latter's rows weigh 1)."""
    weights = [getattr(s, "weights", None) for s in surveys]
    if all(w is None for w in weights):
        return None
    w = np.concatenate([np.ones(len(s.values)) if w is None else np.asarray(w, float)
                        for s, w in zip(surveys, weights)])
    return w * (len(w) / w.sum())


def _parameters(layout, paths: np.ndarray, r2: np.ndarray, index: np.ndarray):
    """Names and values (..., k) of every path, every endogenous R^2 and every 0-100 index."""
    src, tgt = np.nonzero(layout.adjacency)
    names = [f"{layout.constructs[s]} -> {layout.constructs[t]}" for s, t in zip(src, tgt)]
    endo = layout.endogenous
    names += [f"R2 {layout.constructs[j]}" for j in endo]
    names += [f"index {c}" for c in layout.constructs]
    return names, np.concatenate([paths[..., src, tgt], r2[..., endo], index], axis=-1)


def permuted_estimates(res_1, res_2, moments, assignment: np.ndarray):
    """Every path, R^2 and 0-100 index of the two groups that ``assignment`` (copies x n, 1 =
    group 1) makes of the pooled respondents (res_1's rows, then res_2's): (names, values of
    group 1, values of group 2, ok). Each group's means, sds and correlations come from one
    matrix product (``moments``, the bootstrap's machinery; with respondent weights each
    respondent brings its weight into whichever group it is assigned), the engine estimates both stacks
    at once and the statistics kernel derives the index of each group from its own weights,
    means and sds, as the index of a separate fit would."""
    from csi_models.engines.base import get_engine

    layout = res_1.estimates.layout
    k = len(assignment)
    sums, count = assignment @ moments.G, assignment @ moments.w
    S1, mean1, sd1 = moments.from_sums(sums, count)
    S2, mean2, sd2 = moments.from_sums(moments.G.sum(axis=0) - sums, moments.w.sum() - count)
    stack = get_engine(res_1.method).from_moments(
        layout, np.concatenate([S1, S2]), np.concatenate([mean1, mean2]),
        np.concatenate([sd1, sd2]), res_1.options)
    index = res_1.statistics.derive(stack)["indices"]
    names, values = _parameters(layout, stack.paths, stack.r2, index)
    return names, values[:k], values[k:], stack.ok[:k] & stack.ok[k:]


def permutation_mga(res_1, res_2, labels, permutations: int, rng,
                    chunk: int | None = None) -> pd.DataFrame:
    """Two-sided permutation test of every path, R^2 and 0-100 index between two PLS fits.

    Permutations are drawn one after another from ``rng`` and estimated ``chunk`` at a time
    (default: a 64 MB assignment matrix, as the bootstrap), so memory stays bounded for any
    n and the results do not depend on the chunk size. A construct whose index is undefined
    (a negative weight) in a permuted group gets no p-value from that permutation."""
    from csi_models.statistics.moments import BatchMoments

    X = np.vstack([res_1.data.values.to_numpy(float), res_2.data.values.to_numpy(float)])
    n1, n = len(res_1.data.values), len(X)
    moments = BatchMoments(X, pooled_weights([res_1.data, res_2.data]))
    chunk = max(1, int(chunk or GROUP_BYTES // (8 * n)))
    layout = res_1.estimates.layout
    (names, est_1), (_, est_2) = [
        _parameters(layout, r.estimates.paths, r.estimates.r2, r.point["indices"][0])
        for r in (res_1, res_2)]
    observed = est_1 - est_2
    exceed = np.zeros(observed.size, int)
    count = np.zeros(observed.size, int)
    for first in range(0, permutations, chunk):
        G = np.zeros((min(chunk, permutations - first), n))
        for k in range(len(G)):
            G[k, rng.permutation(n)[:n1]] = 1.0
        _, values_1, values_2, ok = permuted_estimates(res_1, res_2, moments, G)
        perm_diff = values_1[ok] - values_2[ok]
        valid = np.isfinite(perm_diff)
        exceed += ((np.abs(perm_diff) >= np.abs(observed) - 1e-12) & valid).sum(axis=0)
        count += valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_value = np.where(np.isfinite(observed), (1 + exceed) / (1 + count), np.nan)
    return pd.DataFrame({
        "test": "permutation", "group_1": labels[0], "group_2": labels[1], "parameter": names,
        "estimate_1": est_1, "estimate_2": est_2, "difference": observed,
        "p_value": p_value, "permutations": count})


def _permutation_tests(results: dict, permutations: int, seed: int):
    """Permutation MGA of every pair of groups (engines that estimate from moments: PLS)."""
    if permutations == 0:
        return pd.DataFrame(columns=MGA_COLUMNS), [
            "permutations=0: no permutation tests of the group differences (and no MICOM)"]
    rng = np.random.default_rng(seed)
    tests = [permutation_mga(results[a], results[b], (a, b), permutations, rng)
             for a, b in combinations(results, 2)]
    return (pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(columns=MGA_COLUMNS)), []


def _invariance_tests(results: dict, permutations=None, seed=None) -> tuple[pd.DataFrame, list[str]]:
    """Configural, metric and scalar invariance (the ML engine's multi-group model)."""
    from csi_models.data.weights import weighted_cov
    from csi_models.engines.invariance import INVARIANCE_COLUMNS, invariance, per_group_values
    from csi_models.engines.multigroup import residual_covariances
    from csi_models.statistics.fit_measures import Moments

    if len(results) < 2:
        return (pd.DataFrame(columns=INVARIANCE_COLUMNS),
                ["invariance needs at least two fitted groups"])
    if any(r.data.missing == "fiml" for r in results.values()):
        return pd.DataFrame(columns=INVARIANCE_COLUMNS), [
            "invariance tests are not available with missing='fiml' (the stacked model uses "
            "complete-data moments); use listwise"]
    spec = next(iter(results.values())).spec
    layout = next(iter(results.values())).estimates.layout
    weights = pooled_weights([r.data for r in results.values()])   # normalized over all groups
    if weights is not None:
        weights = np.split(weights, np.cumsum([len(r.data.values) for r in results.values()])[:-1])
    moments, starts, values = [], [], []
    for k, res in enumerate(results.values()):
        X = res.data.values[list(layout.items)].to_numpy(float)
        if weights is None:
            mean, S, n = X.mean(axis=0), np.cov(X, rowvar=False, bias=True), len(X)
        else:
            (mean, S), n = weighted_cov(X, weights[k]), weights[k].sum()
        moments.append(Moments(S, None, n, mean, None))
        starts.append(per_group_values(res.parameters, layout, mean))
        values.append(X)
    robust = weights is not None or any(r.options.get("se") == "robust"
                                        for r in results.values())
    table = invariance(layout, moments, starts, list(results),
                       residual_covariances(spec, layout), values if robust else None, weights)
    notes = [] if table.converged.all() else [
        "an invariance step did not converge (max |gradient| above 1e-6): see gradient_norm; "
        "its difference tests are left out"]
    if weights is not None:
        notes.append("respondent weights: the invariance steps are lavaan's multi-group fits "
                     "with sampling.weights (normalized over all groups), with its scaled test "
                     "(observed information) and Satorra-Bentler (2001) scaled differences")
    elif robust:
        notes.append("se='robust': the invariance steps carry lavaan's MLR scaled test "
                     "(information = 'expected'), and their differences are Satorra-Bentler "
                     "(2001) scaled")
    if table.chisq.isna().any():
        notes.append("an invariance step found no start where every group's implied "
                     "covariance matrix is positive definite: its fit measures are NaN")
    return table, notes


def compare_groups(spec, data, by: str, method: str, permutations: int, random_state,
                   min_size: int, options: dict, adjust: str = "none"):
    """The ``compare(..., by=...)`` implementation; see ``csi_models.comparison``."""
    from csi_models.comparison.table import Comparison, fit_quietly, result_rows, with_adjusted
    from csi_models.engines.base import get_engine
    from csi_models.inference.random import child_seed, seed_entropy

    seed = seed_entropy(random_state)
    groups, unlabeled = split_groups(data, by)
    results, status, rows = {}, [], []
    notes = [f"{unlabeled} rows have no {by!r} value and were left out"] if unlabeled else []
    for label, rows_g in groups:
        if len(rows_g) < min_size:
            status.append({"group": label, "n": len(rows_g), "status": "too small", "converged": None,
                           "message": f"{len(rows_g)} rows < min_size={min_size}; not fitted"})
            continue
        res, state, message = fit_quietly(spec, rows_g, method, options,
                                          child_seed(seed, ("group", label)))
        status.append({"group": label, "n": len(rows_g) if res is None else res.n, "status": state,
                       "converged": None if res is None else res.converged, "message": message})
        if res is not None:
            results[label] = res
            rows += [(label, *r) for r in result_rows(res)]
    table = pd.DataFrame(rows, columns=["group", "section", "name", "value"])
    engine = get_engine(method)
    tests, more = GROUP_TESTS[engine.group_test](results, permutations,
                                                 child_seed(seed, "permutations"))
    notes += more
    invariance = None
    if engine.group_test == "permutation" and len(results) >= 2 and permutations:
        from csi_models.comparison.micom import micom

        fitted = list(results.values())
        invariance = micom(spec, pd.concat([r.data.values for r in fitted]),
                           np.repeat(list(results), [r.n for r in fitted]), permutations,
                           child_seed(seed, "micom"), weights=pooled_weights(
                               [r.data for r in fitted]), **fitted[0].options)
    status = pd.DataFrame(status, columns=["group", "n", "status", "converged", "message"])
    return Comparison(table=table, tests=with_adjusted(tests, adjust), status=status,
                      results=results, by="group", notes=notes, micom=invariance)


#: the group test each engine declares (``Engine.group_test``)
GROUP_TESTS = {"permutation": _permutation_tests, "invariance": _invariance_tests}
