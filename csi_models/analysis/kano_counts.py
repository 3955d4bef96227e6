"""Kano analysis from a published table of counts per feature and category.

Course texts and survey reports give Kano results as a table: one row per feature, one column
per category with the number of respondents whose answer pair fell into it (the keyboard
example of seeds/001, table 5-4 "问卷调查数据分析表"). :func:`kano_from_counts` reads such a
table and returns exactly the table :func:`csi_models.analysis.kano.kano` returns for answer
pairs with those counts: shares, category (most frequent of A, O, M, I, R; ties M > O > A > I >
R), Better = (A+O)/(A+O+M+I), Worse = -(O+M)/(A+O+M+I) (Berger et al. 1993) and priority, with
the same warnings (one function, ``classify_counts``, does both).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.analysis.kano import CATEGORIES, Q_SHARE_THRESHOLD, _share, classify_counts
from csi_models.data.check import rows_text
from csi_models.data.items import cell_number
from csi_models.data.pairs import importance_values
from csi_models.errors import DataError

__all__ = ["kano_from_counts", "COUNT_COLUMNS"]

#: Accepted column names for each category (case and surrounding blanks ignored).
COUNT_COLUMNS = {
    "A": ["a", "attractive", "魅力", "魅力属性", "魅力屬性", "魅力型"],
    "O": ["o", "one-dimensional", "one dimensional", "performance", "期望", "期望属性", "期望屬性",
          "期望型", "一维", "一元"],
    "M": ["m", "must-be", "must be", "basic", "必备", "必备属性", "必備", "必備屬性", "必备型"],
    "I": ["i", "indifferent", "无差异", "無差異", "无差异属性", "無差異屬性", "无差异型"],
    "R": ["r", "reverse", "反向", "反向属性", "反向屬性", "厌恶", "厭惡", "厌恶属性", "厭惡屬性"],
    "Q": ["q", "questionable", "可疑", "可疑答案", "可疑结果"],
}
_NAMES = {name: cat for cat, names in COUNT_COLUMNS.items() for name in names}


def _category(column) -> str | None:
    return _NAMES.get(str(column).strip().lower()) if isinstance(column, str) else None


def kano_from_counts(table, importance=None, q_threshold=Q_SHARE_THRESHOLD) -> pd.DataFrame:
    """The :func:`~csi_models.analysis.kano.kano` table from counts per feature and category.

    ``table``: one row per feature (the index names the features), one column per category,
    named A, O, M, I, R, Q or attractive, one-dimensional, must-be, indifferent, reverse,
    questionable, or in Chinese (魅力, 期望, 必备, 无差异, 反向, 可疑; see
    :data:`COUNT_COLUMNS`). A, O, M and I are required; a table without an R or Q column had
    none (counted 0). Counts are whole numbers >= 0 (numbers stored as text are read).
    Optional columns: ``n`` (checked against the sum of the counts) and ``n_missing``
    (respondents without both answers, carried into the result; NaN when not given).
    ``importance`` (dict/Series per feature) and ``q_threshold`` as in ``kano``.
    Tested equal to ``kano`` on the answer pairs behind the counts.
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"kano_from_counts needs a DataFrame of counts (features as rows, "
                        f"categories A, O, M, I, R, Q as columns), got {type(table).__name__}")
    q_threshold = _share(q_threshold)
    found, extra = {}, []
    for col in table.columns:
        cat = _category(col)
        if cat is None and col not in ("n", "n_missing"):
            extra.append(col)
        elif cat is not None:
            if cat in found:
                raise DataError(f"columns {found[cat]!r} and {col!r} both count category {cat}; "
                                "keep one")
            found[cat] = col
    if extra:
        raise DataError(f"kano_from_counts: columns {rows_text(map(repr, extra))} are not Kano "
                        "categories; name the count columns A, O, M, I, R, Q (or attractive, "
                        "one-dimensional, must-be, indifferent, reverse, questionable), plus "
                        "optional n and n_missing")
    absent = [c for c in "AOMI" if c not in found]
    if absent:
        raise DataError(f"kano_from_counts: no count column for categories {rows_text(absent)}; "
                        "A, O, M and I are required (R and Q default to 0)")
    if table.index.duplicated().any():
        raise DataError(f"features {rows_text(table.index[table.index.duplicated()].unique())} "
                        "appear in more than one row; give each feature one row")
    counts = {c: _counts(table[found[c]], c) if c in found else
              pd.Series(0, index=table.index, dtype=np.int64) for c in CATEGORIES}
    out = pd.DataFrame(counts, index=table.index)
    out["n"] = out[list(CATEGORIES)].sum(axis=1)
    if "n" in table.columns:
        given = _counts(table["n"], "n")
        wrong = out.index[given != out["n"]]
        if len(wrong):
            raise DataError(f"column n does not equal the sum of the counts for features "
                            f"{rows_text(wrong)} ({rows_text(given[wrong])} given, "
                            f"{rows_text(out.loc[wrong, 'n'])} counted)")
    out["n_missing"] = (_counts(table["n_missing"], "n_missing") if "n_missing" in table.columns
                        else np.nan)
    out.index.name = "feature"
    imp = importance_values(importance, list(out.index)) if importance is not None else None
    return classify_counts(out, imp, q_threshold, stacklevel=3)


def _counts(col: pd.Series, name: str) -> pd.Series:
    """Whole numbers >= 0 (numbers stored as text are read); a DataError names the features."""
    values = [cell_number(v) for v in col.astype(object)]
    bad = [f for f, v in zip(col.index, values)
           if v is None or not np.isfinite(v) or v < 0 or v != round(v)]
    if bad:
        raise DataError(f"count column {name!r} must hold whole numbers >= 0 (counts of "
                        f"respondents, not shares; multiply shares by n), features "
                        f"{rows_text(bad)} have {rows_text(col[bad].tolist())}")
    return pd.Series(values, index=col.index).astype(np.int64)
