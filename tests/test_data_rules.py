"""Spec-level data rules: missing codes, SPSS user-missing values, scales from value labels,
reverse-coded items, binary items (the ACSI complaint question) and the `columns:` mapping.

Each rule is checked by its effect on a fit: the same numbers as the data recoded by hand.
"""

import dataclasses
import textwrap
import warnings

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from scipy import stats

import csi_models as csi
from csi_models.errors import DataError, DataWarning, SpecError
from csi_models.simulation import simulate
from csi_models.spec import Scale, spec_from_yaml


@pytest.fixture(scope="module")
def mobi():
    return csi.datasets.load_ecsi_mobi()


def _paths(result):
    return result.paths.estimate.to_numpy()


SMALL = """\
name: small
{scale}constructs:
  A:
    items: [a1, a2, a3]
  B:
    items: [b1, b2]
  C:
    items: [c1]
paths: [A -> B, B -> C, A -> C]
"""


def small(scale: str = "", extra: str = ""):
    return spec_from_yaml(SMALL.format(scale=scale) + textwrap.dedent(extra))


@pytest.fixture(scope="module")
def five():
    """200 answers on a 1..5 scale from a known population."""
    return simulate(small("scale: {min: 1, max: 5}\n"), 200, random_state=3, discrete=True)


# --- missing codes -------------------------------------------------------------------------
def test_global_construct_and_item_missing_codes(mobi):
    spec = spec_from_yaml(csi.load_spec("acsi").to_yaml().replace(
        "scale:\n  min: 1\n  max: 10\n", "scale:\n  min: 1\n  max: 10\nmissing_codes: [99]\n"))
    coded = mobi.copy()
    coded.loc[[2, 9], "CUSL2"] = 99
    by_hand = mobi.astype(float)
    by_hand.loc[[2, 9], "CUSL2"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        a, b = csi.fit(spec, coded), csi.fit("acsi", by_hand)
    np.testing.assert_array_equal(_paths(a), _paths(b))
    assert "CUSL2: 2 answers coded 99 set to missing" in a.settings["data_notes"]
    # per construct and per item, merged with the global list
    spec = small("missing_codes: [9]\n").replace(name="x").to_dict()  # written once, at the top
    assert spec["missing_codes"] == [9] and spec["constructs"]["A"]["items"]["a1"] is None
    spec = spec_from_yaml(SMALL.format(scale="missing_codes: [9]\n").replace(
        "  A:\n    items: [a1, a2, a3]",
        "  A:\n    missing_codes: [8]\n    items: {a1: {missing_codes: [7, DK]}, a2: , a3: }"))
    assert spec.item("a1").missing_codes == (9, 8, 7, "DK")
    assert spec.item("a2").missing_codes == (9, 8) and spec.item("b1").missing_codes == (9,)


def test_text_codes_and_dont_know_in_excel_style_columns(five):
    spec = small("scale: {min: 1, max: 5}\nmissing_codes: [DK, 不知道, 98]\n")
    survey = five.astype({"a2": object, "b1": object})
    survey.loc[[1, 4], "a2"] = ["dk", " 不知道 "]
    survey.loc[7, "b1"] = 98
    survey.loc[8, "b1"] = "3"  # a number stored as text is a number
    by_hand = five.astype(float)
    by_hand.loc[[1, 4], "a2"] = np.nan
    by_hand.loc[7, "b1"] = np.nan
    by_hand.loc[8, "b1"] = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        a, b = csi.fit(spec, survey, missing="mean"), csi.fit(spec, by_hand, missing="mean")
    np.testing.assert_array_equal(_paths(a), _paths(b))
    assert any("2 text answers (DK/不知道) set to missing" in n for n in a.settings["data_notes"])
    bad = survey.astype({"c1": object})
    bad.loc[3, "c1"] = "maybe"
    with pytest.raises(DataError, match=r"not numbers \('maybe'\) in rows 3"):
        csi.fit(spec, bad)


def test_quoted_numeric_missing_codes_are_numbers(five):
    """`missing_codes: ["98"]` (a quoted number) must match the answer 98 in a numeric column,
    not fall through to an out-of-range error that asks to declare the very same code."""
    spec = small("scale: {min: 1, max: 5}\nmissing_codes: ['98', ' 99 ', DK]\n")
    coded = five.astype(float)
    coded.loc[[2, 11], "a1"] = 98
    coded.loc[5, "b2"] = 99
    text = coded.astype({"c1": object})
    text.loc[[1, 3], "c1"] = ["98", "dk"]
    by_hand = five.astype(float)
    by_hand.loc[[2, 11], "a1"] = np.nan
    by_hand.loc[5, "b2"] = np.nan
    text_by_hand = by_hand.copy()
    text_by_hand.loc[[1, 3], "c1"] = np.nan
    for data, by_hand in ((coded, by_hand), (text, text_by_hand)):
        report = csi.check(spec, data, missing="mean")
        assert report.ok, report.errors.message.tolist()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            a, b = csi.fit(spec, data, missing="mean"), csi.fit(spec, by_hand, missing="mean")
        np.testing.assert_array_equal(_paths(a), _paths(b))
    assert "a1: 2 answers coded 98 set to missing" in a.settings["data_notes"]
    assert "c1: 1 text answers (DK) set to missing" in a.settings["data_notes"]


def test_a_missing_code_inside_the_scale_is_flagged(five):
    spec = small("scale: {min: 1, max: 5}\nmissing_codes: [3]\n")
    report = csi.check(spec, five)
    flagged = report.warnings.query("check == 'missing_codes'")
    assert set(flagged.item) == {"a1", "a2", "a3", "b1", "b2", "c1"}
    assert "lie inside the scale 1..5" in flagged.message.iloc[0]
    assert flagged.rows.iloc[0] == tuple(five.index[five.a1 == 3])


def test_spss_user_missing_values_are_honoured(tmp_path, mobi):
    coded = mobi.astype(float)
    coded.loc[[3, 30], "CUSA2"] = 98
    coded.loc[50, "PERQ1"] = 99
    path = tmp_path / "coded.sav"
    pyreadstat.write_sav(coded, path, missing_ranges={"CUSA2": [98, 99], "PERQ1": [98, 99]},
                         variable_value_labels={"CUSA2": {98: "Don't know", 99: "Refused"}})
    by_hand = mobi.astype(float)
    by_hand.loc[[3, 30], "CUSA2"] = np.nan
    by_hand.loc[50, "PERQ1"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        a, b = csi.fit("ecsi", str(path)), csi.fit("ecsi", by_hand)
    np.testing.assert_array_equal(_paths(a), _paths(b))
    assert a.n == 247
    assert "CUSA2: 2 SPSS user-missing answers (98, 99) are missing" in a.settings["data_notes"]
    # without the user-missing declaration the codes are out of range: an error, not a
    # result, naming the SPSS case number (row 50 of the frame is case 51)
    pyreadstat.write_sav(coded, path)
    with pytest.raises(DataError, match=r"PERQ1 .* outside its scale 1..10: rows 51 \(99\)"):
        csi.fit("ecsi", str(path))


# --- scales from value labels -----------------------------------------------------------------
def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    labels = {1: "Very dissatisfied", 2: "Dissatisfied", 3: "Neutral", 4: "Satisfied",
              5: "Very satisfied", 9: "Don't know"}
    out.attrs["value_labels"] = {c: labels for c in out.columns}
    return out


def test_items_without_a_declared_scale_take_it_from_value_labels(five):
    spec = small()  # no scale anywhere: every item falls back to 1..10, not explicit
    assert spec.item("a1").scale == Scale(1, 10) and not spec.item("a1").scale.explicit
    labelled = _labelled(five)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        res = csi.fit(spec, labelled)
    assert all(res.spec.item(i).scale == Scale(1, 5) for i in spec.item_names)
    assert "a1: scale 1..5 from value labels" in res.settings["data_notes"]
    report = csi.check(spec, labelled)
    assert set(report.items.scale_source) == {"value labels"}
    # a declared scale that agrees with the labels is simply used
    agreed = small("scale: {min: 1, max: 5}\n")
    assert csi.check(agreed, labelled).ok and csi.fit(agreed, labelled).spec.item("a1").scale == Scale(1, 5)
    # no labels and no scale: the default 1..10 is used and flagged
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        csi.fit(spec, five)
    flagged = [str(w.message) for w in caught if "no declared scale" in str(w.message)]
    assert len(flagged) == 1 and flagged[0].startswith("6 items have no declared scale and were "
                                                       "assumed 1..10: a1, a2")
    one = csi.check(spec, five).findings.query("check == 'scale_default'")
    assert len(one) == 6 and "assumed 1..10; the answers range 1..5" in one.message.iloc[0]


def test_a_declared_scale_the_value_labels_contradict_is_an_error(five):
    """The shipped specs declare 1..10 for the whole model; a 1..5 survey with labels 1..5
    mapped onto them must not give indices on 1..10 (about 33 where they are about 75)."""
    labelled = _labelled(five)
    declared = small("scale: {min: 1, max: 10}\n")
    report = csi.check(declared, labelled)
    errors = report.errors.query("check == 'scale'")
    assert errors.item.tolist() == declared.item_names
    message = errors.message.iloc[0]
    assert message.startswith("item a1 (column 'a1'): the spec declares the scale 1..10 but the "
                              "file's value labels run 1..5 (1 = 'Very dissatisfied', 5 = 'Very "
                              "satisfied') and every answer lies within them")
    assert "Declare `scale: {min: 1, max: 5}` (spec.with_scale(1, 5, items=['a1'])" in message
    assert "data.attrs['value_labels'].pop('a1')" in message
    with pytest.raises(DataError, match=r"6 problems .*\n  - item a1 .* declares the scale 1..10"):
        csi.fit(declared, labelled)
    # the fix the message gives works, and agrees with the scale read from the labels alone
    fixed = csi.fit(declared.with_scale(1, 5), labelled)
    np.testing.assert_allclose(fixed.indices["estimate"], csi.fit(small(), labelled).indices["estimate"])
    assert (fixed.indices["estimate"] > 50).all()
    # labels wider than the declared scale (0..10 labelled, 1..10 declared) disagree too
    nps = five.assign(a1=five.a1 * 2)
    nps.attrs["value_labels"] = {"a1": {0: "Not at all likely", 10: "Extremely likely"}}
    assert csi.check(small("scale: {min: 1, max: 10}\n"), nps).errors.item.tolist() == ["a1"]
    # labels on part of the scale only, with unlabelled answers beyond them: the spec stands
    partial = five.assign(a1=five.a1 * 2)
    partial.attrs["value_labels"] = {"a1": {1: "Very bad", 5: "Neutral", 99: "Refused"}}
    report = csi.check(small("scale: {min: 1, max: 10}\n"), partial)
    assert report.ok and "the value labels cover only 1..5 but the answers reach 10" in \
        report.findings.query("item == 'a1' and check == 'scale'").message.iloc[0]


def test_answers_only_in_the_lower_half_of_a_declared_scale_are_flagged(five):
    """Without value labels, a 1..5 survey on a declared 1..10 shows as answers that never
    pass the midpoint: a warning (the index would be too low), not an error."""
    report = csi.check(small("scale: {min: 1, max: 10}\n"), five)
    warned = report.warnings.query("check == 'scale'")
    assert report.ok and warned.item.tolist() == ["a1", "a2", "a3", "b1", "b2", "c1"]
    assert "all 200 answers lie in 1..5, the lower half of its scale 1..10" in warned.message.iloc[0]
    assert csi.check(small("scale: {min: 1, max: 5}\n"), five).warnings.empty
    assert csi.check(small("scale: {min: 1, max: 10}\n"), five.head(20)).warnings.query(
        "check == 'scale'").empty  # too few answers to tell


def test_reverse_items_use_the_label_scale(five):
    spec = small().with_reverse(["a3"])
    flipped = _labelled(five.assign(a3=6 - five.a3))
    res = csi.fit(spec, flipped)
    np.testing.assert_array_equal(res.data.values.a3, five.a3.astype(float))


def test_an_undeclared_dont_know_code_is_an_error_with_a_hint(five):
    data = _labelled(five)
    data.loc[[5, 6], "b2"] = 9
    report = csi.check(small(), data)
    error = report.errors.iloc[0]
    assert error["rows"] == (5, 6)
    assert error["message"].endswith("9 is labelled \"Don't know\": add it to `missing_codes:`")
    declared = small("missing_codes: [9]\n")
    assert csi.check(declared, data).ok
    # inside a declared scale the code would count as an answer: a warning names the rows
    wide = csi.check(small("scale: {min: 1, max: 10}\n"), data)
    warning = wide.warnings.query("check == 'missing_codes'").iloc[0]
    assert warning["item"] == "b2" and warning["rows"] == (5, 6)
    assert "9 (\"Don't know\")" in warning["message"]


# --- reverse coding -------------------------------------------------------------------------
def test_reverse_coding_reproduces_the_original_fit_and_is_reported(mobi):
    flipped = mobi.assign(CUEX3=11 - mobi.CUEX3)
    for method in ("pls", "cbsem"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = csi.fit(csi.load_spec("acsi").with_reverse(["CUEX3"]), flipped, method=method)
            b = csi.fit("acsi", mobi, method=method)
        np.testing.assert_allclose(_paths(a), _paths(b), atol=1e-12)
        assert a.settings["reverse_coded"] == ["CUEX3"]
        assert "reverse_coded: ['CUEX3']" in a.summary()
        assert "reverse-coded on their scales: CUEX3" in a.summary()


def test_reverse_in_yaml_on_an_item_scale(five):
    spec = small("scale: {min: 1, max: 5}\n", "reverse: [c1]\n")
    res = csi.fit(spec, five.assign(c1=6 - five.c1))
    np.testing.assert_array_equal(res.data.values.c1, five.c1.astype(float))


# --- binary items -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def complaints(mobi):
    """The ACSI complaint question as yes/no: 1 = has complained (low complaint handling score)."""
    return mobi.assign(CUSCO=(mobi.CUSCO <= 5).astype(int))


def test_binary_complaint_item_with_pls(complaints):
    spec = csi.load_spec("acsi").with_scale(0, 1, items=["CUSCO"])
    res = csi.fit(spec, complaints)
    share = complaints.CUSCO.mean()
    assert res.item_stats.set_index("item").loc["CUSCO", "mean"] == share
    scale = res.spec.item("CUSCO").scale
    index = 100 * (res.item_stats.set_index("item").loc["CUSCO", "mean"] - scale.min) / (scale.max - scale.min)
    assert index == pytest.approx(100 * share)  # the 0-100 index is the share answering yes
    # a single-item construct is its standardized item, so the one path into it is the
    # point-biserial correlation of the satisfaction score with the yes/no answer
    path = res.paths.set_index(["source", "target"]).loc[("Satisfaction", "Complaints"), "estimate"]
    r = stats.pointbiserialr(complaints.CUSCO, res.scores.Satisfaction).statistic
    assert path == pytest.approx(r, abs=1e-12)
    note = csi.check(spec, complaints).findings.query("check == 'binary'")
    assert note.item.tolist() == ["CUSCO"] and "share answering 1" in note.message.iloc[0]


def test_binary_complaint_item_with_cbsem(complaints):
    spec = csi.load_spec("acsi").with_scale(0, 1, items=["CUSCO"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(spec, complaints, method="cbsem")
    assert res.converged
    # the single item is the construct (error variance fixed at 0): standardized loading 1
    loading = res.loadings.set_index("item").loc["CUSCO"]
    assert loading.estimate == pytest.approx(1.0, abs=1e-9)
    # ML treats the 0/1 answer as continuous: its implied variance is p(1 - p)-sized
    var = res.parameters.query("lhs == 'Complaints' and op == '~~' and rhs == 'Complaints'").est
    p = complaints.CUSCO.mean()
    assert 0 < float(var.iloc[0]) <= p * (1 - p) * 1.01


def test_yes_no_coded_one_two_and_as_booleans(complaints):
    base = csi.fit(csi.load_spec("acsi").with_scale(0, 1, items=["CUSCO"]), complaints)
    one_two = complaints.assign(CUSCO=2 - complaints.CUSCO)  # 1 = yes, 2 = no
    spec = csi.load_spec("acsi").with_scale(1, 2, items=["CUSCO"]).with_reverse(["CUSCO"])
    res = csi.fit(spec, one_two)
    np.testing.assert_allclose(_paths(res), _paths(base), atol=1e-12)
    assert res.item_stats.set_index("item").loc["CUSCO", "mean"] - 1 == pytest.approx(complaints.CUSCO.mean())
    as_bool = complaints.assign(CUSCO=complaints.CUSCO.astype(bool))
    bool_fit = csi.fit(csi.load_spec("acsi").with_scale(0, 1, items=["CUSCO"]), as_bool)
    np.testing.assert_array_equal(_paths(bool_fit), _paths(base))
    with pytest.raises(DataError, match=r"for yes/no answers use 1 = yes, 0 = no"):
        csi.fit("acsi", complaints.assign(CUSCO=complaints.CUSCO.map({1: "yes", 0: "no"})))


def test_binary_note_uses_the_value_label(complaints):
    labelled = complaints.copy()
    labelled.attrs["value_labels"] = {"CUSCO": {0: "No", 1: "Yes, complained"}}
    spec = csi.load_spec("acsi").with_scale(0, 1, items=["CUSCO"])
    note = csi.check(spec, labelled).findings.query("check == 'binary'").message.iloc[0]
    assert "share answering 1 ('Yes, complained')" in note
    # coded 1 = yes, 2 = no and reverse-coded: the index counts the 1s (yes), not the 2s
    one_two = complaints.assign(CUSCO=2 - complaints.CUSCO)
    one_two.attrs["value_labels"] = {"CUSCO": {1: "Yes", 2: "No"}}
    spec = csi.load_spec("acsi").with_scale(1, 2, items=["CUSCO"]).with_reverse(["CUSCO"])
    note = csi.check(spec, one_two).findings.query("check == 'binary'").message.iloc[0]
    assert "reverse-coded (1 <-> 2), so its 0-100 index is the share answering 1 ('Yes')" in note
    res = csi.fit(spec, one_two)  # and that is what the index is
    scale = res.spec.item("CUSCO").scale
    index = 100 * (res.item_stats.set_index("item").loc["CUSCO", "mean"] - scale.min) / (scale.max - scale.min)
    assert index == pytest.approx(100 * (one_two.CUSCO == 1).mean())


# --- columns mapping ----------------------------------------------------------------------------
def test_columns_mapping_in_yaml_to_chinese_survey_columns(mobi):
    text = csi.load_spec("acsi").to_yaml() + "columns:\n  CUSA1: 总体满意度\n  CUSL3: 推荐 意愿 😀\n"
    spec = spec_from_yaml(text)
    survey = mobi.rename(columns={"CUSA1": "总体满意度", "CUSL3": "推荐 意愿 😀"})
    np.testing.assert_array_equal(_paths(csi.fit(spec, survey)), _paths(csi.fit("acsi", mobi)))
    assert spec_from_yaml(spec.to_yaml()).columns == {"CUSA1": "总体满意度", "CUSL3": "推荐 意愿 😀"}
    with pytest.raises(DataError, match=r"总体满意度 for item CUSA1 \(did you mean 'CUSA1'\?\); 推荐"):
        csi.fit(spec, mobi)
    with pytest.raises(SpecError, match="both mapped to column 'q1'"):
        spec_from_yaml(csi.load_spec("acsi").to_yaml() + "columns: {CUSA1: q1, CUSA2: q1}\n")
    with pytest.raises(SpecError, match="give the survey column name as text"):
        spec_from_yaml(csi.load_spec("acsi").to_yaml() + "columns: {CUSA1: [q1]}\n")


def test_default_scales_survive_the_yaml_round_trip():
    spec = small()
    again = spec_from_yaml(spec.to_yaml())
    assert "scale" not in spec.to_dict() and not again.item("a1").scale.explicit
    assert small("scale: {min: 1, max: 5}\n").item("a1").scale.explicit
    assert spec.with_scale(1, 7, items="a1").item("a1").scale.explicit
    assert spec_from_yaml(spec.with_scale(1, 7, items="a1").to_yaml()).item("a1").scale == Scale(1, 7)


def test_yaml_round_trip_keeps_which_scales_are_declared():
    """A spec mixing declared scales and the loader's fallback 1..10 comes back the same:
    the fallback items stay undeclared (they may still take the file's value labels)."""
    spec = spec_from_yaml("name: t\nconstructs:\n  A: {scale: {min: 1, max: 10}, items: [a1, a2]}\n"
                          "  B: {scale: {min: 0, max: 1}, items: [b1]}\n  C: {items: [c1]}\n"
                          "paths: [A -> B, B -> C]\n")
    flags = [(i.name, i.scale, i.scale.explicit) for i in spec.items]
    assert [f[2] for f in flags] == [True, True, True, False]
    for again in (spec_from_yaml(spec.to_yaml()), csi.spec.spec_from_dict(spec.to_dict())):
        assert again == spec and [(i.name, i.scale, i.scale.explicit) for i in again.items] == flags
    assert "scale" not in spec.to_dict()  # a model-level scale would declare c1
    # a scale built in code without the flag but off the fallback's bounds is written out
    odd = spec.replace(constructs=tuple(
        c if c.name != "C" else dataclasses.replace(c, items=(dataclasses.replace(
            c.items[0], scale=Scale(1, 5, explicit=False)),)) for c in spec.constructs))
    assert spec_from_yaml(odd.to_yaml()).item("c1").scale == Scale(1, 5)
