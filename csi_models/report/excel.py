"""Excel export: one sheet per table (unrounded numbers), a settings sheet and a warnings
sheet. Numbers are not rounded: openpyxl writes 16 significant digits (Excel itself keeps 15),
so a value read back agrees to about 1e-16 relative. English sheet names are the table names (``paths``, ``indices``, ...), so
``pd.read_excel(path, sheet_name="paths")`` gives back ``res.paths``; with ``lang="zh"`` the
sheets and column headers carry the glossary's Chinese terms.
"""

from __future__ import annotations

import re

import pandas as pd

from csi_models.report.bundle import bundle_of, settings_rows
from csi_models.report.glossary import check_lang, table_title, term, translate_columns

__all__ = ["write_excel", "sheet_names"]


def sheet_names(names, lang: str = "en") -> dict:
    """{table name: sheet name}: at most 31 characters, no []:*?/\\, unique."""
    out, used = {}, set()
    for name in names:
        base = re.sub(r"[\[\]:*?/\\]", "_", name if lang == "en" else table_title(name, "zh"))[:31]
        sheet, k = base, 2
        while sheet.lower() in used:
            sheet = f"{base[:28]}_{k}"
            k += 1
        used.add(sheet.lower())
        out[name] = sheet
    return out


def write_excel(obj, path, lang: str = "en", overwrite: bool = False):
    """Write every table of a FitResult, Comparison or stored result to an .xlsx file."""
    from csi_models.report.files import write_atomic

    check_lang(lang)
    b = bundle_of(obj)
    tables = {name: (t.rename_axis(t.index.name or "measure").reset_index()
                     if isinstance(t, pd.Series) else t) for name, t in b.tables.items()}
    tables["settings"] = pd.DataFrame(settings_rows(b.settings), columns=["setting", "value"])
    tables["warnings"] = pd.DataFrame({"warning": b.warning_lines(lang)}, dtype=object)
    sheets = sheet_names(tables, lang)

    def write(out):
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            for name, table in tables.items():
                shown = translate_columns(table, lang) if lang == "zh" else table
                if name == "settings" and lang == "zh":
                    shown = shown.assign(**{term("setting", "zh"): [
                        ".".join(term(p, "zh") for p in s.split(".")) for s in table["setting"]]})
                shown.to_excel(writer, sheet_name=sheets[name], index=False)

    return write_atomic(path, write, overwrite)
