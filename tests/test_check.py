"""csi.check: the validation report, and that prepare/fit stop on exactly its errors."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.data import CheckReport, prepare
from csi_models.errors import DataError, DataWarning

FINDINGS = ["item", "column", "construct", "check", "severity", "rows", "message"]


@pytest.fixture(scope="module")
def mobi():
    return csi.datasets.load_ecsi_mobi()


@pytest.fixture(scope="module")
def ecsi():
    return csi.load_spec("ecsi")


def _only(report, check, severity):
    rows = report.findings[(report.findings.check == check) & (report.findings.severity == severity)]
    assert len(rows) == 1, report.findings
    return rows.iloc[0]


def test_clean_data_give_a_clean_report(ecsi, mobi):
    report = csi.check(ecsi, mobi)
    assert isinstance(report, CheckReport) and report.ok
    assert list(report.findings.columns) == FINDINGS
    assert set(report.findings.severity) == {"ok"}
    per_item = report.findings.dropna(subset=["item"]).groupby("item").check.apply(set)
    assert all(s >= {"type", "scale", "range", "missing", "variation"} for s in per_item)
    assert len(per_item) == 24
    assert report.items.columns.tolist() == [
        "item", "construct", "column", "dtype", "scale_min", "scale_max", "scale_source",
        "n_answers", "n_missing", "share_missing", "n_distinct", "min", "max", "mean", "status"]
    row = report.items.set_index("item").loc["CUSA1"]
    assert row.construct == "Satisfaction" and row.scale_source == "spec"
    assert row["mean"] == mobi.CUSA1.mean() and row["min"] == mobi.CUSA1.min()
    assert row.n_distinct == mobi.CUSA1.nunique() and row.n_missing == 0
    text = str(report)
    assert text.startswith("Data check for model ecsi: 250 rows, 250 usable (listwise), 24 items "
                           "- 0 error(s), 0 warning(s): the data can be fitted")
    assert "<h5>Items</h5>" in report._repr_html_()


def test_range_errors_name_rows_by_the_callers_index(ecsi, mobi):
    bad = mobi.copy()
    bad.index = [f"r{k}" for k in range(len(bad))]
    bad.loc[["r4", "r17"], "CUEX1"] = [11, 0]
    report = csi.check(ecsi, bad)
    assert not report.ok
    error = _only(report, "range", "error")
    assert (error["item"], error["column"], error["construct"]) == ("CUEX1", "CUEX1", "Expectation")
    assert error["rows"] == ("r4", "r17")
    assert "rows r4 (11), r17 (0)" in error["message"]
    assert report.items.set_index("item").loc["CUEX1", "status"] == "error"
    with pytest.raises(DataError) as raised:
        prepare(ecsi, bad)
    assert str(raised.value) == error["message"]
    assert raised.value.report.errors.equals(report.errors)


def test_several_errors_are_listed_together(ecsi, mobi):
    bad = mobi.astype({"CUSA2": object})
    bad.loc[3, "CUSA2"] = "seven"
    bad.loc[5, "PERV1"] = 99
    bad["CUSL3"] = np.nan
    report = csi.check(ecsi, bad)
    assert sorted(report.errors.item) == ["CUSA2", "CUSL3", "PERV1"]
    assert set(report.errors.check) == {"type", "range", "missing"}
    with pytest.raises(DataError) as raised:
        csi.fit(ecsi, bad)
    # fit names every item problem at once (spec order), as check does, and keeps the report
    message = str(raised.value)
    assert message.startswith("3 problems in the survey data for model 'ecsi':\n  - item PERV1 ")
    for item, what in (("PERV1", "outside its scale 1..10: rows 5 (99)"),
                       ("CUSA2", "not numbers ('seven') in rows 3"), ("CUSL3", "is empty")):
        assert f"item {item} (column '{item}')" in message and what in message
    assert raised.value.report.errors.equals(report.errors)


def test_missing_share_and_listwise_rows_are_warnings(ecsi, mobi):
    holes = mobi.astype(float)
    holes.loc[holes.index[:70], "IMAG2"] = np.nan
    report = csi.check(ecsi, holes)
    assert report.ok
    warning = _only(report, "missing", "warning")
    assert warning["item"] == "IMAG2" and len(warning["rows"]) == 70 and "(28%)" in warning["message"]
    rows = _only(report, "rows", "warning")
    assert "70 of 250 rows have missing answers and were dropped" in rows["message"]
    assert report.n_used == 180
    assert csi.check(ecsi, holes, missing="mean").n_used == 250


def test_constant_near_constant_and_duplicated_items(ecsi, mobi):
    data = mobi.assign(CUSCO=7, PERQ3=mobi.PERQ2)
    data.loc[0, "PERV2"] = 3
    data.loc[1:, "PERV2"] = 8
    report = csi.check(ecsi, data)
    assert _only(report, "variation", "error")["item"] == "CUSCO"
    assert _only(report, "variation", "warning")["item"] == "PERV2"
    duplicate = _only(report, "duplicate", "warning")
    assert duplicate["item"] == "PERQ3" and "same answer as item PERQ2" in duplicate["message"]
    with pytest.raises(DataError, match=r"item CUSCO \(column 'CUSCO'\) is constant"):
        prepare(ecsi, data)


def test_duplicated_and_absent_columns(ecsi, mobi):
    doubled = pd.concat([mobi, mobi[["CUSA1"]]], axis=1).drop(columns=["PERQ5"])
    report = csi.check(ecsi, doubled)
    errors = report.errors.set_index("item")
    assert "more than one column named 'CUSA1'" in errors.loc["CUSA1", "message"]
    assert "column PERQ5 is not in the data" in errors.loc["PERQ5", "message"]
    assert "The data's columns: CUEX1, CUEX2" in str(report)
    # the other items are still checked
    assert (report.findings.query("item == 'IMAG1'").severity == "ok").all()


def test_reverse_worded_items_are_spotted(ecsi, mobi):
    flipped = mobi.assign(CUEX3=11 - mobi.CUEX3, CUSA1=11 - mobi.CUSA1)
    report = csi.check(ecsi, flipped)
    suspects = report.findings.query("check == 'reverse' and severity == 'warning'")
    assert sorted(suspects["item"]) == ["CUEX3", "CUSA1"]
    assert "list it under `reverse:`" in suspects.iloc[0]["message"]
    declared = csi.check(ecsi.with_reverse(["CUEX3", "CUSA1"]), flipped)
    assert declared.findings.query("check == 'reverse'").severity.eq("ok").all()
    # declared but not reverse-worded: after recoding it correlates negatively
    wrong = csi.check(ecsi.with_reverse(["PERQ1"]), mobi)
    warning = _only(wrong, "reverse", "warning")
    assert warning["item"] == "PERQ1" and "is it really reverse-worded" in warning["message"]
    # a two-item block cannot tell which item is reverse-worded: the finding names both
    for flipped in ("PERV1", "PERV2"):
        two = _only(csi.check(ecsi, mobi.assign(**{flipped: 11 - mobi[flipped]})), "reverse", "warning")
        assert pd.isna(two["item"]) and two["construct"] == "Value"
        assert two["message"].startswith("items PERV1 (column 'PERV1') and PERV2 (column 'PERV2') "
                                         "of Value correlate negatively (r = -")
        assert two["message"].endswith("if one of them is reverse-worded, list it under `reverse:`")
    declared = _only(csi.check(ecsi.with_reverse(["PERV1"]), mobi), "reverse", "warning")
    assert "PERV1 is listed under `reverse:`: is it really reverse-worded (and PERV2 not)?" in \
        declared["message"]


def test_prepare_warns_exactly_the_reports_warnings(ecsi, mobi):
    data = mobi.assign(CUEX3=11 - mobi.CUEX3).astype(float)
    data.loc[:60, "IMAG1"] = np.nan
    report = csi.check(ecsi, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        survey = prepare(ecsi, data)
    issued = sorted(str(w.message) for w in caught if issubclass(w.category, DataWarning))
    assert issued == sorted(report.warnings.message) and len(issued) == 3
    assert survey.report.findings.equals(report.findings)


def test_check_reads_files_and_leaves_data_alone(tmp_path, ecsi, mobi):
    path = tmp_path / "survey.csv"
    mobi.to_csv(path, index=False)
    before = path.read_bytes()
    assert csi.check("ecsi", str(path)).ok and path.read_bytes() == before
    frame = mobi.copy()
    frame.attrs["value_labels"] = {"CUSA1": {1: "bad", 10: "good"}}
    snapshot = frame.copy(deep=True)
    csi.check(ecsi, frame)
    pd.testing.assert_frame_equal(frame, snapshot)
    assert frame.attrs == {"value_labels": {"CUSA1": {1: "bad", 10: "good"}}}
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        csi.check(ecsi, mobi.to_numpy())
    with pytest.raises(DataError, match="missing='pairwise'"):
        csi.check(ecsi, mobi, missing="pairwise")


def test_empty_and_tiny_data(ecsi, mobi):
    none = csi.check(ecsi, mobi.head(0))
    assert not none.ok and none.errors.message.tolist() == ["the survey data has no rows"]
    assert "only 3 usable rows" in csi.check(ecsi, mobi.head(3)).errors.message.iloc[0]
    assert "below the 10-times rule" in csi.check(ecsi, mobi.head(30)).warnings.message.iloc[0]


def test_cli_validate_prints_the_report_and_fails_on_errors(tmp_path, mobi, capsys):
    from csi_models.cli import main

    bad = mobi.copy()
    bad.loc[7, "CUSL1"] = 12
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    assert main(["validate", "ecsi", "--data", str(path)]) == 1
    out = capsys.readouterr()
    assert "[range] item CUSL1 (column 'CUSL1') has 1 answer(s) outside its scale 1..10" in out.out
    assert "the data has 1 error(s)" in out.err
    assert main(["validate", "ecsi", "--data", "demo"]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    assert main(["validate", "ecsi"]) == 0  # the spec alone


def test_a_construct_on_no_path_is_flagged_for_pls(ecsi, mobi, capsys):
    """Legal (CB-SEM fits it as a correlated factor) but not fittable by PLS: check says so."""
    lonely = ecsi.drop_path("Satisfaction", "Complaints").drop_path("Complaints", "Loyalty")
    report = csi.check(lonely, mobi)
    advice = _only(report, "spec", "warning")
    assert advice["construct"] == "Complaints" and report.ok
    assert advice["message"].startswith("construct Complaints is on no path (ecsi.yaml, line ")
    assert "PLS needs every construct on a path" in advice["message"]
    assert "CB-SEM can fit it as a correlated factor" in advice["message"]
    with pytest.raises(csi.errors.EstimationError, match="Complaints have no structural path"):
        csi.fit(lonely, mobi, method="pls")  # what the advice predicts
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # prepare (CB-SEM's path too) stays quiet
        prepare(lonely, mobi)
    assert (csi.check(ecsi, mobi).findings.check != "spec").all()
    cfa = csi.spec.spec_from_dict({"name": "cfa", "scale": {"min": 1, "max": 10}, "constructs": {
        "A": {"items": ["CUSA1", "CUSA2"]}, "B": {"items": ["CUSL1", "CUSL2"]}}})
    assert csi.check(cfa, mobi).warnings.construct.tolist() == ["A", "B"]


def test_check_report_in_chinese(mobi):
    import re

    bad = mobi.copy()
    bad.loc[7, "CUSL1"] = 12
    report = csi.check("ecsi", bad)
    text = report.to_text("zh")
    head = text.splitlines()[0]
    assert head.startswith("模型 ecsi 的数据检查：共 250 行") and "1 个错误" in head
    assert "错误：" in text and "题项：" in text and "忠诚" in text
    header = [line for line in text.splitlines() if line.strip().startswith("测量题项")][0]
    assert re.findall(r"[A-Za-z]+", header) == []
    html = report.to_html("zh")
    assert "<h5>错误</h5>" in html and "<th>题项内容</th>" in html
    with pytest.raises(csi.errors.SpecError, match="lang must be"):
        report.to_text("de")
