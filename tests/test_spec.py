"""Spec language: shipped specs, editing, lavaan syntax, and every rejected spec's message."""

import textwrap
import warnings
from importlib import resources

import networkx as nx
import pytest

import csi_models as csi
from csi_models.errors import SpecError
from csi_models.spec import spec_from_yaml

ECSI_PATHS = {("Image", "Expectation"), ("Image", "Satisfaction"), ("Image", "Loyalty"),
              ("Expectation", "Quality"), ("Expectation", "Value"), ("Expectation", "Satisfaction"),
              ("Quality", "Value"), ("Quality", "Satisfaction"), ("Value", "Satisfaction"),
              ("Satisfaction", "Complaints"), ("Satisfaction", "Loyalty"), ("Complaints", "Loyalty")}


def test_shipped_specs_have_the_published_structure():
    assert csi.shipped_specs() == ["acsi", "ccsi", "ecsi"]
    acsi, ecsi, ccsi = (csi.load_spec(n) for n in ("acsi", "ecsi", "ccsi"))
    assert acsi.construct_names == ["Expectation", "Quality", "Value", "Satisfaction",
                                    "Complaints", "Loyalty"]
    assert set(acsi.paths) == {("Expectation", "Quality"), ("Expectation", "Value"),
                               ("Expectation", "Satisfaction"), ("Quality", "Value"),
                               ("Quality", "Satisfaction"), ("Value", "Satisfaction"),
                               ("Satisfaction", "Complaints"), ("Satisfaction", "Loyalty"),
                               ("Complaints", "Loyalty")}
    assert set(ecsi.paths) == ECSI_PATHS and len(ecsi.constructs) == 7
    expected_ccsi = {p for p in ECSI_PATHS if "Complaints" not in p} | {("Image", "Quality")}
    assert set(ccsi.paths) == expected_ccsi and len(ccsi.paths) == 11
    assert "Complaints" not in ccsi.construct_names
    for spec in (acsi, ecsi, ccsi):
        assert spec.title["zh"] and all(c.label["zh"] for c in spec.constructs)
        assert all(i.label.get("zh") for i in spec.items)
        assert nx.is_directed_acyclic_graph(spec.graph)
    assert "GB/T 19038-2009" in ccsi.reference
    ccsi_file = resources.files("csi_models.model_specs").joinpath("ccsi.yaml").read_text("utf-8")
    assert "Image -> Value" in ccsi_file and "Value -> Loyalty" in ccsi_file


def test_shipped_specs_fit_the_bundled_data_as_shipped(mobi):
    """Every shipped spec fits the bundled survey without edits, with both engines."""
    for name in csi.shipped_specs():
        spec = csi.load_spec(name)
        assert set(spec.item_names) <= set(mobi.columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", csi.errors.ImproperSolutionWarning)
            for method in ("pls", "cbsem"):
                res = csi.fit(spec, mobi, method=method)
                assert res.converged and res.n == 250
                assert len(res.paths) == len(spec.paths) and res.paths.estimate.notna().all()


def test_to_lavaan_gives_measurement_single_item_and_structural_lines():
    text = csi.load_spec("ecsi").to_lavaan()
    assert "Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5" in text
    assert "CUSCO ~~ 0*CUSCO" in text
    assert "Satisfaction ~ Image + Expectation + Quality + Value" in text
    assert "Loyalty ~ Image + Satisfaction + Complaints" in text
    formative = csi.load_spec("ecsi").with_mode("Image", "formative").to_lavaan()
    assert "Image <~ IMAG1" in formative


def test_editing_returns_new_validated_specs():
    spec = csi.load_spec("ccsi")
    more = spec.add_path("Image", "Value")
    assert ("Image", "Value") in more.paths and ("Image", "Value") not in spec.paths
    fewer = more.drop_path("Image", "Value")
    assert fewer == spec
    mapped = spec.with_columns({"CUEX1": "q7_a"})
    assert mapped.column_of("CUEX1") == "q7_a" and mapped.column_of("CUEX2") == "CUEX2"
    assert spec.columns == {}
    no_image = spec.drop_construct("Image")
    assert "Image" not in no_image.construct_names
    assert all("Image" not in p for p in no_image.paths)
    with pytest.raises(SpecError, match="cycle: Image -> .* -> Loyalty -> Image, closed by path Loyalty -> Image"):
        spec.add_path("Loyalty", "Image")
    with pytest.raises(SpecError, match="no path Image -> Value"):
        spec.drop_path("Image", "Value")


def test_yaml_round_trip_keeps_the_spec():
    for name in csi.shipped_specs():
        spec = csi.load_spec(name)
        again = spec_from_yaml(spec.to_yaml())
        assert again == spec
        assert [c.label for c in again.constructs] == [c.label for c in spec.constructs]


def test_spec_by_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(csi.load_spec("acsi").replace(name="mine").to_yaml(), encoding="utf-8")
    spec = csi.load_spec(str(path))
    assert spec.name == "mine" and spec.source == str(path)


BASE = """\
name: tiny
scale: {min: 1, max: 5}
constructs:
  A:
    items: {a1: first, a2: second}
  B:
    items: [b1, b2]
paths:
  - A -> B
"""


def reject(text: str, pattern: str):
    with pytest.raises(SpecError, match=pattern):
        spec_from_yaml(textwrap.dedent(text), "tiny.yaml")


def test_base_spec_is_valid():
    spec = spec_from_yaml(BASE)
    assert spec.item_names == ["a1", "a2", "b1", "b2"]
    assert spec.item("a1").scale.max == 5 and spec.label("a1") == "first"


@pytest.mark.parametrize("text, pattern", [
    (BASE + "  - B -> A\n", r"cycle: A -> B -> A, closed by path B -> A \(tiny.yaml, line 10\)"),
    (BASE.replace("A -> B", "A -> C"), r"path A -> C \(tiny.yaml, line 9\) refers to 'C', which is not a declared construct"),
    (BASE.replace("A -> B", "A => B"), r"line 9: path 'A => B' is not of the form"),
    (BASE.replace("items: [b1, b2]", "items: [a1, b2]"), r"item 'a1' is used twice: in 'A' and in 'B' \(tiny.yaml, line 6\)"),
    (BASE.replace("items: [b1, b2]", "items: [b1, b2, b1]"),
     r"tiny.yaml, line 7: item 'b1' is listed twice in construct 'B' \(first on line 7\)"),
    (BASE.replace("items: [b1, b2]", "items:\n      - b1\n      - b2\n      - b1"),
     r"tiny.yaml, line 10: item 'b1' is listed twice in construct 'B' \(first on line 8\)"),
    (BASE.replace("items: [b1, b2]", "items: []"), r"line 6: construct 'B' has no items"),
    (BASE.replace("    items: [b1, b2]\n", "    mode: reflective\n"), r"construct 'B' has no items"),
    (BASE.replace("name: tiny\n", ""), r"no 'name:'"),
    (BASE.replace("scale: {min: 1, max: 5}", "scale: {min: 5, max: 1}"), r"line 2: scale min \(5\) must be below max \(1\)"),
    (BASE.replace("scale: {min: 1, max: 5}", "scale: {min: 1, max: .nan}"), r"scale max must be a finite number"),
    (BASE.replace("scale:", "scales:"), r"line 2: unknown key 'scales' in the model spec; did you mean 'scale'\?"),
    (BASE.replace("  A:\n", "  A:\n    mode: formatve\n"), r"construct 'A' has mode 'formatve'"),
    (BASE + "  - A -> B\n", r"path A -> B is listed twice"),
    (BASE + "  - A -> A\n", r"points a construct at itself"),
    (BASE.replace("  B:\n", "  A:\n"), r"line 6: 'A' is given twice \(first on line 4\)"),
    (BASE + "columns: {zz: q1}\n", r"'columns' maps 'zz' .*not an item"),
    (BASE + "columns: {a1: q1, a2: q1}\n", r"items 'a1' and 'a2' are both mapped to column 'q1'"),
    (BASE + "reverse: [zz]\n", r"'reverse' lists 'zz'.*not an item"),
    ("name: x\nconstructs: [A, B]\n", r"'constructs' must be a mapping"),
    ("name: [x\n", r"tiny.yaml, line 2: not valid YAML"),
    ("", r"a model spec must be a mapping"),
    (BASE.replace("b1, b2", "b1, A"), r"'A' is both a construct and an item name"),
])
def test_rejected_specs_name_the_problem_and_line(text, pattern):
    reject(text, pattern)


def test_yaml_is_parsed_safely():
    with pytest.raises(SpecError):
        spec_from_yaml("name: !!python/object/apply:os.system ['echo hacked']\n", "evil.yaml")


def test_unknown_spec_name_and_bad_types():
    with pytest.raises(SpecError, match="no spec named 'nope'"):
        csi.load_spec("nope")
    with pytest.raises(SpecError, match="a spec is a shipped name"):
        csi.load_spec(42)


def test_an_item_listed_twice_is_rejected_in_every_form():
    """A repeated item must not silently collapse into one (it hides a copy-paste slip)."""
    from csi_models.spec import spec_from_dict
    from csi_models.spec.model import Construct, Item, ModelSpec

    d = {"name": "t", "constructs": {"A": {"items": ["CUSA1", "CUSA1", "CUSA2"]},
                                     "B": {"items": ["CUSL1"]}}, "paths": ["A -> B"]}
    with pytest.raises(SpecError, match=r"item 'CUSA1' is listed twice in construct 'A' "
                                        r"\(entries 1 and 2\); list each item once"):
        spec_from_dict(d)
    with pytest.raises(SpecError, match=r"item 'a' is listed twice in construct 'A'"):
        ModelSpec(name="x", constructs=(Construct("A", (Item("a"), Item("a"))),), paths=())
