"""Semantic checks of a ModelSpec: names, scales and the structural graph.

Runs whenever a spec is created or edited, so an invalid spec cannot exist. Each message
names the offending construct, item or path and, for specs read from a file, its line.
"""

from __future__ import annotations

import math


from csi_models.errors import SpecError


MODES = ("reflective", "formative")


def _where(spec, key: str) -> str:
    """' (file.yaml, line N)' for a key recorded by the YAML loader, else ''."""
    line = spec.lines.get(key) if hasattr(spec, "lines") else None
    if line is None:
        return ""
    return f" ({spec.source or 'spec'}, line {line})"


def validate_spec(spec) -> None:
    """Raise SpecError on the first problem found; see module docstring."""
    if not isinstance(spec.name, str) or not spec.name.strip():
        raise SpecError("the model needs a non-empty 'name'")
    if not spec.constructs:
        raise SpecError(f"model {spec.name!r} declares no constructs: add a 'constructs:' "
                        "section with at least one construct and its items")

    seen_constructs: set[str] = set()
    item_owner: dict[str, str] = {}
    for c in spec.constructs:
        where = _where(spec, f"constructs.{c.name}")
        if not isinstance(c.name, str) or not c.name.strip():
            raise SpecError(f"a construct has an empty name{where}")
        if c.name in seen_constructs:
            raise SpecError(f"construct {c.name!r} is declared twice{where}")
        seen_constructs.add(c.name)
        if c.mode not in MODES:
            raise SpecError(f"construct {c.name!r} has mode {c.mode!r}{where}; "
                            f"use one of {', '.join(MODES)}")
        if not c.items and not c.dimensions and not c.interaction:
            raise SpecError(f"construct {c.name!r} has no items{where}: every construct needs "
                            "at least one indicator (survey question)")
        if c.items and c.dimensions:
            raise SpecError(f"construct {c.name!r} has both items and dimensions{where}: a "
                            "higher-order construct is measured by its dimensions only")
        for item in c.items:
            iwhere = _where(spec, f"constructs.{c.name}.items.{item.name}") or where
            if not isinstance(item.name, str) or not item.name.strip():
                raise SpecError(f"construct {c.name!r} has an item with an empty name{iwhere}")
            if item_owner.get(item.name) == c.name:
                raise SpecError(f"item {item.name!r} is listed twice in construct {c.name!r}"
                                f"{iwhere}; list each item once")
            if item.name in item_owner:
                raise SpecError(f"item {item.name!r} is used twice: in {item_owner[item.name]!r} "
                                f"and in {c.name!r}{iwhere}; each indicator may measure "
                                "only one construct")
            item_owner[item.name] = c.name
            lo, hi = item.scale.min, item.scale.max
            if not (is_number(lo) and is_number(hi) and lo < hi):
                raise SpecError(f"item {item.name!r} has scale min={lo!r}, max={hi!r}{iwhere}; "
                                "the scale needs two finite numbers with min < max")
            if not math.isfinite(hi - lo) or max(abs(lo), abs(hi)) > MAX_BOUND:
                raise SpecError(f"item {item.name!r} has scale min={lo!r}, max={hi!r}{iwhere}; "
                                f"survey scales must lie within +-{MAX_BOUND:g}")
            for code in item.missing_codes:
                if not _is_code(code):
                    raise SpecError(f"item {item.name!r} has missing code {code!r}{iwhere}; a "
                                    "missing code is a finite number or a text answer such as 'DK'")
    clash = seen_constructs & set(item_owner)
    if clash:
        name = sorted(clash)[0]
        raise SpecError(f"{name!r} is both a construct and an item name"
                        f"{_where(spec, f'constructs.{name}')}; rename one of them")

    _validate_paths(spec, seen_constructs)
    _validate_higher_order(spec, seen_constructs)
    _validate_interactions(spec, seen_constructs)
    _validate_covariances(spec, seen_constructs, item_owner)
    _validate_columns(spec, item_owner)


def _validate_higher_order(spec, constructs: set[str]) -> None:
    """Second-order constructs: at least two dimensions, each a declared first-order
    construct of one higher-order construct only, and on no path of its own (the paths go to
    and from the higher-order construct)."""
    owner: dict[str, str] = {}
    by_name = {c.name: c for c in spec.constructs}
    on_path = {end for path in spec.paths for end in path}
    for c in spec.constructs:
        if not c.dimensions:
            continue
        where = _where(spec, f"constructs.{c.name}")
        if not isinstance(c.dimensions, (tuple, list)) or not all(
                isinstance(d, str) for d in c.dimensions):
            raise SpecError(f"the dimensions of {c.name!r} must be a tuple of construct names")
        if len(set(c.dimensions)) < 2:
            raise SpecError(f"higher-order construct {c.name!r} has "
                            f"{len(set(c.dimensions))} distinct dimension(s){where}: give at "
                            "least two first-order constructs under 'dimensions:'")
        for d in c.dimensions:
            if d not in constructs:
                raise SpecError(f"dimension {d!r} of {c.name!r}{where} is not a declared "
                                f"construct (declared: {', '.join(sorted(constructs))})")
            if d == c.name or by_name[d].dimensions or by_name[d].interaction:
                raise SpecError(f"dimension {d!r} of {c.name!r}{where} is itself a higher-order "
                                "construct: only second-order constructs are supported; give "
                                "first-order constructs (with items) as dimensions")
            if d in owner:
                raise SpecError(f"construct {d!r} is a dimension of both {owner[d]!r} and "
                                f"{c.name!r}{where}: a dimension belongs to one higher-order "
                                "construct")
            if d in on_path:
                raise SpecError(f"dimension {d!r} of {c.name!r} is on a structural path"
                                f"{where}: draw the paths to and from {c.name!r} instead (the "
                                "dimensions are linked to it by the estimation method)")
            owner[d] = c.name


def spec_advice(spec) -> list[tuple[str, str]]:
    """Advice on a valid spec, as (construct, message) pairs: what it cannot be fitted with.

    A construct on no structural path is legal (CB-SEM fits it as a factor correlated with
    the others, as in a confirmatory factor analysis), but PLS path modelling cannot
    estimate it: its inner weights come from the construct's neighbours on paths."""
    on_path = {end for path in spec.paths for end in path}
    on_path |= {d for c in spec.constructs for d in c.dimensions}   # linked to their HOC
    return [(c, f"construct {c} is on no path{_where(spec, f'constructs.{c}')}: PLS needs every "
                "construct on a path (method='pls' refuses this spec); CB-SEM can fit it as a "
                "correlated factor (method='cbsem'). Add a path to fit it by PLS")
            for c in spec.construct_names if c not in on_path]


MAX_BOUND = 1e9  # beyond this, squared deviations of answers overflow the engines' arithmetic


def is_number(value) -> bool:
    """A finite real number (not a bool; an int too large for a float does not count)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_code(code) -> bool:
    return bool(code.strip()) if isinstance(code, str) else is_number(code)


def _validate_paths(spec, constructs: set[str]) -> None:
    seen = set()
    for source, target in spec.paths:
        where = _where(spec, f"path:{source}->{target}")
        for end in (source, target):
            if end not in constructs:
                raise SpecError(f"path {source} -> {target}{where} refers to {end!r}, which is "
                                f"not a declared construct (declared: {', '.join(sorted(constructs))})")
        if source == target:
            raise SpecError(f"path {source} -> {target}{where} points a construct at itself")
        if (source, target) in seen:
            raise SpecError(f"path {source} -> {target} is listed twice{where}")
        seen.add((source, target))
    from graphlib import CycleError, TopologicalSorter

    predecessors = {}
    for source, target in spec.paths:
        predecessors.setdefault(target, set()).add(source)
    try:        # the standard library's check first: networkx (~0.3 s to import) only to
        TopologicalSorter(predecessors).prepare()   # name the cycle of a spec that has one
        return
    except CycleError:
        import networkx as nx

    graph = nx.DiGraph(list(spec.paths))
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    # blame the edge of the cycle listed last: usually the one just added
    position = {path: k for k, path in enumerate(spec.paths)}
    last = max(cycle, key=lambda edge: position[(edge[0], edge[1])])
    start = [edge[0] for edge in cycle].index(last[1])
    nodes = [edge[0] for edge in cycle]
    loop = " -> ".join(nodes[start:] + nodes[:start] + [last[1]])
    raise SpecError(f"the paths form a cycle: {loop}, closed by path {last[0]} -> {last[1]}"
                    f"{_where(spec, f'path:{last[0]}->{last[1]}')}; CSI models are recursive "
                    "(no feedback loops): drop one of these paths")


def _validate_covariances(spec, constructs: set[str], item_owner: dict[str, str]) -> None:
    """Residual covariances a ~~ b: two items (their errors) or two constructs (their
    disturbances), each pair once in either order, never a name with itself."""
    seen: dict[frozenset, tuple] = {}
    for a, b in spec.covariances:
        where = _where(spec, f"covariance:{a}~~{b}")
        for end in (a, b):
            if end not in constructs and end not in item_owner:
                raise SpecError(f"covariance {a} ~~ {b}{where} refers to {end!r}, which is neither "
                                "an item nor a construct of the model")
        if a == b:
            raise SpecError(f"covariance {a} ~~ {b}{where} pairs {a!r} with itself (a variance, "
                            "which is always estimated); name two different items or constructs")
        if (a in constructs) != (b in constructs):
            item, construct = (b, a) if a in constructs else (a, b)
            raise SpecError(f"covariance {a} ~~ {b}{where} pairs construct {construct!r} with item "
                            f"{item!r}; a residual covariance links two items' errors or two "
                            "constructs' disturbances")
        key = frozenset((a, b))
        if key in seen:
            raise SpecError(f"covariance {a} ~~ {b}{where} is listed twice (also as "
                            f"{seen[key][0]} ~~ {seen[key][1]}); list each pair once")
        seen[key] = (a, b)


def _validate_columns(spec, item_owner: dict[str, str]) -> None:
    used: dict[str, str] = {}
    for item, column in spec.columns.items():
        where = _where(spec, f"columns.{item}")
        if item not in item_owner:
            raise SpecError(f"'columns' maps {item!r}{where}, which is not an item of the model")
        if not isinstance(column, str) or not column:
            raise SpecError(f"'columns' maps item {item!r} to {column!r}{where}; "
                            "give the survey column name as text")
        if column in used:
            raise SpecError(f"items {used[column]!r} and {item!r} are both mapped to column "
                            f"{column!r}{where}; each column may feed only one item")
        used[column] = item
    # an unmapped item keeps its own name as column: that must not collide with a mapping
    for item in item_owner:
        if item not in spec.columns and item in used and used[item] != item:
            raise SpecError(f"column {item!r} is mapped to item {used[item]!r} but is also the "
                            f"default column of item {item!r}; map {item!r} explicitly")
    for item in spec.reverse:
        if item not in item_owner:
            raise SpecError(f"'reverse' lists {item!r}{_where(spec, 'reverse')}, which is not an "
                            "item of the model")


def _validate_interactions(spec, constructs: set[str]) -> None:
    """Interaction terms: two distinct first-order constructs with items; the term is only a
    source of paths, and each target also has paths from both main effects."""
    by_name = {c.name: c for c in spec.constructs}
    for c in spec.constructs:
        if not c.interaction:
            continue
        where = _where(spec, f"constructs.{c.name}")
        if c.items or c.dimensions:
            raise SpecError(f"interaction term {c.name!r}{where} has items or dimensions: it is "
                            "measured by the products of its two constructs' items only")
        if len(c.interaction) != 2 or c.interaction[0] == c.interaction[1]:
            raise SpecError(f"interaction term {c.name!r}{where} needs two different constructs "
                            f"('interaction: [Construct, Moderator]'), got {list(c.interaction)}")
        for part in c.interaction:
            if part not in constructs:
                raise SpecError(f"interaction term {c.name!r}{where} refers to {part!r}, which "
                                "is not a declared construct")
            if not by_name[part].items:
                raise SpecError(f"interaction term {c.name!r}{where}: {part!r} has no items "
                                "(a higher-order construct or another interaction term); "
                                "interactions of first-order constructs only")
        if any(t == c.name for _, t in spec.paths):
            raise SpecError(f"interaction term {c.name!r} is the target of a path{where}: it "
                            "can only predict other constructs")
        targets = [t for s, t in spec.paths if s == c.name]
        for t in targets:
            missing = [p for p in c.interaction if (p, t) not in spec.paths]
            if missing:
                raise SpecError(f"interaction term {c.name!r} -> {t}{where}: add the main "
                                f"effect path(s) {', '.join(f'{p} -> {t}' for p in missing)}; "
                                "a moderation model keeps both main effects")


def require_first_order(spec, engine: str) -> None:
    """Engines estimate first-order models; a spec with higher-order constructs goes through
    ``engines.higher_order`` (repeated indicators or a two-stage approach) first."""
    terms = [c.name for c in spec.constructs if c.interaction]
    if terms:
        raise SpecError(f"construct(s) {', '.join(terms)} are interaction terms; {engine} cannot "
                        "estimate them directly: use csi_models.engines.interactions.fit(spec, "
                        "data, method='product_indicator' | 'orthogonal' | 'two_stage')")
    hoc = [c.name for c in spec.constructs if c.dimensions]
    if hoc:
        raise SpecError(f"construct(s) {', '.join(hoc)} are higher-order (dimensions:); "
                        f"{engine} cannot estimate them directly: use "
                        "csi_models.engines.higher_order.fit(spec, data, method='disjoint' | "
                        "'embedded' | 'repeated')")
