"""``change``: index change between two waves, per company and per aggregate.

The two waves are independent samples, so draw b of the change is the difference of the two
waves' draws b: d^(b) = I_after^(b) - I_before^(b), over the first m draws in which the index
is defined in both (m = ``n_boot``). Then

    estimate  = I_after - I_before
    se        = sd(d^(b)) (n - 1 divisor); statistic = estimate / se
    interval  = the alpha/2 and 1 - alpha/2 quantiles of d^(b) (linear interpolation)
    p_value   = min(1, 2 min((1 + #{d^(b) <= 0}) / (m + 1), (1 + #{d^(b) >= 0}) / (m + 1)))

(the two-sided bootstrap p-value of "no change", Davison & Hinkley 1997, eq. 4.11, with the
+1 that keeps it above 0). ``p_adjusted`` corrects for testing many companies: Holm (family-
wise error) or Benjamini-Hochberg (false discovery rate; ``inference.multiplicity``),
within each level and construct. ``significant`` flags p_adjusted < ``alpha``. ``precise``
applies the EPSI precision rule to both waves: each index's interval no wider than
``max_width`` points (4 for a 95% interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.batch.aggregate import aggregate_draws, check_batch, draw_arrays, summary
from csi_models.errors import CSIError
from csi_models.inference.multiplicity import adjust_p, check_adjust  # noqa: F401 - adjust_p re-exported


def difference(before: np.ndarray, after: np.ndarray, level: float) -> dict:
    """se, interval, n_boot and p_value of the change from two independent sets of draws."""
    m = min(before.size, after.size)
    d = after[:m] - before[:m]
    out = summary(d, level)
    if m:
        below, above = np.count_nonzero(d <= 0), np.count_nonzero(d >= 0)
        out["p_value"] = float(min(1.0, 2 * min((1 + below) / (m + 1), (1 + above) / (m + 1))))
    else:
        out["p_value"] = np.nan
    return out


def _row(level, by, key, construct, a, b, draws_a, draws_b, ci, width_a, width_b, max_width):
    stats = difference(draws_a, draws_b, ci)
    estimate = b - a
    se = stats["se"]
    return {"level": level, **dict(zip(by, key)), "construct": construct, "before": a,
            "after": b, "estimate": estimate, "se": se,
            "statistic": estimate / se if se and np.isfinite(se) and se > 0 else np.nan,
            "p_value": stats["p_value"], "ci_lower": stats["ci_lower"],
            "ci_upper": stats["ci_upper"], "n_boot": stats["n_boot"],
            "precise": bool(width_a <= max_width and width_b <= max_width)}


def change(before, after, *, weights=None, levels=None, ci: float = 0.95, adjust="holm",
           alpha: float = 0.05, max_width: float = 4.0) -> pd.DataFrame:
    """Index change from batch ``before`` to batch ``after`` (two waves of ``fit_many`` with
    the same key columns and bootstrap); see the module docstring.

    weights, levels: also the change of the aggregates (``csi.aggregate``'s arguments; the
        same weights for both waves, None = each wave's sample sizes).
    Returns level ('group' for each group, then the aggregate levels), the key columns,
    construct, before, after, estimate (the change), se, statistic, p_value, ci_lower,
    ci_upper, n_boot, p_adjusted, significant, precise. Groups in only one wave are left out.
    """
    check_batch(before, "before")
    check_batch(after, "after")
    if before.by != after.by:
        raise CSIError(f"the two batches have different key columns ({before.by} and {after.by}): "
                       "fit both waves with the same by=")
    if not 0 < ci < 1:
        raise CSIError(f"ci={ci!r}: the interval level must be between 0 and 1, e.g. 0.95")
    check_adjust(adjust)
    by = before.by
    cols = [*by, "construct", "estimate", "ci_lower", "ci_upper"]
    for batch, name in ((before, "before"), (after, "after")):
        if "ci_lower" not in batch.indices or not len(batch.draws):
            raise CSIError(f"batch {name!r} has no bootstrap draws: fit both waves with "
                           "bootstrap=1000 or more")
    both = before.indices[cols].merge(after.indices[cols], on=[*by, "construct"],
                                      suffixes=("_a", "_b"))
    draws_a, draws_b = draw_arrays(before), draw_arrays(after)
    rows = []
    for r in both.itertuples(index=False):
        key = tuple(r[:len(by)])
        construct = r[len(by)]
        empty = np.empty(0)
        rows.append(_row("group", by, key, construct, r.estimate_a, r.estimate_b,
                         draws_a.get((key, construct), empty), draws_b.get((key, construct), empty),
                         ci, r.ci_upper_a - r.ci_lower_a, r.ci_upper_b - r.ci_lower_b, max_width))
    if weights is not None or levels is not None:
        agg_a = {(lv, u, c): (v, d) for lv, _, u, c, v, d, *_ in aggregate_draws(before, weights, levels)}
        for lv, columns, u, c, v, d, *_ in aggregate_draws(after, weights, levels):
            if (lv, u, c) in agg_a:
                va, da = agg_a[(lv, u, c)]
                wa, wb = (summary(x, ci) for x in (da, d))
                rows.append(_row(lv, columns, u, c, va, v, da, d, ci,
                                 wa["ci_upper"] - wa["ci_lower"], wb["ci_upper"] - wb["ci_lower"],
                                 max_width))
    table = pd.DataFrame(rows)
    table["p_adjusted"] = np.nan
    for _, idx in table.groupby(["level", "construct"], sort=False).groups.items():
        table.loc[idx, "p_adjusted"] = adjust_p(table.loc[idx, "p_value"], adjust)
    table["significant"] = table["p_adjusted"] < alpha
    front = ["level", *by, "construct", "before", "after", "estimate", "se", "statistic",
             "p_value", "ci_lower", "ci_upper", "n_boot", "p_adjusted", "significant", "precise"]
    return table[front]
