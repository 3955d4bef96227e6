"""One self-contained HTML report (opens offline: inline CSS and SVG, no scripts, no links):
title and status, warnings first, the path diagram, every table, the settings.

Text in ``lang`` ('en' or 'zh') from the glossary; numbers rounded for display only.
"""

from __future__ import annotations

import html

from csi_models.report.bundle import bundle_of, settings_table
from csi_models.report.display import display_table
from csi_models.report.glossary import check_lang, table_title, term

__all__ = ["report_html", "write_html"]

CSS = """
body{font-family:'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',
'Helvetica Neue',Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #e4e4e4;text-align:right}
th{background:#f3f5f8}td:first-child,th:first-child{text-align:left}
.warnings li{color:#8a4b00}.diagram svg{max-width:100%;height:auto}
footer{margin-top:2em;color:#777;font-size:.8em}
"""


def _table_html(table) -> str:
    return table.to_html(index=False, border=0, escape=True, na_rep="")


def report_html(obj, lang: str = "en", diagram: bool = True, fragment: bool = False) -> str:
    """The HTML report of a FitResult, a Comparison or a stored result, as text: a whole
    document, or (``fragment=True``, for Jupyter) a ``<div>``."""
    from csi_models import __version__

    check_lang(lang)
    b = bundle_of(obj)
    title = html.escape(b.heading(lang))
    code = "zh-CN" if lang == "zh" else "en"
    head = (f'<!DOCTYPE html>\n<html lang="{code}"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{CSS}</style></head><body>")
    parts = [f'<div class="csi-report" lang="{code}">' if fragment else head,
             f"<h1>{title}</h1>",
             '<ul class="status">' + "".join(f"<li>{html.escape(s)}</li>"
                                             for s in b.status_lines(lang)) + "</ul>",
             f'<section id="warnings" class="warnings"><h2>{table_title("warnings", lang)}</h2>']
    if b.warnings:
        parts.append("<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in b.warning_lines(lang))
                     + "</ul>")
    else:
        parts.append(f"<p>{term('No warnings', lang)}</p>")
    parts.append("</section>")
    svg = b.diagram_svg(lang) if diagram else None
    if svg:
        parts.append(f'<section id="diagram" class="diagram"><h2>{term("Path diagram", lang)}'
                     f"</h2>{svg}</section>")
    for name, table in b.tables.items():
        parts.append(f'<section id="table-{name}"><h2>{html.escape(table_title(name, lang))}</h2>'
                     f"{_table_html(display_table(table, lang, b.spec))}</section>")
    parts.append(f'<section id="settings"><h2>{table_title("settings", lang)}</h2>'
                 f"{_table_html(settings_table(b.settings, lang, b.spec))}</section>")
    parts.append(f"<footer>{term('made with', lang)} csi-models {__version__}</footer>"
                 + ("</div>" if fragment else "</body></html>"))
    return "\n".join(parts)


def write_html(obj, path, lang: str = "en", overwrite: bool = False):
    """Write the HTML report to ``path`` atomically; returns the path."""
    from csi_models.report.files import write_atomic

    return write_atomic(path, report_html(obj, lang), overwrite)
