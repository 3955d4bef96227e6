"""The FitResult tables read straight off the engine's estimates, and their cache.

``FitResult`` (``result.py``) is about the long table of every estimate and its views
(``paths``, ``indices``, ``effects``, ...), built from the kernel's derived statistics and
their inference. The tables here need none of that: they come from the engine's
``Estimates`` and the data alone (items and respondents, measurement quality, model fit), so
they live in a mixin of their own. ``cached_table`` is the descriptor every FitResult table
uses: computed once, handed out as a copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.statistics import indices as idx
from csi_models.statistics import quality as q
from csi_models.statistics.moments import full_moments


class cached_table:
    """A lazily computed, cached table that is handed out as a fresh copy on every access, so
    a caller who edits what they got (``res.item_stats["mean"] /= 10``) changes neither the
    result nor any table derived from it later."""

    def __init__(self, func):
        self.func = func
        self.__doc__ = func.__doc__
        self.key = "_table_" + func.__name__

    def __set_name__(self, owner, name):
        self.key = "_table_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        cache = obj.__dict__
        if self.key not in cache:
            cache[self.key] = self.func(obj)
        return cache[self.key].copy()


class EstimateTables:
    """FitResult's tables from the estimates and the data: construct and item correlations,
    cross-loadings, item statistics, scores, and measurement quality and fit. A mixin: the
    class using it provides ``spec``, ``data``, ``estimates``, ``options``, ``statistics``,
    ``_layout`` and ``_engine`` (as ``FitResult`` does)."""

    @cached_table
    def construct_correlations(self) -> pd.DataFrame:
        """Construct correlations (PLS: of the scores; CB-SEM: model-implied, latent)."""
        names = list(self._layout.constructs)
        return pd.DataFrame(self.estimates.construct_cor, index=names, columns=names)

    # --- per item and per respondent ---------------------------------------------------------
    @cached_table
    def cross_loadings(self) -> pd.DataFrame:
        """Correlations of every item with every construct (items x constructs)."""
        lay = self._layout
        table = pd.DataFrame(self.estimates.cross_loadings, index=list(lay.items),
                             columns=list(lay.constructs))
        table.index.name = "item"
        return table

    @cached_table
    def item_stats(self) -> pd.DataFrame:
        """item, mean and standard deviation (n - 1) of each item on its original scale, after
        missing codes and reverse coding, over the rows used (with FIML: over the rows that
        answered the item; the index then uses the model's means, see ``indices``). With
        respondent weights: weighted, as the moments that enter the index."""
        values = self.data.values
        if getattr(self.data, "weights", None) is not None:
            _, mean, sd = full_moments(values.to_numpy(float), self.data.weights)
            return pd.DataFrame({"item": list(values.columns), "mean": mean[0], "sd": sd[0]})
        return pd.DataFrame({"item": list(values.columns), "mean": values.mean().to_numpy(),
                             "sd": values.std(ddof=1).to_numpy()})

    @cached_table
    def item_correlations(self) -> pd.DataFrame:
        """Sample correlations of the items used (pairwise-complete with FIML data)."""
        items = list(self._layout.items)
        return pd.DataFrame(self.estimates.item_cor, index=items, columns=items)

    @cached_table
    def scores(self) -> pd.DataFrame:
        """Construct scores, one row per respondent used: items z-scored with the index's
        means and sds (``Estimates.item_mean``/``item_sd``) times the weights. With complete
        data they have mean 0 and variance 1. With FIML (CB-SEM) the items are z-scored with
        the model's means and implied sds, so the scores have mean 0 and variance 1 under the
        model; a respondent missing an item of a construct has no score for it."""
        lay, est = self._layout, self.estimates
        values = self.data.values[list(lay.items)].to_numpy(float)
        z = (values - est.item_mean) / est.item_sd
        scores = np.nan_to_num(z) @ (lay.membership * est.weights[:, None])
        scores[(np.isnan(z) @ lay.membership) > 0] = np.nan
        return pd.DataFrame(scores, index=self.data.values.index, columns=list(lay.constructs))

    @cached_table
    def scores_100(self) -> pd.DataFrame:
        """Per-respondent construct scores on the 0-100 scale (the index formula with each
        respondent's answers). With complete data their mean is the index; with FIML a
        respondent missing an item of a construct has no score for it."""
        lay, est = self._layout, self.estimates
        values = self.data.values[list(lay.items)].to_numpy(float)
        negative = (est.weights < 0) @ lay.membership > 0
        scores = idx.respondent_scores_100(values, est.weights, est.item_sd, self.statistics.lo,
                                           self.statistics.hi, lay.membership, negative)
        return pd.DataFrame(scores, index=self.data.values.index, columns=list(lay.constructs))

    # --- measurement quality and fit ---------------------------------------------------------
    @cached_table
    def quality(self) -> pd.DataFrame:
        """Reliability and convergent validity per construct: construct, n_items, mode, alpha,
        rho_a, rho_c, ave (definitions and references in ``statistics.quality``; rho_A,
        rho_C and AVE are the engine's)."""
        lay, est = self._layout, self.estimates
        rho_a, rho_c, ave = self._engine.reliability(est)
        return pd.DataFrame({
            "construct": list(lay.constructs), "n_items": lay.membership.sum(axis=0).astype(int),
            "mode": ["formative" if f else "reflective" for f in lay.formative],
            "alpha": q.cronbach_alpha(est.item_cor, lay), "rho_a": rho_a, "rho_c": rho_c,
            "ave": ave})

    @cached_table
    def fornell_larcker(self) -> pd.DataFrame:
        """Fornell-Larcker table: sqrt(AVE) on the diagonal, construct correlations below."""
        return q.fornell_larcker(self.quality["ave"].to_numpy(), self.estimates.construct_cor,
                                 self._layout.constructs)

    @cached_table
    def vif(self) -> pd.DataFrame:
        """Item VIFs within each block: construct, item, mode, vif (the usual check for
        formative blocks; reflective blocks are listed too)."""
        lay = self._layout
        return pd.DataFrame({
            "construct": [lay.constructs[j] for j in lay.block], "item": list(lay.items),
            "mode": ["formative" if lay.formative[j] else "reflective" for j in lay.block],
            "vif": q.item_vif(self.estimates.item_cor, lay)})

    def _path_table(self, rows, column: str) -> pd.DataFrame:
        """source, target, ``column`` from (i, j, value) rows, in the spec's path order."""
        names = self._layout.constructs
        table = pd.DataFrame([(names[i], names[j], v) for i, j, v in rows],
                             columns=["source", "target", column])
        order = {p: k for k, p in enumerate(self.spec.paths)}
        key = [order[(s, t)] for s, t in zip(table.source, table.target)]
        return table.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)

    @cached_table
    def inner_vif(self) -> pd.DataFrame:
        """VIF of each predecessor of each endogenous construct: source, target, vif."""
        return self._path_table(q.inner_vif(self.estimates.construct_cor, self._layout), "vif")

    @cached_table
    def f2(self) -> pd.DataFrame:
        """Cohen's f² of every path: source, target, f2 (PLS: re-estimated without the path,
        as seminr; CB-SEM: from the implied latent correlations)."""
        return self._path_table(self._engine.f_squared(self.estimates, self.options), "f2")

    @cached_table
    def fit_indices(self) -> pd.Series:
        """Model fit. CB-SEM: lavaan's fitMeasures names and definitions (chisq, df, pvalue,
        cfi, tli, rmsea, rmsea.ci.lower/upper, rmsea.pvalue, srmr, logl, aic, bic, bic2, ...);
        PLS: srmr, d_uls, d_g (estimated and saturated model) and gof."""
        return self._engine.fit_measures(self.data, self.estimates)
