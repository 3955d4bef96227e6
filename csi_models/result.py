"""FitResult: one fitted model, with every table derived once from the engine's numbers.

Tables are tidy DataFrames of unrounded numbers with stable column names; only
``csi_models.report`` rounds and formats. Properties are computed lazily and cached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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


class FitResult:
    """A fitted CSI model: ``paths``, ``r2``, ``loadings``, ``weights``, ``scores``, ``summary()``.

    The same attributes exist for both engines (``method`` 'pls' or 'cbsem'); CB-SEM adds
    ``parameters`` (the full lavaan-style table). ``settings`` records how the numbers were
    made, ``warnings`` what went wrong (also issued as warning classes at fit time).
    """

    def __init__(self, spec, data, estimates, settings: dict, warnings: list[str], bootstrap=None):
        self.spec = spec
        self.data = data
        self.estimates = estimates
        self.settings = settings
        self.warnings = list(warnings)
        self.bootstrap = bootstrap   # inference.bootstrap.BootstrapResult, or None

    # --- basic facts ---------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.estimates.method

    @property
    def converged(self) -> bool:
        return self.estimates.converged

    @property
    def n(self) -> int:
        """Respondents used in estimation."""
        return self.data.n

    @property
    def _layout(self):
        return self.estimates.layout

    def _unstandardized(self, op: str) -> pd.DataFrame | None:
        table = self.estimates.parameters
        return None if table is None else table[table.op == op].copy()

    # --- structural model ----------------------------------------------------------------
    @cached_table
    def paths(self) -> pd.DataFrame:
        """One row per structural path: source, target, estimate (standardized); CB-SEM adds
        the unstandardized estimate with its se, z and p_value."""
        P = self.estimates.paths
        table = self._path_table([(i, j, P[i, j]) for i, j in zip(*np.nonzero(self._layout.adjacency))],
                                 "estimate")
        regressions = self._unstandardized("~")
        if regressions is not None:
            extra = regressions.rename(columns={"lhs": "target", "rhs": "source", "est": "unstandardized",
                                                "pvalue": "p_value"})
            table = table.merge(extra[["source", "target", "unstandardized", "se", "z", "p_value"]],
                                on=["source", "target"], how="left")
        return self._with_bootstrap(table, "paths")

    def _with_bootstrap(self, table: pd.DataFrame, kind: str) -> pd.DataFrame:
        """Bootstrap columns of the standardized estimate: PLS adds se, t, p_value, ci_lower,
        ci_upper; CB-SEM (whose se/z/p_value are the analytic ones of the unstandardized
        estimate) adds boot_se, ci_lower, ci_upper."""
        if self.bootstrap is None:
            return table
        if self.method == "pls":
            return self.bootstrap.attach(table, kind, ("se", "t", "p_value", "ci_lower", "ci_upper"))
        return self.bootstrap.attach(table, kind, ("se", "ci_lower", "ci_upper"), rename={"se": "boot_se"})

    @cached_table
    def r2(self) -> pd.Series:
        """R^2 of each endogenous construct."""
        lay = self._layout
        endo = lay.endogenous
        return pd.Series(self.estimates.r2[endo], index=[lay.constructs[j] for j in endo], name="r2")

    @cached_table
    def r2_adjusted(self) -> pd.Series:
        """Adjusted R^2 = 1 - (1 - R^2)(n - 1)/(n - k - 1), k = number of predictors."""
        k = pd.Series({c: len(self.spec.predecessors(c)) for c in self.r2.index})
        return (1 - (1 - self.r2) * (self.n - 1) / (self.n - k - 1)).rename("r2_adjusted")

    @cached_table
    def r2_table(self) -> pd.DataFrame:
        """construct, r2, r2_adjusted of each endogenous construct; with a bootstrap also se,
        ci_lower, ci_upper and n_boot of R^2 (no t or p-value: R^2 is not tested against 0)."""
        r2 = self.r2
        table = pd.DataFrame({"construct": list(r2.index), "r2": r2.to_numpy(),
                              "r2_adjusted": self.r2_adjusted.reindex(r2.index).to_numpy()})
        if self.bootstrap is None:
            return table
        return self.bootstrap.attach(table, "r2", ("se", "ci_lower", "ci_upper", "n_boot"))

    @cached_table
    def construct_correlations(self) -> pd.DataFrame:
        names = list(self._layout.constructs)
        return pd.DataFrame(self.estimates.construct_cor, index=names, columns=names)

    # --- measurement model ---------------------------------------------------------------
    def _per_item(self, values: np.ndarray) -> pd.DataFrame:
        lay = self._layout
        return pd.DataFrame({
            "construct": [lay.constructs[j] for j in lay.block],
            "indicator": list(lay.items),
            "estimate": values,
        })

    @cached_table
    def loadings(self) -> pd.DataFrame:
        """Standardized loadings: construct, indicator, estimate; CB-SEM adds the
        unstandardized loading with its se, z and p_value."""
        table = self._per_item(self.estimates.loadings)
        measurement = self._unstandardized("=~")
        if measurement is not None:
            extra = measurement.rename(columns={"lhs": "construct", "rhs": "indicator",
                                                "est": "unstandardized", "pvalue": "p_value"})
            table = table.merge(extra[["construct", "indicator", "unstandardized", "se", "z",
                                       "p_value"]], on=["construct", "indicator"], how="left")
        return self._with_bootstrap(table, "loadings")

    @cached_table
    def weights(self) -> pd.DataFrame:
        """Standardized outer weights (PLS) or own-block factor-score weights (CB-SEM, raw
        Sigma_jj^-1 lambda_j put on standardized items): applied to items z-scored with the
        index's moments they give construct scores of variance 1 in the sample (PLS; CB-SEM
        with complete data) or under the model (CB-SEM with FIML; see ``scores``)."""
        return self._with_bootstrap(self._per_item(self.estimates.weights), "weights")

    @cached_table
    def cross_loadings(self) -> pd.DataFrame:
        """Correlations of every item with every construct (items x constructs)."""
        lay = self._layout
        return pd.DataFrame(self.estimates.cross_loadings, index=list(lay.items),
                            columns=list(lay.constructs))

    @cached_table
    def item_stats(self) -> pd.DataFrame:
        """Mean and standard deviation (n - 1) of each item on its original scale, after
        missing codes and reverse coding, over the rows used (with FIML: over the rows that
        answered the item; the index then uses the model's means, see ``indices``)."""
        from csi_models.statistics.indices import sample_moments

        return sample_moments(self.data.values)

    @cached_table
    def scores(self) -> pd.DataFrame:
        """Construct scores, one row per respondent used: items z-scored with the index's
        means and sds (``indices.index_moments``) times the weights. With complete data they
        have mean 0 and variance 1. With FIML (CB-SEM) the items are z-scored with the model's
        means and implied sds, so the scores have mean 0 and variance 1 under the model, not
        exactly among the respondents who have one; a respondent missing an item of a
        construct has no score for it."""
        from csi_models.statistics.indices import index_moments

        lay = self._layout
        mean, sd = index_moments(self.data, self.estimates)
        values = self.data.values[list(lay.items)].to_numpy(float)
        z = (values - mean) / sd
        W = lay.membership * self.estimates.weights[:, None]
        scores = np.nan_to_num(z) @ W
        scores[(np.isnan(z) @ lay.membership) > 0] = np.nan
        return pd.DataFrame(scores, index=self.data.values.index, columns=list(lay.constructs))

    # --- indices, effects, impacts (csi_models.statistics.indices) -----------------------------------
    @cached_table
    def indices(self) -> pd.DataFrame:
        """ACSI 0-100 index of each construct: construct, index, se, ci_lower, ci_upper (from
        the bootstrap, else NaN), note (why an index is not defined, e.g. a negative weight);
        with a bootstrap also n_boot, the resamples in which the index was defined (those
        that entered its se and interval; 0 when the full-sample index is undefined)."""
        from csi_models.statistics import indices

        return indices.indices_table(self)

    @cached_table
    def scores_100(self) -> pd.DataFrame:
        """Per-respondent construct scores on the 0-100 scale: index + c_j * score. With
        complete data their mean is the index; with FIML a respondent missing an item of a
        construct has no score for it, and the mean over those who have one is a
        complete-case mean, not the index (which uses the FIML means)."""
        from csi_models.statistics import indices

        return indices.scores_100(self)

    @cached_table
    def effects(self) -> pd.DataFrame:
        """Direct, indirect and total effects of every construct on every construct it reaches:
        standardized and on the 0-100 metric (``*_100``); bootstrap se, t, p_value and
        intervals of the standardized indirect and total effects (``indirect_se``,
        ``indirect_t``, ``indirect_p_value``, ``total_ci_lower``, ...) and n_boot."""
        from csi_models.statistics import indices

        return indices.effects_table(self)

    @cached_table
    def impacts(self) -> pd.DataFrame:
        """ACSI impacts: driver, target, impact (change of the target's index for a 5-point
        rise of the driver's index), se, ci_lower, ci_upper (and n_boot with a bootstrap)."""
        from csi_models.statistics import indices

        return indices.impacts_table(self)

    def ipma(self, target: str):
        """Importance-performance map for ``target`` (PLS): ``.constructs``, ``.indicators``,
        ``.plot()``; see csi_models.statistics.indices.ipma."""
        from csi_models.statistics import indices

        return indices.ipma(self, target)

    @property
    def parameters(self) -> pd.DataFrame | None:
        """CB-SEM: every parameter (lavaan-style lhs, op, rhs, est, se, z, pvalue, std_all)."""
        table = self.estimates.parameters
        return None if table is None else table.copy()

    # --- measurement quality and fit (csi_models.quality, csi_models.fit_indices) --------
    @cached_table
    def item_correlations(self) -> pd.DataFrame:
        """Sample correlations of the items used (pairwise-complete with FIML data)."""
        return self.data.values.corr()

    @cached_table
    def quality(self) -> pd.DataFrame:
        """Reliability and convergent validity per construct: n_items, mode, alpha, rho_a,
        rho_c, ave (definitions and references in ``csi_models.quality``)."""
        from csi_models.statistics import quality as q

        lay, est = self._layout, self.estimates
        S = self.item_correlations.to_numpy()
        if self.method == "pls":
            rho_a = q.rho_a(S, lay, est.weights)
            rho_c, ave = q.rho_c_ave(lay, est.loadings)
        else:
            rho_a, rho_c, ave = q.factor_reliability(lay, est)
        return pd.DataFrame({
            "n_items": lay.membership.sum(axis=0).astype(int),
            "mode": ["formative" if f else "reflective" for f in lay.formative],
            "alpha": q.cronbach_alpha(S, lay), "rho_a": rho_a, "rho_c": rho_c, "ave": ave,
        }, index=pd.Index(list(lay.constructs), name="construct"))

    @cached_table
    def htmt(self) -> pd.DataFrame:
        """Heterotrait-monotrait ratios, one row per construct pair: construct_1,
        construct_2, htmt (from the sample item correlations, for both engines); with a
        bootstrap also ci_lower, ci_upper: the bootstrap's interval (percentile or BCa, at its
        level) over the same resamples (those the fit survived)."""
        from csi_models.statistics import quality as q

        table = q.htmt_table(q.htmt(self.item_correlations.to_numpy(), self._layout),
                             self._layout.constructs)
        if self.bootstrap is None or "htmt" not in self.bootstrap.kinds:
            return table
        return self.bootstrap.attach(table, "htmt", ("ci_lower", "ci_upper"))

    @cached_table
    def fornell_larcker(self) -> pd.DataFrame:
        """Fornell-Larcker table: sqrt(AVE) on the diagonal, construct correlations below."""
        from csi_models.statistics import quality as q

        return q.fornell_larcker(self.quality["ave"].to_numpy(), self.estimates.construct_cor,
                                 self._layout.constructs)

    @cached_table
    def vif(self) -> pd.DataFrame:
        """Item VIFs within each block: construct, indicator, mode, vif (the usual check for
        formative blocks; reflective blocks are listed too)."""
        from csi_models.statistics import quality as q

        lay = self._layout
        table = self._per_item(q.item_vif(self.item_correlations.to_numpy(), lay))
        table.insert(2, "mode", ["formative" if lay.formative[j] else "reflective" for j in lay.block])
        return table.rename(columns={"estimate": "vif"})

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
        from csi_models.statistics import quality as q

        return self._path_table(q.inner_vif(self.estimates.construct_cor, self._layout), "vif")

    @cached_table
    def f2(self) -> pd.DataFrame:
        """Cohen's f² of every path: source, target, f2 (PLS: re-estimated without the path,
        as seminr; CB-SEM: from the implied latent correlations)."""
        from csi_models.statistics import quality as q

        est = self.estimates
        if self.method == "pls":
            s = self.settings
            rows = q.f_squared_pls(self.item_correlations.to_numpy(), self._layout, est.r2,
                                   s["inner_scheme"], s["tolerance"], s["max_iter"])
        else:
            rows = q.f_squared_latent(est.construct_cor, self._layout, est.paths, est.r2)
        return self._path_table(rows, "f2")

    @cached_table
    def fit_indices(self) -> pd.Series:
        """Model fit. CB-SEM: lavaan's fitMeasures names and definitions (chisq, df, pvalue,
        cfi, tli, rmsea, rmsea.ci.lower/upper, rmsea.pvalue, srmr, logl, aic, bic, bic2, ...);
        PLS: srmr, d_uls, d_g (estimated and saturated model) and gof."""
        from csi_models.statistics import fit_measures as fit_indices

        return fit_indices.for_result(self)

    # --- display -------------------------------------------------------------------------
    def summary(self, lang: str = "en") -> str:
        """A plain-text report: convergence and warnings first, then settings and tables."""
        from csi_models.report.summary import text_summary

        return text_summary(self, lang=lang)

    def _repr_html_(self) -> str:
        from csi_models.report.summary import html_summary

        return html_summary(self)

    def __repr__(self) -> str:
        status = "converged" if self.converged else "NOT converged"
        return (f"<FitResult {self.spec.name} by {self.method.upper()}: n={self.n}, "
                f"{len(self.spec.paths)} paths, {status}>")
