"""Text and HTML renderings of a data check report (csi.check): problems first, then items.

``lang="zh"``: the headline, headings and item-table columns in Chinese (glossary), and the
items' Chinese wording from the spec; each finding's detailed message stays as issued.
"""

from __future__ import annotations

import html

import pandas as pd

ITEM_VIEW = ["item", "construct", "column", "scale", "n_answers", "missing", "n_distinct",
             "min", "max", "mean", "status"]


def _headline(report, lang: str = "en") -> str:
    n_err, n_warn = len(report.errors), len(report.warnings)
    if lang == "zh":
        used = "" if report.n_used is None else f"，可用 {report.n_used} 行（{report.missing}）"
        verdict = "可以估计" if report.ok else "须先修正错误才能估计"
        return (f"模型 {report.spec.name} 的数据检查：共 {report.n_rows} 行{used}，"
                f"{len(report.spec.item_names)} 个题项；{n_err} 个错误，{n_warn} 个警告：数据{verdict}")
    used = "" if report.n_used is None else f", {report.n_used} usable ({report.missing})"
    verdict = "can be fitted" if report.ok else "cannot be fitted until the errors are fixed"
    return (f"Data check for model {report.spec.name}: {report.n_rows} rows{used}, "
            f"{len(report.spec.item_names)} items - {n_err} error(s), {n_warn} warning(s): "
            f"the data {verdict}")


def _item_view_lang(report, lang: str) -> pd.DataFrame:
    view = _item_view(report)
    if lang != "zh":
        return view
    from csi_models.report.glossary import translate_columns

    wording = {i.name: i.label.get("zh") or i.label.get("en") or "" for i in report.spec.items}
    view.insert(1, "wording", [wording.get(i, "") for i in view["item"]])
    view["construct"] = [report.spec.label(c, "zh") for c in view["construct"]]
    status = {"ok": "正常", "warning": "警告", "error": "错误"}
    view["status"] = [status.get(v, v) for v in view["status"]]
    return translate_columns(view, "zh")


def _item_view(report) -> pd.DataFrame:
    items = report.items
    if items is None or items.empty:
        return pd.DataFrame(columns=ITEM_VIEW)
    view = items.copy()
    view["scale"] = [("" if pd.isna(lo) else f"{lo:g}..{hi:g}" + ("" if src == "spec" else f" ({src})"))
                     for lo, hi, src in zip(items.scale_min, items.scale_max, items.scale_source)]
    view["missing"] = [("" if pd.isna(s) else f"{s:.1%}") for s in items.share_missing]
    for col in ("min", "max"):
        view[col] = [("" if pd.isna(v) else f"{v:g}") for v in items[col]]
    view["mean"] = [("" if pd.isna(v) else f"{v:.2f}") for v in items["mean"]]
    for col in ("n_answers", "n_distinct"):
        view[col] = [("" if pd.isna(v) else f"{int(v)}") for v in items[col]]
    return view[ITEM_VIEW]


TITLES = {"en": ("Errors", "Warnings", "Items", "The data's columns"),
          "zh": ("错误", "警告", "题项", "数据中的列")}


def check_text(report, lang: str = "en") -> str:
    errors, warns, items, columns = TITLES[lang]
    colon = "：" if lang == "zh" else ":"
    lines = [_headline(report, lang)]
    for title, table in ((errors, report.errors), (warns, report.warnings)):
        if len(table):
            lines += ["", f"{title}{colon}"]
            lines += [f"  [{row.check}] {row.message}" for row in table.itertuples()]
    if (report.findings.check == "column").any() and report.data_columns:
        shown = ", ".join(report.data_columns[:30])
        more = f" ... ({len(report.data_columns)} in all)" if len(report.data_columns) > 30 else ""
        lines += ["", f"{columns}{colon} {shown}{more}"]
    view = _item_view_lang(report, lang)
    if len(view):
        lines += ["", f"{items}{colon}", view.to_string(index=False)]
    return "\n".join(lines)


def check_html(report, lang: str = "en") -> str:
    errors, warns, items, _ = TITLES[lang]
    parts = [f"<div><h4>{html.escape(_headline(report, lang))}</h4>"]
    for title, table in ((errors, report.errors), (warns, report.warnings)):
        if len(table):
            parts.append(f"<h5>{title}</h5><ul>" + "".join(
                f"<li><code>{html.escape(str(r.check))}</code> {html.escape(str(r.message))}</li>"
                for r in table.itertuples()) + "</ul>")
    view = _item_view_lang(report, lang)
    if len(view):
        parts.append(f"<h5>{items}</h5>" + view.to_html(index=False, border=0))
    return "".join(parts) + "</div>"
