"""Reading model specs from YAML (safely, with line numbers) and writing them back.

The YAML is parsed with PyYAML's SafeLoader (no object construction). We walk the node
tree ourselves so that every key keeps its line number for error messages and duplicate
keys, which PyYAML silently overwrites, are reported.
"""

from __future__ import annotations

import difflib
import math
from importlib import resources
from pathlib import Path

import yaml

from csi_models.errors import SpecError
from csi_models.spec.model import Construct, Item, ModelSpec, Scale

TOP_KEYS = ("name", "title", "reference", "notes", "scale", "missing_codes", "constructs",
            "paths", "columns", "reverse")
CONSTRUCT_KEYS = ("label", "mode", "items", "scale", "missing_codes")
ITEM_KEYS = ("en", "zh", "label", "scale", "missing_codes")
DEFAULT_SCALE = Scale(1, 10)


# --- YAML with line numbers ----------------------------------------------------------------
def _parse_yaml(text: str, source: str) -> tuple[object, dict]:
    """Plain Python data from YAML text plus a map 'dotted.key' -> line number."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{source}{line}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is None:
        return None, lines
    return _plain(node, "", lines, source, loader), lines


def _plain(node, prefix: str, lines: dict, source: str, loader):
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = _plain(key_node, prefix, lines, source, loader)
            if not isinstance(key, (str, int, float)) or isinstance(key, bool):
                raise SpecError(f"{source}, line {key_node.start_mark.line + 1}: "
                                f"unexpected key {key!r}")
            key = str(key)
            dotted = f"{prefix}.{key}" if prefix else key
            if key in out:
                raise SpecError(f"{source}, line {key_node.start_mark.line + 1}: {key!r} is "
                                f"given twice (first on line {lines[dotted]})")
            lines[dotted] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, dotted, lines, source, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, child in enumerate(node.value):
            lines[f"{prefix}[{i}]"] = child.start_mark.line + 1
            items.append(_plain(child, f"{prefix}[{i}]", lines, source, loader))
        return items
    return loader.construct_object(node, deep=True)  # scalars: SafeLoader's safe types only


# --- schema -> ModelSpec --------------------------------------------------------------------
class _Reader:
    """Turns the parsed YAML into a ModelSpec, naming the file and line of each problem."""

    def __init__(self, lines: dict, source: str):
        self.lines, self.source = lines, source

    def fail(self, key: str, message: str):
        line = self.lines.get(key)
        where = f"{self.source}, line {line}" if line else self.source
        raise SpecError(f"{where}: {message}")

    def check_keys(self, mapping: dict, allowed, key: str, what: str):
        for k in mapping:
            if k not in allowed:
                hint = difflib.get_close_matches(k, allowed, n=1)
                hint = f"; did you mean {hint[0]!r}?" if hint else f"; allowed: {', '.join(allowed)}"
                self.fail(f"{key}.{k}" if key else k, f"unknown key {k!r} in {what}{hint}")

    def mapping(self, value, key: str, what: str) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"{what} must be a mapping (key: value lines), got {_kind(value)}")
        return value

    def text(self, value, key: str, what: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.fail(key, f"{what} must be text, got {_kind(value)}")
        return str(value)

    def label(self, value, key: str, what: str) -> dict:
        """A label is text (English) or a mapping language -> text."""
        if isinstance(value, dict):
            return {str(lang): self.text(v, f"{key}.{lang}", f"{what} ({lang})")
                    for lang, v in value.items()}
        return {"en": self.text(value, key, what)} if value is not None else {}

    def scale(self, value, key: str, default: Scale) -> Scale:
        if value is None:
            return default
        value = self.mapping(value, key, "scale")
        self.check_keys(value, ("min", "max"), key, "scale")
        bounds = []
        for end in ("min", "max"):
            v = value.get(end, getattr(default, end))
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                self.fail(f"{key}.{end}", f"scale {end} must be a finite number, got {v!r}")
            bounds.append(v)
        if not bounds[0] < bounds[1]:
            self.fail(key, f"scale min ({bounds[0]}) must be below max ({bounds[1]})")
        return Scale(*bounds)

    def codes(self, value, key: str) -> tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            value = [value]
        for i, v in enumerate(value):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                self.fail(f"{key}[{i}]", f"missing code {v!r} must be a number")
        return tuple(value)

    def item(self, name: str, value, key: str, scale: Scale, codes: tuple) -> Item:
        if isinstance(value, dict):
            self.check_keys(value, ITEM_KEYS, key, f"item {name!r}")
            label = self.label(value.get("label"), f"{key}.label", f"label of item {name!r}")
            label.update({lang: self.text(value[lang], f"{key}.{lang}", f"{lang} wording of {name!r}")
                          for lang in ("en", "zh") if lang in value})
            scale = self.scale(value.get("scale"), f"{key}.scale", scale)
            codes = tuple(dict.fromkeys(codes + self.codes(value.get("missing_codes"),
                                                           f"{key}.missing_codes")))
        else:
            label = self.label(value, key, f"wording of item {name!r}")
        return Item(name=name, label=label, scale=scale, missing_codes=codes)

    def construct(self, name: str, value, key: str, scale: Scale, codes: tuple) -> Construct:
        value = self.mapping(value, key, f"construct {name!r}")
        self.check_keys(value, CONSTRUCT_KEYS, key, f"construct {name!r}")
        scale = self.scale(value.get("scale"), f"{key}.scale", scale)
        codes = tuple(dict.fromkeys(codes + self.codes(value.get("missing_codes"),
                                                       f"{key}.missing_codes")))
        raw_items = value.get("items")
        if isinstance(raw_items, list):  # a plain list of item names
            raw_items = {self.text(v, f"{key}.items[{i}]", "item name"): None
                         for i, v in enumerate(raw_items)}
        if not raw_items:
            self.fail(key, f"construct {name!r} has no items: every construct needs at least "
                           "one indicator under 'items:'")
        raw_items = self.mapping(raw_items, f"{key}.items", f"items of {name!r}")
        items = tuple(self.item(n, v, f"{key}.items.{n}", scale, codes)
                      for n, v in raw_items.items())
        mode = self.text(value.get("mode", "reflective"), f"{key}.mode", "mode").strip().lower()
        mode = {"a": "reflective", "mode a": "reflective", "b": "formative",
                "mode b": "formative"}.get(mode, mode)
        return Construct(name=name, items=items, mode=mode,
                         label=self.label(value.get("label"), f"{key}.label", f"label of {name!r}"))

    def path(self, value, key: str) -> tuple[str, str]:
        text = self.text(value, key, "a path")
        parts = [p.strip() for p in text.split("->")]
        if len(parts) != 2 or not all(parts):
            self.fail(key, f"path {text!r} is not of the form 'Source -> Target'")
        self.lines[f"path:{parts[0]}->{parts[1]}"] = self.lines.get(key)
        return parts[0], parts[1]

    def spec(self, data) -> ModelSpec:
        data = self.mapping(data, "", "a model spec")
        self.check_keys(data, TOP_KEYS, "", "the model spec")
        if "name" not in data:
            self.fail("", "the spec has no 'name:'")
        scale = self.scale(data.get("scale"), "scale", DEFAULT_SCALE)
        codes = self.codes(data.get("missing_codes"), "missing_codes")
        raw = data.get("constructs")
        if not raw:
            self.fail("constructs", "the spec declares no constructs under 'constructs:'")
        raw = self.mapping(raw, "constructs", "'constructs'")
        constructs = tuple(self.construct(n, v, f"constructs.{n}", scale, codes)
                           for n, v in raw.items())
        paths = data.get("paths") or []
        if not isinstance(paths, list):
            self.fail("paths", "'paths' must be a list of 'Source -> Target' lines")
        columns = self.mapping(data.get("columns") or {}, "columns", "'columns'")
        reverse = data.get("reverse") or []
        if not isinstance(reverse, list):
            reverse = [reverse]
        return ModelSpec(
            name=self.text(data["name"], "name", "name"),
            title=self.label(data.get("title"), "title", "title"),
            reference=self.text(data.get("reference"), "reference", "reference"),
            notes=self.text(data.get("notes"), "notes", "notes"),
            constructs=constructs,
            paths=tuple(self.path(p, f"paths[{i}]") for i, p in enumerate(paths)),
            columns={str(k): v for k, v in columns.items()},
            reverse=tuple(self.text(r, f"reverse[{i}]", "a reverse item")
                          for i, r in enumerate(reverse)),
            source=self.source, lines=self.lines)


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), type(value).__name__)


# --- public entry points -------------------------------------------------------------------
def spec_from_yaml(text: str, source: str = "<spec>") -> ModelSpec:
    """Build a ModelSpec from YAML text."""
    data, lines = _parse_yaml(text, source)
    return _Reader(lines, source).spec(data)


def spec_from_dict(data: dict, source: str = "<dict>") -> ModelSpec:
    """Build a ModelSpec from plain data laid out like the YAML file."""
    return _Reader({}, source).spec(data)


def shipped_specs() -> list[str]:
    """Names of the specs shipped in ``model_specs/`` (acsi, ccsi, ecsi, ...)."""
    folder = resources.files("csi_models.model_specs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_spec(spec) -> ModelSpec:
    """A spec from a shipped name ('acsi'), a YAML file path, a dict, or a ModelSpec (returned as is)."""
    if isinstance(spec, ModelSpec):
        return spec
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    if not isinstance(spec, (str, Path)):
        raise SpecError(f"a spec is a shipped name, a YAML path, a dict or a ModelSpec; got "
                        f"{type(spec).__name__}")
    text = str(spec)
    if text.lower() in shipped_specs():
        resource = resources.files("csi_models.model_specs") / f"{text.lower()}.yaml"
        return spec_from_yaml(resource.read_text(encoding="utf-8"), f"{text.lower()}.yaml")
    path = Path(text)
    if not path.is_file():
        raise SpecError(f"no spec named {text!r}: not a shipped spec ({', '.join(shipped_specs())}) "
                        "and not an existing YAML file")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {path}: {exc}") from None
    return spec_from_yaml(content, str(path))


def spec_to_dict(spec: ModelSpec) -> dict:
    """The spec as plain data in the YAML layout (scales written per item only where they
    differ from the most common scale)."""
    scales = [i.scale for i in spec.items]
    common = max(set(scales), key=scales.count)
    out = {"name": spec.name}
    if spec.title:
        out["title"] = dict(spec.title)
    if spec.reference:
        out["reference"] = spec.reference
    if spec.notes:
        out["notes"] = spec.notes
    out["scale"] = {"min": common.min, "max": common.max}
    constructs = {}
    for c in spec.constructs:
        items = {}
        for item in c.items:
            entry = dict(item.label)
            if item.scale != common:
                entry["scale"] = {"min": item.scale.min, "max": item.scale.max}
            if item.missing_codes:
                entry["missing_codes"] = list(item.missing_codes)
            items[item.name] = entry or None
        constructs[c.name] = {"label": dict(c.label), "mode": c.mode, "items": items}
    out["constructs"] = constructs
    out["paths"] = [f"{s} -> {t}" for s, t in spec.paths]
    if spec.columns:
        out["columns"] = dict(spec.columns)
    if spec.reverse:
        out["reverse"] = list(spec.reverse)
    return out
