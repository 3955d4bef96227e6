"""Exports: HTML holds every table and the diagram, Excel re-reads to the tables, JSON and
pickle round-trip, the Chinese report has no English heading or column left, writes are
atomic and refuse to overwrite."""

import json
import pickle
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.errors import OutputError
from csi_models.report.bundle import bundle_of, settings_rows
from csi_models.report.files import write_atomic
from csi_models.report.json_io import read_result


@pytest.fixture(scope="module")
def res(mobi):
    return csi.fit("ecsi", mobi, method="pls", bootstrap=200, random_state=1)


@pytest.fixture(scope="module")
def cmp(mobi):
    return csi.compare(["acsi", "ecsi"], mobi, method="pls")


class Page(HTMLParser):
    """Sections (id -> tables as lists of rows of cell text), headings, and tags seen."""

    def __init__(self):
        super().__init__()
        self.sections, self.order, self.headings, self.tags, self.svg_text = {}, [], [], [], []
        self._section = self._cell = None
        self._in, self._row = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in.append(tag)
        if tag == "section":
            self._section = attrs.get("id")
            self.order.append(self._section)
            self.sections[self._section] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if self._in:
            self._in.pop()
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.sections[self._section].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._in and self._in[-1] in ("h1", "h2", "th"):
            self.headings.append(data.strip())
        if "text" in self._in:
            self.svg_text.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def test_html_holds_every_table_the_diagram_and_the_settings(res, tmp_path):
    path = res.to_html(tmp_path / "report.html")
    page = parse(path.read_text(encoding="utf-8"))
    tables = bundle_of(res).tables
    assert set(f"table-{n}" for n in tables) <= set(page.sections)
    for name, table in tables.items():
        rows = page.sections[f"table-{name}"]
        assert len(rows) == len(table) + 1, name  # header + one row per table row
    assert page.order[0] == "warnings" and page.order[1] == "diagram"
    paths = page.sections["table-paths"]
    header = paths[0]
    shown = [float(r[header.index("estimate")]) for r in paths[1:]]
    np.testing.assert_allclose(shown, res.paths["estimate"].round(3), atol=1e-12)
    settings = dict(tuple(r) for r in page.sections["settings"][1:])
    assert settings["tolerance"] == str(res.settings["tolerance"])
    assert any(tag == "svg" and "csi-diagram" in a.get("class", "") for tag, a in page.tags)
    assert not [a for tag, a in page.tags if tag in ("script", "link", "img")]  # self-contained
    for w in res.warnings:
        assert w.split(":")[0] in path.read_text(encoding="utf-8")


def test_excel_rereads_to_the_tables(res, tmp_path):
    path = res.to_excel(tmp_path / "report.xlsx")
    sheets = pd.read_excel(path, sheet_name=None)
    for name, table in bundle_of(res).tables.items():
        expected = table.rename_axis("measure").reset_index() if isinstance(table, pd.Series) else table
        expected = expected.replace("", np.nan)  # Excel has no empty text: an empty cell
        pd.testing.assert_frame_equal(sheets[name], expected.reset_index(drop=True),
                                      check_dtype=False, check_exact=False, rtol=1e-15)
    settings = sheets["settings"]
    assert list(zip(settings.setting, settings.value.fillna("").astype(str))) == \
        [(k, v) for k, v in settings_rows(res.settings)]
    assert list(sheets["warnings"]["warning"]) == res.warnings
    zh = pd.read_excel(res.to_excel(tmp_path / "zh.xlsx", lang="zh"), sheet_name=None)
    assert "路径系数（标准化）" in zh and "估计设置" in zh
    np.testing.assert_allclose(zh["路径系数（标准化）"]["估计值"], res.paths["estimate"], rtol=1e-15)


def test_json_round_trip(res, tmp_path):
    path = res.to_json(tmp_path / "res.json")
    back = read_result(path)
    for name, table in bundle_of(res).tables.items():
        if isinstance(table, pd.Series):
            pd.testing.assert_series_equal(getattr(back, name), table, check_exact=True)
        else:
            pd.testing.assert_frame_equal(getattr(back, name), table, check_exact=True)
    assert back.spec == res.spec and back.spec.label("Quality", "zh") == "感知质量"
    assert back.settings == json.loads(json.dumps(back.settings))
    assert back.settings["tolerance"] == res.settings["tolerance"]
    assert back.warnings == res.warnings
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["format"] == "csi-models-result"
    # numbers are unrounded: the stored text gives back the same doubles
    assert raw["tables"]["paths"]["data"][0][2] == res.paths["estimate"].iloc[0]


def test_json_round_trip_of_a_comparison(cmp, tmp_path):
    back = read_result(cmp.to_json(tmp_path / "cmp.json"))
    pd.testing.assert_frame_equal(back.status, cmp.status, check_exact=True)
    pd.testing.assert_frame_equal(back.table, cmp.table, check_exact=True)
    assert set(back.spec) == {"acsi", "ecsi"} and back.spec["acsi"] == csi.load_spec("acsi")


def test_read_result_names_the_problem(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}', encoding="utf-8")
    (tmp_path / "y.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(csi.errors.DataError, match="not a csi-models result"):
        read_result(tmp_path / "x.json")
    with pytest.raises(csi.errors.DataError, match="is not JSON"):
        read_result(tmp_path / "y.json")
    with pytest.raises(csi.errors.DataError, match="cannot read"):
        read_result(tmp_path / "z.json")


def test_pickle_round_trip_with_a_bootstrap(res):
    back = pickle.loads(pickle.dumps(res))
    pd.testing.assert_frame_equal(back.paths, res.paths, check_exact=True)
    pd.testing.assert_frame_equal(back.indices, res.indices, check_exact=True)


# words allowed in a Chinese report: standard abbreviations and symbols
ALLOWED = {"R", "HTMT", "AVE", "rho_A", "PLS", "SEM", "CB", "VIF", "p", "f", "t", "csi",
           "models", "Bootstrap", "CI", "SE"}


def english_words(texts) -> set:
    return {w for t in texts for w in re.findall(r"[A-Za-z][A-Za-z_]*", t)} - ALLOWED


def test_chinese_report_has_no_english_heading_or_column(res, cmp):
    page = parse(res.to_html(lang="zh"))
    assert english_words(page.headings) == set()
    status = [li for li in re.findall(r"<li>([^<]*)</li>", res.to_html(lang="zh"))][:3]
    assert english_words(status) == set()
    settings_labels = [r[0] for r in page.sections["settings"][1:]]
    assert english_words(settings_labels) <= {"numpy", "pandas", "scipy", "semopy", "python",
                                              "csi_models", "networkx", "statsmodels"}
    md = res.to_markdown(lang="zh")
    heads = [line for line in md.splitlines() if line.startswith("#")]
    heads += [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][:1]
    assert english_words(heads) == set()
    assert english_words(parse(cmp.to_html(lang="zh")).headings) <= {"acsi", "ecsi"}  # names


def test_markdown_and_latex(res):
    md = res.to_markdown()
    assert "## Structural paths (standardized)" in md and "## Settings" in md
    tex = res.to_latex()
    rows = [line for line in tex.splitlines() if "$\\rightarrow$" in line]
    assert len(rows) == len(res.paths)
    for line, p in zip(rows, res.paths["p_value"]):  # stars by the usual cut-offs
        marks = re.search(r"& [-0-9.]+(\**) &", line).group(1)
        assert marks == ("***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "")
    assert "\\toprule" in tex and "Settings" in tex


def test_writes_are_atomic_and_refuse_to_overwrite(res, tmp_path):
    path = tmp_path / "r.html"
    res.to_html(path)
    before = path.read_bytes()
    with pytest.raises(OutputError, match="exists; pass overwrite=True"):
        res.to_html(path)

    def broken(out):
        out.write(b"half a report")
        raise OutputError("disk full")

    with pytest.raises(OutputError, match="disk full"):
        write_atomic(path, broken, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temp file left
    with pytest.raises(OutputError, match="does not exist; create it first"):
        res.to_json(tmp_path / "nowhere" / "r.json")
    res.to_html(path, overwrite=True)


def test_warnings_in_chinese_keep_names_and_numbers():
    from csi_models.report.messages_zh import warning_zh

    text = ("BootstrapWarning: the index of Loyalty is undefined (a negative weight) in 6 of 200 "
            "bootstrap resamples; its se and interval, and those of the impacts involving "
            "Loyalty, use the other 194 or fewer (column n_boot of res.indices and res.impacts)")
    assert warning_zh(text) == ("自助法警告：在 200 个自助样本中有 6 个 Loyalty 的指数无法计算（权重为负）；"
                                "其标准误、置信区间及相关影响值只使用其余不超过 194 个样本"
                                "（见 res.indices 与 res.impacts 的 n_boot 列）")
    assert warning_zh("ConvergenceWarning: PLS did not converge in 1 iterations (tolerance "
                      "1e-07); raise max_iter or check the model").startswith(
        "收敛警告：PLS 算法在 1 次迭代内未收敛（容差 1e-07）")
    assert warning_zh("DataWarning: something new") == "数据警告：something new"  # kept, not lost
    assert "顾客忠诚的指数" in warning_zh(text, {"Loyalty": "顾客忠诚"}).replace(" ", "")


FLAGS_ZH = "提示（文献中的常用阈值，仅供判断参考，不作为决策规则）："


def test_chinese_summary_has_no_english_heading_column_or_flag(res, mobi):
    cb = csi.fit("ecsi", mobi, method="cbsem")
    for result in (res, cb):
        lines = result.summary(lang="zh").splitlines()
        headings = [line for line in lines if line.endswith("：")]
        assert len(headings) >= 10
        headers = [lines[k + 1] for k, line in enumerate(lines[:-1])
                   if line.endswith("：") and line not in ("估计设置：", FLAGS_ZH)]
        assert len(headers) >= 8
        assert english_words(headings) == set(), headings
        assert english_words(headers) == set(), headers
        start = lines.index("估计设置：") + 1
        block = lines[start:lines.index("", start)]
        labels = [line.split("：")[0] for line in block]
        assert english_words(labels) == set(), labels  # setting labels
        status = lines[1:3]
        assert english_words(status) <= {"n", "e"}, status  # 1.2e-14
        flags = lines[lines.index(FLAGS_ZH) + 1:]
        assert flags and english_words(flags) <= {"Fornell", "Larcker", "HTMT", "CFI", "TLI",
                                                   "RMSEA", "SRMR", "r"}, flags
    html = res._repr_html_()
    assert "<h5>Structural paths</h5>" in html
    from csi_models.report.summary import html_summary

    assert english_words(re.findall(r"<h5>([^<]*)</h5>", html_summary(res, "zh"))) == set()
