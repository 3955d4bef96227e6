"""MICOM: measurement invariance of composite models (Henseler, Ringle & Sarstedt 2016,
International Marketing Review 33(3)), for two or more groups (every pair of groups).

Before path coefficients of groups are compared (MGA), MICOM checks that the constructs mean
the same in each group. For a pair of groups with item data pooled over both:

1. Configural invariance: the same spec, items, data treatment and PLS settings in each group
   (given here by construction) and PLS estimable in each group.
2. Compositional invariance: c = cor(Z w_1, Z w_2) per construct, with Z the pooled items
   standardized over the pooled rows (n - 1) and w_g the PLS weights estimated in group g;
   c = w_1' R w_2 / sqrt(w_1' R w_1 w_2' R w_2) with R the pooled item correlations. The
   group labels are permuted (``permutations`` times, the group sizes kept) and PLS re-run in
   both permuted groups; ``ci_lower`` is the alpha quantile of the permuted c (one-sided),
   p_value = (1 + #{c* <= c}) / (1 + valid permutations); invariant when c >= ci_lower.
3. Equal composite means and variances: scores Z w_pooled (PLS on the pooled data);
   ``mean``: the difference of the group means of the scores (group_1 - group_2);
   ``variance``: log(var_1 / var_2) (n - 1). Their permutation distributions give
   ci_lower/ci_upper (alpha/2 and 1 - alpha/2 quantiles) and a two-sided p_value
   (1 + #{|d*| >= |d|}) / (1 + valid); equal when the observed value lies in the interval.

Verdict per pair and construct: ``none`` (step 2 fails: the groups' paths should not be
compared), ``partial`` (steps 1 and 2 hold: an MGA of paths is meaningful), ``full`` (also
equal means and variances: the data may be pooled). Permutations are batched (all permuted
groups' correlation matrices from one product, ``statistics.moments``, one PLS batch), drawn
from one Generator seeded by ``random_state``. No peer tool was available as an oracle:
tests/test_micom.py checks the statistics by hand and the size and power of the tests on
simulated groups. p-values are not adjusted across pairs or constructs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.engines import pls
from csi_models.engines.base import Layout
from csi_models.errors import CSIError, DataError, EstimationError
from csi_models.statistics.moments import BatchMoments

CHUNK_BYTES = 2 ** 26   # assignment matrix of one chunk of permutations (64 MB)
MIN_GROUP = 5


@dataclass(frozen=True)
class Micom:
    """The three MICOM steps. ``table``: group_1, group_2, construct, step ('compositional',
    'mean', 'variance'), estimate, ci_lower, ci_upper, p_value, permutations (valid count),
    invariant. ``invariance``: one row per pair and construct with configural,
    compositional, equal_means, equal_variances and the verdict ``invariance``
    ('none' | 'partial' | 'full')."""

    table: pd.DataFrame
    invariance: pd.DataFrame
    settings: dict = field(default_factory=dict)


def _composite_cor(R: np.ndarray, wa: np.ndarray, wb: np.ndarray, M: np.ndarray) -> np.ndarray:
    """c per construct: w_a' R w_b / sqrt(w_a' R w_a w_b' R w_b) over each block; weights
    (B, items) or (items,), M the (items, J) membership."""
    Wa, Wb = wa[..., :, None] * M, wb[..., :, None] * M            # (..., items, J)
    ab = np.einsum("...ij,ik,...kj->...j", Wa, R, Wb)
    aa = np.einsum("...ij,ik,...kj->...j", Wa, R, Wa)
    bb = np.einsum("...ij,ik,...kj->...j", Wb, R, Wb)
    return ab / np.sqrt(aa * bb)


def _check(labels, n, permutations, alpha, random_state) -> None:
    whole = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)  # noqa: E731
    if len(labels) != n:
        raise DataError(f"groups has {len(labels)} labels for {n} rows: give one label per row")
    if pd.isna(labels).any():
        raise DataError("groups has missing labels: drop those rows or give them a group")
    if not whole(permutations) or permutations < 1:
        raise CSIError(f"permutations={permutations!r}: give a whole number >= 1, e.g. 1000")
    if not (isinstance(alpha, numbers.Real) and 0 < alpha < 1):
        raise CSIError(f"alpha={alpha!r}: give a level between 0 and 1, e.g. 0.05")
    if not (random_state is None or isinstance(random_state, np.random.Generator)
            or (whole(random_state) and random_state >= 0)):
        raise CSIError(f"random_state={random_state!r}: give the seed as a whole number >= 0")


def micom(spec, data, groups, permutations: int = 1000, random_state=1, alpha: float = 0.05,
          scheme: str = "path", tol: float = 1e-7, max_iter: int = 300,
          weights=None) -> Micom:
    """MICOM for every pair of groups (in order of first appearance).

    data: prepared survey data (``SurveyData``, whose respondent weights are used) or a
    DataFrame with one complete numeric column per item; groups: one label per row
    (array-like); weights: respondent weights, one per row (rescaled to sum to the number of
    rows; each respondent keeps its weight in whichever group it is permuted to)."""
    layout = Layout.from_spec(spec)
    values = data if isinstance(data, pd.DataFrame) else data.values
    if weights is None and not isinstance(data, pd.DataFrame):
        weights = getattr(data, "weights", None)
    X = values[list(layout.items)].to_numpy(float)
    labels = pd.Series(np.asarray(groups, dtype=object))
    _check(labels, len(X), permutations, alpha, random_state)
    w = _weights(weights, len(X))
    if not np.isfinite(X).all():
        raise DataError("MICOM needs complete item data: prepare it with missing='listwise' or "
                        "missing='mean'")
    names = list(pd.unique(labels))
    if len(names) < 2:
        raise DataError(f"groups has a single group ({names[0]!r}): MICOM compares two or more")
    sizes = labels.value_counts()
    small = [str(g) for g in names if sizes[g] < MIN_GROUP]
    if small:
        raise DataError(f"group(s) {', '.join(small)} have fewer than {MIN_GROUP} rows: merge "
                        "or drop them")
    rng = np.random.default_rng(random_state)
    tables = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            rows = np.concatenate([np.flatnonzero(labels == names[a]),
                                   np.flatnonzero(labels == names[b])])
            table = _pair(X[rows], None if w is None else w[rows], int(sizes[names[a]]),
                          layout, permutations, rng, alpha, (scheme, tol, max_iter))
            table.insert(0, "group_2", names[b])
            table.insert(0, "group_1", names[a])
            tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    return Micom(table=table, invariance=_verdicts(table),
                 settings={"permutations": permutations, "random_state": random_state,
                           "alpha": alpha, "scheme": pls.SCHEMES.get(scheme, scheme),
                           "tol": tol, "max_iter": max_iter, "weighted": w is not None})


def _weights(weights, n: int):
    """The checked respondent weights rescaled to sum to n, or None: MICOM's variances
    (sum w - 1 divisor) then do not depend on the weights' scale."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise DataError(f"weights: give one finite weight >= 0 per row ({n} rows), not all 0")
    return w * (n / w.sum())


def _pair(X, w, n1, layout, permutations, rng, alpha, options) -> pd.DataFrame:
    """The MICOM table of one pair: rows 0..n1-1 are group 1, the rest group 2; ``w`` the
    rows' respondent weights or None. Weighted, every mean is sum w x / sum w and every
    variance has the sum w - 1 divisor (frequency weights, as a fit's moments)."""
    n = len(X)
    M = np.asarray(layout.membership, float)
    J = M.shape[1]
    moments = BatchMoments(X, w)
    w = moments.w                                                    # ones without weights
    total = moments.G.sum(axis=0)
    own = np.zeros((1, n))
    own[0, :n1] = 1.0
    sums, count = own @ moments.G, own @ w
    S1, _, _ = moments.from_sums(sums, count)
    S2, _, _ = moments.from_sums(total[None] - sums, w.sum() - count)
    R, mean, sd = moments.full()
    fits = pls.estimate_batch(np.concatenate([S1, S2, R]), layout, *options)
    if not np.isfinite(fits.weights).all():
        raise EstimationError("PLS cannot be estimated in one of the groups (or pooled): "
                              "check for items that are constant within a group")
    outer = (fits.weights * M).sum(axis=2)                           # (3, items)
    R = R[0]
    c = _composite_cor(R, outer[0], outer[1], M)
    scores = (X - mean[0]) / sd[0] @ (outer[2][:, None] * M)          # (n, J) pooled scores
    ws, ws2 = w[:, None] * scores, w[:, None] * scores ** 2
    s0, s1, s2 = w.sum(), ws.sum(axis=0), ws2.sum(axis=0)
    mean_diff, log_var = _score_moments(own, w, ws, ws2, s0, s1, s2)
    mean_diff, log_var = mean_diff[0], log_var[0]
    c_perm, mean_perm, var_perm = [], [], []
    chunk = max(1, CHUNK_BYTES // (8 * n))
    for first in range(0, permutations, chunk):
        G = np.zeros((min(chunk, permutations - first), n))
        for k in range(len(G)):
            G[k, rng.permutation(n)[:n1]] = 1.0
        sums, count = G @ moments.G, G @ w
        P1, _, _ = moments.from_sums(sums, count)
        P2, _, _ = moments.from_sums(total[None] - sums, w.sum() - count)
        batch = pls.estimate_batch(np.concatenate([P1, P2]), layout, *options)
        k = len(G)
        wp = (batch.weights * M).sum(axis=2)
        cp = _composite_cor(R, wp[:k], wp[k:], M)
        cp[~(batch.ok[:k] & batch.ok[k:])] = np.nan
        c_perm.append(cp)
        md, lv = _score_moments(G, w, ws, ws2, s0, s1, s2)
        mean_perm.append(md)
        var_perm.append(lv)
    rows = []
    names = layout.constructs
    for step, observed, perm in (("compositional", c, np.concatenate(c_perm)),
                                 ("mean", mean_diff, np.concatenate(mean_perm)),
                                 ("variance", log_var, np.concatenate(var_perm))):
        for j in range(J):
            draws = perm[:, j][np.isfinite(perm[:, j])]
            if step == "compositional":
                lower, upper = np.quantile(draws, alpha), np.nan
                p = (1 + np.sum(draws <= observed[j] + 1e-12)) / (1 + draws.size)
                ok = observed[j] >= lower - 1e-12
            else:
                lower, upper = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
                p = (1 + np.sum(np.abs(draws) >= abs(observed[j]) - 1e-12)) / (1 + draws.size)
                ok = lower - 1e-12 <= observed[j] <= upper + 1e-12
            rows.append({"construct": names[j], "step": step, "estimate": observed[j],
                         "ci_lower": lower, "ci_upper": upper, "p_value": p,
                         "permutations": draws.size, "invariant": bool(ok)})
    return pd.DataFrame(rows)


def _score_moments(G, w, ws, ws2, s0, s1, s2):
    """The difference of the score means (group 1 - group 2) and the log ratio of the score
    variances for each assignment (rows of G, 1 = group 1), from the weighted sums of the
    scores (``ws``) and of their squares (``ws2``) and their totals (s0: sum w)."""
    w1, a1, a2 = G @ w, G @ ws, G @ ws2
    w1, w2 = w1[:, None], s0 - w1[:, None]
    m1, m2 = a1 / w1, (s1 - a1) / w2
    v1 = (a2 - w1 * m1 ** 2) / (w1 - 1)
    v2 = (s2 - a2 - w2 * m2 ** 2) / (w2 - 1)
    return m1 - m2, np.log(v1 / v2)


def _verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per pair and construct: the three steps and the verdict."""
    wide = table.pivot_table(index=["group_1", "group_2", "construct"], columns="step",
                             values="invariant", aggfunc="first", sort=False)
    out = pd.DataFrame({"configural": True, "compositional": wide["compositional"].astype(bool),
                        "equal_means": wide["mean"].astype(bool),
                        "equal_variances": wide["variance"].astype(bool)}, index=wide.index)
    out["invariance"] = np.where(~out.compositional, "none",
                                 np.where(out.equal_means & out.equal_variances, "full",
                                          "partial"))
    return out.reset_index()
