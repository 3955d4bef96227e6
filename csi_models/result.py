"""FitResult: one fitted model, its numbers labelled as tables; no numerics of its own.

``csi.fit`` builds it once and complete: the engine's ``Estimates``, the kernel's derived
statistics (``point``), the bootstrap, the typed engine options, the settings and the
warnings. ``table`` is one long table of every estimate (lavaan's parameter-table idea);
``paths``, ``loadings``, ``weights``, ``r2_table``, ``indices``, ``effects`` and ``impacts``
are views of it. Every estimate table speaks one vocabulary (README, "Table vocabulary"):
keys (``construct``, ``item``, ``source``/``target``), ``estimate`` (standardized),
``se``, ``statistic``, ``p_value``, ``ci_lower``, ``ci_upper``, ``n_boot`` (NaN when not
computed); CB-SEM adds ``unstandardized`` and ``unstandardized_se``. Tables hold unrounded
numbers and are handed out as copies; only ``csi_models.report`` rounds. The tables
read straight off the estimates (items, scores, quality, fit) are in ``result_tables``.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from csi_models.report.export import Exportable
from csi_models.result_tables import EstimateTables, cached_table
from csi_models.statistics.kernel import INFERENCE

UNSTANDARDIZED = ["unstandardized", "unstandardized_se"]
#: the long table's kinds: (kind of derived statistic, key columns)
KINDS = {"path": ("paths", ["source", "target"]), "loading": ("loadings", ["construct", "item"]),
         "weight": ("weights", ["construct", "item"]), "r2": ("r2", ["construct"]),
         "index": ("indices", ["construct"]), "effect": (None, ["source", "target", "effect"]),
         "impact": ("impacts", ["source", "target"])}
TABLE_COLUMNS = ["kind", "source", "target", "construct", "item", "effect", "estimate",
                 "estimate_100", *INFERENCE, *UNSTANDARDIZED]


class FitResult(EstimateTables, Exportable):
    """A fitted CSI model: ``paths``, ``r2``, ``loadings``, ``weights``, ``indices``,
    ``effects``, ``impacts``, ``quality``, ``fit_indices``, ``scores``, ``summary()``.

    The same attributes exist for every engine (``method``: 'pls' or 'cbsem'); CB-SEM adds
    ``parameters`` (its lavaan-style parameter table). ``settings`` records how the numbers
    were made, ``warnings`` what went wrong (also issued as warning classes at fit time),
    ``options`` the engine's validated options. Reports (``plot``, ``to_html``, ``to_excel``,
    ``to_json``, ``to_markdown``, ``to_latex``, ``save``) come from ``report.export``.
    """

    def __init__(self, spec, data, estimates, options: dict, settings: dict, warnings: list[str],
                 statistics, point: dict, index_notes: list[str], bootstrap=None):
        self.spec = spec
        self.data = data
        self.estimates = estimates
        self.options = dict(options)
        self.settings = settings
        self.warnings = list(warnings)
        self.statistics = statistics     # statistics.kernel.Statistics: labels of the numbers
        self.point = point               # kind -> (1, k) derived statistics of the full sample
        self.index_notes = list(index_notes)
        self.bootstrap = bootstrap       # inference.bootstrap.BootstrapResult, or None

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

    @property
    def _engine(self):
        from csi_models.engines.base import get_engine

        return get_engine(self.method)

    # --- the long table and its views ------------------------------------------------------
    def _inference(self, kind: str) -> pd.DataFrame:
        """Keys, estimate and the inference columns of one derived kind: from the bootstrap
        when one ran, else for CB-SEM the delta method (indices, effects and impacts here,
        paths and loadings in ``_unstandardized``), else NaN."""
        if self.bootstrap is not None and kind in self.bootstrap.kinds:
            return self.bootstrap.table(kind).drop(columns="mean")
        table = self.statistics.keys(kind)
        table["estimate"] = self.point[kind][0]
        for column in INFERENCE:
            table[column] = np.nan
        if self.bootstrap is None and kind in self._delta:
            from csi_models.engines.delta import wald

            for column, values in wald(table["estimate"], self._delta[kind][1]).items():
                table[column] = values
        return table

    @functools.cached_property
    def _delta(self) -> dict:
        """CB-SEM without bootstrap: delta-method (estimate, se) of the indices, effects and
        impacts (``engines.cbsem_delta.derived_inference``); {} otherwise."""
        if self.bootstrap is not None or self.estimates.parameters is None:
            return {}
        from csi_models.engines.cbsem_delta import derived_inference

        return derived_inference(self.spec, self.data, self.estimates, self.statistics)

    def _unstandardized(self, table: pd.DataFrame, op: str, keys: list[str]) -> pd.DataFrame:
        """CB-SEM: the unstandardized estimate and its SE beside the standardized one; with
        no bootstrap also the delta-method se, statistic, p_value and interval of the
        standardized estimate (lavaan's ``standardizedSolution()``)."""
        params = self.estimates.parameters
        if params is None:
            return table
        rows = params[params.op == op].rename(columns={"lhs": keys[0], "rhs": keys[1]})
        if op == "~":   # lavaan writes a regression target ~ source
            rows = rows.rename(columns={keys[0]: keys[1], keys[1]: keys[0]})
        rows = table[keys].merge(rows, on=keys, how="left")
        table["unstandardized"] = rows["est"].to_numpy(float)
        table["unstandardized_se"] = rows["se"].to_numpy(float)
        if self.bootstrap is None and "std_all_se" in rows:
            from csi_models.engines.delta import wald

            se = rows["std_all_se"].to_numpy(float)
            for column, values in wald(table["estimate"], se).items():
                table[column] = values
        return table

    @cached_table
    def table(self) -> pd.DataFrame:
        """Every estimate in one long table, one row per parameter: kind ('path', 'loading',
        'weight', 'r2', 'index', 'effect', 'impact'), its keys (source, target, construct,
        item, effect = 'direct' | 'indirect' | 'total'), estimate, estimate_100 (effects on
        the 0-100 metric), se, statistic, p_value, ci_lower, ci_upper, n_boot, and for CB-SEM
        paths and loadings unstandardized and unstandardized_se."""
        parts = []
        for kind, (derived, keys) in KINDS.items():
            if kind == "effect":
                for effect in ("direct", "indirect", "total"):
                    part = self._inference(effect)
                    part.insert(2, "effect", effect)
                    part["estimate_100"] = self.point[f"{effect}_100"][0]
                    parts.append(part.assign(kind=kind))
                continue
            part = self._inference(derived)
            if kind == "path":
                part = self._unstandardized(part, "~", keys)
            elif kind == "loading":
                part = self._unstandardized(part, "=~", keys)
            parts.append(part.assign(kind=kind))
        table = pd.concat(parts, ignore_index=True)
        return table.reindex(columns=TABLE_COLUMNS)

    def _view(self, kind: str, keys: list[str], extra=()) -> pd.DataFrame:
        table = self.table
        table = table[table.kind == kind].reset_index(drop=True)
        columns = [*keys, "estimate", *extra, *INFERENCE]
        if self.estimates.parameters is not None and kind in ("path", "loading"):
            columns += UNSTANDARDIZED
        return table[columns]

    @cached_table
    def paths(self) -> pd.DataFrame:
        """One row per structural path, in the spec's order: source, target, estimate
        (standardized), se, statistic, p_value, ci_lower, ci_upper, n_boot; CB-SEM adds the
        unstandardized estimate and its se."""
        return self._view("path", ["source", "target"])

    @cached_table
    def loadings(self) -> pd.DataFrame:
        """Standardized loadings: construct, item, estimate and the inference columns; CB-SEM
        adds the unstandardized loading and its se."""
        return self._view("loading", ["construct", "item"])

    @cached_table
    def weights(self) -> pd.DataFrame:
        """Standardized outer weights (PLS) or own-block factor-score weights (CB-SEM, raw
        Sigma_jj^-1 lambda_j put on standardized items): applied to items z-scored with the
        index's moments they give construct scores of variance 1 in the sample (PLS; CB-SEM
        with complete data) or under the model (CB-SEM with FIML; see ``scores``)."""
        return self._view("weight", ["construct", "item"])

    @cached_table
    def r2(self) -> pd.Series:
        """R² of each endogenous construct (a Series by construct)."""
        table = self._view("r2", ["construct"])
        return pd.Series(table.estimate.to_numpy(), index=list(table.construct), name="r2")

    @cached_table
    def r2_table(self) -> pd.DataFrame:
        """construct, estimate (R²), r2_adjusted = 1 - (1 - R²)(n - 1)/(n - k - 1) with k
        predictors, and the inference columns of R² (no test against 0: p_value NaN)."""
        table = self._view("r2", ["construct"])
        k = np.array([len(self.spec.predecessors(c)) for c in table.construct])
        table.insert(2, "r2_adjusted", 1 - (1 - table.estimate) * (self.n - 1) / (self.n - k - 1))
        table["statistic"], table["p_value"] = np.nan, np.nan
        return table

    @cached_table
    def indices(self) -> pd.DataFrame:
        """ACSI 0-100 index of each construct (``statistics.indices``): construct, estimate,
        the inference columns (bootstrap; else CB-SEM's delta method, else NaN; p_value NaN:
        an index is not tested against 0) and note (why an index is not defined, e.g. a negative weight). n_boot:
        the resamples in which the index was defined (0 when the full-sample index is not)."""
        table = self._view("index", ["construct"])
        table["statistic"], table["p_value"] = np.nan, np.nan
        table["note"] = self.index_notes
        return table

    @cached_table
    def effects(self) -> pd.DataFrame:
        """Direct, indirect and total effects of every construct on every construct it reaches,
        long: source, target, effect ('direct' | 'indirect' | 'total'), estimate
        (standardized), estimate_100 (index points of the target per index point of the
        source) and the inference columns of the standardized effect."""
        return self._view("effect", ["source", "target", "effect"], extra=["estimate_100"])

    @cached_table
    def impacts(self) -> pd.DataFrame:
        """ACSI impacts: source, target, estimate (change of the target's index for a 5-point
        rise of the source's index: 5 x the total effect on the 0-100 metric) and the
        inference columns (bootstrap; else CB-SEM's delta method, else NaN)."""
        return self._view("impact", ["source", "target"])

    @cached_table
    def htmt(self) -> pd.DataFrame:
        """Heterotrait-monotrait ratios, one row per construct pair: construct_1,
        construct_2, estimate (from the sample item correlations, both engines) and the
        inference columns (bootstrap intervals over the resamples used; p_value NaN)."""
        table = self._inference("htmt")
        table["statistic"], table["p_value"] = np.nan, np.nan
        return table

    # --- analyses of the fitted model ----------------------------------------------------------
    def indirect_effect(self, chain) -> pd.DataFrame:
        """The specific indirect effect through ``chain`` (e.g. ['Expectation', 'Quality',
        'Satisfaction']): one row with the estimate and the inference columns; see
        ``csi_models.analysis.indirect``."""
        from csi_models.analysis.indirect import indirect_effect

        return indirect_effect(self, chain)

    def modification_indices(self) -> pd.DataFrame:
        """CB-SEM: one row per parameter that could be freed (missing paths, cross-loadings,
        residual covariances) in lavaan's notation: lhs, op, rhs, mi, epc, sepc_all, sorted by
        mi (lavaan's ``modindices()``; ``engines.modindices``)."""
        from csi_models.engines.modindices import for_fit

        return for_fit(self.spec, self.data, self.estimates)

    def predict(self, folds: int = 10, repetitions: int = 10, random_state=1,
                technique: str = "direct"):
        """PLSpredict (Shmueli et al. 2016) and CVPAT (Liengaard et al. 2021) of this PLS model
        with its own options: ``.items`` (item, q2_predict, rmse, mae, lm_rmse, lm_mae),
        ``.cvpat``; see ``csi_models.statistics.predict``."""
        from csi_models.errors import CSIError
        from csi_models.statistics.predict import predict

        if not self._engine.ipma:
            raise CSIError("PLSpredict is defined for PLS composite models; refit with "
                           "method='pls'")
        return predict(self.spec, self.data, folds=folds, repetitions=repetitions,
                       random_state=random_state, technique=technique, **self.options)

    def ipma(self, target: str):
        """Importance-performance map for ``target`` (PLS): ``.constructs``, ``.items``,
        ``.plot()``; see ``csi_models.analysis.ipma``."""
        from csi_models.analysis.ipma import ipma

        return ipma(self, target)

    @property
    def parameters(self) -> pd.DataFrame | None:
        """CB-SEM: every parameter in lavaan's notation: lhs, op, rhs, free, est and se
        (unstandardized, as lavaan's ``parameterEstimates``), statistic (est / se), p_value,
        std_all (lavaan's std.all) and, where the engine reports it, std_all_se."""
        table = self.estimates.parameters
        return None if table is None else table.rename(columns={"z": "statistic",
                                                                "pvalue": "p_value"})

    # --- display -----------------------------------------------------------------------------
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
