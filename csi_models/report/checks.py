"""Text and HTML renderings of a data check report (csi.check): problems first, then items."""

from __future__ import annotations

import html

import pandas as pd

ITEM_VIEW = ["item", "construct", "column", "scale", "n_answers", "missing", "n_distinct",
             "min", "max", "mean", "status"]


def _headline(report) -> str:
    n_err, n_warn = len(report.errors), len(report.warnings)
    used = "" if report.n_used is None else f", {report.n_used} usable ({report.missing})"
    verdict = "can be fitted" if report.ok else "cannot be fitted until the errors are fixed"
    return (f"Data check for model {report.spec.name}: {report.n_rows} rows{used}, "
            f"{len(report.spec.item_names)} items - {n_err} error(s), {n_warn} warning(s): "
            f"the data {verdict}")


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


def check_text(report) -> str:
    lines = [_headline(report)]
    for title, table in (("Errors", report.errors), ("Warnings", report.warnings)):
        if len(table):
            lines += ["", f"{title}:"]
            lines += [f"  [{row.check}] {row.message}" for row in table.itertuples()]
    if (report.findings.check == "column").any() and report.data_columns:
        shown = ", ".join(report.data_columns[:30])
        more = f" ... ({len(report.data_columns)} in all)" if len(report.data_columns) > 30 else ""
        lines += ["", f"The data's columns: {shown}{more}"]
    view = _item_view(report)
    if len(view):
        lines += ["", "Items:", view.to_string(index=False)]
    return "\n".join(lines)


def check_html(report) -> str:
    parts = [f"<div><h4>{html.escape(_headline(report))}</h4>"]
    for title, table in (("Errors", report.errors), ("Warnings", report.warnings)):
        if len(table):
            parts.append(f"<h5>{title}</h5><ul>" + "".join(
                f"<li><code>{html.escape(str(r.check))}</code> {html.escape(str(r.message))}</li>"
                for r in table.itertuples()) + "</ul>")
    view = _item_view(report)
    if len(view):
        parts.append("<h5>Items</h5>" + view.to_html(index=False, border=0))
    return "".join(parts) + "</div>"
