"""Survey files: CSV (UTF-8/GB18030, ';'), Excel, SPSS, Stata, Parquet -> the same numbers.

Fixture files are written in each test from the bundled ECSI data: Excel by openpyxl, SPSS by
pyreadstat, Stata by pandas' own writer (independent of the ReadStat library we read with),
Parquet by pyarrow. Every reader must give back the bundled data exactly, and a fit from the
file must equal the fit from the DataFrame.
"""

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import csi_models as csi
from csi_models.errors import DataError


@pytest.fixture(scope="module")
def mobi():
    return csi.datasets.load_ecsi_mobi()


def _same_numbers(frame: pd.DataFrame, mobi: pd.DataFrame):
    assert list(frame.columns) == list(mobi.columns)
    np.testing.assert_array_equal(frame.to_numpy(float), mobi.to_numpy(float))


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix, write", [
    (".csv", lambda f, p: f.to_csv(p, index=False)),
    (".csv", lambda f, p: f.to_csv(p, index=False, encoding="utf-8-sig")),
    (".csv", lambda f, p: f.to_csv(p, index=False, sep=";")),
    (".tsv", lambda f, p: f.to_csv(p, index=False, sep="\t")),
    (".xlsx", lambda f, p: f.to_excel(p, index=False)),
    (".sav", lambda f, p: pyreadstat.write_sav(f, p)),
    (".zsav", lambda f, p: pyreadstat.write_sav(f, p, compress=True)),
    (".dta", lambda f, p: f.astype("int8").to_stata(p, write_index=False)),
    (".parquet", lambda f, p: f.to_parquet(p)),
])
def test_every_format_reads_back_the_same_numbers_and_is_not_modified(tmp_path, mobi, suffix, write):
    path = tmp_path / f"survey{suffix}"
    write(mobi, path)
    digest = _digest(path)
    frame = csi.read_survey(path)
    _same_numbers(frame, mobi)
    assert _digest(path) == digest


def test_gb18030_csv_with_chinese_column_names(tmp_path, mobi):
    chinese = mobi.rename(columns={"CUSA1": "总体满意度", "CUSA2": "与预期相比"})
    path = tmp_path / "调查.csv"
    chinese.to_csv(path, index=False, encoding="gb18030")
    frame = csi.read_survey(path)
    assert "总体满意度" in frame.columns
    spec = csi.load_spec("ecsi").with_columns({"CUSA1": "总体满意度", "CUSA2": "与预期相比"})
    a = csi.fit(spec, frame)
    b = csi.fit("ecsi", mobi)
    np.testing.assert_array_equal(a.paths.estimate, b.paths.estimate)


@pytest.mark.filterwarnings("ignore::csi_models.errors.ImproperSolutionWarning")
def test_fit_from_a_spss_file_equals_fit_from_the_frame(tmp_path, mobi):
    path = tmp_path / "mobi.sav"
    pyreadstat.write_sav(mobi, path)
    for method in ("pls", "cbsem"):
        from_file = csi.fit("ecsi", str(path), method=method)
        from_frame = csi.fit("ecsi", mobi, method=method)
        np.testing.assert_array_equal(from_file.paths.estimate, from_frame.paths.estimate)


def test_excel_sheets_and_empty_rows(tmp_path, mobi):
    path = tmp_path / "survey.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="About", index=False)
        padded = pd.concat([mobi.head(20), pd.DataFrame(np.nan, index=range(3), columns=mobi.columns)])
        padded.to_excel(writer, sheet_name="Answers", index=False)
    _same_numbers(csi.read_survey(path, sheet="Answers"), mobi.head(20))  # blank rows dropped
    _same_numbers(csi.read_survey(path, sheet=1), mobi.head(20))
    assert list(csi.read_survey(path).columns) == ["note"]  # first sheet by default
    with pytest.raises(DataError, match="Worksheet named 'Nope' not found"):
        csi.read_survey(path, sheet="Nope")
    (tmp_path / "survey.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match="sheet='x' applies to Excel files only"):
        csi.read_survey(tmp_path / "survey.csv", sheet="x")


def test_spss_value_labels_user_missing_and_column_labels(tmp_path):
    frame = pd.DataFrame({"q1": [1.0, 4, 98, 5, 99, 2], "q2": [1.0, 2, 3, 4, 5, 97]})
    path = tmp_path / "labelled.sav"
    pyreadstat.write_sav(
        frame, path, column_labels={"q1": "Overall satisfaction", "q2": "Value"},
        variable_value_labels={"q1": {1: "Very dissatisfied", 5: "Very satisfied",
                                      98: "Don't know", 99: "Refused"}},
        missing_ranges={"q1": [98, 99], "q2": [{"lo": 96, "hi": 99}]})
    read = csi.read_survey(path)
    assert read["q1"].isna().tolist() == [False, False, True, False, True, False]
    assert read["q2"].isna().tolist() == [False] * 5 + [True]
    assert read.attrs["user_missing"] == {"q1": {"ranges": [[98.0, 98.0], [99.0, 99.0]], "count": 2},
                                          "q2": {"ranges": [[96.0, 99.0]], "count": 1}}
    assert read.attrs["value_labels"]["q1"][98.0] == "Don't know"
    assert read.attrs["column_labels"] == {"q1": "Overall satisfaction", "q2": "Value"}
    assert read.attrs["format"] == "spss"
    # attrs survive the usual pandas steps and a Parquet round trip
    assert read[["q1"]].copy().attrs["value_labels"] == read.attrs["value_labels"]
    read.to_parquet(tmp_path / "again.parquet")
    again = csi.read_survey(tmp_path / "again.parquet")
    assert again.attrs["user_missing"] == read.attrs["user_missing"]


def test_stata_value_labels_from_an_independent_writer(tmp_path):
    frame = pd.DataFrame({"q1": np.array([1, 2, 5, 3], dtype=np.int8)})
    path = tmp_path / "labelled.dta"
    frame.to_stata(path, write_index=False, value_labels={"q1": {1: "bad", 5: "good"}},
                   variable_labels={"q1": "Overall"})
    read = csi.read_survey(path)
    assert read.attrs["value_labels"] == {"q1": {1.0: "bad", 5.0: "good"}}
    assert read.attrs["column_labels"] == {"q1": "Overall"}


@pytest.mark.parametrize("name, content, pattern", [
    ("survey.xls", b"\xd0\xcf\x11\xe0", r"unknown file type '.xls'.*save it as .xlsx"),
    ("survey.json", b"{}", r"unknown file type '.json'.*export it as .csv"),
    ("survey.sav", b"not spss", r"cannot read .*survey.sav"),
    ("survey.xlsx", b"PK\x03\x04 broken zip", r"cannot read .*survey.xlsx"),
    ("survey.parquet", b"PAR1", r"cannot read .*survey.parquet"),
    ("survey.dta", b"", r"cannot read .*survey.dta"),
    ("survey.csv", b"", r"cannot read .*survey.csv"),
])
def test_unreadable_files_are_data_errors_naming_the_file(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        csi.read_survey(path)
    assert path.read_bytes() == content


def test_missing_files_and_non_paths(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        csi.read_survey(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="does not exist"):
        csi.read_survey(tmp_path)  # a folder
    with pytest.raises(DataError, match="takes a file path"):
        csi.read_survey(pd.DataFrame())


def _csi(*args):
    return subprocess.run([sys.executable, "-m", "csi_models.cli", *args], capture_output=True,
                          text=True, encoding="utf-8")


def test_cli_reads_any_format_by_extension(tmp_path, mobi):
    sav, xlsx = tmp_path / "mobi.sav", tmp_path / "mobi.xlsx"
    pyreadstat.write_sav(mobi, sav)
    with pd.ExcelWriter(xlsx) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="cover", index=False)
        mobi.to_excel(writer, sheet_name="data", index=False)
    done = _csi("fit", "acsi", "--data", str(sav))
    assert done.returncode == 0 and "n = 250" in done.stdout
    done = _csi("fit", "acsi", "--data", str(xlsx), "--sheet", "data", "--method", "cbsem")
    assert done.returncode == 0 and "CB-SEM" in done.stdout
    done = _csi("validate", "ecsi", "--data", str(sav), "--html", str(tmp_path / "report.html"))
    assert done.returncode == 0 and "0 error(s)" in done.stdout
    assert "<h5>Items</h5>" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_as_frame_is_the_one_path_or_frame_gate(tmp_path, mobi):
    from csi_models.data import as_frame, rows_text

    assert as_frame(mobi) is mobi  # the caller's frame, not a copy
    path = tmp_path / "survey.csv"
    mobi.head(5).to_csv(path, index=False)

    class Located:  # any os.PathLike, not only pathlib.Path
        def __fspath__(self):
            return str(path)

    for given in (str(path), path, Located()):
        _same_numbers(as_frame(given), mobi.head(5))
    for junk in (None, 3, b"survey.csv", mobi.to_numpy(), {"a": [1]}, mobi.CUSA1):
        with pytest.raises(DataError, match="must be a pandas DataFrame or a file path"):
            as_frame(junk)
    with pytest.raises(DataError, match="applies to Excel files"):
        as_frame(mobi, sheet="Answers")
    assert rows_text(range(8)) == "0, 1, 2, 3, 4 (and 3 more)" and rows_text(["r1"]) == "r1"


def test_western_csv_is_not_silently_read_as_chinese(tmp_path, mobi):
    """A Windows-1252 'Zürich' decodes as GB18030 too (into 'Z黵ich'): refuse to guess."""
    frame = mobi.head(40).assign(Region=["Zürich", "Genève"] * 20)
    path = tmp_path / "western.csv"
    frame.to_csv(path, index=False, encoding="cp1252")
    with pytest.raises(DataError) as raised:
        csi.read_survey(path)
    message = str(raised.value)
    assert "cannot tell the text encoding of western.csv: it is not UTF-8" in message
    assert "as GB18030 (Chinese) it gives 'Z黵ich', 'Gen鑦e'" in message
    assert "as Windows-1252 (Western European) it gives 'Zürich', 'Genève'" in message
    assert f"csi.read_survey({str(path)!r}, encoding='cp1252')" in message
    read = csi.read_survey(path, encoding="cp1252")  # the fix the message gives
    assert read.Region.tolist() == frame.Region.tolist()
    _same_numbers(read.drop(columns="Region"), mobi.head(40))
    with pytest.raises(DataError, match="western.csv is not utf-8 text"):
        csi.read_survey(path, encoding="utf-8")
    with pytest.raises(DataError, match="encoding='klingon' is not a known text encoding"):
        csi.read_survey(path, encoding="klingon")
    # Chinese text in GB18030, a few traditional characters and an emoji included, still reads
    chinese = mobi.head(40).assign(地区=["北京市", "廣州（說不清）😀"] * 20)
    chinese.to_csv(tmp_path / "cn.csv", index=False, encoding="gb18030")
    assert csi.read_survey(tmp_path / "cn.csv").地区.tolist() == chinese.地区.tolist()


def test_rows_are_numbered_as_the_file_shows_them(tmp_path, mobi):
    """Messages name rows by index label; for files that label is the row the user opens:
    spreadsheet row for CSV/Excel (header = 1), case number for SPSS/Stata."""
    import openpyxl

    bad = mobi.copy()
    bad.loc[3, "CUEX1"] = 42  # the 4th respondent
    # Excel: a blank sheet row after respondent 3 pushes the 4th respondent down to row 6
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(bad.columns))
    for k, row in enumerate(bad.itertuples(index=False)):
        if k == 3:
            ws.append([None] * len(bad.columns))
        ws.append(list(row))
    ws.cell(row=102, column=1 + list(bad.columns).index("CUSA2"), value=-1)
    wb.save(tmp_path / "rows.xlsx")
    frame = csi.read_survey(tmp_path / "rows.xlsx")
    assert len(frame) == 250 and frame.index[:5].tolist() == [2, 3, 4, 6, 7]
    assert frame.loc[6, "CUEX1"] == 42 and frame.index[-1] == 252
    errors = csi.check("ecsi", frame).errors.set_index("item").message
    assert "rows 6 (42)" in errors["CUEX1"] and "rows 102 (-1)" in errors["CUSA2"]
    _same_numbers(frame.reset_index(drop=True), bad.assign(CUSA2=bad.CUSA2.where(bad.index != 99, -1)))
    # CSV: line numbers, blank lines counted (and dropped), blank lines above the header skipped
    text = bad.to_csv(index=False).splitlines()
    (tmp_path / "rows.csv").write_text("\n".join(["", text[0], *text[1:4], "", *text[4:]]) + "\n\n")
    frame = csi.read_survey(tmp_path / "rows.csv")
    assert frame.index[:5].tolist() == [3, 4, 5, 7, 8] and len(frame) == 250
    _same_numbers(frame.reset_index(drop=True), bad)
    assert "rows 7 (42)" in csi.check("ecsi", str(tmp_path / "rows.csv")).errors.message.iloc[0]
    bad.to_csv(tmp_path / "plain.csv", index=False)
    assert "rows 5 (42)" in csi.check("ecsi", str(tmp_path / "plain.csv")).errors.message.iloc[0]
    with pytest.raises(DataError, match=r"rows 5 \(42\)"):
        csi.fit("ecsi", str(tmp_path / "plain.csv"))
    assert csi.read_survey(tmp_path / "plain.csv", header=None, skiprows=1).index[0] == 2
    # SPSS and Stata: case numbers from 1
    pyreadstat.write_sav(bad, tmp_path / "rows.sav")
    bad.astype("int8").to_stata(tmp_path / "rows.dta", write_index=False)
    for name in ("rows.sav", "rows.dta"):
        frame = csi.read_survey(tmp_path / name)
        assert frame.index[0] == 1 and frame.loc[4, "CUEX1"] == 42
    # options that make the numbering unknowable keep pandas' index
    keyed = bad.rename_axis("id").reset_index()
    keyed["id"] += 1000
    keyed.to_csv(tmp_path / "keyed.csv", index=False)
    assert csi.read_survey(tmp_path / "keyed.csv", index_col="id").index[0] == 1000
