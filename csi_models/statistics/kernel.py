"""The statistics kernel: everything derived from an engine's estimates, for a whole stack.

``Statistics(spec, layout).derive(stack)`` takes a ``engines.base.Resamples`` stack (one fit,
B bootstrap resamples, P permuted groups, G companies) and returns every derived statistic as
an array (stack, statistics): paths in the spec's order, weights, loadings, R² of the
endogenous constructs, 0-100 indices, direct / indirect / total effects (standardized and on
the 0-100 metric), ACSI impacts and HTMT. ``keys(kind)`` labels the columns. The point
estimates of ``csi.fit``, the bootstrap draws, the permutation MGA and batch runs all call
``derive``: nothing else computes these numbers. Formulas: ``statistics.indices`` (indices,
effects, impacts) and ``statistics.quality.htmt``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.statistics import indices as idx
from csi_models.statistics.quality import htmt

#: every kind of derived statistic, in table order
KINDS = ("paths", "weights", "loadings", "r2", "indices", "direct", "indirect", "total",
         "direct_100", "indirect_100", "total_100", "impacts", "htmt")
EFFECTS = ("direct", "indirect", "total")
#: the inference columns every estimate table carries (README, "Table vocabulary")
INFERENCE = ["se", "statistic", "p_value", "ci_lower", "ci_upper", "n_boot"]


class Statistics:
    """The derived statistics of one model: index arrays, and the labels of their columns."""

    def __init__(self, spec, layout):
        self.layout = layout
        c = layout.constructs
        self.lo, self.hi = idx.scale_bounds(spec, layout)
        self.path_pairs = np.array([(c.index(s), c.index(t)) for s, t in spec.paths],
                                   int).reshape(-1, 2)
        self.effect_pairs = np.array(idx.effect_pairs(layout.adjacency), int).reshape(-1, 2)
        self.endogenous = layout.endogenous
        self.htmt_pairs = np.triu_indices(len(c), k=1)

    def keys(self, kind: str) -> pd.DataFrame:
        """The labels of the columns of ``derive(...)[kind]``."""
        c, lay = self.layout.constructs, self.layout
        if kind == "paths":
            return pd.DataFrame([(c[i], c[j]) for i, j in self.path_pairs], columns=["source", "target"])
        if kind in ("impacts", *EFFECTS) or kind.endswith("_100"):
            return pd.DataFrame([(c[i], c[j]) for i, j in self.effect_pairs],
                                columns=["source", "target"])
        if kind in ("weights", "loadings"):
            return pd.DataFrame({"construct": [c[j] for j in lay.block], "item": list(lay.items)})
        if kind == "r2":
            return pd.DataFrame({"construct": [c[j] for j in self.endogenous]})
        if kind == "htmt":
            a, b = self.htmt_pairs
            return pd.DataFrame({"construct_1": [c[i] for i in a], "construct_2": [c[j] for j in b]})
        if kind == "indices":
            return pd.DataFrame({"construct": list(c)})
        raise KeyError(kind)

    def derive(self, stack) -> dict:
        """Every statistic of ``KINDS`` for the stack (first axis: its members)."""
        M = self.layout.membership
        index, scale, _ = idx.index_values(stack.weights, stack.item_mean, stack.item_sd,
                                           self.lo, self.hi, M)
        paths = stack.paths
        total = idx.total_effects(paths)
        effects = {"direct": paths, "indirect": total - paths, "total": total}
        si, ti = self.path_pairs.T
        pi, pj = self.effect_pairs.T
        a, b = self.htmt_pairs
        out = {"paths": paths[:, si, ti], "weights": stack.weights, "loadings": stack.loadings,
               "r2": stack.r2[:, self.endogenous], "indices": index}
        for name, values in effects.items():
            out[name] = values[:, pi, pj]
            out[f"{name}_100"] = idx.rescale_effects(values, scale)[:, pi, pj]
        out["impacts"] = idx.IMPACT_POINTS * out["total_100"]
        out["htmt"] = htmt(stack.item_cor, self.layout)[:, a, b]
        return out
