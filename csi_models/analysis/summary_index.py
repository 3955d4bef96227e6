"""0-100 indices recomputed from a published summary: item weights, item means and scales.

A reader of a published CSI table (item weights and item means per construct) can recompute the
index without the respondents' answers. The formula is the ACSI's (Fornell et al. 1996,
Journal of Marketing 60(4), appendix), the one ``csi.fit`` uses for ``res.indices``:

    index_j = 100 * sum_i w~_i (mean_i - min_i) / sum_i w~_i (max_i - min_i)

with w~_i the unstandardized weights (a standardized PLS outer weight divided by the item's
standard deviation; any positive multiple gives the same index) and min_i, max_i the bounds of
the item's answer scale (not the observed ones). The arithmetic is
``csi_models.statistics.indices.index_values`` itself, so the summary-based index equals the
fit's own index (tested against ``csi.fit("ecsi", ...)`` on the bundled data to 1e-10).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from csi_models.data.check import rows_text
from csi_models.data.items import cell_number
from csi_models.errors import DataError, IndexWarning
from csi_models.statistics.indices import index_values

__all__ = ["index_from_summary"]


def _by_item(values, items, what: str) -> np.ndarray:
    if isinstance(values, Mapping):
        values = pd.Series(dict(values), dtype=object)
    if not isinstance(values, pd.Series):
        raise DataError(f"{what} must be one number per item (dict or Series keyed by item), "
                        f"got {type(values).__name__}")
    missing = [i for i in items if i not in values.index]
    if missing:
        raise DataError(f"{what} has no value for items {rows_text(missing)}")
    cells = [cell_number(values[i]) for i in items]
    bad = [i for i, c in zip(items, cells) if c is None or not np.isfinite(c)]
    if bad:
        raise DataError(f"{what} must be finite numbers; items {rows_text(bad)} have "
                        f"{rows_text([values[i] for i in bad])}")
    return np.array(cells, float)


def _weights(weights, constructs):
    """({construct: [items]}, weights Series by item) from either input layout."""
    if isinstance(weights, pd.DataFrame):
        item_col = next((c for c in ("item", "indicator") if c in weights.columns), None)
        value_col = next((c for c in ("weight", "estimate") if c in weights.columns), None)
        if "construct" not in weights.columns or item_col is None or value_col is None:
            raise DataError("a weights table needs the columns construct, item and weight (or "
                            "estimate, as in res.weights); got "
                            f"{rows_text(weights.columns, 10)}")
        if constructs is not None:
            raise DataError("give constructs= only with weights per item, not with a weights "
                            "table (its construct column says it)")
        if weights[item_col].duplicated().any():
            raise DataError(f"items {rows_text(weights[item_col][weights[item_col].duplicated()])}"
                            " appear twice in the weights table")
        constructs = {c: list(g[item_col]) for c, g in weights.groupby("construct", sort=False)}
        return constructs, weights.set_index(item_col)[value_col]
    if constructs is None:
        if not isinstance(weights, (Mapping, pd.Series)):
            raise DataError("weights must be a dict/Series by item or a table with columns "
                            f"construct, item, weight; got {type(weights).__name__}")
        constructs = {"index": list(dict(weights))}
    if not isinstance(constructs, Mapping) or not constructs:
        raise DataError("constructs must be a dict {construct: [items]}")
    constructs = {c: [m] if isinstance(m, str) else list(m) for c, m in constructs.items()}
    empty = [c for c, m in constructs.items() if not m]
    if empty:
        raise DataError(f"constructs {rows_text(empty)} list no items")
    return constructs, weights


def _scale(scale, items):
    def pair(value, who):
        if (isinstance(value, (tuple, list)) and len(value) == 2 and
                all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                    and np.isfinite(v) for v in value) and value[0] < value[1]):
            return float(value[0]), float(value[1])
        raise DataError(f"the scale of {who} must be (min, max) with min < max, e.g. (1, 10); "
                        f"got {value!r}")
    if isinstance(scale, Mapping):
        missing = [i for i in items if i not in scale]
        if missing:
            raise DataError(f"scale has no (min, max) for items {rows_text(missing)}")
        bounds = [pair(scale[i], f"item {i!r}") for i in items]
    else:
        bounds = [pair(scale, "the items")] * len(items)
    return np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])


def index_from_summary(weights, means, scale, sd=None, constructs=None) -> pd.DataFrame:
    """The 0-100 index of each construct from item weights, item means and answer scales.

    ``weights``: unstandardized item weights, as a dict/Series by item (with ``constructs``
    = {construct: [items]}, else all items form one construct named "index"), or as a table
    with columns construct, item and weight (or ``res.weights``'s estimate column). With
    ``sd`` (dict/Series by item) the weights are standardized ones and are divided by the
    items' standard deviations first, as ``csi.fit`` does. ``means``: item means on the
    answer scale. ``scale``: (min, max) for every item, or a dict item -> (min, max).
    Returns one row per construct: construct, estimate (the index), note. A construct with a
    negative weight has no index (NaN, a note and an ``IndexWarning``), as in ``csi.fit``.
    Formula: see the module docstring.
    """
    constructs, weights = _weights(weights, constructs)
    items = [i for members in constructs.values() for i in members]
    twice = sorted({i for i in items if items.count(i) > 1}, key=str)
    if twice:
        raise DataError(f"items {rows_text(twice)} are listed under more than one construct")
    w = _by_item(weights, items, "weights")
    mean = _by_item(means, items, "means")
    sds = np.ones(len(items)) if sd is None else _by_item(sd, items, "sd")
    if (sds <= 0).any():
        raise DataError(f"sd must be > 0; items {rows_text(np.array(items)[sds <= 0])}")
    lo, hi = _scale(scale, items)
    membership = np.zeros((len(items), len(constructs)))
    k = 0
    for j, members in enumerate(constructs.values()):
        membership[k:k + len(members), j] = 1.0
        k += len(members)
    index, _, negative = index_values(w, mean, sds, lo, hi, membership)
    notes = []
    for j, name in enumerate(constructs):
        neg = [i for i, x in zip(constructs[name], w[membership[:, j] > 0]) if x < 0]
        notes.append(f"negative weight: {', '.join(map(str, neg))}" if negative[j] else "")
        if negative[j]:
            warnings.warn(f"construct {name!r} has a negative weight ({rows_text(neg)}), so its "
                          "0-100 index is not defined (a better answer would lower it)",
                          IndexWarning, stacklevel=2)
    return pd.DataFrame({"construct": list(constructs), "estimate": index, "note": notes})
