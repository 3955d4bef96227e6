"""From a survey table to the checked item matrix the engines use.

``prepare`` selects and orders the spec's items, converts them to numbers, applies missing
codes and reverse coding, checks scale bounds, empty and constant items, handles missing
values, and never touches the caller's DataFrame. Every problem is a DataError naming the
item, its column and the offending rows.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.errors import DataError, DataWarning

MISSING_RULES = ("listwise", "mean", "fiml")
NEAR_CONSTANT_SHARE = 0.95  # one answer given by more than this share of respondents


@dataclass(frozen=True)
class SurveyData:
    """Checked survey data: one float column per spec item (named by item), spec order."""

    values: pd.DataFrame
    spec: object
    missing: str = "listwise"
    n_input: int = 0
    dropped_rows: tuple = ()        # labels of rows removed by listwise deletion
    n_missing_cells: int = 0        # cells missing (incl. missing codes) before handling
    reversed_items: tuple = ()
    notes: tuple = field(default=())  # human-readable notes on what was done to the data

    @property
    def n(self) -> int:
        return len(self.values)


def _rows(labels, limit: int = 5) -> str:
    labels = list(labels)
    shown = ", ".join(str(r) for r in labels[:limit])
    return shown + (f" (and {len(labels) - limit} more)" if len(labels) > limit else "")


def _columns(spec, data: pd.DataFrame) -> list[str]:
    """The survey columns of the spec's items, checked to exist exactly once."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"survey data must be a pandas DataFrame or a file path, got "
                        f"{type(data).__name__}")
    names = [str(c) for c in data.columns]
    counts = pd.Series(names).value_counts()
    wanted = [spec.column_of(i) for i in spec.item_names]
    duplicated = [c for c in wanted if counts.get(c, 0) > 1]
    if duplicated:
        raise DataError(f"the data has more than one column named {', '.join(map(repr, duplicated))}; "
                        "rename or drop the duplicates so each item has one column")
    absent = [(item, spec.column_of(item)) for item in spec.item_names
              if spec.column_of(item) not in counts.index]
    if absent:
        unused = [n for n in names if n not in wanted]
        lowered = {n.strip().lower(): n for n in unused}
        described = []
        for item, column in absent[:8]:
            close = ([lowered[column.strip().lower()]] if column.strip().lower() in lowered else
                     [lowered[c] for c in difflib.get_close_matches(column.lower(), list(lowered), n=1)])
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            shown = column if column == item else f"{column} for item {item}"
            described.append(f"{shown}{hint}")
        more = f" and {len(absent) - 8} more" if len(absent) > 8 else ""
        raise DataError(f"{len(absent)} item column(s) of model {spec.name!r} are not in the data: "
                        f"{'; '.join(described)}{more}. Rename the columns or map them in the spec "
                        "with `columns:` (spec.with_columns({'ITEM': 'column'}))")
    return wanted


def _numeric(item: str, column: str, values: pd.Series) -> pd.Series:
    """The column as float; text that is not a number is an error naming the rows."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        out = values.astype(float)
    else:
        out = pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype(float)
        bad = values.notna() & out.isna() & (values.astype("string").str.strip() != "")
        if bad.any():
            examples = ", ".join(repr(v) for v in pd.unique(values[bad])[:3])
            raise DataError(f"item {item} (column {column!r}) has answers that are not numbers "
                            f"({examples}) in rows {_rows(values.index[bad])}; recode them as "
                            "numbers or blank them")
    infinite = np.isinf(out.to_numpy())
    if infinite.any():
        raise DataError(f"item {item} (column {column!r}) has infinite values in rows "
                        f"{_rows(values.index[infinite])}")
    return out


def prepare(spec, data: pd.DataFrame, missing: str = "listwise") -> SurveyData:
    """Check and shape ``data`` for ``spec``; see module docstring. ``missing`` is
    'listwise' (drop incomplete rows), 'mean' (mean replacement, PLS) or 'fiml' (CB-SEM)."""
    if missing not in MISSING_RULES:
        raise DataError(f"missing={missing!r} is not a missing-data rule; use one of "
                        f"{', '.join(MISSING_RULES)}")
    columns = _columns(spec, data)
    if len(data) == 0:
        raise DataError("the survey data has no rows")
    table = {}
    n_missing = 0
    notes = []
    for item, column in zip(spec.item_names, columns):
        meta = spec.item(item)
        values = _numeric(item, column, data[column])
        if meta.missing_codes:
            coded = values.isin(meta.missing_codes)
            if coded.any():
                notes.append(f"{item}: {int(coded.sum())} answers coded "
                             f"{'/'.join(str(c) for c in meta.missing_codes)} set to missing")
            values = values.mask(coded)
        lo, hi = meta.scale.min, meta.scale.max
        outside = values.notna() & ((values < lo) | (values > hi))
        if outside.any():
            shown = ", ".join(f"{r} ({values[r]:g})" for r in values.index[outside][:5])
            more = f" and {int(outside.sum()) - 5} more" if outside.sum() > 5 else ""
            raise DataError(f"item {item} (column {column!r}) has {int(outside.sum())} answer(s) "
                            f"outside its scale {lo:g}..{hi:g}: rows {shown}{more}. Fix the data, "
                            "declare the codes under `missing_codes:`, or change the item's `scale:`")
        if values.notna().sum() == 0:
            raise DataError(f"item {item} (column {column!r}) is empty: no respondent answered it")
        if item in spec.reverse:
            values = lo + hi - values
        n_missing += int(values.isna().sum())
        table[item] = values
    frame = pd.DataFrame(table, index=data.index)
    if spec.reverse:
        notes.append(f"reverse-coded on their scales: {', '.join(spec.reverse)}")

    dropped: tuple = ()
    if missing == "listwise":
        complete = frame.notna().all(axis=1)
        dropped = tuple(frame.index[~complete])
        if dropped:
            warnings.warn(f"{len(dropped)} of {len(frame)} rows have missing answers and were "
                          f"dropped (listwise deletion): rows {_rows(dropped)}", DataWarning,
                          stacklevel=3)
            notes.append(f"listwise deletion dropped {len(dropped)} of {len(frame)} rows")
        frame = frame[complete]
    elif missing == "mean" and n_missing:
        frame = frame.fillna(frame.mean())
        notes.append(f"{n_missing} missing answers replaced by their item means")

    _check_variation(spec, frame, columns)
    return SurveyData(values=frame, spec=spec, missing=missing, n_input=len(data),
                      dropped_rows=dropped, n_missing_cells=n_missing,
                      reversed_items=tuple(spec.reverse), notes=tuple(notes))


def _check_variation(spec, frame: pd.DataFrame, columns: list[str]) -> None:
    """Enough rows, and no constant items (which cannot be standardized)."""
    if len(frame) == 0:
        raise DataError("no rows left to fit: every row has a missing answer in some item; "
                        "use missing='mean' (PLS) or missing='fiml' (CB-SEM), or check the "
                        "missing codes")
    largest = max([len(spec.predecessors(c)) for c in spec.construct_names] + [1])
    if len(frame) < largest + 2 or len(frame) < 3:
        raise DataError(f"only {len(frame)} usable rows: too few to estimate the model "
                        f"(a construct has {largest} predictors)")
    for item, column in zip(frame.columns, columns):
        values = frame[item].dropna()
        if values.nunique() <= 1:
            raise DataError(f"item {item} (column {column!r}) is constant (every answer is "
                            f"{values.iloc[0]:g}); it carries no information: drop it from "
                            "the spec or check the data")
        top_share = values.value_counts(normalize=True).iloc[0]
        if top_share > NEAR_CONSTANT_SHARE:
            warnings.warn(f"item {item} (column {column!r}) is nearly constant: "
                          f"{top_share:.0%} give the same answer", DataWarning, stacklevel=4)
    rule_of_ten = 10 * largest
    if len(frame) < rule_of_ten:
        warnings.warn(f"{len(frame)} rows is below the 10-times rule of thumb ({rule_of_ten} for "
                      f"a construct with {largest} predictors); estimates may be unstable",
                      DataWarning, stacklevel=4)
