"""ModelSpec: what a CSI model is (constructs, items, scales, labels, paths), as plain data.

Specs are immutable: the editing methods (``add_path``, ``drop_path``, ``with_columns``, ...)
return a new, re-validated spec, so a shipped model can never be changed by accident.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from csi_models.errors import SpecError
from csi_models.spec.scale import DEFAULT_SCALE, Scale  # noqa: F401 - part of the spec model
from csi_models.spec.validation import MODES, is_number, validate_spec  # noqa: F401 - MODES is part of the spec model

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class Item:
    """One survey question (indicator) of a construct."""

    name: str
    label: dict = field(default_factory=dict, compare=False)  # {"en": ..., "zh": ...}
    scale: Scale = DEFAULT_SCALE
    missing_codes: tuple = ()      # numbers or text answers that mean "no answer" (98, "DK")
    answers: tuple = ()            # ((label, code), ...): text answers read as codes (spec.answers)


@dataclass(frozen=True)
class Construct:
    """A latent variable measured by its items in mode A (reflective) or B (formative).

    A higher-order construct has no items of its own but ``dimensions``: the names of the
    (first-order) constructs that form it (mode 'formative') or that it reflects (mode
    'reflective'); see ``engines/higher_order.py`` for how it is estimated. An interaction
    term has no items either but ``interaction`` = (construct, moderator): the product of the
    two, estimated as in ``engines/interactions.py``."""

    name: str
    items: tuple[Item, ...]
    mode: str = "reflective"
    label: dict = field(default_factory=dict, compare=False)
    dimensions: tuple[str, ...] = ()
    interaction: tuple[str, ...] = ()   # (construct, moderator) of an interaction term

    @property
    def item_names(self) -> list[str]:
        return [item.name for item in self.items]

    @property
    def is_higher_order(self) -> bool:
        return bool(self.dimensions)


@dataclass(frozen=True)
class ModelSpec:
    """A complete model: constructs with their items, and the structural paths between them.

    ``columns`` maps item names to the survey's column names (items not listed use their
    own name); ``reverse`` lists reverse-worded items, recoded as ``min + max - x``.
    ``covariances`` lists residual covariances (lavaan's ``a ~~ b``) between two items' errors
    or two constructs' disturbances; CB-SEM estimates them, PLS refuses them.
    """

    name: str
    constructs: tuple[Construct, ...]
    paths: tuple[tuple[str, str], ...]
    title: dict = field(default_factory=dict, compare=False)
    reference: str = field(default="", compare=False)
    notes: str = field(default="", compare=False)
    columns: dict = field(default_factory=dict)
    reverse: tuple[str, ...] = ()
    covariances: tuple[tuple[str, str], ...] = ()  # residual covariances a ~~ b (CB-SEM)
    source: str | None = field(default=None, compare=False)  # file it was loaded from
    lines: dict = field(default_factory=dict, compare=False, repr=False)  # YAML key -> line

    def __post_init__(self):
        _check_types(self)
        validate_spec(self)

    # --- lookups -------------------------------------------------------------------
    @property
    def construct_names(self) -> list[str]:
        return [c.name for c in self.constructs]

    @property
    def items(self) -> list[Item]:
        """All items, construct by construct, in spec order."""
        return [item for c in self.constructs for item in c.items]

    @property
    def item_names(self) -> list[str]:
        return [item.name for item in self.items]

    def construct(self, name: str) -> Construct:
        for c in self.constructs:
            if c.name == name:
                return c
        raise SpecError(f"model {self.name!r} has no construct {name!r}; "
                        f"its constructs are {', '.join(self.construct_names)}")

    def item(self, name: str) -> Item:
        for item in self.items:
            if item.name == name:
                return item
        raise SpecError(f"model {self.name!r} has no item {name!r}")

    def column_of(self, item: str) -> str:
        """The survey column holding ``item`` (the item's own name unless mapped)."""
        return self.columns.get(item, item)

    @property
    def higher_order(self) -> list[Construct]:
        """The higher-order constructs (those with ``dimensions``), in spec order."""
        return [c for c in self.constructs if c.dimensions]

    @property
    def interactions(self) -> list[Construct]:
        """The interaction terms (constructs with ``interaction``), in spec order."""
        return [c for c in self.constructs if c.interaction]

    @property
    def graph(self) -> nx.DiGraph:
        """The structural model as a directed graph of construct names."""
        import networkx as nx     # here, not at import: batch workers unpickle specs only

        g = nx.DiGraph()
        g.add_nodes_from(self.construct_names)
        g.add_edges_from(self.paths)
        return g

    def predecessors(self, construct: str) -> list[str]:
        """Constructs with a path into ``construct``, in spec order."""
        sources = {s for s, t in self.paths if t == construct}
        return [c for c in self.construct_names if c in sources]

    @property
    def endogenous(self) -> list[str]:
        return [c for c in self.construct_names if self.predecessors(c)]

    @property
    def exogenous(self) -> list[str]:
        return [c for c in self.construct_names if not self.predecessors(c)]

    def label(self, name: str, lang: str = "en") -> str:
        """Label of a construct or item in ``lang`` ('en' or 'zh'), falling back to its name."""
        for c in self.constructs:
            if c.name == name:
                return c.label.get(lang) or c.label.get("en") or name
            for item in c.items:
                if item.name == name:
                    return item.label.get(lang) or item.label.get("en") or name
        return name

    # --- editing (each returns a new validated spec) -------------------------------------
    def replace(self, **changes) -> "ModelSpec":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
                raise SpecError(f"a ModelSpec has no field {', '.join(map(repr, unknown))}; fields: "
                            f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)

    def add_path(self, source: str, target: str) -> "ModelSpec":
        return self.replace(paths=self.paths + ((source, target),))

    def drop_path(self, source: str, target: str) -> "ModelSpec":
        if (source, target) not in self.paths:
                raise SpecError(f"model {self.name!r} has no path {source} -> {target}")
        return self.replace(paths=tuple(p for p in self.paths if p != (source, target)))

    def add_covariance(self, a: str, b: str) -> "ModelSpec":
        """Free the residual covariance ``a ~~ b`` between two items' errors or two
        constructs' disturbances (CB-SEM; lavaan's ``a ~~ b``)."""
        return self.replace(covariances=self.covariances + ((a, b),))

    def drop_construct(self, name: str) -> "ModelSpec":
        """Remove a construct, its items and every path and covariance touching them."""
        dropped = set(self.construct(name).item_names)
        return self.replace(
            constructs=tuple(c for c in self.constructs if c.name != name),
            paths=tuple(p for p in self.paths if name not in p),
            covariances=tuple(c for c in self.covariances if not set(c) & (dropped | {name})),
            columns={k: v for k, v in self.columns.items() if k not in dropped},
            reverse=tuple(r for r in self.reverse if r not in dropped),
        )

    def with_columns(self, mapping: dict) -> "ModelSpec":
        """Map items to survey column names, e.g. ``{"CUEX1": "q7_a"}`` (merged with any existing map)."""
        if not isinstance(mapping, dict):
                raise SpecError(f"with_columns takes a dict item -> survey column, got "
                            f"{type(mapping).__name__}")
        return self.replace(columns={**self.columns, **mapping})

    def with_reverse(self, items) -> "ModelSpec":
        """Declare reverse-worded items (recoded as min + max - x before fitting)."""
        return self.replace(reverse=tuple(dict.fromkeys((*self.reverse, *_names(items, "with_reverse")))))

    def with_mode(self, construct: str, mode: str) -> "ModelSpec":
        """Set a construct's measurement mode ('reflective' = mode A, 'formative' = mode B)."""
        self.construct(construct)
        return self.replace(constructs=tuple(
            dataclasses.replace(c, mode=mode) if c.name == construct else c
            for c in self.constructs))

    def with_scale(self, min: float, max: float, items=None) -> "ModelSpec":
        """Set the scale bounds of ``items`` (all items by default)."""
        chosen = set(self.item_names if items is None else _names(items, "with_scale"))
        unknown = sorted(chosen - set(self.item_names), key=str)
        if unknown:
                raise SpecError(f"with_scale: model {self.name!r} has no item(s) "
                            f"{', '.join(map(repr, unknown))}")
        return self.replace(constructs=tuple(
            dataclasses.replace(c, items=tuple(
                dataclasses.replace(i, scale=Scale(min, max)) if i.name in chosen else i
                for i in c.items))
            for c in self.constructs))

    def to_lavaan(self) -> str:
        """The equivalent lavaan / semopy model syntax (see ``csi_models.spec.lavaan``)."""
        from csi_models.spec.lavaan import to_lavaan

        return to_lavaan(self)

    def to_dict(self) -> dict:
        """The spec as plain data, in the YAML file's layout."""
        from csi_models.spec.writing import spec_to_dict

        return spec_to_dict(self)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)

    def plot(self, lang: str = "en", items: bool = False):
        """The path diagram of the structure (``csi_models.report.diagram``): displays in
        Jupyter; ``.save("spec.svg")`` (or .png, .pdf)."""
        from csi_models.report.diagram import diagram_of

        return diagram_of(self, lang, items)

    def _repr_html_(self) -> str:
        """Jupyter: the title, the counts and the path diagram."""
        import html

        title = html.escape(self.title.get("en") or self.name)
        return (f"<div><b>{title}</b> [{html.escape(self.name)}]: {len(self.constructs)} "
                f"constructs, {len(self.item_names)} items, {len(self.paths)} paths"
                f"<br>{self.plot().svg}</div>")

    def __repr__(self) -> str:
        return (f"ModelSpec({self.name!r}: {len(self.constructs)} constructs, "
                f"{len(self.item_names)} items, {len(self.paths)} paths)")


def _names(items, method: str) -> list:
    """A list of names from one name or an iterable of names (a lone string is one name)."""
    if isinstance(items, str):
        return [items]
    try:
        names = list(items)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise SpecError(f"{method} takes an item name or a list of item names, got {items!r}")
    return names


def _check_types(spec) -> None:
    """The fields hold what they should (specs edited in code can receive anything)."""
    def fail(what: str, value):
        raise SpecError(f"model {spec.name!r}: {what}, got {value!r:.80}")

    if not isinstance(spec.constructs, (tuple, list)):
        fail("'constructs' must be a tuple of Construct", spec.constructs)
    for c in spec.constructs:
        if not isinstance(c, Construct):
            fail("'constructs' must hold Construct objects", c)
        if not isinstance(c.name, str) or not isinstance(c.mode, str):
            fail("a construct's name and mode are text", (c.name, c.mode))
        if not isinstance(c.items, (tuple, list)):
            fail(f"the items of construct {c.name!r} must be a tuple of Item", c.items)
        for item in c.items:
            if not isinstance(item, Item) or not isinstance(item.scale, Scale):
                fail(f"construct {c.name!r} must hold Item objects with a Scale", item)
            if not isinstance(item.name, str) or not isinstance(item.missing_codes, (tuple, list)):
                fail(f"an item of {c.name!r} needs a text name and a tuple of missing codes", item)
            if not isinstance(item.answers, tuple) or not all(
                    isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                    and is_number(p[1]) for p in item.answers):
                fail(f"the answers of item {item.name!r} must be a tuple of (label, code) pairs",
                     item.answers)
    if not isinstance(spec.paths, (tuple, list)):
        fail("'paths' must be a tuple of (source, target) pairs", spec.paths)
    for p in spec.paths:
        if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(e, str) for e in p)):
            fail("each path is a (source, target) pair of construct names", p)
    if not isinstance(spec.covariances, (tuple, list)):
        fail("'covariances' must be a tuple of (a, b) pairs of names", spec.covariances)
    for c in spec.covariances:
        if not (isinstance(c, (tuple, list)) and len(c) == 2 and all(isinstance(e, str) for e in c)):
            fail("each covariance is an (a, b) pair of two item names or two construct names", c)
    if not isinstance(spec.columns, dict):
        fail("'columns' must be a dict item -> survey column", spec.columns)
    if not isinstance(spec.reverse, (tuple, list)) or not all(isinstance(r, str) for r in spec.reverse):
        fail("'reverse' must be a tuple of item names", spec.reverse)
