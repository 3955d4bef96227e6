"""Hostile input: mutated specs, YAML tricks, junk arguments, random DataFrames and files.

Property: every public entry point either succeeds or raises a CSIError (never a bare
TypeError/KeyError/numpy error); only CSIWarnings escape; YAML never constructs objects;
the caller's DataFrame and files are unchanged afterwards. Runtime ~1 minute in all.
"""

import builtins
import copy
import hashlib
import math
import os
import warnings
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import csi_models as csi
from csi_models.data import prepare
from csi_models.errors import CSIError, CSIWarning, DataError, SpecError
from csi_models.simulation import simulate
from csi_models.spec import ModelSpec, load_spec, spec_from_dict, spec_from_yaml
from csi_models.spec.validation import spec_advice

# CSI_FUZZ_SCALE=20 multiplies every example count (and draws new random cases) for a bug hunt
SCALE = int(os.environ.get("CSI_FUZZ_SCALE", "1"))
FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=SCALE == 1)
TEXTS = {n: resources.files("csi_models.model_specs").joinpath(f"{n}.yaml").read_text("utf-8")
         for n in csi.shipped_specs()}
DICTS = {n: yaml.safe_load(t) for n, t in TEXTS.items()}
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["Satisfaction", "Nope", "", " ", "A -> B", "满意度", "😀", "reflective",
                     "formative", "B", "1e400", "-> ->", "CUSA1"]),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=4)), max_size=2))
HUGE = st.sampled_from([0, -5, 1e308, -1e308, 1e12, 10**400, float("nan"), float("inf"), "1", None])


def _ok_or_csi(call, *args, **kwargs):
    """Run ``call``; a CSIError is fine, anything else fails the test. Returns the result or
    the CSIError raised (and labels the outcome for --hypothesis-show-statistics)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = call(*args, **kwargs)
        except CSIError as exc:
            out = exc
    name = getattr(call, "__name__", "call")
    event(f"{name}: {type(out).__name__}")
    strays = [w for w in caught if not issubclass(w.category, CSIWarning)]
    assert not strays, f"non-CSI warning {strays[0].category.__name__}: {strays[0].message}"
    return out


# --- specs: mutated structure ---------------------------------------------------------------
def _locations(obj, prefix=()):
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _locations(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _locations(v, prefix + (i,))
    return out


@st.composite
def mutated_spec(draw) -> dict:
    d = copy.deepcopy(DICTS[draw(st.sampled_from(sorted(DICTS)))])
    for _ in range(draw(st.integers(1, 4))):
        locations = [loc for loc in _locations(d) if loc]
        if not locations:
            break
        loc = draw(st.sampled_from(locations))
        parent = d
        for k in loc[:-1]:
            parent = parent[k]
        constructs = d.get("constructs") if isinstance(d.get("constructs"), dict) else {}
        paths = d.get("paths") if isinstance(d.get("paths"), list) else None
        action = draw(st.sampled_from(["delete", "junk", "cycle", "unknown_path", "dup_item",
                                       "scale", "codes", "columns", "reverse", "mode",
                                       "item_list"]))
        if action == "delete":
            del parent[loc[-1]]
        elif action == "junk":
            parent[loc[-1]] = draw(JUNK)
        elif action == "cycle" and paths:
            p = draw(st.sampled_from(paths))
            if isinstance(p, str):
                paths.append(" -> ".join(reversed(p.split(" -> "))))
        elif action == "unknown_path" and paths is not None:
            paths.append(f"{draw(st.sampled_from(['Nope', '', 'Loyalty', '满意']))} -> "
                         f"{draw(st.sampled_from(['Satisfaction', 'Ghost', 'Image']))}")
        elif action == "dup_item" and len(constructs) >= 2:
            blocks = [c for c in constructs.values() if isinstance(c, dict) and
                      isinstance(c.get("items"), dict) and c["items"]]
            if len(blocks) >= 2:
                a, b = draw(st.sampled_from(blocks)), draw(st.sampled_from(blocks))
                name = next(iter(a["items"]))
                b["items"][name] = a["items"][name]
        elif action == "scale":
            target = d if draw(st.booleans()) or not constructs else \
                constructs[draw(st.sampled_from(sorted(constructs)))]
            if isinstance(target, dict):
                target["scale"] = draw(st.one_of(
                    st.fixed_dictionaries({"min": HUGE, "max": HUGE}),
                    st.just({"min": 0, "max": 1})))
                if target is not d and draw(st.booleans()):
                    d.pop("scale", None)  # a construct scale next to fallback (undeclared) items
        elif action == "codes":
            d["missing_codes"] = draw(st.lists(st.one_of(HUGE, st.text(max_size=3)), max_size=3))
        elif action == "columns":
            d["columns"] = {draw(st.sampled_from(["CUSA1", "Nope", "CUSL1"])): draw(JUNK)}
        elif action == "reverse":
            d["reverse"] = draw(st.one_of(JUNK, st.just(["CUSA1", "CUSA1"])))
        elif action == "item_list" and constructs:  # items as a list, maybe one repeated
            c = constructs[draw(st.sampled_from(sorted(constructs)))]
            if isinstance(c, dict) and isinstance(c.get("items"), dict) and c["items"]:
                names = list(c["items"])
                c["items"] = names + draw(st.lists(st.sampled_from(names), max_size=1))
        elif action == "mode" and constructs:
            c = constructs[draw(st.sampled_from(sorted(constructs)))]
            if isinstance(c, dict):
                c["mode"] = draw(st.sampled_from(["A", "mode b", "formatve", 3, None, ""]))
    return d


@settings(max_examples=300 * SCALE, **FUZZ)
@given(mutated_spec())
def test_mutated_specs_load_or_raise_spec_error(d):
    before = copy.deepcopy(d)
    out = _ok_or_csi(spec_from_dict, d)
    assert isinstance(out, (ModelSpec, SpecError)), out
    if isinstance(out, ModelSpec):  # nothing listed is dropped or merged silently
        for c in out.constructs:
            listed = d["constructs"][c.name]["items"]
            if isinstance(listed, list):
                assert c.item_names == [str(i) for i in listed], (c.item_names, listed)
        back = spec_from_yaml(out.to_yaml())  # to_yaml round-trips, declared scales included
        assert back == out and [i.scale.explicit for i in back.items] == \
            [i.scale.explicit for i in out.items]
    assert d == before or _has_nan(d)  # spec_from_dict must not edit the caller's dict
    try:
        text = yaml.safe_dump(d, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, OverflowError):
        return
    again = _ok_or_csi(spec_from_yaml, text, "mutated.yaml")
    assert isinstance(again, (ModelSpec, SpecError)), again
    if isinstance(out, ModelSpec) and yaml.safe_load(text) == d:  # YAML kept every value
        assert again == out


def _has_nan(obj) -> bool:
    if isinstance(obj, float):
        return math.isnan(obj)
    if isinstance(obj, dict):
        return any(_has_nan(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_nan(v) for v in obj)
    return False


EDITS = ["", "!!python/object/apply:builtins.exec ['import builtins; builtins.PWNED = 1'] ",
         "!!python/name:os.system ", "&a ", "*a ", "!!set ", "!!binary ", "!!omap ", "!custom ",
         "<<: *a\n", "\x00", ":", "- ", "\n  ", "{", "[", "\t", "? ", "|", "%YAML 1.1\n---\n",
         "\ufeff", "\u2028", "\U0001F600", "满意", "'", '"', "#", "~", ".nan", "1e400"]


@settings(max_examples=250 * SCALE, **FUZZ)
@given(st.sampled_from(sorted(TEXTS)),
       st.lists(st.tuples(st.integers(0, 3000), st.sampled_from(EDITS), st.integers(0, 3)), max_size=4),
       st.sampled_from([None, b"\xff\xfe\x00", b"\xc3\x28", b"\x80abc", b"\xe6\xbb"]))
def test_edited_yaml_files_load_or_raise_spec_error(tmp_path_factory, name, edits, raw_bytes):
    text = TEXTS[name]
    for pos, insert, cut in edits:
        text = text[:pos] + insert + text[pos + cut:]
    data = text.encode("utf-8")
    if raw_bytes is not None:  # not UTF-8 at all
        data = data[:len(data) // 2] + raw_bytes + data[len(data) // 2:]
    path = tmp_path_factory.mktemp("specs") / "edited.yaml"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    out = _ok_or_csi(load_spec, str(path))
    assert isinstance(out, (ModelSpec, SpecError)), out
    assert not hasattr(builtins, "PWNED")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


BASE = "name: tiny\nscale: {min: 1, max: 5}\nconstructs:\n  A: {items: [a1, a2]}\n  B: {items: [b1]}\npaths: [A -> B]\n"


@pytest.mark.parametrize("text", [
    "name: !!python/object/apply:builtins.exec ['import builtins; builtins.PWNED = 1']\n" + BASE[11:],
    BASE.replace("name: tiny", "name: !!python/object/new:builtins.exec ['import builtins; builtins.PWNED = 1']"),
    BASE.replace("constructs:\n", "constructs: !!python/object:builtins.dict\n"),
    BASE.replace("paths: [A -> B]", "paths: !!python/object/apply:builtins.exec ['import builtins; builtins.PWNED = 1']"),
    BASE.replace("name: tiny", "name: !!python/name:builtins.exec"),
    BASE.replace("items: [a1, a2]", "items: !!set {a1: null, a2: null}"),
    BASE.replace("name: tiny", "name: !!binary aGVsbG8="),
    BASE.replace("name: tiny", "name: !mytag tiny"),
    BASE + "notes: &a [*a]\n",                                     # recursive alias
    "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n" + BASE,                  # billion laughs (10^6 nodes)
    "[" * 5000 + "]" * 5000,                                        # nesting beyond the stack
    BASE.replace("name: tiny", "name: tiny\n<<: {reference: x}"),   # merge keys
])
def test_yaml_tags_aliases_and_depth_are_refused_without_constructing(text):
    with pytest.raises(SpecError):
        spec_from_yaml(text, "evil.yaml")
    assert not hasattr(builtins, "PWNED")


# --- specs: editing with junk arguments ---------------------------------------------------
EDITORS = {
    "add_path": lambda s, a, b: s.add_path(a, b),
    "drop_path": lambda s, a, b: s.drop_path(a, b),
    "drop_construct": lambda s, a, b: s.drop_construct(a),
    "with_columns": lambda s, a, b: s.with_columns(a if isinstance(a, dict) else {str(a): b}),
    "with_reverse": lambda s, a, b: s.with_reverse(a),
    "with_mode": lambda s, a, b: s.with_mode(a, b),
    "with_scale": lambda s, a, b: s.with_scale(a, b),
    "with_scale_items": lambda s, a, b: s.with_scale(1, 5, items=a),
    "replace": lambda s, a, b: s.replace(**{str(a): b}) if isinstance(a, str) else s.replace(paths=a),
    "item": lambda s, a, b: s.item(a),
    "construct": lambda s, a, b: s.construct(a),
}
ARGS = st.one_of(JUNK, HUGE, st.sampled_from(["Image", "Loyalty", "Satisfaction", "CUSA1", "name",
                                              "constructs", "paths", "columns", "reverse"]),
                 st.just([("Image", "Loyalty")]), st.just({"CUSA1": "q1"}), st.just(["CUSA1"]))


@settings(max_examples=250 * SCALE, **FUZZ)
@given(st.sampled_from(sorted(EDITORS)), ARGS, ARGS)
def test_spec_editing_with_junk_arguments(method, a, b):
    spec = load_spec("ecsi")
    text = spec.to_yaml()
    out = _ok_or_csi(EDITORS[method], spec, a, b)
    assert not isinstance(out, BaseException) or isinstance(out, SpecError), out
    assert spec.to_yaml() == text  # specs are immutable


# --- data: random DataFrames -------------------------------------------------------------------
SMALL_DICT = {"name": "small", "scale": {"min": 1, "max": 5}, "missing_codes": [9, "DK"],
              "constructs": {"A": {"items": ["a1", "a2", "a3"]}, "B": {"items": ["b1", "b2"]},
                             "C": {"items": ["c1"]}},
              "paths": ["A -> B", "B -> C", "A -> C"], "reverse": ["a3"]}
SMALL = spec_from_dict(SMALL_DICT)
MAPPED = SMALL.with_columns({"a1": "满意度1", "b2": "😀 q2"})
# the same spec with the numeric code quoted ("9" in the YAML): it must check identically
QUOTED = spec_from_dict({**SMALL_DICT, "missing_codes": [" 9 ", "DK"]})
QUOTED_MAPPED = QUOTED.with_columns({"a1": "满意度1", "b2": "😀 q2"})
GOOD = simulate(SMALL, 80, random_state=7, discrete=True).assign(a3=lambda f: 6 - f["a3"])
CELLS = st.one_of(st.sampled_from([np.nan, np.inf, -np.inf, "abc", "", " 3 ", "DK", "不知道", "😀",
                                   1e300, -1e300, 10**400, -7, 9, True, None, pd.NA, 2.5, "4,5",
                                   b"3", complex(1, 1), [1], pd.Timestamp("2024-01-01")]),
                  st.integers(-3, 12), st.floats(allow_nan=True, allow_infinity=True))


def _edit(df: pd.DataFrame, draw) -> pd.DataFrame:
    """One hostile edit of a frame (returns a new frame)."""
    columns = list(df.columns)
    col = draw(st.sampled_from(columns)) if columns else None
    j = columns.index(col) if col is not None and columns.count(col) == 1 else None
    act = draw(st.sampled_from(["cell", "cells", "bool", "all_nan", "dup_name", "rename", "const",
                                "object", "category", "date", "complex", "int_name", "dup_index",
                                "drop", "huge", "text_numbers", "nullable", "labels"]))
    if j is None and act not in ("dup_index", "labels"):
        return df
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' own cast warnings while building the case
            return _apply(df.copy(), act, col, j, draw)
    except (TypeError, ValueError, OverflowError):  # e.g. complex cannot become Int64: skip
        return df


def _apply(df, act, col, j, draw):
    if act == "cell" and len(df):
        df = df.astype({col: object})
        df.iat[draw(st.integers(0, len(df) - 1)), j] = draw(CELLS)
    elif act == "cells" and len(df):
        rows = draw(st.lists(st.integers(0, len(df) - 1), max_size=30))
        df = df.astype({col: object})
        for r in rows:
            df.iat[r, j] = draw(CELLS)
    elif act == "bool":
        df[col] = pd.to_numeric(df[col], errors="coerce") > 3
    elif act == "all_nan":
        df[col] = np.nan
    elif act == "dup_name":
        df = pd.concat([df, df[[col]]], axis=1)
    elif act == "rename":
        df = df.rename(columns={col: draw(st.sampled_from(["满意度1", "😀 q2", "A1", " a1", "", "b1"]))})
    elif act == "const":
        df[col] = draw(st.sampled_from([3, 1, "3"]))
    elif act == "object":
        df[col] = [str(v) if k % 2 else v for k, v in enumerate(df[col])]
    elif act == "category":
        df[col] = df[col].astype("category")
    elif act == "date":
        df[col] = pd.Timestamp("2024-01-01")
    elif act == "complex":
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(complex)
    elif act == "int_name":
        df = df.rename(columns={col: draw(st.sampled_from([7, 1.5, None, ("a1", "x")]))})
    elif act == "dup_index" and len(df):
        df.index = [draw(st.sampled_from([0, "x", None]))] * len(df)
    elif act == "drop":
        df = df.drop(columns=[col])
    elif act == "huge":
        df[col] = pd.to_numeric(df[col], errors="coerce") * draw(st.sampled_from([1e150, 1e300, -1, 0]))
    elif act == "text_numbers":
        df[col] = df[col].astype(str)
    elif act == "nullable":
        df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    elif act == "labels":
        df.attrs["value_labels"] = draw(st.sampled_from([
            {"a1": {1: "bad", 5: "good", 9: "Don't know"}}, {"c1": {0: "no", 1: "yes"}},
            {"a1": "junk"}, "junk", {"b1": {"x": 1, None: 2}},
            {"b1": {1: "low", 10: "high"}, "c1": {1.0: "bad", 3: "good", 99: "refused"}}]))
        df.attrs["user_missing"] = draw(st.sampled_from([{}, {"a1": {"ranges": [[9, 9]], "count": 2}},
                                                         {"a1": "junk"}, None]))
    return df


@st.composite
def hostile_frame(draw, hard: int = 2) -> pd.DataFrame:
    """The good survey, cut to a size and hit by 0-4 edits: hostile ones with odds hard:4,
    else soft ones (a few blanks, missing codes, text numbers), so many cases reach the engines."""
    df = GOOD.head(draw(st.sampled_from([80, 80, 60, 40, 12, 5, 3, 2, 1, 0])))
    if draw(st.booleans()):
        df = df.rename(columns={"a1": "满意度1", "b2": "😀 q2"})
    for _ in range(draw(st.integers(0, 4))):
        df = _edit(df, draw) if draw(st.integers(1, 4)) <= hard else _soften(df, draw)
    return df


def _soften(df: pd.DataFrame, draw) -> pd.DataFrame:
    """An edit a real survey has: blanks, 'DK'/9 codes, numbers as text, a reverse item."""
    if not len(df) or not len(df.columns):
        return df
    df = df.copy()
    col = draw(st.sampled_from(list(df.columns)))
    if list(df.columns).count(col) != 1:
        return df
    rows = draw(st.lists(st.integers(0, len(df) - 1), max_size=4))
    value = draw(st.sampled_from([np.nan, 9, "DK", " 2 ", "5", None]))
    df[col] = df[col].astype(object)
    for r in rows:
        df.iat[r, list(df.columns).index(col)] = value
    return df


def _assert_unchanged(df: pd.DataFrame, before: pd.DataFrame, attrs: dict):
    pd.testing.assert_frame_equal(df, before, check_exact=True)
    assert list(map(str, df.columns)) == list(map(str, before.columns))
    assert repr(df.attrs) == repr(attrs)


def _spec_for(df, quoted: bool = False):
    if "满意度1" in map(str, df.columns):
        return QUOTED_MAPPED if quoted else MAPPED
    return QUOTED if quoted else SMALL


@settings(max_examples=200 * SCALE, **FUZZ)
@given(hostile_frame(), st.sampled_from(["listwise", "mean"]))
def test_hostile_frames_check_and_pls(df, missing):
    before, attrs, spec = df.copy(deep=True), copy.deepcopy(df.attrs), _spec_for(df)
    report = _ok_or_csi(csi.check, spec, df, missing=missing)
    assert isinstance(report, csi.data.CheckReport), report  # a DataFrame is always reportable
    assert set(report.findings.severity) <= {"error", "warning", "ok"}
    assert str(report) and report.to_html()
    twin = _ok_or_csi(csi.check, _spec_for(df, quoted=True), df, missing=missing)
    pd.testing.assert_frame_equal(twin.findings, report.findings)
    for row in report.findings[report.findings.check == "reverse"].itertuples():
        if row.construct == "B" and row.severity == "warning":  # a pair: both are suspects
            assert pd.isna(row.item) and row.message.startswith("items b1 ") and " and b2 " in row.message
    prepared = _ok_or_csi(prepare, spec, df, missing=missing)
    # one set of checks: the report has errors exactly when prepare refuses the data
    assert isinstance(prepared, DataError) == (not report.ok), (report.errors, prepared)
    if isinstance(prepared, DataError):  # fit names every problem of the stage it stops at
        errors = report.errors
        stage = errors[errors.check == "column"]
        stage = stage if len(stage) else errors[errors.check.isin(["type", "range", "missing", "scale"])]
        if len(stage):
            assert sorted(prepared.report.errors.message) == sorted(stage.message)
    result = _ok_or_csi(csi.fit, spec, df, method="pls", missing=missing)
    assert isinstance(result, (csi.FitResult, CSIError)), result
    if isinstance(result, csi.FitResult):
        assert np.isfinite(result.paths.estimate).all() and result.summary()
    _assert_unchanged(df, before, attrs)


@settings(max_examples=40 * SCALE, **FUZZ)
@given(hostile_frame(hard=1), st.sampled_from(["listwise", "fiml"]))
def test_hostile_frames_cbsem(df, missing):
    before, attrs, spec = df.copy(deep=True), copy.deepcopy(df.attrs), _spec_for(df)
    result = _ok_or_csi(csi.fit, spec, df, method="cbsem", missing=missing)
    assert isinstance(result, (csi.FitResult, CSIError)), result
    if isinstance(result, csi.FitResult):
        assert result.summary()
    _assert_unchanged(df, before, attrs)


# --- random (valid) specs with simulated data ------------------------------------------------
@st.composite
def random_model(draw, method: str):
    """A small recursive model; mostly connected (PLS needs that), formative blocks for PLS only."""
    k = draw(st.integers(2, 4))
    names = ["K1", "K2", "K3", "K4"][:k]
    modes = ["reflective", "reflective", "formative"] if method == "pls" else ["reflective"]
    constructs = {}
    for c in names:
        constructs[c] = {"items": [f"{c.lower()}_{i}" for i in range(draw(st.integers(1, 3)))],
                         "mode": draw(st.sampled_from(modes)),
                         "scale": draw(st.sampled_from([{"min": 1, "max": 5}, {"min": 1, "max": 10},
                                                        {"min": 0, "max": 1}, {"min": -3, "max": 3}]))}
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    chain = list(zip(names, names[1:])) if draw(st.integers(0, 4)) else []
    extra = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    paths = list(dict.fromkeys(chain + extra))
    return {"name": "random", "constructs": constructs, "paths": [f"{a} -> {b}" for a, b in paths]}


@st.composite
def model_and_method(draw):
    method = draw(st.sampled_from(["pls", "pls", "cbsem"]))
    return draw(random_model(method)), method


@settings(max_examples=40 * SCALE, **FUZZ)
@given(model_and_method(), st.sampled_from([250, 120, 60, 25, 8, 3, 0]), st.booleans(),
       st.integers(0, 2**16), st.floats(0, 0.6), st.floats(0.3, 0.95))
def test_random_specs_with_simulated_data(model, n, discrete, seed, path_value, loading_value):
    d, method = model
    spec = _ok_or_csi(spec_from_dict, d)
    assert isinstance(spec, ModelSpec), spec  # the generator builds valid specs only
    data = _ok_or_csi(simulate, spec, n, random_state=seed, discrete=discrete,
                      path_value=path_value, loading_value=loading_value)
    if isinstance(data, CSIError):
        assert isinstance(data, SpecError)  # population values too large for the model
        return
    if not discrete:
        spec = spec.with_scale(-10, 10)
        data = data.clip(-10, 10)
    binary = [i.name for i in spec.items if i.scale.max - i.scale.min == 1]
    if binary:  # reverse-coded, a 0/1 item's index counts the 0s, and its note says so
        report = _ok_or_csi(csi.check, spec.with_reverse(binary[:1]), data)
        note = report.findings.query("check == 'binary'").set_index("item").message
        if binary[0] in note:
            assert "reverse-coded (0 <-> 1), so its 0-100 index is the share answering 0" in \
                note[binary[0]]
    before = data.copy(deep=True)
    result = _ok_or_csi(csi.fit, spec, data, method=method)
    assert isinstance(result, (csi.FitResult, CSIError)), result
    if method == "pls" and spec_advice(spec):  # csi.check/validate warned: PLS cannot fit it
        assert isinstance(result, CSIError) and not isinstance(result, csi.FitResult)
    pd.testing.assert_frame_equal(data, before)


# --- files --------------------------------------------------------------------------------
WESTERN = ["a,Region\n1,Zürich\n2,Genève\n".encode("cp1252"),
           "q1;Straße;Café\n1;2;3\n".encode("latin-1")]  # valid GB18030 bytes, not Chinese


@settings(max_examples=60 * SCALE, **FUZZ)
@given(st.sampled_from([".csv", ".tsv", ".xlsx", ".sav", ".dta", ".parquet", ".por", ".txt", ".xls"]),
       st.one_of(st.binary(max_size=300), st.sampled_from([
           b"", b"a,b\n1,2\n", b"\xef\xbb\xbfa;b\n1;2\n", "满意度,b\n1,2\n".encode("gb18030"),
           b"PK\x03\x04garbage", b"$FL2@(#) IBM SPSS", b"PAR1\x00\x00PAR1", b"\x00" * 64,
           *WESTERN])))
def test_hostile_files_read_or_raise_data_error(tmp_path_factory, suffix, content):
    path = tmp_path_factory.mktemp("files") / f"survey{suffix}"
    path.write_bytes(content)
    out = _ok_or_csi(csi.read_survey, path)
    assert isinstance(out, (pd.DataFrame, DataError)), out
    if content in WESTERN and suffix in (".csv", ".tsv", ".txt"):  # never decoded as Chinese
        assert isinstance(out, DataError) and "encoding='cp1252'" in str(out), out
    assert path.read_bytes() == content
    if isinstance(out, pd.DataFrame):
        if suffix in (".csv", ".tsv", ".txt", ".xlsx"):  # rows numbered as the file shows them
            assert out.index.is_monotonic_increasing and out.index.is_unique
            assert not len(out) or (out.index[0] >= 2 and out.index.dtype.kind == "i"), out.index
        report = _ok_or_csi(csi.check, SMALL, out)
        assert isinstance(report, csi.data.CheckReport)


def test_non_frames_and_bad_arguments_are_csi_errors(tmp_path):
    frame = GOOD.copy()
    for data in (None, 5, [1, 2], np.ones((3, 3)), frame["a1"], {"a1": [1]}, b"x.csv",
                 str(tmp_path / "missing.csv"), str(tmp_path), "x" * 5000):
        with pytest.raises(CSIError):
            csi.fit(SMALL, data)
    for kwargs in ({"method": "ols"}, {"missing": "pairwise"}, {"tol": "x"}, {"tol": -1},
                   {"tol": float("nan")}, {"max_iter": 0}, {"max_iter": 2.5}, {"max_iter": "9"},
                   {"scheme": "nope"}, {"method": "cbsem", "se": "nope"},
                   {"method": "cbsem", "missing": "mean"}, {"missing": "fiml"}):
        with pytest.raises(CSIError):
            csi.fit(SMALL, frame, **kwargs)
    for n in (-1, 2.5, "10", None):
        with pytest.raises(CSIError):
            simulate(SMALL, n)
    with pytest.raises(CSIError):
        simulate(SMALL, 10, random_state="seed")
    with pytest.raises(CSIError):
        simulate(SMALL, 10, paths={("C", "A"): 0.3})
    with pytest.raises(CSIError):
        simulate(SMALL, 10, loadings={"a1": float("nan")})
    for spec in (None, 42, b"acsi", "x" * 5000, "no\x00pe", str(tmp_path)):
        with pytest.raises(SpecError):
            load_spec(spec)
    pd.testing.assert_frame_equal(frame, GOOD)
