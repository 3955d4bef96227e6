"""The comparison table: one row per model or group, section, name and value."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.errors import CSIError, CSIWarning
from csi_models.report.export import Exportable



@dataclass
class Comparison(Exportable):
    """Side-by-side results. ``table`` is long (``by``, section, name, value), ``wide()``
    pivots it to one column per model or group; ``tests`` holds the difference tests,
    ``status`` one row per model or group (n, status 'ok' / 'too small' / 'failed',
    converged, message: the reason or the fit's warnings), ``results`` the FitResults;
    ``micom`` (PLS groups) whether the composites are invariant enough for the group
    differences in ``tests`` to be read at all (Henseler, Ringle & Sarstedt 2016)."""

    table: pd.DataFrame
    tests: pd.DataFrame
    status: pd.DataFrame
    results: dict
    by: str = "model"
    notes: list = field(default_factory=list)
    micom: object = None   # comparison.micom.Micom of the groups (PLS), read before the MGA

    def wide(self, sections=None) -> pd.DataFrame:
        """Rows (section, name), sections together in first-seen order and names in first-seen
        order within them, fit measures in the engine's order (``fit_keys``: a measure only
        some fits have, such as chisq.scaled, keeps its place); one column per model or
        group."""
        table = self.table if sections is None else self.table[self.table.section.isin(sections)]
        wide = table.pivot_table(index=["section", "name"], columns=self.by, values="value",
                                 aggfunc="first", dropna=False, sort=False)
        order = table[["section", "name"]].drop_duplicates().reset_index(drop=True)
        rank = {s: k for k, s in enumerate(order.section.drop_duplicates())}
        keys = next((r._engine.fit_keys for r in self.results.values()
                     if hasattr(r, "_engine")), ())
        place = order.name.map({k: i for i, k in enumerate(keys)}).fillna(len(keys))
        within = np.where(order.section == "fit", place, np.arange(len(order)))
        order = order.iloc[np.lexsort((within, order.section.map(rank).to_numpy()))]
        wide = wide.reindex(pd.MultiIndex.from_frame(order))
        labels = [c for c in self.status[self.by] if c in wide.columns]
        return wide[labels]

    def __repr__(self) -> str:
        ok = (self.status.status == "ok").sum()
        return (f"<Comparison of {len(self.status)} {self.by}s ({ok} fitted): "
                f"{len(self.table)} table rows, {len(self.tests)} tests>")

    # --- reports (csi_models.report.export) ------------------------------------------------
    def _repr_html_(self) -> str:
        from csi_models.report.html import report_html; return report_html(self, fragment=True)  # noqa: E702


def with_adjusted(tests: pd.DataFrame, adjust) -> pd.DataFrame:
    """``tests`` with a ``p_adjusted`` column after ``p_value``: Holm or Benjamini-Hochberg
    across every test of the table (all pairs and parameters). adjust='none' (and a table
    without p-values) leaves the table as it is."""
    from csi_models.inference.multiplicity import ADJUST, adjust_p

    if ADJUST[adjust] is None or "p_value" not in tests.columns:
        return tests
    tests = tests.copy()
    tests.insert(tests.columns.get_loc("p_value") + 1, "p_adjusted",
                 adjust_p(tests["p_value"].to_numpy(float), adjust))
    return tests


def result_rows(res) -> list[tuple[str, str, float]]:
    """(section, name, value) rows describing one FitResult for the comparison table."""
    rows = [("sample", "n", float(res.n))]
    rows += [("index", c, float(v)) for c, v in zip(res.indices.construct, res.indices.estimate)]
    rows += [("r2", c, float(v)) for c, v in res.r2.items()]
    rows += [("path", f"{s} -> {t}", float(v)) for s, t, v in
             zip(res.paths.source, res.paths.target, res.paths.estimate)]
    fit = res.fit_indices
    rows += [("fit", k, float(fit[k])) for k in res._engine.fit_keys if k in fit.index]
    return rows


def fit_quietly(spec, data, method, options, random_state=None):
    """Fit one model; returns (result or None, status, message) and never raises a CSIError.
    ``random_state`` is the fit's own (child) seed, used by its bootstrap."""
    from csi_models.fitting import fit

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CSIWarning)  # kept on the result, shown in status
            res = fit(spec, data, method=method, random_state=random_state, **options)
    except CSIError as exc:
        return None, "failed", str(exc)
    return res, "ok", "; ".join(res.warnings)
