"""Value labels of SPSS/Stata files: scale bounds, and codes that mean "no answer".

A labelled satisfaction item usually reads ``{1: "Very dissatisfied", ..., 10: "Very
satisfied", 98: "Don't know", 99: "Refused"}``. Its answer scale is the range of the labelled
values that are real answers: codes declared missing (SPSS user-missing values or the spec's
``missing_codes``) and codes whose label reads like a non-answer ("don't know", "refused",
"not applicable", "不知道", ...) are left out, so 98/99 can never stretch the scale to 1..99.
"""

from __future__ import annotations

import re

from csi_models.spec.model import Scale
from csi_models.spec.validation import is_number

NON_ANSWER = re.compile(
    r"don'?t\s*know|do\s*not\s*know|\bdk\b|not\s*sure|refus|declin|no\s*answer|not\s*answered|"
    r"not\s*applicable|\bn\s*/?\s*a\b|no\s*opinion|can'?t\s*say|cannot\s*say|prefer\s*not|"
    r"missing|weiß\s*nicht|ne\s*sait\s*pas|不知道|不清楚|说不清|說不清|不好说|无法回答|無法回答|"
    r"拒绝|拒答|拒絕|不适用|不適用|不回答|缺失",
    re.IGNORECASE)


def _number(value) -> float | None:
    if isinstance(value, str):  # keys come back as text from JSON (e.g. Parquet attrs)
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if is_number(value) else None


def numeric_labels(labels) -> dict:
    """The labels whose value is a finite number, as {float value: label text}."""
    if not isinstance(labels, dict):
        return {}
    pairs = ((_number(v), text) for v, text in labels.items())
    return {v: str(text) for v, text in pairs if v is not None}


def non_answers(labels, missing=()) -> dict:
    """Labelled codes that read like "don't know"/"refused" and are not declared missing."""
    declared = {float(c) for c in missing if is_number(c)}
    return {v: text for v, text in numeric_labels(labels).items()
            if v not in declared and NON_ANSWER.search(text)}


def scale_from_labels(labels, missing=()) -> Scale | None:
    """min..max of the labelled real answers (see module docstring); None with fewer than two."""
    declared = {float(c) for c in missing if is_number(c)}
    values = sorted(v for v, text in numeric_labels(labels).items()
                    if v not in declared and not NON_ANSWER.search(text))
    if len(values) < 2:
        return None
    lo, hi = (int(v) if v.is_integer() else v for v in (values[0], values[-1]))
    return Scale(lo, hi)
