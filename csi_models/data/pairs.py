"""Paired answer tables: the input checks shared by Kano (csi_models.kano) and gap analysis
(csi_models.gaps).

Both analyses ask every respondent two questions per item (functional/dysfunctional,
expectation/experience), so both need two tables with the same columns and rows, and both
accept importance as per-item weights or as importance ratings. The rules live here once:
rating cells follow the survey-data rule of ``csi.check`` (numbers, numbers stored as text,
True/False as 1/0, blank = missing), importance is a finite number >= 0, and every problem is
a DataError naming the column, values and rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from csi_models.data.check import rows_text
from csi_models.data.items import cell_number
from csi_models.errors import DataError

__all__ = ["check_pair", "ratings", "importance_values", "values_text"]


def values_text(values) -> str:
    """Distinct cell values, shown with their type (``'5'`` is text, ``5`` a number)."""
    return rows_text(dict.fromkeys(repr(v) for v in values))


def is_number_dtype(dtype) -> bool:
    """Real numbers (not bool, not complex): read with a single ``to_numpy(float)``."""
    return (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            and not pd.api.types.is_complex_dtype(dtype))


def check_pair(first, second, names=("functional", "dysfunctional")) -> pd.DataFrame:
    """Check two answer tables of paired questions; return ``second`` aligned to ``first``.

    Paired questions (Kano's functional/dysfunctional, SERVQUAL's expectation/
    experience) need one column per item, the same columns in both (any order)
    and the same respondents: identical row indexes pair by position, otherwise
    unique row labels pair by label. Anything else is a DataError naming the
    columns or rows that do not pair. Used by :func:`kano` and ``csi.gaps``.
    """
    for name, frame in zip(names, (first, second)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name} must be a pandas DataFrame (one column per item, one "
                            f"row per respondent), got {type(frame).__name__}")
        if isinstance(frame.columns, pd.MultiIndex):
            raise DataError(f"{name} has MultiIndex columns; give each item one column name, e.g."
                            " frame.columns = ['_'.join(map(str, c)) for c in frame.columns]")
        if frame.shape[1] == 0:
            raise DataError(f"{name} has no columns; expected one column per item")
        dup = frame.columns[frame.columns.duplicated()].unique()
        if len(dup):
            raise DataError(f"{name} has duplicated columns {rows_text(dup)}; each item needs "
                            "exactly one column")
    a, b = list(first.columns), list(second.columns)
    if set(a) != set(b):
        only_a = [c for c in a if c not in set(b)]
        only_b = [c for c in b if c not in set(a)]
        raise DataError(f"{names[0]} and {names[1]} must have the same columns: only in "
                        f"{names[0]}: {rows_text(only_a) or 'none'}; only in {names[1]}: "
                        f"{rows_text(only_b) or 'none'}")
    second = second[a]
    fi, di = first.index, second.index
    if fi.equals(di):
        return second
    for name, index in zip(names, (fi, di)):
        dup = index[index.duplicated()].unique()
        if len(dup):
            raise DataError(f"{name} has duplicated row labels {rows_text(dup)}, so its rows "
                            f"cannot be matched to the other table's by label; give each "
                            "respondent one label, or (rows in the same order) call "
                            "reset_index(drop=True) on both tables")
    if len(fi) == len(di) and set(fi) == set(di):
        return second.loc[fi]
    if len(fi) != len(di):
        detail = f"{names[0]} has {len(fi)} rows, {names[1]} has {len(di)}"
    else:
        detail = "row labels differ"
    only_a = [r for r in fi if r not in set(di)]
    only_b = [r for r in di if r not in set(fi)]
    raise DataError(f"{names[0]} and {names[1]} must have the same rows (respondents): "
                    f"{detail}; rows only in {names[0]}: {rows_text(only_a) or 'none'}; rows "
                    f"only in {names[1]}: {rows_text(only_b) or 'none'}")


def ratings(frame: pd.DataFrame, name: str, what: str = "item") -> pd.DataFrame:
    """Float copy of a table of ratings (gap and importance questions).

    ``name`` says what the table is in messages ("expectation ratings"), ``what``
    what a column is ("item").
    The cell rule of the survey data (``csi.check``): numbers and numbers stored
    as text are read, blanks are missing, True/False count as 1/0 (yes/no
    items). Text, complex numbers and infinities are a DataError naming the
    column, the values and the rows.
    """
    out, problems = {}, []
    for col_name in frame.columns:
        col = frame[col_name]
        if is_number_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            num = col.to_numpy(dtype=float, na_value=np.nan)
            bad = np.isinf(num)
        else:
            cells = [cell_number(v) for v in col.to_numpy(dtype=object)]
            bad = np.array([c is None for c in cells], bool)
            num = np.array([np.nan if c is None else c for c in cells], float)
            bad |= np.isinf(num)
        if bad.any():
            problems.append(f"{what} {col_name!r}: values {values_text(col[bad])} in rows "
                            f"{rows_text(col.index[bad])}")
        out[col_name] = num
    if problems:
        raise DataError(f"{name} must be finite numbers (blank = missing); fix or blank "
                        "the cells of " + "; ".join(problems))
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def importance_values(importance, names, what: str = "feature") -> pd.Series:
    """Importance per name: weights (dict/Series keyed by name) or ratings (column means).

    A DataFrame is read as importance ratings (one column per name, extra
    columns ignored) and averaged over its answers; a dict/Series gives one
    weight per name and nothing else. Importance is a finite number >= 0;
    anything else is a DataError. Shared by :func:`kano` and ``csi.gaps``.
    """
    names = list(names)
    if isinstance(importance, Mapping):
        importance = pd.Series(dict(importance), dtype=object)
    if isinstance(importance, pd.DataFrame):
        if isinstance(importance.columns, pd.MultiIndex):
            raise DataError("importance ratings have MultiIndex columns; name each column after "
                            f"its {what}")
        missing = [x for x in names if x not in importance.columns]
        if missing:
            raise DataError(f"importance ratings have no column for {what}s {rows_text(missing)}")
        dup = importance.columns[importance.columns.duplicated()]
        dup = [x for x in names if x in set(dup)]
        if dup:
            raise DataError(f"importance ratings have duplicated columns {rows_text(dup)}")
        table = ratings(importance[names], "importance ratings", what)
        neg = table.lt(0)
        if neg.to_numpy().any():
            raise DataError(f"importance ratings are negative for {what}s "
                            f"{rows_text(table.columns[neg.any()])} in rows "
                            f"{rows_text(table.index[neg.any(axis=1)])}; importance must be >= 0")
        values = table.mean()
        empty = values.index[values.isna()]
        if len(empty):
            raise DataError(f"importance ratings have no answers for {what}s {rows_text(empty)}; "
                            "give them a rating or pass importance as a dict")
        return values
    if not isinstance(importance, pd.Series):
        raise DataError(f"importance must be a DataFrame of ratings (one column per {what}) or "
                        f"one weight per {what} (dict/Series), got {type(importance).__name__}")
    keys = importance.index
    if isinstance(keys, pd.MultiIndex):
        raise DataError(f"importance keys must be single {what} names, not tuples")
    if not keys.is_unique:
        raise DataError(f"importance must give one weight per {what}; given more than once: "
                        f"{rows_text(keys[keys.duplicated()].unique())}")
    missing = [x for x in names if x not in keys]
    unknown = [k for k in keys if k not in set(names)]
    if missing or unknown:
        raise DataError(f"importance must give one weight per {what}; without a weight: "
                        f"{rows_text(missing) or 'none'}; unknown {what}s: "
                        f"{rows_text(unknown) or 'none'}")
    raw = importance.reindex(names)
    cells = [cell_number(v) for v in raw]
    bad = [x for x, c in zip(names, cells) if c is None or not np.isfinite(c)]
    if bad:
        raise DataError(f"importance is missing or not a number for {what}s {rows_text(bad)}: "
                        f"{values_text(raw[bad])}")
    values = pd.Series(cells, index=names, dtype=float)
    neg = values.index[values < 0]
    if len(neg):
        raise DataError(f"importance is negative for {what}s {rows_text(neg)} "
                        f"({rows_text(values[neg])}); importance must be >= 0")
    return values
