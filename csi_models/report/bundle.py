"""What every export writes: a Bundle of tables, settings, warnings, status and the spec.

The writers (``report.html``, ``report.excel``, ``report.json_io``, ``report.publication``)
only see a Bundle, so a FitResult, a Comparison and a result read back from JSON export the
same way. Tables hold unrounded numbers; only the writers' display rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from csi_models.report.glossary import check_lang, term

__all__ = ["Bundle", "bundle_of", "FIT_TABLES", "COMPARISON_TABLES"]

#: FitResult tables in report order (those a result lacks are left out)
FIT_TABLES = ("paths", "r2_table", "indices", "impacts", "effects", "loadings", "weights",
              "quality", "htmt", "vif", "inner_vif", "f2", "fit_indices")
COMPARISON_TABLES = ("status", "wide", "tests", "table")


@dataclass
class Bundle:
    """kind ('fit' or 'comparison'), title {lang: text}, tables {name: DataFrame or Series},
    settings (dict; for a comparison {label: settings}), warnings, status (facts such as
    method, n and convergence), spec (a ModelSpec, or {label: ModelSpec} for a comparison)."""

    kind: str
    title: dict
    tables: dict
    settings: dict
    warnings: list = field(default_factory=list)
    status: dict = field(default_factory=dict)
    spec: object = None
    source: object = None  # the object the bundle was made from (for its diagram)

    def warning_lines(self, lang: str = "en") -> list[str]:
        """The warnings as shown in ``lang`` (Chinese forms from report.messages_zh)."""
        if lang != "zh":
            return list(self.warnings)
        from csi_models.report.messages_zh import warning_zh

        spec = self.spec if hasattr(self.spec, "constructs") else None
        labels = {} if spec is None else {c: spec.label(c, "zh") for c in spec.construct_names}
        return [warning_zh(w, labels) for w in self.warnings]

    def heading(self, lang: str) -> str:
        return self.title.get(lang) or self.title.get("en") or ""

    def status_lines(self, lang: str = "en") -> list[str]:
        """Method, sample size and convergence, in ``lang``."""
        s, lines = self.status, []
        sep = "：" if lang == "zh" else ": "
        if "method" in s:
            method = ("PLS path modelling" if s["method"] == "pls"
                      else "CB-SEM (maximum likelihood)")
            lines.append(f"{term('method', lang)}{sep}{term(method, lang)}")
        if s.get("n") is not None:
            lines.append(f"{term('n', lang)}{sep}{s['n']}")
        if "converged" in s:
            lines.append(f"{term('status', lang)}{sep}"
                         f"{term('converged' if s['converged'] else 'NOT converged', lang)}")
        if "fitted" in s:
            lines.append(f"{term('status', lang)}{sep}{s['fitted']} / {s['total']} "
                         f"{'个模型或组别已估计' if lang == 'zh' else 'fitted'}")
        return lines

    def diagram_svg(self, lang: str = "en") -> str | None:
        """The path diagram of the source (a result, a comparison or a spec) as SVG text."""
        from csi_models.report.diagram import diagram_of
        from csi_models.report.panel import combine_svg

        src = self.source
        if self.kind == "comparison" and src is not None:
            labels = list(src.results)
            if not labels:
                return None
            return combine_svg([diagram_of(src.results[k], lang) for k in labels], labels)
        if isinstance(self.spec, dict):
            labels = list(self.spec)
            return combine_svg([diagram_of(self.spec[k], lang) for k in labels], labels) \
                if labels else None
        target = src if src is not None else self.spec
        return None if target is None else diagram_of(target, lang).svg


def bundle_of(obj) -> Bundle:
    """The Bundle of a FitResult, a Comparison or a stored result (``read_result``)."""
    if isinstance(obj, Bundle):
        return obj
    if hasattr(obj, "bundle") and isinstance(obj.bundle, Bundle):
        return obj.bundle
    if hasattr(obj, "results") and hasattr(obj, "status"):
        return _comparison_bundle(obj)
    if hasattr(obj, "estimates") and hasattr(obj, "spec"):
        return _fit_bundle(obj)
    from csi_models.errors import CSIError

    raise CSIError(f"cannot export a {type(obj).__name__}: give a FitResult, a Comparison or a "
                   "result read back with csi.read_result")


def _tidy(table):
    """A table with a meaningful index (e.g. construct) turned into a column."""
    if isinstance(table, pd.DataFrame) and not isinstance(table.index, pd.RangeIndex):
        return table.reset_index()
    return table


def _fit_bundle(res) -> Bundle:
    tables = {}
    for name in FIT_TABLES:
        try:
            table = getattr(res, name)
        except AttributeError:
            continue
        if table is None or len(table) == 0:
            continue
        tables[name] = _tidy(table)
    spec = res.spec
    title = {lang: spec.title.get(lang) or spec.title.get("en") or spec.name for lang in ("en", "zh")}
    status = {"method": res.method, "n": int(res.n), "converged": bool(res.converged),
              "model": spec.name}
    return Bundle("fit", title, tables, dict(res.settings), list(res.warnings), status, spec, res)


def _comparison_bundle(cmp) -> Bundle:
    micom = {} if cmp.micom is None else {"micom": cmp.micom.invariance.copy()}
    tables = {"status": cmp.status.copy(), "wide": cmp.wide().reset_index(), **micom,
              "tests": cmp.tests.copy(), "table": cmp.table.copy()}
    tables = {k: v for k, v in tables.items() if len(v)}
    warnings = list(cmp.notes)
    for label, res in cmp.results.items():
        warnings += [f"{label}: {w}" for w in res.warnings]
    for row in cmp.status.itertuples():
        if row.status != "ok":
            warnings.append(f"{getattr(row, cmp.by)}: {row.status}: {row.message}")
    names = list(cmp.status[cmp.by].astype(str))
    title = {"en": f"Comparison by {cmp.by}: {', '.join(names)}",
             "zh": f"模型比较（按{term(cmp.by, 'zh')}）：{'、'.join(names)}"}
    status = {"fitted": int((cmp.status.status == "ok").sum()), "total": len(cmp.status),
              "by": cmp.by}
    settings = {label: dict(res.settings) for label, res in cmp.results.items()}
    specs = {label: res.spec for label, res in cmp.results.items()}
    return Bundle("comparison", title, tables, settings, warnings, status, specs, cmp)


def settings_rows(settings: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(setting, value) rows of a nested settings dict; nested keys joined by '.'."""
    rows = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += settings_rows(value, prefix=f"{name}.")
        elif isinstance(value, (list, tuple)):
            rows.append((name, ", ".join(map(str, value))))
        else:
            rows.append((name, str(value)))
    return rows


def settings_table(settings: dict, lang: str = "en", spec=None) -> pd.DataFrame:
    """The settings as a two-column table (setting, value); labels in ``lang`` (construct
    names, e.g. under ``modes``, as the spec's labels)."""
    check_lang(lang)
    one = spec if hasattr(spec, "label") else None

    def name(part):
        if lang == "zh" and one is not None and part in one.construct_names:
            return one.label(part, "zh")
        return term(part, lang)

    rows = [(".".join(name(part) for part in key.split(".")), value)
            for key, value in settings_rows(settings)]
    return pd.DataFrame(rows, columns=[term("setting", lang), term("value", lang)])
