"""Expectation-experience gap analysis on hand-computed examples."""

import copy
import io
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from csi_models.errors import DataError, DataWarning
from csi_models.analysis.gaps import GapResult, gaps, plot_gaps
from csi_models.report import fonts

# 4 respondents x 3 items; per-respondent differences experience - expectation:
# q1: -1 -1 0 -2 (mean -1),  q2: 0 -1 0 1 (mean 0),  q3: -1 -2 -1 -2 (mean -1.5)
EXP = pd.DataFrame({"q1": [6, 7, 5, 6], "q2": [7, 7, 6, 5], "q3": [5, 6, 6, 7]})
PER = pd.DataFrame({"q1": [5, 6, 5, 4], "q2": [7, 6, 6, 6], "q3": [4, 4, 5, 5]})
DIMS = {"tangibles": ["q1"], "reliability": ["q2", "q3"]}


def test_item_table_hand_computed():
    r = gaps(EXP, PER)
    t = r.items.sort_index()
    assert t["expectation"].tolist() == pytest.approx([6.0, 6.25, 6.0])
    assert t["experience"].tolist() == pytest.approx([5.0, 6.25, 4.5])
    assert t["gap"].tolist() == pytest.approx([-1.0, 0.0, -1.5])
    assert t["gap_sd"].tolist() == pytest.approx([math.sqrt(2 / 3), math.sqrt(2 / 3),
                                                  math.sqrt(1 / 3)])
    assert t["n"].tolist() == [4, 4, 4] and t["n_missing"].tolist() == [0, 0, 0]
    # t = mean / (sd / sqrt(n)): q1 -1 / (0.8165 / 2) = -2.449, q3 -1.5 / (0.5774 / 2) = -5.196
    assert t["statistic"].tolist() == pytest.approx([-math.sqrt(6), 0.0, -math.sqrt(27)])
    for item in t.index:
        ref = stats.ttest_rel(PER[item], EXP[item])
        assert t.loc[item, "statistic"] == pytest.approx(ref.statistic)
        assert t.loc[item, "p_value"] == pytest.approx(ref.pvalue)
    # no importance: equal weights 1/3, so the weighted score is the plain mean gap
    assert t["weight"].tolist() == pytest.approx([1 / 3] * 3)
    assert r.score == pytest.approx(-2.5 / 3)
    assert r.weighted_score == pytest.approx(r.score)
    assert r.items.index.tolist() == ["q3", "q1", "q2"]
    assert r.items["rank"].tolist() == [1, 2, 3]
    assert r.dimensions is None and r.items.index.name == "item"


def test_dimension_weights_servqual_allocation():
    r = gaps(EXP, PER, dimensions=DIMS, importance={"tangibles": 30, "reliability": 70})
    assert isinstance(r, GapResult)
    items = r.items
    assert items.index.tolist() == ["q3", "q1", "q2"]
    assert items["dimension"].to_dict() == {"q1": "tangibles", "q2": "reliability",
                                            "q3": "reliability"}
    # 100 points normalised to 0.3 / 0.7, split equally over the dimension's items
    assert items.loc[["q1", "q2", "q3"], "importance"].tolist() == pytest.approx([0.3, 0.35, 0.35])
    assert items.loc[["q1", "q2", "q3"], "weighted_gap"].tolist() == pytest.approx(
        [-0.3, 0.0, -0.525])
    dims = r.dimensions
    assert dims.index.tolist() == ["reliability", "tangibles"]
    rel = dims.loc["reliability"]
    # respondent means: expectation 6, 6.5, 6, 6; experience 5.5, 5, 5.5, 5.5
    assert rel["expectation"] == pytest.approx(6.125)
    assert rel["experience"] == pytest.approx(5.375)
    assert rel["gap"] == pytest.approx(-0.75)
    assert rel["gap_sd"] == pytest.approx(0.5)
    assert rel["statistic"] == pytest.approx(-3.0)
    assert rel["p_value"] == pytest.approx(stats.ttest_rel([5.5, 5, 5.5, 5.5], [6, 6.5, 6, 6]).pvalue)
    assert rel["importance"] == pytest.approx(0.7) and rel["weighted_gap"] == pytest.approx(-0.525)
    assert rel["n_items"] == 2 and dims.loc["tangibles", "gap"] == pytest.approx(-1.0)
    assert dims["rank"].tolist() == [1, 2]
    assert r.weighted_score == pytest.approx(0.3 * -1 + 0.35 * 0 + 0.35 * -1.5)


def test_item_weights_change_the_ranking():
    r = gaps(EXP, PER, dimensions=DIMS, importance=pd.Series({"q1": 5, "q2": 1, "q3": 2}))
    assert r.items.index.tolist() == ["q1", "q3", "q2"]
    assert r.items.loc["q1", "weighted_gap"] == pytest.approx(-5.0)
    assert r.items.loc["q3", "weighted_gap"] == pytest.approx(-3.0)
    assert r.weighted_score == pytest.approx((5 * -1 + 2 * -1.5) / 8)
    # a dimension's importance is the mean of its items' importance
    assert r.dimensions.loc["reliability", "importance"] == pytest.approx(1.5)
    assert r.dimensions.index.tolist() == ["tangibles", "reliability"]


def test_importance_ratings_frame_uses_means():
    ratings = pd.DataFrame({"q1": [5, 5, 4, 6], "q2": [1, 1, 1, np.nan], "q3": [2, 2, 3, 1]})
    r = gaps(EXP, PER, importance=ratings)
    assert r.items.loc[["q1", "q2", "q3"], "importance"].tolist() == pytest.approx([5, 1, 2])
    assert r.items.index[0] == "q1"


def test_missing_values_pairwise():
    exp = EXP.astype(float).copy()
    exp.loc[0, "q1"] = np.nan
    per = PER.astype(float).copy()
    per.loc[1, "q3"] = np.nan
    per.loc[0, "q2"] = np.nan
    r = gaps(exp, per, dimensions=DIMS)
    q1 = r.items.loc["q1"]
    assert (q1["n"], q1["n_missing"]) == (3, 1)
    assert q1["gap"] == pytest.approx(-1.0)  # -1, 0, -2
    assert q1["expectation"] == pytest.approx(6.0)  # 7, 5, 6
    rel = r.dimensions.loc["reliability"]
    # respondent 0: only q3 complete (-1); 1: only q2 (-1); 2: (0-1)/2; 3: (1-2)/2
    assert rel["gap"] == pytest.approx((-1 - 1 - 0.5 - 0.5) / 4) and rel["n"] == 4


def test_constant_difference_gives_infinite_t():
    r = gaps(pd.DataFrame({"a": [5, 6, 7]}), pd.DataFrame({"a": [4, 5, 6]}))
    assert r.items.loc["a", "statistic"] == -np.inf and r.items.loc["a", "p_value"] == 0
    r = gaps(pd.DataFrame({"a": [5, 6]}), pd.DataFrame({"a": [5, 6]}))
    assert math.isnan(r.items.loc["a", "statistic"])


def test_inputs_are_not_modified():
    exp, per = EXP.copy(), PER.astype(object).copy()
    per.loc[2, "q2"] = "6"
    imp = {"tangibles": 30, "reliability": 70}
    dims = copy.deepcopy(DIMS)
    before = [copy.deepcopy(x) for x in (exp, per)]
    gaps(exp, per, dimensions=dims, importance=imp)
    pd.testing.assert_frame_equal(before[0], exp)
    pd.testing.assert_frame_equal(before[1], per)
    assert dims == DIMS and imp == {"tangibles": 30, "reliability": 70}


@pytest.mark.parametrize("kwargs, match", [
    (dict(experience=PER.rename(columns={"q3": "q4"})),
     r"only in expectation: q3; only in experience: q4$"),
    (dict(experience=PER.iloc[:3]), r"4 rows, experience has 3.*only in expectation: 3;"),
    (dict(experience=PER.assign(q2=[7, "n/a", 6, "x"])),
     r"experience ratings .* item 'q2': values 'n/a', 'x' in rows 1, 3$"),
    (dict(experience=PER.assign(q1=[5, np.inf, 5, 5])), r"item 'q1': values inf in rows 1$"),
    (dict(experience=PER.assign(q1=pd.Series([5, 1j, 5, 5], dtype=object))),
     r"item 'q1': values 1j in rows 1$"),
    (dict(dimensions={"tangibles": ["q1", "q9"]}), r"'tangibles' lists items 'q9' that"),
    (dict(dimensions={"a": ["q1"], "b": ["q1", "q2"]}), r"'q1' is in two dimensions"),
    (dict(dimensions={"a": []}), r"'a' has no items"),
    (dict(importance={"q1": 1, "q2": -2, "q3": 1}), r"negative for items q2 \(-2.0\)"),
    (dict(importance={"q1": 1, "q2": 2}), r"without a weight: q3; unknown items: none$"),
    (dict(importance={"q1": 1, "q2": 2, "q3": 3, "q7": 1}), r"weight: none; unknown items: q7"),
    (dict(importance={"q1": 0, "q2": 0, "q3": 0}), "sums to 0"),
    (dict(importance={"q1": 1, "q2": "high", "q3": 1}), r"not a number for items q2: 'high'"),
    (dict(importance=pd.DataFrame({"q1": [1, 2], "q2": [1, -1], "q3": [1, 1]})),
     r"negative for items q2 in rows 1;"),
    (dict(importance=pd.DataFrame({"q1": [1, 2]})), r"no column for items q2, q3$"),
    (dict(dimensions={"tangibles": ["q1"], "reliability": ["q2"]},
          importance={"tangibles": 30, "reliability": 70}), r"items q3 belong to no dim"),
])
def test_bad_input(kwargs, match):
    args = dict(expectation=EXP, experience=PER)
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        gaps(**args)


def test_yes_no_ratings_count_as_1_0_like_the_survey_data(mobi):
    """Same cell rule as csi.check: True/False are 1/0, numbers as text are numbers."""
    import csi_models as csi

    exp = pd.DataFrame({"a": [True, False, True], "b": [1, 1, 0]})
    per = pd.DataFrame({"a": pd.Series([1, "1", False], dtype=object), "b": [True, True, True]})
    r = gaps(exp, per)
    assert r.items.loc["a", "gap"] == pytest.approx((0 + 1 - 1) / 3)
    assert r.items.loc["b", "gap"] == pytest.approx(1 / 3)
    data = mobi.copy()
    data["CUSCO"] = data["CUSCO"] > 5  # a yes/no item in the survey data
    assert "read as 1/0" in " ".join(csi.check("ecsi", data).findings["message"])


def test_dimension_members_and_names():
    e = pd.DataFrame({0: [1, 2], 1: [2, 3], "c": [3, 4]})
    r = gaps(e, e + 1, dimensions={"d": 0, "x": [1, "c"]})  # one item may be given bare
    assert r.dimensions.loc["d", "n_items"] == 1 and r.items.loc[1, "dimension"] == "x"
    with pytest.raises(DataError, match=r"dimension 'x' lists items 1 that are not columns"):
        gaps(EXP, PER, dimensions={"x": 1})
    with pytest.raises(DataError, match=r"dimension 'x' lists items \['q1'\] that are not"):
        gaps(EXP, PER, dimensions={"x": [["q1"]]})
    with pytest.raises(DataError, match="dimension names must be text"):
        gaps(EXP, PER, dimensions={("t",): ["q1"]})
    with pytest.raises(DataError, match="every item or every dimension"):
        gaps(EXP, PER, dimensions=DIMS, importance={"tangibles": 1})


def test_plot_gaps_rejects_bad_tables_and_axes():
    r = gaps(EXP, PER)
    with pytest.raises(DataError, match="GapResult or one of its tables"):
        plot_gaps("x")
    with pytest.raises(DataError, match="column 'expectation': values 'high'"):
        plot_gaps(r.items.assign(expectation="high"))
    with pytest.raises(DataError, match="ax must be a matplotlib Axes"):
        plot_gaps(r, ax=3)


def test_plot_gaps_returns_axes_in_rank_order():
    import matplotlib.pyplot as plt

    r = gaps(EXP, PER)
    ax = plot_gaps(r, labels={"q1": "clean", "q2": "on time", "q3": "friendly"})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["friendly", "clean", "on time"]
    assert ax.get_yticks().tolist() == [2, 1, 0]  # rank 1 on top
    fig, given = plt.subplots()
    assert plot_gaps(r.items, ax=given) is given
    with pytest.raises(DataError, match="columns"):
        plot_gaps(pd.DataFrame({"gap": [1]}))
    plt.close("all")


def test_plot_gaps_chinese_labels_headless(monkeypatch):
    import matplotlib.pyplot as plt

    exp, per = EXP.rename(columns={"q1": "外观"}), PER.rename(columns={"q1": "外观"})
    monkeypatch.setattr(fonts, "_registered_font_names", lambda: ["DejaVu Sans"])
    monkeypatch.setattr(fonts, "_system_cjk_font_files", lambda: ())
    with pytest.warns(fonts.FontWarning, match="Noto Sans CJK SC"):
        ax = plot_gaps(gaps(exp, per))
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ax.figure.savefig(buf, format="png")
    assert buf.getvalue().startswith(b"\x89PNG") and not rec
    plt.close("all")


def test_exceed_meet_fall_short_shares_by_hand():
    # differences: q1 -1 -1 0 -2 -> 0 / 1/4 / 3/4; q2 0 -1 0 1 -> 1/4 / 2/4 / 1/4;
    # q3 -1 -2 -1 -2 -> 0 / 0 / 1
    r = gaps(EXP, PER, dimensions=DIMS)
    t = r.items.loc[["q1", "q2", "q3"], ["share_exceeds", "share_meets", "share_falls_short"]]
    assert t.to_numpy().ravel().tolist() == pytest.approx([0, 0.25, 0.75, 0.25, 0.5, 0.25,
                                                           0, 0, 1])
    # reliability per respondent: mean(q2, q3) experience - expectation
    # (6.5-6, 5-6.5, 5.5-6, 5.5-6) -> -0.5, -1.5, -0.5, -0.5: all fall short
    rel = r.dimensions.loc["reliability"]
    assert (rel["share_exceeds"], rel["share_meets"], rel["share_falls_short"]) == (0, 0, 1)
    tan = r.dimensions.loc["tangibles"]
    assert tan["share_meets"] == pytest.approx(0.25)


def test_item_without_pairs_gets_no_weight_and_a_warning():
    exp = EXP.astype(float).assign(q2=np.nan)
    with pytest.warns(DataWarning, match="'q2'.*no weight"):
        r = gaps(exp, PER)
    assert math.isnan(r.items.loc["q2", "gap"]) and r.items.loc["q2", "weight"] == 0
    assert r.items.loc[["q1", "q3"], "weight"].tolist() == pytest.approx([0.5, 0.5])
    assert r.score == pytest.approx(-1.25)
    assert r.weighted_score == pytest.approx(r.score)


def test_plot_shows_the_shares():
    import matplotlib.pyplot as plt

    ax = plot_gaps(gaps(EXP, PER))
    panels = [c for c in ax.child_axes]
    assert len(panels) == 1 and panels[0].get_xlabel() == "share of respondents"
    assert len(panels[0].patches) == 9  # 3 rows x exceeds / meets / falls short
    plt.close(ax.figure)
