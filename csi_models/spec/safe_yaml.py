"""Safe YAML with line numbers: the parser under ``spec.loading``'s error messages.

The YAML is parsed with PyYAML's SafeLoader (no object construction). We walk the node
tree ourselves so that every key keeps its line number for error messages and duplicate
keys, which PyYAML silently overwrites, are reported. The walk accepts only plain YAML:
any explicit tag other than the core ones (``!!python/...``, ``!!set``, ``!!binary``, custom
``!tags``) is refused rather than ignored, and aliases may neither recurse nor expand beyond
``MAX_NODES`` nodes (the "billion laughs" document). It knows YAML, not model specs: the
schema is ``spec.loading``'s.
"""

from __future__ import annotations

import yaml

from csi_models.errors import SpecError

MAX_NODES = 100_000  # YAML nodes after alias expansion; the shipped specs have ~400
PLAIN_TAGS = {"tag:yaml.org,2002:" + t for t in ("map", "seq", "str", "int", "float", "bool", "null")}
TIMESTAMP = "tag:yaml.org,2002:timestamp"


def parse_yaml(text: str, source: str) -> tuple[object, dict]:
    """Plain Python data from YAML text plus a map 'dotted.key' -> line number."""
    if not isinstance(text, (str, bytes)):
        raise SpecError(f"{source}: a spec's YAML must be text, got {type(text).__name__}")
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}{_line(exc)}: not valid YAML: "
                        f"{getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise SpecError(f"{source}: the YAML is nested too deeply to be a model spec") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[str, int] = {}
    if node is None:
        return None, lines
    walk = _Walk(lines, source, loader)
    try:
        return walk.plain(node, ""), lines
    except RecursionError:
        raise SpecError(f"{source}: the YAML is nested too deeply to be a model spec") from None


def _line(exc) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None and isinstance(exc, yaml.reader.ReaderError):
        return f", character {exc.position}"
    return f", line {mark.line + 1}" if mark is not None else ""


class _Walk:
    """Node tree -> plain dicts/lists/scalars, recording the line of every key."""

    def __init__(self, lines: dict, source: str, loader):
        self.lines, self.source, self.loader = lines, source, loader
        self.count = 0
        self.open: set[int] = set()  # nodes being walked: an alias back to one is a loop

    def plain(self, node, prefix: str):
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"{self.source}, line {line}: the YAML expands to more than "
                            f"{MAX_NODES} nodes (aliases?); a model spec is far smaller")
        if node.tag not in PLAIN_TAGS and node.tag != TIMESTAMP:
            raise SpecError(f"{self.source}, line {line}: the YAML tag {node.tag!r} is not allowed "
                            "in a model spec; write plain values (no '!!' or '!' tags)")
        if id(node) in self.open:
            raise SpecError(f"{self.source}, line {line}: a YAML alias refers to a node that "
                            "contains it (a loop); write the values out")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == TIMESTAMP:  # an unquoted date is text to us (a title, a label)
                return node.value
            try:
                return self.loader.construct_object(node, deep=True)  # core scalar types only
            except yaml.YAMLError as exc:
                raise SpecError(f"{self.source}, line {line}: not valid YAML: "
                                f"{getattr(exc, 'problem', None) or exc}") from None
        self.open.add(id(node))
        try:
            return self.mapping(node, prefix) if isinstance(node, yaml.MappingNode) else \
                self.sequence(node, prefix)
        finally:
            self.open.discard(id(node))

    def sequence(self, node, prefix: str) -> list:
        items = []
        for i, child in enumerate(node.value):
            self.lines[f"{prefix}[{i}]"] = child.start_mark.line + 1
            items.append(self.plain(child, f"{prefix}[{i}]"))
        return items

    def mapping(self, node, prefix: str) -> dict:
        lines, source = self.lines, self.source
        out = {}
        for key_node, value_node in node.value:
            key = self.plain(key_node, prefix)
            if not isinstance(key, (str, int, float)) or isinstance(key, bool):
                raise SpecError(f"{source}, line {key_node.start_mark.line + 1}: "
                                f"unexpected key {key!r}")
            key = str(key)
            dotted = f"{prefix}.{key}" if prefix else key
            if key in out:
                raise SpecError(f"{source}, line {key_node.start_mark.line + 1}: {key!r} is "
                                f"given twice (first on line {lines[dotted]})")
            lines[dotted] = key_node.start_mark.line + 1
            out[key] = self.plain(value_node, dotted)
        return out
