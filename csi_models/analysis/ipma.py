"""Importance-performance map (IPMA) of one target construct of a PLS fit.

Ringle & Sarstedt (2016), Industrial Management & Data Systems 116(9); the definitions of
SmartPLS and cSEM's ``doIPMA``. constructs: construct, importance (unstandardized total effect
on the target on the 0-100 metric: index points of the target per index point of the
construct), performance (the construct's 0-100 index). items: construct, item, weight
(rescaled outer weight: unstandardized weight on the 0-100-rescaled item, summing to one per
construct), importance (weight x the construct's importance), performance (item mean on
0-100). Every number comes from the fit's own tables (effects, indices, weights).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.errors import CSIError


class IPMA:
    """The map of one target: ``constructs`` and ``items`` tables, ``plot()``."""

    def __init__(self, target: str, constructs: pd.DataFrame, items: pd.DataFrame):
        self.target, self.constructs, self.items = target, constructs, items

    def __repr__(self) -> str:
        return f"<IPMA of {self.target}: {len(self.constructs)} constructs, {len(self.items)} items>"

    def plot(self, level: str = "constructs", ax=None):
        """Quadrant plot (importance on x, performance on y) with dashed lines at the means;
        ``level``: 'constructs' or 'items'."""
        import matplotlib.pyplot as plt

        if level not in ("constructs", "items"):
            raise CSIError(f"level={level!r}: use 'constructs' or 'items'")
        table = self.constructs if level == "constructs" else self.items
        names = table["construct" if level == "constructs" else "item"]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4.5))
        ax.scatter(table.importance, table.performance, color="tab:blue")
        for name, x, y in zip(names, table.importance, table.performance):
            ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.axvline(table.importance.mean(), color="grey", linestyle="--", linewidth=1)
        ax.axhline(table.performance.mean(), color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(f"importance (total effect on {self.target}, index points)")
        ax.set_ylabel("performance (0-100)")
        ax.set_title(f"Importance-performance map: {self.target} ({level})")
        return ax


def ipma(result, target: str) -> IPMA:
    """IPMA of ``target`` for a PLS fit; every weight involved must be positive."""
    if not result._engine.ipma:
        raise CSIError("IPMA is defined for PLS fits (composite scores); refit with method='pls'")
    lay = result.estimates.layout
    if target not in lay.constructs:
        raise CSIError(f"target {target!r} is not a construct of the model; choose one of "
                       f"{', '.join(lay.constructs)}")
    effects = result.effects
    drivers = effects[(effects.target == target) & (effects.effect == "total")]
    if drivers.empty:
        raise CSIError(f"no construct has an effect on {target} (it is exogenous); choose an "
                       "endogenous target such as Satisfaction or Loyalty")
    notes = dict(zip(result.indices.construct, result.indices.note))
    bad = [notes[c] for c in [*drivers.source, target] if notes[c]]
    if bad:
        raise CSIError("IPMA needs positive outer weights: " + "; ".join(bad))
    index = dict(zip(result.indices.construct, result.indices.estimate))
    importance = dict(zip(drivers.source, drivers.estimate_100))
    constructs = pd.DataFrame({"construct": list(drivers.source),
                               "importance": list(drivers.estimate_100),
                               "performance": [index[c] for c in drivers.source]})
    est, stats = result.estimates, result.statistics
    raw = est.weights / est.item_sd
    rows = []
    for c in drivers.source:
        items = np.flatnonzero(lay.membership[:, lay.constructs.index(c)])
        span = stats.hi[items] - stats.lo[items]
        v = raw[items] * span
        for i, weight, width in zip(items, v / v.sum(), span):
            perf = 100 * (est.item_mean[i] - stats.lo[i]) / width
            rows.append((c, lay.items[i], weight, weight * importance[c], perf))
    items = pd.DataFrame(rows, columns=["construct", "item", "weight", "importance", "performance"])
    return IPMA(target, constructs, items)
