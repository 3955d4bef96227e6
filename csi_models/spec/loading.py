"""Reading model specs: YAML text, a file, a shipped name or a dict -> a checked ModelSpec.

``_Reader`` walks the parsed spec section by section (scale, answers, missing codes,
constructs and their items, paths, covariances) and names the file and line of each problem;
the line numbers come from ``spec.safe_yaml``, which parses the YAML safely. The public
entry points (``load_spec``, ``spec_from_yaml``, ``spec_from_dict``, ``shipped_specs``) are
at the end.
"""

from __future__ import annotations

import copy
import difflib
import functools
from importlib import resources
from pathlib import Path

from csi_models.errors import SpecError
from csi_models.spec.answers import ANSWER_SETS, answer_pairs, normalize_label, set_scale
from csi_models.spec.model import DEFAULT_SCALE, Construct, Item, ModelSpec, Scale
from csi_models.spec.safe_yaml import parse_yaml
from csi_models.spec.validation import is_number

TOP_KEYS = ("name", "title", "reference", "notes", "scale", "missing_codes", "answers",
            "constructs", "paths", "columns", "reverse", "covariances")
CONSTRUCT_KEYS = ("label", "mode", "items", "dimensions", "interaction", "scale", "missing_codes",
                  "answers")
ITEM_KEYS = ("en", "zh", "label", "scale", "missing_codes", "answers")


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
            if not is_number(v):
                self.fail(f"{key}.{end}", f"scale {end} must be a finite number, got {v!r}")
            bounds.append(v)
        if not bounds[0] < bounds[1]:
            self.fail(key, f"scale min ({bounds[0]}) must be below max ({bounds[1]})")
        return Scale(*bounds)

    def codes(self, value, key: str) -> tuple:
        """Missing codes: finite numbers (98, 99) or text answers ('DK', '不知道')."""
        if value is None:
            return ()
        if not isinstance(value, list):
            value = [value]
        out = []
        for i, v in enumerate(value):
            if isinstance(v, str) and v.strip():
                out.append(v.strip())
            elif is_number(v):
                out.append(v)
            else:
                self.fail(f"{key}[{i}]", f"missing code {v!r} must be a finite number or a "
                                         "text answer such as 'DK'")
        return tuple(out)

    def answers(self, value: dict, key: str, scale: Scale, inherited: tuple):
        """(scale, answers) after this level's ``answers:``: its labels are added to (and
        override) the inherited ones; a built-in set gives the scale when none is declared."""
        if value.get("answers") is None:
            return scale, inherited
        where = f"{key}.answers" if key else "answers"
        pairs = answer_pairs(value["answers"], lambda message: self.fail(where, message))
        merged = {normalize_label(label): (label, code) for label, code in inherited}
        merged.update({normalize_label(label): (label, code) for label, code in pairs})
        named = value["answers"] if isinstance(value["answers"], str) else None
        if named is not None and value.get("scale") is None and \
                named.strip().lower() in ANSWER_SETS:
            scale = Scale(*set_scale(named.strip().lower()))
        return scale, tuple(sorted(merged.values(), key=lambda p: (p[1], p[0])))

    def item(self, name: str, value, key: str, scale: Scale, codes: tuple,
             answers: tuple = ()) -> Item:
        if isinstance(value, dict):
            self.check_keys(value, ITEM_KEYS, key, f"item {name!r}")
            label = self.label(value.get("label"), f"{key}.label", f"label of item {name!r}")
            label.update({lang: self.text(value[lang], f"{key}.{lang}", f"{lang} wording of {name!r}")
                          for lang in ("en", "zh") if lang in value})
            scale, answers = self.answers(value, key, scale, answers)
            scale = self.scale(value.get("scale"), f"{key}.scale", scale)
            codes = tuple(dict.fromkeys(codes + self.codes(value.get("missing_codes"),
                                                           f"{key}.missing_codes")))
        else:
            label = self.label(value, key, f"wording of item {name!r}")
        return Item(name=name, label=label, scale=scale, missing_codes=codes, answers=answers)

    def item_list(self, names: list, key: str, construct: str) -> dict:
        """A list of item names as {name: None}; a name listed twice is an error (a mapping
        cannot hold it twice either, and silently merging would hide a copy-paste slip)."""
        out: dict[str, int] = {}
        for i, value in enumerate(names):
            item = self.text(value, f"{key}[{i}]", "item name")
            if item in out:
                first = self.lines.get(f"{key}[{out[item]}]")
                where = f"first on line {first}" if first else f"entries {out[item] + 1} and {i + 1}"
                self.fail(f"{key}[{i}]", f"item {item!r} is listed twice in construct "
                                         f"{construct!r} ({where}); list each item once")
            out[item] = i
        return dict.fromkeys(out)

    def construct(self, name: str, value, key: str, scale: Scale, codes: tuple,
                  answers: tuple = ()) -> Construct:
        value = self.mapping(value, key, f"construct {name!r}")
        self.check_keys(value, CONSTRUCT_KEYS, key, f"construct {name!r}")
        scale, answers = self.answers(value, key, scale, answers)
        scale = self.scale(value.get("scale"), f"{key}.scale", scale)
        codes = tuple(dict.fromkeys(codes + self.codes(value.get("missing_codes"),
                                                       f"{key}.missing_codes")))
        raw_items = value.get("items")
        dimensions = self.dimensions(value.get("dimensions"), f"{key}.dimensions", name)
        interaction = self.dimensions(value.get("interaction"), f"{key}.interaction", name)
        if interaction and (raw_items or dimensions):
            self.fail(key, f"construct {name!r} is an interaction term and has items or "
                           "dimensions too; an interaction term is only 'interaction: "
                           "[Construct, Moderator]'")
        if dimensions and raw_items:
            self.fail(key, f"construct {name!r} has both 'items:' and 'dimensions:'; a "
                           "higher-order construct is measured by its dimensions only: drop "
                           "its items (or make it a first-order construct without dimensions)")
        if isinstance(raw_items, list):  # a plain list of item names
            raw_items = self.item_list(raw_items, f"{key}.items", name)
        if not raw_items and not dimensions and not interaction:
            self.fail(key, f"construct {name!r} has no items: every construct needs at least "
                           "one indicator under 'items:' (or, for a higher-order construct, "
                           "its first-order constructs under 'dimensions:')")
        raw_items = self.mapping(raw_items or {}, f"{key}.items", f"items of {name!r}")
        items = tuple(self.item(str(n), v, f"{key}.items.{n}", scale, codes, answers)
                      for n, v in raw_items.items())
        mode = self.text(value.get("mode", "reflective"), f"{key}.mode", "mode").strip().lower()
        mode = {"a": "reflective", "mode a": "reflective", "b": "formative",
                "mode b": "formative"}.get(mode, mode)
        return Construct(name=name, items=items, mode=mode, dimensions=dimensions,
                         interaction=interaction,
                         label=self.label(value.get("label"), f"{key}.label", f"label of {name!r}"))

    def dimensions(self, value, key: str, construct: str) -> tuple[str, ...]:
        """The dimensions of a higher-order construct (or the two constructs of an
        interaction term): a list of construct names."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(key, f"'{key.rsplit('.', 1)[-1]}' of {construct!r} must be a list of "
                           f"construct names, got {_kind(value)}")
        return tuple(self.text(v, f"{key}[{i}]", "a dimension (construct name)")
                     for i, v in enumerate(value))

    def path(self, value, key: str) -> tuple[str, str]:
        text = self.text(value, key, "a path")
        parts = [p.strip() for p in text.split("->")]
        if len(parts) != 2 or not all(parts):
            self.fail(key, f"path {text!r} is not of the form 'Source -> Target'")
        self.lines[f"path:{parts[0]}->{parts[1]}"] = self.lines.get(key)
        return parts[0], parts[1]

    def covariance(self, value, key: str) -> tuple[str, str]:
        text = self.text(value, key, "a covariance")
        parts = [p.strip() for p in text.split("~~")]
        if len(parts) != 2 or not all(parts):
            self.fail(key, f"covariance {text!r} is not of the form 'a ~~ b' (two item names or "
                           "two construct names)")
        self.lines[f"covariance:{parts[0]}~~{parts[1]}"] = self.lines.get(key)
        return parts[0], parts[1]

    def spec(self, data) -> ModelSpec:
        data = self.mapping(data, "", "a model spec")
        self.check_keys(data, TOP_KEYS, "", "the model spec")
        if "name" not in data:
            self.fail("", "the spec has no 'name:'")
        scale, answers = self.answers(data, "", DEFAULT_SCALE, ())
        scale = self.scale(data.get("scale"), "scale", scale)
        codes = self.codes(data.get("missing_codes"), "missing_codes")
        raw = data.get("constructs")
        if not raw:
            self.fail("constructs", "the spec declares no constructs under 'constructs:'")
        raw = self.mapping(raw, "constructs", "'constructs'")
        constructs = tuple(self.construct(str(n), v, f"constructs.{n}", scale, codes, answers)
                           for n, v in raw.items())
        paths = data.get("paths") or []
        if not isinstance(paths, list):
            self.fail("paths", "'paths' must be a list of 'Source -> Target' lines")
        columns = self.mapping(data.get("columns") or {}, "columns", "'columns'")
        covariances = data.get("covariances") or []
        if not isinstance(covariances, list):
            self.fail("covariances", "'covariances' must be a list of 'a ~~ b' lines")
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
            covariances=tuple(self.covariance(c, f"covariances[{i}]")
                              for i, c in enumerate(covariances)),
            source=self.source, lines=self.lines)


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), type(value).__name__)


# --- public entry points -------------------------------------------------------------------
def spec_from_yaml(text: str, source: str = "<spec>") -> ModelSpec:
    """Build a ModelSpec from YAML text."""
    data, lines = parse_yaml(text, source)
    return _Reader(lines, source).spec(data)


def spec_from_dict(data: dict, source: str = "<dict>") -> ModelSpec:
    """Build a ModelSpec from plain data laid out like the YAML file."""
    return _Reader({}, source).spec(data)


def shipped_specs() -> list[str]:
    """Names of the specs shipped in ``model_specs/`` (acsi, ccsi, ecsi, ...)."""
    folder = resources.files("csi_models.model_specs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@functools.lru_cache(maxsize=None)
def _shipped_yaml(name: str):
    """A shipped spec's parsed YAML, read once per process: parsing with line numbers costs
    ~0.08 s, more than a PLS fit, and batch scripts load the same spec for every company."""
    resource = resources.files("csi_models.model_specs") / f"{name}.yaml"
    return parse_yaml(resource.read_text(encoding="utf-8"), f"{name}.yaml")


def _looks_like_yaml(text: str) -> bool:
    """Spec YAML text rather than a name or path: several lines, or a mapping on one line."""
    stripped = text.strip()
    return "\n" in stripped or stripped.startswith("{") or stripped.startswith("name:")


def load_spec(spec) -> ModelSpec:
    """A spec from a shipped name ('acsi'), a YAML file path, YAML text (the content of such a
    file, e.g. ``spec.to_yaml()``), a dict, or a ModelSpec (returned as is)."""
    if isinstance(spec, ModelSpec):
        return spec
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    if not isinstance(spec, (str, Path)):
        raise SpecError(f"a spec is a shipped name, a YAML path, YAML text, a dict or a "
                        f"ModelSpec; got {type(spec).__name__}")
    text = str(spec)
    if text.lower() in shipped_specs():
        data, lines = _shipped_yaml(text.lower())
        return _Reader(lines, f"{text.lower()}.yaml").spec(copy.deepcopy(data))
    path = Path(text)
    try:
        exists = path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        exists = False
    if not exists and _looks_like_yaml(text):
        return spec_from_yaml(text, "<YAML text>")
    if not exists:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise SpecError(f"no spec named {shown!r}: not a shipped spec "
                        f"({', '.join(shipped_specs())}), not an existing YAML file and not YAML "
                        "text of a spec; load_spec takes a shipped name, a path, YAML text, a "
                        "dict or a ModelSpec")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {path}: {exc}") from None
    return spec_from_yaml(content, str(path))
