"""Display forms of tables: rounded numbers, labels in the report's language.

The only rounding of the exports (HTML, Markdown, LaTeX): ``DIGITS`` decimals, integers as
integers, NaN as an empty cell. With ``lang="zh"`` column headers come from the glossary,
construct names become the spec's Chinese labels, words such as 'reflective' or 'direct' are
translated, and item tables gain the item's wording from the spec.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from csi_models.report.glossary import ZH, term, translate_columns

DIGITS = 3
CONSTRUCT_COLUMNS = ("construct", "construct_1", "construct_2", "source", "target")
WORD_COLUMNS = ("mode", "effect", "status", "kind", "section")


def number(value, digits: int = DIGITS) -> str:
    """A cell as text: '' for missing, integers without decimals, floats rounded."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "" if math.isnan(value) else str(value)
        return f"{value:.{digits}f}"
    return "" if value is pd.NA else str(value)


def _spec_for(spec, row_model=None):
    if isinstance(spec, dict):
        return spec.get(row_model) if row_model is not None else None
    return spec


def display_table(table, lang: str = "en", spec=None, digits: int = DIGITS) -> pd.DataFrame:
    """A copy of ``table`` as strings, ready to show (see the module docstring)."""
    if isinstance(table, pd.Series):
        name = table.name if isinstance(table.name, str) else "value"
        table = table.rename_axis(table.index.name or "measure").reset_index(name=name)
    table = table.copy()
    one_spec = _spec_for(spec)
    if lang == "zh" and one_spec is not None:
        for col in CONSTRUCT_COLUMNS:
            if col in table:
                table[col] = [one_spec.label(c, "zh") if isinstance(c, str) else c
                              for c in table[col]]
        if "item" in table and "wording" not in table:
            wording = {i.name: i.label.get("zh") or i.label.get("en") or ""
                       for i in one_spec.items}
            table.insert(list(table.columns).index("item") + 1, "wording",
                         [wording.get(i, "") for i in table["item"]])
    elif one_spec is not None and "item" in table and "wording" not in table:
        wording = {i.name: i.label.get("en") or "" for i in one_spec.items}
        if any(wording.values()):
            table.insert(list(table.columns).index("item") + 1, "wording",
                         [wording.get(i, "") for i in table["item"]])
    if lang == "zh":
        for col in WORD_COLUMNS:
            if col in table:
                table[col] = [ZH.get(v, v) if isinstance(v, str) else v for v in table[col]]
    out = pd.DataFrame({col: [number(v, digits) for v in table[col]] for col in table.columns},
                       columns=list(table.columns))
    return translate_columns(out, lang) if lang == "zh" else out.rename(
        columns={c: term(c, "en") for c in out.columns if isinstance(c, str)})
