"""Answer labels: survey answers exported as text (很满意, 满意, ...) read as codes.

Survey tools often export the wording of the answer instead of its code. A spec declares how
to read such answers with ``answers:``, at model, construct or item level (lower levels add to
and override higher ones), either as the name of a built-in set or as a mapping label -> code:

```yaml
answers: satisfaction7                 # seeds/001 table 5-1: 很不满意 = 1 ... 很满意 = 7
answers: {非常差: 1, 差: 2, 一般: 3, 好: 4, 非常好: 5}
```

Built-in sets (:data:`ANSWER_SETS`), each in simplified and traditional characters:

* ``satisfaction7``: the seven satisfaction grades of seeds/001 (表5-1 客户满意度梯级): 很不满意 1,
  不满意 2, 不太满意 3, 一般 4, 较满意 5, 满意 6, 很满意 7.
* ``satisfaction5``: the common five-grade wording: 非常不满意 1, 不满意 2, 一般 3, 满意 4,
  非常满意 5 (also 很不满意 1, 很满意 5, 比较不满意 2, 比较满意 4).

A spec that names a built-in set and declares no ``scale:`` at the same level gets that set's
scale (1..7 or 1..5), so the 0-100 indices use the right bounds. Labels are matched after
removing blanks and mapping the traditional forms of the characters used in satisfaction
wording to simplified ones (滿 -> 满, 較 -> 较, ...), so 很滿意 and 很满意 are the same answer.
"""

from __future__ import annotations

import re

__all__ = ["ANSWER_SETS", "normalize_label", "answer_pairs"]

_SETS = {
    "satisfaction7": {"很不满意": 1, "不满意": 2, "不太满意": 3, "一般": 4, "较满意": 5,
                      "满意": 6, "很满意": 7},
    "satisfaction5": {"非常不满意": 1, "很不满意": 1, "不满意": 2, "比较不满意": 2, "一般": 3,
                      "满意": 4, "比较满意": 4, "非常满意": 5, "很满意": 5},
}
#: traditional -> simplified for the characters of satisfaction and agreement wording
TRADITIONAL = str.maketrans("滿較無與說實確體驗對應總還類難讚極頗準標愛過價關係",
                            "满较无与说实确体验对应总还类难赞极颇准标爱过价关系")
#: name -> {label: code}; labels are given in simplified characters (traditional ones match)
ANSWER_SETS = {name: dict(labels) for name, labels in _SETS.items()}


def normalize_label(text: str) -> str:
    """The form labels are matched in: no blanks, lower case, traditional -> simplified."""
    return re.sub(r"\s+", "", text).lower().translate(TRADITIONAL)


def set_scale(name: str) -> tuple[int, int]:
    """(min, max) of the codes of a built-in set."""
    codes = ANSWER_SETS[name].values()
    return min(codes), max(codes)


def answer_pairs(value, fail) -> tuple:
    """A spec's ``answers:`` value as ((label, code), ...) in the given order.

    ``value``: a built-in set name, a mapping label -> code, or a list of these (merged).
    ``fail(message)`` raises the caller's SpecError (with the file and line)."""
    parts = value if isinstance(value, list) else [value]
    out: dict[str, tuple[str, float]] = {}
    for part in parts:
        if isinstance(part, str):
            key = part.strip().lower()
            if key not in ANSWER_SETS:
                fail(f"unknown answer set {part!r}; built-in sets: "
                     f"{', '.join(ANSWER_SETS)}, or give a mapping such as "
                     "{很不满意: 1, ..., 很满意: 7}")
            labels = ANSWER_SETS[key].items()
        elif isinstance(part, dict) and part:
            labels = part.items()
        else:
            fail(f"answers must be a built-in set ({', '.join(ANSWER_SETS)}) or a mapping "
                 f"label -> code, got {part!r}")
        for label, code in labels:
            if not isinstance(label, str) or not label.strip():
                fail(f"answer label {label!r} must be text")
            if isinstance(code, bool) or not isinstance(code, (int, float)) or code != code:
                fail(f"answer label {label!r} must map to a number (its code), got {code!r}")
            norm = normalize_label(label)
            if norm in out and out[norm][1] != code:
                fail(f"answer label {label!r} is given the codes {out[norm][1]!r} and {code!r}")
            out[norm] = (label.strip(), code)
    return tuple(out.values())
