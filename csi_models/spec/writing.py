"""Writing a ModelSpec back as plain data in the YAML layout (``spec.to_dict()``/``to_yaml()``).

Loading the written data gives the spec back. Settings declared once for the whole model
(scale, missing codes, answer labels) are written once at the top, not copied into every item.
"""

from __future__ import annotations

from csi_models.spec.scale import DEFAULT_SCALE, Scale


def _common(values: list) -> tuple:
    """The entries (missing codes, answer labels) every item has, in the first item's order:
    declared once at model level when written back, not copied into every item."""
    if not values:
        return ()
    return tuple(v for v in values[0] if all(v in other for other in values[1:]))


def spec_to_dict(spec) -> dict:
    """The spec as plain data in the YAML layout, such that loading it gives the spec back.

    The most common declared scale is written once at the top and other scales per item. The
    loader's fallback 1..10 (``Scale.explicit`` False) can only be written by omission: when
    any item relies on it, no model-level scale is written and every declared scale goes on
    its item, so the fallback items stay undeclared (and may take the file's value labels)."""
    def is_declared(scale: Scale) -> bool:
        return scale.explicit or scale != DEFAULT_SCALE

    declared = [(i.scale.min, i.scale.max) for i in spec.items if is_declared(i.scale)]
    if declared and len(declared) == len(spec.items):
        common = Scale(*max(dict.fromkeys(declared), key=declared.count))
    else:
        common = DEFAULT_SCALE
    codes = _common([item.missing_codes for item in spec.items])
    answers = _common([item.answers for item in spec.items])
    out = {"name": spec.name}
    if spec.title:
        out["title"] = dict(spec.title)
    if spec.reference:
        out["reference"] = spec.reference
    if spec.notes:
        out["notes"] = spec.notes
    if common.explicit:  # a spec that never declared a scale keeps relying on the default
        out["scale"] = {"min": common.min, "max": common.max}
    if codes:
        out["missing_codes"] = list(codes)
    if answers:
        out["answers"] = dict(answers)
    constructs = {}
    for c in spec.constructs:
        items = {}
        for item in c.items:
            entry = dict(item.label)
            if is_declared(item.scale) and (item.scale != common or not common.explicit):
                entry["scale"] = {"min": item.scale.min, "max": item.scale.max}
            own = [c for c in item.missing_codes if c not in codes]
            if own:
                entry["missing_codes"] = own
            own = [a for a in item.answers if a not in answers]
            if own:
                entry["answers"] = dict(own)
            items[item.name] = entry or None
        constructs[c.name] = {"label": dict(c.label), "mode": c.mode}
        if c.dimensions:      # a higher-order construct: measured by its dimensions
            constructs[c.name]["dimensions"] = list(c.dimensions)
        elif c.interaction:   # an interaction term: built from its two constructs
            constructs[c.name]["interaction"] = list(c.interaction)
        else:
            constructs[c.name]["items"] = items
    out["constructs"] = constructs
    out["paths"] = [f"{s} -> {t}" for s, t in spec.paths]
    if spec.columns:
        out["columns"] = dict(spec.columns)
    if spec.reverse:
        out["reverse"] = list(spec.reverse)
    if spec.covariances:
        out["covariances"] = [f"{a} ~~ {b}" for a, b in spec.covariances]
    return out
