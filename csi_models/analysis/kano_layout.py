"""How Kano questions sit in a survey table: the feature list and the column-name templates
(``{}_f`` functional, ``{}_d`` dysfunctional, optional importance) that pair them, shared by
``split_kano`` and the questionnaire builder."""

from __future__ import annotations

import numbers
import string
from collections.abc import Iterable, Mapping

import pandas as pd

from csi_models.errors import DataError
from csi_models.data.check import rows_text
from csi_models.data.pairs import values_text


def _feature_list(features) -> list:
    if isinstance(features, str):
        features = [features]
    elif isinstance(features, Iterable) and not isinstance(features, (bytes, Mapping)):
        features = list(features)
    else:
        raise DataError("features must be a list of feature names, e.g. ['speed', 'water'], "
                        f"got {features!r}")
    bad = [x for x in features
           if isinstance(x, bool) or not isinstance(x, (str, numbers.Integral))]
    if bad:
        raise DataError(f"feature names must be text (or whole numbers); got {values_text(bad)}")
    if not features:
        raise DataError("features is empty; name at least one feature")
    twice = [x for x in dict.fromkeys(features) if features.count(x) > 1]
    if twice:
        raise DataError(f"features {rows_text(twice)} are listed more than once")
    return features


def _columns(template, features, role: str) -> list[str]:
    """Column names ``template.format(feature)``; the template needs exactly one {}."""
    example = {"functional": "'{}_f'", "dysfunctional": "'{}_d'"}.get(role, "'{}_imp'")
    hint = f"e.g. {example} reads feature 'speed' from column {example.format('speed')}"
    if not isinstance(template, str):
        raise DataError(f"the {role} column template must be text with one {{}} where the "
                        f"feature name goes ({hint}), got {template!r}")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise DataError(f"the {role} column template {template!r} is malformed ({exc}); use one "
                        f"{{}} for the feature name and write literal braces as {{{{ }}}}") from None
    if fields != [""]:
        raise DataError(f"the {role} column template {template!r} must contain exactly one {{}} "
                        f"(where the feature name goes) and no other {{...}} field; {hint}")
    try:
        return [template.format(x) for x in features]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise DataError(f"the {role} column template {template!r} cannot format the feature "
                        f"names ({exc}); {hint}") from None


def split_kano(data: pd.DataFrame, features, functional="{}_f", dysfunctional="{}_d",
               importance=None):
    """(functional, dysfunctional) frames from one survey table with paired columns.

    ``functional``/``dysfunctional`` are column-name templates with exactly one
    ``{}`` for the feature name: with the defaults the feature "speed" is read
    from the columns "speed_f" and "speed_d". With an ``importance`` template
    (e.g. "{}_imp") a third frame, the importance ratings, is returned too.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if isinstance(data.columns, pd.MultiIndex):
        raise DataError("data has MultiIndex columns; flatten them to one name per column first")
    features = _feature_list(features)
    templates = {"functional": functional, "dysfunctional": dysfunctional}
    if importance is not None:
        templates["importance"] = importance
    cols = {role: _columns(t, features, role) for role, t in templates.items()}
    seen: dict = {}
    for role, names in cols.items():
        shared = [c for c in names if c in seen]
        if shared:
            raise DataError(f"the {seen[shared[0]]} and {role} templates both name the columns "
                            f"{rows_text(shared)}; each question needs its own column")
        seen.update(dict.fromkeys(names, role))
    needed = [c for cs in cols.values() for c in cs]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise DataError(f"data has no columns {rows_text(missing, 10)} for the Kano features "
                        f"{rows_text(features, 10)} (templates: " + ", ".join(
                            f"{r} {t!r}" for r, t in templates.items()) + ")")
    dup = data.columns[data.columns.duplicated()]
    dup = [c for c in needed if c in set(dup)]
    if dup:
        raise DataError(f"data has duplicated columns {rows_text(dup)}; rename them")
    return tuple(data[cs].set_axis(features, axis=1) for cs in cols.values())
