"""``aggregate``: company indices -> industry, sector and national indices.

The ACSI's aggregation: an aggregate index is the weighted mean of its companies' indices,
weights being the companies' revenue (sales, market share) or, without weights, their
sample sizes:

    I_agg = sum_c w_c I_c / sum_c w_c          (over the companies with an index)

Every level (industry, sector, nation) is computed from the companies directly with their
own weights, which is the same as weighting each industry by its summed weight.

Intervals. Companies are independent samples, so draw b of the aggregate is the weighted
mean of each company's draw b: I_agg^(b) = sum_c w_c I_c^(b) / sum_c w_c, over the first m
draws in which every company's index is defined (m = the smallest such count, ``n_boot``).
se = sd(I_agg^(b)) (n - 1 divisor), interval = the percentile interval of the I_agg^(b)
(linear interpolation, as ``numpy.quantile`` and the single fits' percentile intervals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.errors import CSIError, DataError

NATIONAL = "national"


def draw_arrays(batch) -> dict:
    """{(key, construct): the index's finite bootstrap draws, in draw order}."""
    draws = batch.draws
    if not len(draws):
        return {}
    by = batch.by
    out = {}
    for key, part in draws.sort_values([*by, "construct", "draw"], kind="stable") \
            .groupby([*by, "construct"], sort=False):
        values = part["estimate"].to_numpy(float)
        out[(tuple(_plain(k) for k in key[:-1]), key[-1])] = values[np.isfinite(values)]
    return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def combine(arrays: list, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of the companies' draws, draw by draw, over the first m = min length."""
    m = min(len(a) for a in arrays)
    stacked = np.stack([a[:m] for a in arrays])
    return (weights / weights.sum()) @ stacked


def summary(draws: np.ndarray, level: float) -> dict:
    """se, ci_lower, ci_upper, n_boot of a vector of draws (NaN with fewer than 2)."""
    if draws.size < 2:
        return {"se": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "n_boot": int(draws.size)}
    alpha = (1 - level) / 2
    lower, upper = np.quantile(draws, [alpha, 1 - alpha])
    return {"se": float(np.std(draws, ddof=1)), "ci_lower": float(lower), "ci_upper": float(upper),
            "n_boot": int(draws.size)}


def group_weights(batch, weights) -> pd.Series:
    """Each group's weight, indexed by key tuples: sample sizes (``weights=None``), or a
    Series / dict keyed by the last key column (e.g. company) or by full key tuples."""
    status = batch.status
    keys = [tuple(_plain(v) for v in row) for row in status[batch.by].itertuples(index=False)]
    if weights is None:
        return pd.Series(status["n"].to_numpy(float), index=pd.Index(keys, tupleize_cols=False))
    if isinstance(weights, dict):
        weights = pd.Series(weights, dtype=float)
    if not isinstance(weights, pd.Series):
        raise DataError(f"weights must be a pandas Series or dict keyed by {batch.by[-1]} (or by "
                        f"the full key), e.g. revenue; got {type(weights).__name__}")
    lookup = {}
    for label, value in weights.items():
        lookup[tuple(_plain(v) for v in label) if isinstance(label, tuple) else (_plain(label),)] = value
    out = {}
    for key in keys:
        value = lookup.get(key, lookup.get(key[-1:]))
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = np.nan
        if not np.isfinite(value) or value < 0:
            raise DataError(f"the weight of group {key!r} is {value!r}: weights must be finite "
                            "numbers >= 0 (revenue, sales, market share)")
        out[key] = value
    missing = [k for k in keys if k not in out]
    if missing:
        raise DataError(f"no weight for {len(missing)} group(s), e.g. {missing[:3]!r}: give a "
                        f"weight for every {batch.by[-1]} (0 leaves a group out)")
    return pd.Series([out[k] for k in keys], index=pd.Index(keys, tupleize_cols=False), dtype=float)


def units(batch, levels) -> list[tuple]:
    """(level name, its key columns, {unit key: [group keys]}) for each level and the nation."""
    levels = [] if levels is None else [levels] if isinstance(levels, str) else list(levels)
    unknown = [c for c in levels if c not in batch.by]
    if unknown:
        raise CSIError(f"levels={levels!r}: {', '.join(map(repr, unknown))} are not key columns "
                       f"of the batch ({', '.join(batch.by)}); aggregate over those")
    keys = batch.keys
    out = []
    for level in levels:
        pos = batch.by.index(level)
        members = {}
        for key in keys:
            members.setdefault(tuple(key[: pos + 1]), []).append(key)
        out.append((level, batch.by[: pos + 1], members))
    out.append((NATIONAL, [], {(): list(keys)}))
    return out


def check_batch(batch, name: str = "batch") -> None:
    """A fit_many result (or csi.read_batch's), or a CSIError saying what to pass."""
    if not all(hasattr(batch, a) for a in ("by", "indices", "status")):
        raise CSIError(f"{name} must be the result of csi.fit_many (or csi.read_batch), got "
                       f"{type(batch).__name__}")


def aggregate_draws(batch, weights, levels):
    """Yield (level, columns, unit key, construct, estimate, draws, n_groups, weight, note)."""
    w = group_weights(batch, weights)
    table = batch.indices
    estimates = {(tuple(_plain(v) for v in row[:-2]), row[-2]): row[-1] for row in
                 table[[*batch.by, "construct", "estimate"]].itertuples(index=False)}
    draws = draw_arrays(batch)
    constructs = list(dict.fromkeys(table["construct"]))
    for level, columns, members in units(batch, levels):
        for unit, keys in members.items():
            for construct in constructs:
                have = [k for k in keys if np.isfinite(estimates.get((k, construct), np.nan))
                        and w[k] > 0]
                left = len([k for k in keys if w[k] > 0]) - len(have)
                note = f"{left} group(s) without this index left out" if left else ""
                if not have:
                    yield level, columns, unit, construct, np.nan, np.empty(0), 0, 0.0, \
                        note or "no group with this index and a positive weight"
                    continue
                wk = w[have].to_numpy(float)
                value = float(wk @ np.array([estimates[(k, construct)] for k in have]) / wk.sum())
                arrays = [draws.get((k, construct), np.empty(0)) for k in have]
                d = combine(arrays, wk) if all(len(a) for a in arrays) else np.empty(0)
                yield level, columns, unit, construct, value, d, len(have), float(wk.sum()), note


def aggregate(batch, weights=None, levels=None, ci: float = 0.95) -> pd.DataFrame:
    """Aggregate indices of a ``fit_many`` batch (see the module docstring).

    weights: a Series or dict of group weights keyed by the last key column (e.g. company
        -> revenue) or by full key tuples; None weights by sample size.
    levels: key columns to aggregate to (e.g. ['industry'] or ['sector', 'industry']); the
        national index (every group) is always added.
    Returns level, the key columns (empty where the level has none), construct, estimate,
    se, statistic and p_value (NaN: as in res.indices, an index is not tested against 0),
    ci_lower, ci_upper, n_boot, n_groups, weight (sum of the groups' weights), note.
    """
    check_batch(batch)
    if not 0 < ci < 1:
        raise CSIError(f"ci={ci!r}: the interval level must be between 0 and 1, e.g. 0.95")
    rows = []
    for level, columns, unit, construct, value, d, n_groups, weight, note in \
            aggregate_draws(batch, weights, levels):
        stats = summary(d, ci)
        row = {"level": level, **{c: None for c in batch.by}, **dict(zip(columns, unit)),
               "construct": construct, "estimate": value, "se": stats["se"],
               "statistic": np.nan, "p_value": np.nan,     # an index is not tested against 0
               "ci_lower": stats["ci_lower"], "ci_upper": stats["ci_upper"],
               "n_boot": stats["n_boot"], "n_groups": n_groups, "weight": weight, "note": note}
        rows.append(row)
    return pd.DataFrame(rows)
