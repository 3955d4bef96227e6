"""The checks of one item's answers (run by ``prepare`` and reported by ``check``).

Turns one survey column into floats (NaN = missing) while checking it: numbers (numbers stored
as text are read; text missing codes such as 'DK' become missing; other text is an error naming
the rows), no infinities, numeric missing codes (98, or '98' quoted) and SPSS user-missing
values applied and counted, the answer scale settled (spec, else value labels, else the
flagged default 1..10; a declared scale the value labels contradict is an error, answers that
never pass its midpoint a warning), answers outside the scale (error), non-answer codes
counted as answers (warning), share missing, binary items. See ``csi_models.data.check`` for
the findings and the report.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.data.check import MISSING_SHARE, Finding, rows_text
from csi_models.data.labels import non_answers, numeric_labels, scale_from_labels
from csi_models.spec.answers import normalize_label
from csi_models.spec.validation import is_number


@dataclass
class ItemCheck:
    """What the item checks made of one column: its answers as floats (NaN = missing) and
    its scale, or ``values=None`` when an error leaves nothing usable."""

    item: str
    column: str
    construct: str
    values: np.ndarray | None = None
    scale: object = None
    scale_source: str = "spec"
    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    dtype: str = ""
    n_missing: int = 0               # answers missing after the missing codes

    def add(self, check: str, severity: str, message: str, rows=()):
        self.findings.append(Finding(check, severity, message, self.item, self.column,
                                     self.construct, tuple(rows)))

    @property
    def who(self) -> str:
        return f"item {self.item} (column {self.column!r})"


def cell_number(value):
    """A survey cell as a float (NaN when blank; True/False as 1/0), or None when it is not a
    number. The one cell rule for survey answers, gap ratings and importance."""
    if value is None or value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return np.nan
    elif isinstance(value, (bool, np.bool_)):
        return float(value)
    elif not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _floats(ic: ItemCheck, raw: pd.Series, index) -> np.ndarray | None:
    """The column as floats; text that is not a number is an error naming the rows."""
    dtype = raw.dtype
    if pd.api.types.is_bool_dtype(dtype):
        ic.add("type", "ok", f"{ic.who} is yes/no (True/False): read as 1/0")
        return raw.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_complex_dtype(dtype):
        ic.add("type", "error", f"{ic.who} holds complex numbers; survey answers are real numbers")
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        out = raw.to_numpy(dtype=float, na_value=np.nan)
    elif isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype) or \
            pd.api.types.is_string_dtype(dtype):
        cells = [cell_number(v) for v in raw.astype(object)]
        bad = np.array([c is None for c in cells], bool)
        if bad.any():
            examples = ", ".join(repr(v) for v in pd.unique(raw[bad].astype(str))[:3])
            hint = ("; for yes/no answers use 1 = yes, 0 = no" if
                    {str(v).strip().lower() for v in raw[bad]} <= {"yes", "no", "y", "n", "是", "否"}
                    else "")
            ic.add("type", "error", f"{ic.who} has answers that are not numbers ({examples}) in rows "
                   f"{rows_text(index[bad])}; recode them as numbers, blank them, or declare "
                   f"them under `missing_codes:`{hint}", index[bad])
            return None
        out = np.array([np.nan if c is None else c for c in cells], float)
    else:
        ic.add("type", "error", f"{ic.who} holds {dtype} values, not answers on a scale")
        return None
    infinite = np.isinf(out)
    if infinite.any():
        ic.add("type", "error", f"{ic.who} has infinite values in rows {rows_text(index[infinite])}",
               index[infinite])
        return None
    return out


def inspect_item(ic: ItemCheck, raw: pd.Series, index, item_meta, attrs: dict,
                 reverse: bool = False) -> ItemCheck:
    """Run the item checks on one column (see module docstring); fills ``ic``. ``reverse``:
    the item is listed under ``reverse:`` (it is recoded after these checks)."""
    ic.dtype = str(raw.dtype)
    codes = item_meta.missing_codes
    numeric_codes = [n for n in map(_code_number, codes) if n is not None]
    text_codes = {c.strip().casefold() for c in codes
                  if isinstance(c, str) and _code_number(c) is None}
    if text_codes and not pd.api.types.is_numeric_dtype(raw.dtype):
        coded = raw.astype(object).map(lambda v: isinstance(v, str) and v.strip().casefold() in text_codes)
        coded = coded.to_numpy(bool)
        if coded.any():
            raw = raw.astype(object).mask(coded)
            shown = "/".join(c for c in codes if isinstance(c, str) and _code_number(c) is None)
            ic.notes.append(f"{ic.item}: {int(coded.sum())} text answers ({shown}) set to missing")
    if item_meta.answers and not pd.api.types.is_numeric_dtype(raw.dtype):
        raw = _read_answers(ic, raw, index, item_meta.answers)
        if raw is None:
            return ic
    values = _floats(ic, raw, index)
    if values is None:
        return ic
    if "type" not in {f.check for f in ic.findings}:
        ic.add("type", "ok", f"{ic.who}: numeric answers")
    coded = np.isin(values, numeric_codes) if numeric_codes else np.zeros(len(values), bool)
    answered = values
    if coded.any():
        used = sorted(set(values[coded]))
        ic.notes.append(f"{ic.item}: {int(coded.sum())} answers coded "
                        f"{'/'.join(f'{c:g}' for c in used)} set to missing")
        values = np.where(coded, np.nan, values)
    user = _user_missing(attrs, ic.column)
    if user["count"]:
        ranges = ", ".join(f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}" for lo, hi in user["ranges"])
        ic.notes.append(f"{ic.item}: {user['count']} SPSS user-missing answers ({ranges}) are missing")
    _scale(ic, item_meta, attrs, numeric_codes, user, values)
    lo, hi = ic.scale.min, ic.scale.max
    outside = (values < lo) | (values > hi)          # False for NaN
    where = {"spec": "", "value labels": " (from the file's value labels)",
             "default": " (the default: the spec declares none)"}[ic.scale_source]
    if outside.any():
        pos = np.flatnonzero(outside)
        shown = ", ".join(f"{index[p]} ({values[p]:g})" for p in pos[:5])
        more = f" and {pos.size - 5} more" if pos.size > 5 else ""
        dk = non_answers(_file_meta(attrs, "value_labels", ic.column), numeric_codes)
        dk = {v: t for v, t in dk.items() if v in set(values[outside])}
        hint = ("; " + ", ".join(f"{v:g} is labelled {t!r}" for v, t in dk.items()) +
                ": add it to `missing_codes:`") if dk else ""
        ic.add("range", "error", f"{ic.who} has {pos.size} answer(s) outside its scale {lo:g}..{hi:g}"
               f"{where}: rows {shown}{more}. Fix the data, declare the codes under "
               f"`missing_codes:`, or change the item's `scale:`{hint}", index[outside])
        return ic
    ic.add("range", "ok", f"{ic.who}: every answer within {lo:g}..{hi:g}{where}")
    labelled = non_answers(_file_meta(attrs, "value_labels", ic.column), numeric_codes)
    used = np.isin(values, list(labelled))
    if used.any():  # inside the scale, so they would silently count as answers
        shown = ", ".join(f"{v:g} ({labelled[v]!r})" for v in sorted(set(values[used])))
        ic.add("missing_codes", "warning", f"{ic.who}: {int(used.sum())} answers are codes the "
               f"value labels mark as non-answers, {shown}, and count as scale points; add them "
               "to `missing_codes:` if they mean no answer", index[used])
    inside = sorted(c for c in set(answered[coded]) if lo <= c <= hi)
    if inside:
        rows = index[coded & np.isin(answered, inside)]
        ic.add("missing_codes", "warning", f"{ic.who}: missing code(s) "
               f"{', '.join(f'{c:g}' for c in inside)} lie inside the scale {lo:g}..{hi:g}, so "
               f"{len(rows)} such answers are dropped as missing, not used as scale points; "
               "check `missing_codes:`", rows)
    n_missing = ic.n_missing = int(np.isnan(values).sum())
    if n_missing == len(values) and len(values):
        ic.add("missing", "error", f"{ic.who} is empty: no respondent answered it")
        return ic
    share = n_missing / len(values) if len(values) else 0.0
    ic.add("missing", "warning" if share > MISSING_SHARE else "ok",
           f"{ic.who}: {n_missing} of {len(values)} answers missing ({share:.0%})",
           index[np.isnan(values)] if share > MISSING_SHARE else ())
    if hi - lo == 1:
        # the index counts the answers that end up at the top of the scale: hi, or lo for a
        # reverse-coded item (recoded lo + hi - x after these checks)
        counted = lo if reverse else hi
        label = numeric_labels(_file_meta(attrs, "value_labels", ic.column)).get(float(counted))
        meaning = f"{counted:g} ({label!r})" if label else f"{counted:g}"
        why = f"it is reverse-coded ({lo:g} <-> {hi:g}), so " if reverse else ""
        ic.add("binary", "ok", f"{ic.who} is binary ({lo:g}/{hi:g}): both engines use it as a "
               f"numeric indicator; {why}its 0-100 index is the share answering {meaning}")
    ic.values = values
    return ic


def _read_answers(ic: ItemCheck, raw: pd.Series, index, answers) -> pd.Series | None:
    """Text answers declared under the spec's ``answers:`` (很满意, 滿意, ...) as their codes
    (labels matched as ``csi_models.spec.answers.normalize_label`` says); numbers and numbers
    stored as text pass unchanged. Text that is neither is an error naming labels and rows."""
    codes = {normalize_label(label): code for label, code in answers}
    cells = raw.astype(object).to_numpy()
    out, unknown, n_read = [], np.zeros(len(cells), bool), 0
    for k, value in enumerate(cells):
        if isinstance(value, str) and value.strip():
            code = codes.get(normalize_label(value))
            if code is not None:
                out.append(code)
                n_read += 1
                continue
            unknown[k] = cell_number(value) is None
        out.append(value)
    if unknown.any():
        labels = ", ".join(repr(v) for v in pd.unique(cells[unknown])[:5])
        known = ", ".join(label for label, _ in answers[:8]) + (", ..." if len(answers) > 8 else "")
        ic.add("type", "error", f"{ic.who} has answers {labels} in rows "
               f"{rows_text(index[unknown])} that are not among its answer labels ({known}); "
               "add them to `answers:` in the spec (label: code), or to `missing_codes:` if "
               "they mean no answer", index[unknown])
        return None
    if n_read:
        ic.notes.append(f"{ic.item}: {n_read} text answers read as codes (`answers:`)")
        ic.add("type", "ok", f"{ic.who}: {n_read} text answers read as codes (`answers:`)")
    return pd.Series(out, index=raw.index, dtype=object)


def _code_number(code) -> float | None:
    """A missing code as a number, or None for a text code: 98 and '98' (a quoted number in
    the YAML) are the same code, so either matches the answer 98 in a numeric column."""
    if isinstance(code, str):
        try:
            code = float(code.strip())
        except ValueError:
            return None
    return float(code) if is_number(code) else None


def _file_meta(attrs, key: str, column: str) -> dict:
    """``attrs[key][column]`` as read_survey stores it, or {} when absent or malformed."""
    table = attrs.get(key) if isinstance(attrs, dict) else None
    entry = table.get(column) if isinstance(table, dict) else None
    return entry if isinstance(entry, dict) else {}


def _user_missing(attrs, column: str) -> dict:
    """The column's SPSS user-missing ranges [(lo, hi)] and count, validated."""
    entry = _file_meta(attrs, "user_missing", column)
    ranges = []
    for pair in entry.get("ranges") or []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(map(is_number, pair)):
            ranges.append((float(pair[0]), float(pair[1])))
    count = entry.get("count")
    return {"ranges": ranges, "count": int(count) if is_number(count) and ranges else 0}


def _scale(ic, item_meta, attrs, numeric_codes, user, values) -> None:
    """The spec's scale; for an item without one, the value labels' range; else 1..10.

    A declared scale that the file's value labels contradict is an error, not a silent
    choice: a 1..5 question checked against a declared 1..10 raises no range error, yet
    its 0-100 index would come out near 33 where it is 75. See ``_labels_disagree``."""
    ic.scale = item_meta.scale
    labels = _file_meta(attrs, "value_labels", ic.column)
    excluded = list(numeric_codes) + [v for v in numeric_labels(labels)
                                      if any(lo <= v <= hi for lo, hi in user["ranges"])]
    from_labels = scale_from_labels(labels, excluded)
    seen = values[~np.isnan(values)]
    if not item_meta.scale.explicit:
        if from_labels is not None:
            ic.scale, ic.scale_source = from_labels, "value labels"
            ic.add("scale", "ok", f"{ic.who}: scale {from_labels.min:g}..{from_labels.max:g} read "
                   "from the file's value labels")
            ic.notes.append(f"{ic.item}: scale {from_labels.min:g}..{from_labels.max:g} from value labels")
        else:
            ic.scale_source = "default"
            span = f"; the answers range {seen.min():g}..{seen.max():g}" if seen.size else ""
            ic.add("scale_default", "warning", f"{ic.who}: no scale declared, assumed "
                   f"{ic.scale.min:g}..{ic.scale.max:g}{span}; declare `scale:` in the spec "
                   "(the 0-100 indices and reverse coding use it)")
    elif from_labels is not None and from_labels != ic.scale:
        _labels_disagree(ic, from_labels, numeric_labels(labels), seen)
    else:
        ic.add("scale", "ok", f"{ic.who}: scale {ic.scale.min:g}..{ic.scale.max:g} from the spec")
        lo, hi = ic.scale.min, ic.scale.max
        if from_labels is None and hi - lo >= 4 and seen.size >= LOW_HALF_ANSWERS and \
                seen.max() <= lo + (hi - lo) / 2 and np.all(seen == np.round(seen)):
            ic.add("scale", "warning", f"{ic.who}: all {seen.size} answers lie in "
                   f"{seen.min():g}..{seen.max():g}, the lower half of its scale {lo:g}..{hi:g}; "
                   f"if the question was asked on a shorter scale (such as 1..5), declare that "
                   f"`scale:` for it, or its 0-100 index will read far too low")


LOW_HALF_ANSWERS = 30  # whole-number answers before "none above the midpoint" is worth a warning


def _labels_disagree(ic, from_labels, labels: dict, seen: np.ndarray) -> None:
    """The spec declares lo..hi, the value labels span a..b. Answers beyond a..b that carry
    no label show that the labels cover only part of the scale (e.g. the two end points of
    0..10 are not labelled): the spec stands. Otherwise the two disagree: an error, because
    whichever is wrong, the index would be computed on a wrong range."""
    lo, hi, a, b = ic.scale.min, ic.scale.max, from_labels.min, from_labels.max
    beyond = seen[((seen < a) | (seen > b)) & ~np.isin(seen, list(labels))]
    if beyond.size:
        ic.add("scale", "ok", f"{ic.who}: scale {lo:g}..{hi:g} from the spec; the value labels "
               f"cover only {a:g}..{b:g} but the answers reach {beyond.max():g}")
        return
    within = " and every answer lies within them" if seen.size else ""
    ic.add("scale", "error", f"{ic.who}: the spec declares the scale {lo:g}..{hi:g} but the file's "
           f"value labels run {a:g}..{b:g} ({a:g} = {labels.get(float(a))!r}, {b:g} = "
           f"{labels.get(float(b))!r}){within}, so the 0-100 index and reverse coding would use the "
           f"wrong scale. Asked on {a:g}..{b:g}? Declare `scale: {{min: {a:g}, max: {b:g}}}` "
           f"(spec.with_scale({a:g}, {b:g}, items=[{ic.item!r}]); without items= for every item). "
           f"Labels incomplete and {lo:g}..{hi:g} right? Drop them: "
           f"data.attrs['value_labels'].pop({ic.column!r})")
