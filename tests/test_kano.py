"""Kano analysis, its plot, and the CJK font helper (hand-computed examples)."""

import copy
import io
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from csi_models.errors import CSIWarning, DataError, DataWarning
from csi_models.analysis.gaps import gaps
from csi_models.analysis.kano import (EVALUATION_TABLE, KanoWarning, kano, kano_continuous,
                             kano_priority, plot_kano)
from csi_models.analysis.kano_layout import split_kano
from csi_models.report import fonts

# Pairs (functional, dysfunctional) giving each category once.
PAIR = {"A": (1, 3), "O": (1, 5), "M": (2, 5), "I": (3, 3), "R": (5, 1), "Q": (1, 1)}


def frames(spec: dict, index=None):
    """Functional/dysfunctional frames from {feature: [(f, d), ...]}, NaN-padded."""
    n = max(len(p) for p in spec.values())
    f = {k: [p[0] for p in v] + [np.nan] * (n - len(v)) for k, v in spec.items()}
    d = {k: [p[1] for p in v] + [np.nan] * (n - len(v)) for k, v in spec.items()}
    return pd.DataFrame(f, index=index), pd.DataFrame(d, index=index)


def counted(**counts):
    return [PAIR[c] for c, k in counts.items() for _ in range(k)]


# feature x: A=3, O=2, M=4, I=1, R=1, Q=2 built from varied cells of the table
X_PAIRS = [(1, 2), (1, 3), (1, 4), (1, 5), (1, 5), (2, 5), (3, 5), (4, 5), (2, 5), (3, 3),
           (5, 1), (1, 1), (5, 5)]


def test_evaluation_table_is_the_standard_one():
    assert EVALUATION_TABLE.loc["like"].tolist() == list("QAAAO")
    assert EVALUATION_TABLE["dislike"].tolist() == list("OMMMQ")
    assert EVALUATION_TABLE.loc["dislike"].tolist() == list("RRRRQ")
    assert EVALUATION_TABLE.loc["neutral", "live-with"] == "I"


def test_known_counts_shares_category_better_worse():
    f, d = frames({"x": X_PAIRS})
    with pytest.warns(KanoWarning, match=r"'x' 15%"):
        t = kano(f, d)
    row = t.loc["x"]
    assert [row[c] for c in "AOMIRQ"] == [3, 2, 4, 1, 1, 2]
    assert row["n"] == 13 and row["n_missing"] == 0
    for c, k in zip("AOMIRQ", [3, 2, 4, 1, 1, 2]):
        assert row[f"share_{c}"] == pytest.approx(k / 13)
    assert row["category"] == "M"
    assert row["better"] == pytest.approx(0.5)
    assert row["worse"] == pytest.approx(-0.6)
    assert t.index.name == "feature"


def test_ties_follow_m_o_a_i_r_and_q_is_never_the_category():
    spec = {"mo": counted(M=2, O=2, A=1), "oa": counted(O=2, A=2, I=1),
            "ai": counted(A=2, I=2), "ir": counted(I=2, R=2),
            "qmaj": counted(Q=5, A=2, I=1)}
    f, d = frames(spec)
    with pytest.warns(KanoWarning, match="qmaj"):
        t = kano(f, d)
    assert t["category"].to_dict() == {"mo": "M", "oa": "O", "ai": "A", "ir": "I", "qmaj": "A"}
    assert t.loc["qmaj", "Q"] == 5 and t.loc["qmaj", "share_Q"] == pytest.approx(5 / 8)
    assert t.loc["qmaj", "better"] == pytest.approx(2 / 3)
    assert t.loc["ir", "R"] == 2 and t.loc["ir", "worse"] == 0


ENGLISH = {1: "I like it", 2: "I expect it", 3: "I am neutral", 4: "I can live with it",
           5: "I dislike it"}
ENGLISH_SHORT = {1: " LIKE ", 2: "Must-be", 3: "neutral", 4: "live with", 5: "Dislike."}
CHINESE = {1: "喜欢", 2: "理所当然", 3: "无所谓", 4: "能忍受", 5: "不喜欢"}


@pytest.mark.parametrize("labels", [ENGLISH, ENGLISH_SHORT, CHINESE])
def test_labels_give_the_same_table_as_codes(labels):
    f, d = frames({"x": X_PAIRS, "y": counted(A=2, I=3, R=1)})
    with pytest.warns(KanoWarning):
        expected = kano(f, d)
    as_text = lambda df: df.apply(lambda c: c.map(lambda v: labels.get(v, v)))  # noqa: E731
    with pytest.warns(KanoWarning):
        got = kano(as_text(f), as_text(d))
    pd.testing.assert_frame_equal(got, expected)


def test_string_codes_and_floats_are_accepted():
    f, d = frames({"x": X_PAIRS})
    with pytest.warns(KanoWarning):
        a = kano(f.astype(str).replace("nan", np.nan), d.astype(float))
    assert [a.loc["x", c] for c in "AOMIRQ"] == [3, 2, 4, 1, 1, 2]


def test_missing_answers_are_excluded_pairwise():
    f = pd.DataFrame({"x": [1, 1, np.nan, 2, "  ", 3]})
    d = pd.DataFrame({"x": [5, np.nan, 5, 5, 5, 3]})
    t = kano(f, d)
    assert t.loc["x", "n"] == 3 and t.loc["x", "n_missing"] == 3
    assert [t.loc["x", c] for c in "OMI"] == [1, 1, 1]
    assert t.loc["x", "share_O"] == pytest.approx(1 / 3)


def test_rows_are_aligned_by_label():
    f, d = frames({"x": X_PAIRS}, index=[f"r{i}" for i in range(13)])
    with pytest.warns(KanoWarning):
        expected = kano(f, d)
        got = kano(f, d.iloc[::-1][["x"]])
    pd.testing.assert_frame_equal(got, expected)


def test_inputs_are_not_modified():
    f, d = frames({"x": X_PAIRS, "y": counted(A=3)})
    f["y"] = f["y"].map({1: "喜欢"})
    imp = pd.DataFrame({"x": [5, 4], "y": [3, "2"]})
    copies = [copy.deepcopy(x) for x in (f, d, imp)]
    with pytest.warns(KanoWarning):
        kano(f, d, importance=imp)
    kano_continuous(f, d, importance=imp)
    for before, after in zip(copies, (f, d, imp)):
        pd.testing.assert_frame_equal(before, after)


def test_importance_mean_and_series():
    f, d = frames({"x": counted(A=2), "y": counted(M=2)})
    t = kano(f, d, importance=pd.DataFrame({"x": [4, 5, np.nan], "y": [2, 3, 1]}))
    assert t["importance"].tolist() == pytest.approx([4.5, 2.0])
    t = kano(f, d, importance={"y": 1, "x": 7})
    assert t["importance"].tolist() == [7.0, 1.0]


@pytest.mark.parametrize("bad, where", [
    (pd.DataFrame({"x": [1, 2, "a lot"], "y": [1, 1, 1]}, index=["p", "q", "r"]),
     "'x'.*'a lot'.*rows r$"),
    (pd.DataFrame({"x": [1, 2, 3]}), r"no column for features y$"),
    ([1, 2], "DataFrame"),
])
def test_bad_importance(bad, where):
    f, d = frames({"x": counted(A=3), "y": counted(M=3)}, index=["p", "q", "r"])
    with pytest.raises(DataError, match=where):
        kano(f, d, importance=bad)


def test_bad_codes_name_feature_values_and_rows():
    f = pd.DataFrame({"speed": [1, 6, 2, 0], "water": [1, 2, 3, 4]}, index=list("abcd"))
    d = pd.DataFrame({"speed": [5, 5, 5, 5], "water": [5, "maybe", 5, True]}, index=list("abcd"))
    with pytest.raises(DataError) as err:
        kano(f, d)
    msg = str(err.value)
    assert "'speed' (functional): values 6, 0 in rows b, d" in msg
    assert "'water' (dysfunctional): values 'maybe', True in rows b, d" in msg
    assert "True/False are not Kano answers" in msg


def test_many_bad_rows_are_truncated():
    f = pd.DataFrame({"x": [9] * 8})
    d = pd.DataFrame({"x": [1] * 8})
    with pytest.raises(DataError, match=r"rows 0, 1, 2, 3, 4 \(and 3 more\)"):
        kano(f, d)


def test_mismatched_frames():
    f = pd.DataFrame({"a": [1, 2], "b": [1, 2]})
    with pytest.raises(DataError,
                       match=r"only in functional: b; only in dysfunctional: c$"):
        kano(f, pd.DataFrame({"a": [1, 2], "c": [1, 2]}))
    with pytest.raises(DataError,
                       match=r"2 rows, dysfunctional has 3.*only in dysfunctional: 2$"):
        kano(f, pd.DataFrame({"a": [1, 2, 3], "b": [1, 2, 3]}))
    with pytest.raises(DataError,
                       match=r"rows only in functional: 0; rows only in dysfunctional: 5$"):
        kano(f, pd.DataFrame({"a": [1, 2], "b": [1, 2]}, index=[5, 1]))
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        kano(f, [[1, 2]])
    with pytest.raises(DataError, match="duplicated columns"):
        kano(pd.DataFrame([[1, 2]], columns=["a", "a"]), pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_warnings_for_empty_and_reverse_only_features():
    f = pd.DataFrame({"gone": [np.nan, np.nan], "rev": [5, 5], "ok": [1, 2]})
    d = pd.DataFrame({"gone": [1, 2], "rev": [1, 2], "ok": [5, 5]})
    with pytest.warns(KanoWarning) as rec:
        t = kano(f, d)
    text = " ".join(str(w.message) for w in rec)
    assert "features gone have no respondent" in text and "features rev have no A, O" in text
    assert pd.isna(t.loc["gone", "category"]) and math.isnan(t.loc["gone", "share_A"])
    assert t.loc["rev", "category"] == "R" and math.isnan(t.loc["rev", "better"])
    assert issubclass(KanoWarning, DataWarning) and issubclass(KanoWarning, CSIWarning)


def test_q_threshold_is_strict_and_adjustable():
    f, d = frames({"x": counted(Q=1, A=9)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kano(f, d)  # exactly 10 % does not warn
    with pytest.warns(KanoWarning):
        kano(f, d, q_threshold=0.05)


def test_priority_order():
    t = pd.DataFrame({"category": ["I", "A", "M", "O", "M", "R", None, "A"],
                      "better": [0.3, 0.7, 0.2, 0.6, 0.1, 0.0, np.nan, 0.9],
                      "worse": [-0.1, -0.2, -0.6, -0.7, -0.8, -0.1, np.nan, -0.1]},
                     index=list("abcdefgh"))
    p = kano_priority(t)
    assert p.index.tolist() == ["e", "c", "d", "h", "b", "a", "f", "g"]
    assert p["priority"].tolist() == list(range(1, 9))
    assert "priority" not in t.columns
    with pytest.raises(DataError, match="columns missing: category, duplicated: none"):
        kano_priority(t.drop(columns="category"))


def test_kano_table_priority_column():
    f, d = frames({"nice": counted(A=3), "need": counted(M=3), "meh": counted(I=3)})
    t = kano(f, d)
    assert t["priority"].to_dict() == {"need": 1, "nice": 2, "meh": 3}


def test_continuous_hand_computed():
    f, d = frames({"x": [(1, 5), (2, 5), (3, 3), (np.nan, 1)], "y": [(4, 4), (5, 2)]})
    t = kano_continuous(f, d, importance={"x": 3, "y": 1})
    assert t.loc["x", "functional_mean"] == pytest.approx(2.0)  # 4, 2, 0
    assert t.loc["x", "functional_sd"] == pytest.approx(2.0)
    assert t.loc["x", "dysfunctional_mean"] == pytest.approx(8 / 3)  # 4, 4, 0
    assert t.loc["x", "dysfunctional_sd"] == pytest.approx(math.sqrt(16 / 3))
    assert (t.loc["x", "n"], t.loc["x", "n_missing"]) == (3, 1)
    assert t.loc["y", "functional_mean"] == pytest.approx(-1.5)  # -1, -2
    assert t.loc["y", "dysfunctional_mean"] == pytest.approx(0.5)  # 2, -1
    assert t["importance"].tolist() == [3.0, 1.0]


def test_split_kano():
    data = pd.DataFrame({"speed_f": [1, 2], "speed_d": [5, 5], "other": [0, 0]})
    f, d = split_kano(data, ["speed"])
    assert f.columns.tolist() == ["speed"] and d["speed"].tolist() == [5, 5]
    with pytest.raises(DataError, match="no columns water_f, water_d for the Kano features"):
        split_kano(data, ["speed", "water"])


@pytest.mark.parametrize("q", ["x", -0.1, 1.5, None, True, np.nan])
def test_q_threshold_must_be_a_share(q):
    f, d = frames({"x": counted(A=3)})
    with pytest.raises(DataError, match=r"q_threshold .* between 0 and 1"):
        kano(f, d, q_threshold=q)


def test_multiindex_columns_and_duplicated_row_labels():
    f, d = frames({"x": counted(A=3), "y": counted(M=3)})
    cols = pd.MultiIndex.from_tuples([("g", "x"), ("g", "y")])
    with pytest.raises(DataError, match="functional has MultiIndex columns"):
        kano(f.set_axis(cols, axis=1), d.set_axis(cols, axis=1))
    with pytest.raises(DataError, match="functional has duplicated row labels 0,"):
        kano(f.set_axis([0, 0, 1]), d.set_axis([0, 1, 2]))
    same = kano(f.set_axis([0, 0, 1]), d.set_axis([0, 0, 1]))  # identical labels pair by position
    pd.testing.assert_frame_equal(same, kano(f, d))


def test_bool_answers_are_not_kano_answers():
    f = pd.DataFrame({"x": [True, False]})
    d = pd.DataFrame({"x": [5, 5]})
    with pytest.raises(DataError, match=r"'x' \(functional\): values True, False in rows 0, 1 "
                                        r"\(True/False are not Kano answers\)"):
        kano(f, d)


@pytest.mark.parametrize("imp, match", [
    ({"x": 1, "y": -2}, r"negative for features y \(-2.0\)"),
    (pd.DataFrame({"x": [1, -1], "y": [2, 2]}), r"negative for features x in rows 1;"),
    (pd.Series([1, 2, 3], index=["x", "y", "y"]), "given more than once: y"),
    (pd.DataFrame({"x": [1, 2], "y": [np.nan, np.nan]}), "no answers for features y"),
    ({"x": 1, "y": 2, "z": 3}, "unknown features: z"),
])
def test_importance_rules_shared_with_gaps(imp, match):
    f, d = frames({"x": counted(A=2), "y": counted(M=2)})
    with pytest.raises(DataError, match=match):
        kano(f, d, importance=imp)
    with pytest.raises(DataError, match=match):
        kano_continuous(f, d, importance=imp)
    e = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]})
    with pytest.raises(DataError, match=match.replace("features", "items")):
        gaps(e, e, importance=imp)


def test_tables_and_plots_reject_what_is_not_a_kano_table():
    with pytest.raises(DataError, match="needs the table returned by kano"):
        kano_priority("x")
    with pytest.raises(DataError, match="needs the table returned by kano"):
        plot_kano("x")
    bad = pd.DataFrame({"category": ["A"], "better": ["high"], "worse": [-0.1]})
    with pytest.raises(DataError, match="column 'better': values 'high' in rows 0"):
        kano_priority(bad)
    with pytest.raises(DataError, match="ax must be a matplotlib Axes"):
        plot_kano(bad.assign(better=0.5), ax="ax")


@pytest.mark.parametrize("template, match", [
    ("x", r"'x' must contain exactly one \{\}"),
    ("{x}", r"'\{x\}' must contain exactly one \{\}"),
    ("{}{}", "exactly one"),
    ("{", "malformed"),
    ("{:d}", "cannot format the feature names"),
    (5, "must be text"),
])
def test_split_kano_templates_need_one_placeholder(template, match):
    data = pd.DataFrame({"x": [1], "speed_f": [1], "speed_d": [5]})
    with pytest.raises(DataError, match=match):
        split_kano(data, ["speed"], functional=template)


def test_split_kano_features_and_importance_template():
    data = pd.DataFrame({"1_f": [1], "1_d": [5], "s_f": [2], "s_d": [5], "s_imp": [7],
                         "1_imp": [3]})
    f, d, imp = split_kano(data, ["s", 1], importance="{}_imp")
    assert f.columns.tolist() == ["s", 1] and imp.loc[0].tolist() == [7, 3]
    assert split_kano(data, "s")[0].columns.tolist() == ["s"]
    for bad, match in ((1, "list of feature names"), ([], "empty"), (["s", "s"], "more than once"),
                       ([1.5], "must be text")):
        with pytest.raises(DataError, match=match):
            split_kano(data, bad)
    with pytest.raises(DataError, match="both name the columns s_f"):
        split_kano(data, ["s"], dysfunctional="{}_f")
    with pytest.raises(DataError, match="duplicated columns s_f"):
        split_kano(pd.concat([data, data[["s_f"]]], axis=1), ["s"])


def test_warning_classes_live_in_errors():
    from csi_models import errors

    assert KanoWarning is errors.KanoWarning and fonts.FontWarning is errors.FontWarning
    assert issubclass(errors.KanoWarning, errors.DataWarning)
    assert issubclass(errors.FontWarning, errors.CSIWarning)


def test_dollar_signs_in_names_are_drawn_literally():
    import matplotlib.pyplot as plt

    f = pd.DataFrame({"cost $5": [1, 1], "$x$": [2, 2]})
    d = pd.DataFrame({"cost $5": [5, 3], "$x$": [5, 5]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KanoWarning)
        ax = plot_kano(kano(f, d), labels={"cost $5": "cost $5 to $9"})
    ax.figure.canvas.draw()  # mathtext would fail or eat the $ signs
    texts = [t.get_text() for t in ax.texts]
    assert r"cost \$5 to \$9" in texts and r"\$x\$" in texts
    with pytest.raises(DataError, match="labels must be a dict"):
        plot_kano(kano(f, d), labels="abc")
    plt.close("all")


@settings(max_examples=60, deadline=None)
@given(arrays(float, st.tuples(st.integers(1, 30), st.integers(1, 4)),
              elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])),
       arrays(float, (30, 4), elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])))
def test_property_counts_and_coefficients(fa, da):
    f = pd.DataFrame(fa)
    d = pd.DataFrame(da[: fa.shape[0], : fa.shape[1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KanoWarning)
        t = kano(f, d)
    assert (t[list("AOMIRQ")].sum(axis=1) == t["n"]).all()
    assert (t["n"] + t["n_missing"] == len(f)).all()
    assert t["better"].dropna().between(0, 1).all()
    assert t["worse"].dropna().between(-1, 0).all()
    shares = t[[f"share_{c}" for c in "AOMIRQ"]].sum(axis=1)
    assert np.allclose(shares[t["n"] > 0], 1)
    for feat, row in t.iterrows():
        if pd.notna(row["category"]):
            assert row[row["category"]] == max(row[c] for c in "AOMIR")


# ---- plots and fonts -------------------------------------------------------------

def _table():
    f, d = frames({"speed": counted(O=4, A=1), "防水": counted(M=4, I=1),
                   "design": counted(A=4, I=1), "storage": counted(I=4, A=1)})
    return kano(f, d, importance={"speed": 5, "防水": 4, "design": 2, "storage": 1})


def _render(ax):
    """Draw to PNG recording every warning; return (png bytes, warnings)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ax.figure.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue(), rec


def test_plot_kano_returns_axes_with_points_and_labels():
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fonts.FontWarning)  # 防水 on a machine without CJK font
        ax = plot_kano(_table(), labels={"speed": "typing speed"})
    texts = [t.get_text() for t in ax.texts]
    assert {"typing speed", "防水", "design", "storage"} <= set(texts)
    assert {"attractive", "one-dimensional", "must-be", "indifferent"} <= set(texts)
    anno = {t.get_text(): t.xy for t in ax.texts if hasattr(t, "xy")}
    assert anno["typing speed"] == pytest.approx((0.8, 1.0))  # |worse| = 4/5, better = 5/5
    assert anno["防水"] == pytest.approx((0.8, 0.0))
    fig, given_ax = plt.subplots()
    assert plot_kano(_table(), ax=given_ax, labels=list("abcd")) is given_ax
    with pytest.raises(DataError, match="3 entries for 4"):
        plot_kano(_table(), labels=list("abc"))
    plt.close("all")


def no_cjk_font(monkeypatch):
    monkeypatch.setattr(fonts, "_registered_font_names", lambda: ["DejaVu Sans"])
    monkeypatch.setattr(fonts, "_system_cjk_font_files", lambda: ())


def test_contains_cjk():
    assert fonts.contains_cjk("防水") and fonts.contains_cjk(["a", "キー"])
    assert not fonts.contains_cjk("water", ["résumé", "x"], None)


def test_no_cjk_font_gives_one_warning_and_no_glyph_wall(monkeypatch):
    import matplotlib.pyplot as plt

    # control: without the helper, each missing glyph warns (so the test can fail)
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "防水键盘")
    _, rec = _render(ax)
    assert sum("Glyph" in str(w.message) for w in rec) >= 4

    no_cjk_font(monkeypatch)
    assert fonts.find_cjk_font() is None
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ax = plot_kano(_table())
    font_warnings = [w for w in rec if issubclass(w.category, fonts.FontWarning)]
    assert len(font_warnings) == 1 and len(rec) == 1
    assert "fonts-noto-cjk" in str(font_warnings[0].message)
    assert font_warnings[0].filename == __file__  # points at the caller, not the library
    ax.set_title("键盘")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fonts.apply_cjk_font(ax) is None  # same figure: no second warning
    png, rec = _render(ax)
    assert png.startswith(b"\x89PNG")
    assert not [w for w in rec if "Glyph" in str(w.message)]
    plt.close("all")


def test_latin_labels_need_no_font(monkeypatch):
    import matplotlib.pyplot as plt

    no_cjk_font(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_kano(_table(), labels=list("abcd"))
    assert fonts.apply_cjk_font(ax) is None
    plt.close("all")


def test_font_lookup_prefers_known_families(monkeypatch):
    monkeypatch.setattr(fonts, "_registered_font_names",
                        lambda: ["DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK SC"])
    assert fonts.find_cjk_font() == "Noto Sans CJK SC"
    monkeypatch.setattr(fonts, "_registered_font_names", lambda: ["Foo CJK KR", "Bar"])
    assert fonts.find_cjk_font() == "Foo CJK KR"


@pytest.mark.skipif(fonts.find_cjk_font() is None, reason="no CJK font installed")
def test_cjk_font_renders_chinese_without_warnings():
    import matplotlib.pyplot as plt

    family = fonts.find_cjk_font()
    rc_before = dict(matplotlib.rcParams)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_kano(_table(), labels={"speed": "打字速度"})
    label = next(t for t in ax.texts if t.get_text() == "打字速度")
    assert label.get_fontfamily() == [family]
    latin = next(t for t in ax.texts if t.get_text() == "design")
    assert latin.get_fontfamily() != [family]  # only this plot's CJK texts change
    assert dict(matplotlib.rcParams) == rc_before  # no global font change
    png, rec = _render(ax)
    assert png.startswith(b"\x89PNG") and not rec
    plt.close("all")
