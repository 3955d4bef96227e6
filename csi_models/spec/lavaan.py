"""lavaan / semopy model syntax for a spec.

Reflective constructs are common factors (``=~``) scaled by their first item; a single-item
construct gets its item's residual variance fixed at zero, as lavaan's ``auto.fix.single``
does. Formative constructs are written as lavaan composites (``<~``), which lavaan can
estimate but semopy cannot; our CB-SEM engine therefore refuses them. Residual covariances
(``spec.covariances``) are written as ``a ~~ b`` lines.
"""

from __future__ import annotations


def to_lavaan(spec, rename=None) -> str:
    """Model syntax; ``rename`` maps construct/item names to the names to write (default: as is)."""
    name = (lambda n: n) if rename is None else rename.__getitem__
    lines = []
    for c in spec.constructs:
        op = "<~" if c.mode == "formative" else "=~"
        lines.append(f"{name(c.name)} {op} {' + '.join(name(i) for i in c.item_names)}")
    for c in spec.constructs:
        if len(c.items) == 1 and c.mode == "reflective":
            item = name(c.item_names[0])
            lines.append(f"{item} ~~ 0*{item}")
    for target in spec.endogenous:
        lines.append(f"{name(target)} ~ {' + '.join(name(s) for s in spec.predecessors(target))}")
    for a, b in getattr(spec, "covariances", ()):
        lines.append(f"{name(a)} ~~ {name(b)}")
    return "\n".join(lines) + "\n"
