"""From a survey table to the checked item matrix the engines use.

``prepare`` finds the spec's item columns, runs the data checks of ``csi_models.data.check``
(numbers, missing codes, scale bounds, empty items), reverse-codes the ``reverse:`` items on
their scales (min + max - x), applies the missing-data rule, runs the checks of the final
table (rows left, constant items, ...), raises a DataError naming the item, column and rows
for any error and issues the warnings as DataWarning. ``check(spec, data)`` (here too) runs the same
``collect`` and reports instead. The caller's DataFrame is never modified.
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.data.check import (
    CheckReport,
    Finding,
    item_table,
    rows_text,
    sample_findings,
    tally,
)
from csi_models.data.items import ItemCheck, inspect_item
from csi_models.data.readers import as_frame
from csi_models.errors import DataError, DataWarning
from csi_models.statistics.moments import full_moments
from csi_models.spec.model import DEFAULT_SCALE

MISSING_RULES = ("listwise", "mean", "fiml")
__all__ = ["MISSING_RULES", "SurveyData", "check", "collect", "prepare"]


@dataclass(frozen=True)
class SurveyData:
    """Checked survey data: one float column per spec item (named by item), spec order.

    ``spec`` is the spec as applied to these data: items without a declared scale carry the
    bounds read from the file's value labels. ``report`` is the data check (csi.check)."""

    values: pd.DataFrame
    spec: object
    missing: str = "listwise"
    n_input: int = 0
    dropped_rows: tuple = ()        # labels of rows removed by listwise deletion
    n_missing_cells: int = 0        # cells missing (incl. missing codes) before handling
    reversed_items: tuple = ()
    notes: tuple = field(default=())  # human-readable notes on what was done to the data
    report: object = field(default=None, compare=False, repr=False)
    weights: object = field(default=None, compare=False, repr=False)  # per row used, or None
    # (values, (S, mean, sd)): statistics.moments.full_moments of these very values (a
    # survey copied with other values does not match them), when nothing is missing
    moments: tuple | None = field(default=None, compare=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.values)


def _locate(spec, data: pd.DataFrame) -> tuple[dict, list, str]:
    """Position of each item's column in ``data`` (matched on str(name)); findings for columns
    that appear more than once or not at all (with a close match as hint); and one message
    listing every absent column (prepare raises that: users fix them in one renaming pass)."""
    names = [str(c) for c in data.columns]
    positions: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        positions.setdefault(name, []).append(k)
    wanted = {spec.column_of(i) for i in spec.item_names}
    lowered = {n.strip().lower(): n for n in names if n not in wanted}
    owner = {i: c.name for c in spec.constructs for i in c.item_names}
    found, findings, absent = {}, [], []
    for item in spec.item_names:
        column = spec.column_of(item)
        where = positions.get(column, [])
        if len(where) == 1:
            found[item] = where[0]
        elif where:
            findings.append(Finding("column", "error", f"the data has more than one column named "
                                    f"{column!r}; rename or drop the duplicates so each item has "
                                    "one column", item, column, owner[item]))
        else:
            key = column.strip().lower()
            if column != item and item in positions:  # mapped, but the data kept the item's name
                close = [item]
            else:
                close = ([lowered[key]] if key in lowered else
                         [lowered[c] for c in difflib.get_close_matches(key, list(lowered), n=1)])
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            shown = column if column == item else f"{column} for item {item}"
            absent.append(f"{shown}{hint}")
            findings.append(Finding("column", "error", f"column {shown} is not in the data{hint}; "
                                    "rename it or map the item with `columns:`", item, column,
                                    owner[item]))
    more = f" and {len(absent) - 8} more" if len(absent) > 8 else ""
    summary = (f"{len(absent)} item column(s) of model {spec.name!r} are not in the data: "
               f"{'; '.join(absent[:8])}{more}. Rename the columns or map them in the spec with "
               "`columns:` (spec.with_columns({'ITEM': 'column'}))") if absent else ""
    return found, findings, summary


def collect(spec, data, missing: str = "listwise", stop_on_error: bool = True):
    """The whole check-and-shape pipeline: (SurveyData or None, findings, item table, rows
    used or None). With ``stop_on_error`` (prepare) it stops after the first stage with an
    error: absent columns, else the per-item checks (all items), else the prepared table;
    otherwise it checks everything it can (check)."""
    if missing not in MISSING_RULES:
        raise DataError(f"missing={missing!r} is not a missing-data rule; use one of "
                        f"{', '.join(MISSING_RULES)}")
    data = as_frame(data)
    found, findings, _ = _locate(spec, data)
    if findings and stop_on_error:
        return None, findings, None, None
    if len(data) == 0:
        findings.append(Finding("rows", "error", "the survey data has no rows"))
        return None, findings, None, None
    attrs = data.attrs if isinstance(data.attrs, dict) else {}
    index = data.index
    owner = {i: c.name for c in spec.constructs for i in c.item_names}
    checks = []
    for item in spec.item_names:
        ic = ItemCheck(item, spec.column_of(item), owner[item])
        checks.append(ic)
        if item not in found:
            continue  # its column finding is already in
        inspect_item(ic, data.iloc[:, found[item]], index, spec.item(item), attrs,
                     reverse=item in spec.reverse)
        findings += ic.findings
    if stop_on_error and any(f.severity == "error" for f in findings):
        # every item is checked first, so that one error lists all the item problems
        return None, findings, item_table(checks, findings), None
    usable = [ic for ic in checks if ic.values is not None and
              not any(f.severity == "error" for f in ic.findings)]
    survey = None
    tallies = {ic.item: tally(ic.values) for ic in usable}   # once per item, for both tables
    if usable:
        survey = _shape(spec, data, usable, missing)
        complete = survey.n_missing_cells == 0       # same rows, nothing imputed
        answering = len(data) if complete else \
            int(np.column_stack([~np.isnan(ic.values) for ic in usable]).any(axis=1).sum())
        if complete:   # the moments the PLS fit needs too: computed once, here
            moments = full_moments(survey.values.to_numpy(float))
            survey = dataclasses.replace(survey, moments=(survey.values, moments))
        findings += sample_findings(survey.spec, survey.values, {ic.item: ic.column for ic in usable},
                                    survey.dropped_rows, len(data), missing, answering,
                                    tallies if complete else None,
                                    moments[0][0] if complete else None)
    table = item_table(checks, findings, tallies)
    complete = len(usable) == len(spec.item_names)
    if not complete or any(f.severity == "error" for f in findings):
        return None, findings, table, None
    return survey, findings, table, survey.n


def _shape(spec, data, checks: list, missing: str) -> SurveyData:
    """Reverse coding on each item's scale, then the missing-data rule."""
    scales = {ic.item: ic.scale for ic in checks}
    applied = _with_scales(spec, scales) if len(checks) == len(spec.item_names) else spec
    notes = [note for ic in checks for note in ic.notes]
    # one float matrix, columns contiguous; the checks' answers become views of its columns
    # (reverse-coded items keep their own), so the data are held once, not twice
    X = np.empty((len(data), len(checks)), order="F")
    for j, ic in enumerate(checks):
        if ic.item in spec.reverse:
            X[:, j] = ic.scale.min + ic.scale.max - ic.values
        else:
            X[:, j] = ic.values
            ic.values = X[:, j]
    frame = pd.DataFrame(X, columns=[ic.item for ic in checks], index=data.index, copy=False)
    reversed_items = tuple(r for r in spec.reverse if r in frame.columns)
    if reversed_items:
        notes.append(f"reverse-coded on their scales: {', '.join(reversed_items)}")
    n_missing = sum(ic.n_missing for ic in checks)
    # listwise: rows missing any answer go; mean/fiml: rows answering no item at all go (they
    # carry no information; lavaan's FIML drops such empty cases too, and mean replacement
    # would invent average respondents)
    dropped = ()
    if n_missing:
        answered = ~np.isnan(X)
        keep = answered.all(axis=1) if missing == "listwise" else answered.any(axis=1)
        dropped = tuple(frame.index[~keep])
    if dropped:
        rule = "listwise deletion" if missing == "listwise" else "rows without any answer"
        notes.append(f"{rule}: dropped {len(dropped)} of {len(frame)} rows")
        frame = frame[keep]
    if missing == "mean" and frame.isna().any().any():
        notes.append(f"{int(frame.isna().sum().sum())} missing answers replaced by their item means")
        frame = frame.fillna(frame.mean())
    return SurveyData(values=frame, spec=applied, missing=missing, n_input=len(data),
                      dropped_rows=dropped, n_missing_cells=n_missing,
                      reversed_items=reversed_items, notes=tuple(notes))


def _with_scales(spec, scales: dict):
    """The spec with each item's scale as the checks settled it (labels for undeclared ones)."""
    if all(spec.item(i).scale == s and spec.item(i).scale.explicit == s.explicit
           for i, s in scales.items()):
        return spec
    return spec.replace(constructs=tuple(
        dataclasses.replace(c, items=tuple(dataclasses.replace(i, scale=scales[i.name])
                                           for i in c.items))
        for c in spec.constructs))


def prepare(spec, data, missing: str = "listwise", weights: str | None = None) -> SurveyData:
    """Check and shape ``data`` (a DataFrame, or a survey file path) for ``spec``; see module
    docstring. ``missing`` is 'listwise' (drop incomplete rows), 'mean' (mean replacement,
    PLS) or 'fiml' (CB-SEM). ``weights``: the column of respondent weights
    (``data.weights``), carried for the rows used."""
    data = as_frame(data)
    survey, findings, items, n_used = collect(spec, data, missing, stop_on_error=True)
    report = CheckReport(spec, findings, items if items is not None else pd.DataFrame(),
                         len(data), n_used, missing, data.columns)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        absent = _locate(spec, data)[2] if all(f.check == "column" for f in errors) else ""
        if absent and all("is not in the data" in f.message for f in errors):
            message = absent
        elif len(errors) == 1:
            message = errors[0].message
        else:
            message = (f"{len(errors)} problems in the survey data for model {spec.name!r}:\n  - " +
                       "\n  - ".join(f.message for f in errors[:10]) +
                       (f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else "") +
                       "\nrun csi.check(spec, data) for the full report")
        error = DataError(message)
        error.report = report
        raise error
    defaults = [f for f in findings if f.check == "scale_default"]
    for f in findings:
        if f.severity == "warning" and not (f.check == "scale_default" and len(defaults) > 1):
            warnings.warn(f.message, DataWarning, stacklevel=3)
    if len(defaults) > 1:  # one warning for a spec that declares no scale, not one per item
        warnings.warn(f"{len(defaults)} items have no declared scale and were assumed "
                      f"{DEFAULT_SCALE.min:g}..{DEFAULT_SCALE.max:g}: "
                      f"{rows_text([f.item for f in defaults], 8)}; declare `scale:` in the spec "
                      "(the 0-100 indices and reverse coding use it)", DataWarning, stacklevel=3)
    if weights is not None:
        from csi_models.data.weights import weight_column

        survey = dataclasses.replace(survey, weights=weight_column(data, weights, survey.values.index))
    return dataclasses.replace(survey, report=report)


def check(spec, data, missing: str = "listwise") -> CheckReport:
    """Every data check of ``prepare``, reported instead of raised (see module docstring).

    spec: shipped name, YAML path, dict or ModelSpec; data: DataFrame (never modified) or a
    survey file path; missing: the rule the fit will use ('listwise', 'mean' or 'fiml').
    Raises only when there is nothing to check (bad spec, unreadable file, not a table)."""
    from csi_models.spec import load_spec
    from csi_models.spec.validation import spec_advice

    spec = load_spec(spec)
    data = as_frame(data)
    _, findings, items, n_used = collect(spec, data, missing, stop_on_error=False)
    advice = [Finding("spec", "warning", message, construct=c) for c, message in spec_advice(spec)]
    return CheckReport(spec, advice + findings, items, len(data), n_used, missing, data.columns)
