"""Path diagrams: reading order, arcs around constructs, real SVG text, stars, PNG/PDF."""

import math
import warnings
import xml.etree.ElementTree as ET

import pytest

import csi_models as csi
from csi_models.errors import FontWarning, OutputError
from csi_models.report import diagram as dg
from csi_models.report.diagram import DiagramData, Diagram, diagram_of, stars

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    return [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]


@pytest.mark.parametrize("name", ["acsi", "ecsi", "ccsi"])
def test_drivers_stand_left_of_outcomes_and_no_path_runs_through_a_construct(name):
    spec = csi.load_spec(name)
    g = diagram_of(spec)._geometry
    for s, t in spec.paths:
        assert g.x[s] < g.x[t], f"{s} -> {t} points left"
    for e in g.edges:  # sample the drawn curve: it meets no other construct's ellipse
        (x0, y0), (cx, cy), (x1, y1) = e["start"], e["ctrl"], e["end"]
        for k in range(1, 40):
            u = k / 40
            px = (1 - u) ** 2 * x0 + 2 * u * (1 - u) * cx + u ** 2 * x1
            py = (1 - u) ** 2 * y0 + 2 * u * (1 - u) * cy + u ** 2 * y1
            for c in spec.construct_names:
                if c in (e["source"], e["target"]):
                    continue
                inside = ((px - g.x[c]) / g.rx[c]) ** 2 + ((py - g.y[c]) / g.ry) ** 2 < 1
                assert not inside, f"{e['source']} -> {e['target']} runs through {c}"


def test_constructs_do_not_overlap():
    g = diagram_of(csi.load_spec("ecsi"), items=True)._geometry
    names = list(g.x)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            apart_x = abs(g.x[a] - g.x[b]) >= g.rx[a] + g.rx[b]
            apart_y = abs(g.y[a] - g.y[b]) >= 2 * g.ry
            assert apart_x or apart_y, (a, b)


def test_svg_carries_the_chinese_labels_as_text():
    spec = csi.load_spec("ecsi")
    shown = texts(diagram_of(spec, lang="zh").svg)
    assert "欧洲顾客满意度指数" in shown
    for c in spec.constructs:
        assert c.label["zh"] in shown
    english = texts(diagram_of(spec, lang="en").svg)
    assert "Perceived quality" in english and "感知质量" not in english


def test_items_are_optional_and_carry_their_wording():
    spec = csi.load_spec("acsi")
    assert "CUEX1" not in texts(diagram_of(spec).svg)
    svg = diagram_of(spec, lang="zh", items=True).svg
    assert "CUEX1" in texts(svg) and "<title>总体质量预期</title>" in svg


def test_stars_follow_the_usual_cutoffs():
    assert [stars(p) for p in (0.0004, 0.001, 0.009, 0.04, 0.05, 0.2, math.nan)] == \
        ["***", "**", "**", "*", "", "", ""]


def test_coefficients_index_and_r2_are_shown():
    data = DiagramData(title="t", constructs=["A", "B"], paths=[("A", "B", 0.4567, 0.002)],
                       labels={"A": "A", "B": "B"}, index={"A": 71.25, "B": 64.0},
                       r2={"B": 0.2086})
    shown = texts(Diagram(data).svg)
    assert "0.457**" in shown
    assert "index 71.2" in shown[2:] or "index 71.3" in shown  # 71.25 rounds half-even
    assert "index 64.0 · R² 0.21" in shown
    assert any(t.startswith("* p < 0.05") for t in shown)
    without = texts(Diagram(DiagramData("t", ["A", "B"], [("A", "B", 0.5, math.nan)])).svg)
    assert "0.500" in without and not any(t.startswith("* p") for t in without)


def test_png_and_pdf_and_overwrite(tmp_path):
    d = diagram_of(csi.load_spec("acsi"))
    png = d.save(tmp_path / "acsi.png", dpi=40)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert d.save(tmp_path / "acsi.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(OutputError, match="exists; pass overwrite=True"):
        d.save(tmp_path / "acsi.png")
    d.save(tmp_path / "acsi.png", overwrite=True, dpi=40)
    with pytest.raises(OutputError, match=r"\.svg, \.png or \.pdf"):
        d.save(tmp_path / "acsi.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acsi.pdf", "acsi.png"]


def test_one_font_warning_without_a_cjk_font(monkeypatch, tmp_path):
    import csi_models.report.fonts as fonts

    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diagram_of(csi.load_spec("acsi"), lang="zh").save(tmp_path / "zh.png", dpi=30)
    ours = [w for w in caught if issubclass(w.category, FontWarning)]
    assert len(ours) == 1 and "fonts-noto-cjk" in str(ours[0].message)
    assert ours[0].filename == __file__  # points at the caller's line
    assert not [w for w in caught if "Glyph" in str(w.message)]


def test_lang_is_checked():
    with pytest.raises(csi.errors.SpecError, match="lang must be 'en' or 'zh'"):
        diagram_of(csi.load_spec("acsi"), lang="fr")


def test_spec_and_gaps_display_in_jupyter():
    spec = csi.load_spec("ccsi")
    shown = spec._repr_html_()
    assert f"{len(spec.constructs)} constructs" in shown
    assert f"{len(spec.paths)} paths" in shown and 'class="csi-diagram"' in shown
    assert spec.plot(lang="zh")._repr_svg_().count("<ellipse") == len(spec.constructs)
    import pandas as pd

    gap = csi.gaps(pd.DataFrame({"a": [5, 6, 7], "b": [4, 4, 4]}),
                   pd.DataFrame({"a": [4, 5, 6], "b": [5, 5, 5]}))
    html = gap._repr_html_()
    assert f"SERVQUAL score {gap.score:.3f}" in html and "<table" in html


def test_panel_puts_diagrams_side_by_side(tmp_path):
    from csi_models.report.panel import DiagramPanel

    panel = DiagramPanel([diagram_of(csi.load_spec(n), "zh") for n in ("acsi", "ecsi")],
                         ["acsi", "ecsi"])
    shown = texts(panel.svg)
    assert "美国顾客满意度指数" in shown and "欧洲顾客满意度指数" in shown
    root = ET.fromstring(panel.svg)
    assert len(root.findall(f"{SVG}g/{SVG}svg")) == 2
    assert panel.save(tmp_path / "p.png", dpi=30).read_bytes()[:4] == b"\x89PNG"
