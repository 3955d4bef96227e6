"""Kano from a table of counts (equal to Kano from answer pairs) and the Kano questionnaire."""

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from csi_models.analysis.kano import EVALUATION_TABLE, _code_value, kano
from csi_models.analysis.kano_counts import kano_from_counts
from csi_models.analysis.kano_questionnaire import KANO_ANSWERS, kano_questionnaire
from csi_models.errors import DataError, KanoWarning


def _answers(seed=7, n=120):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(rng.integers(1, 6, (n, 4)), columns=["shape", "speed", "storage", "water"])
    d = pd.DataFrame(rng.integers(1, 6, (n, 4)), columns=f.columns)
    f = f.astype(float)
    f.iloc[:5, 0] = np.nan  # five respondents skipped one question
    return f, d


def _counts(f, d):
    """Counts per category straight from the published evaluation table (by lookup)."""
    rows = {}
    for feature in f.columns:
        ok = f[feature].notna() & d[feature].notna()
        cats = [EVALUATION_TABLE.iat[int(a) - 1, int(b) - 1]
                for a, b in zip(f.loc[ok, feature], d.loc[ok, feature])]
        rows[feature] = {c: cats.count(c) for c in "AOMIRQ"} | {"n_missing": int((~ok).sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_counts_table_equals_answer_pair_kano():
    f, d = _answers()
    imp = {"shape": 2, "speed": 5, "storage": 4, "water": 1}
    with pytest.warns(KanoWarning):  # random answers: many questionable pairs
        expected = kano(f, d, importance=imp)
    with pytest.warns(KanoWarning):
        got = kano_from_counts(_counts(f, d), importance=imp)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_counts_table_names_and_defaults():
    table = pd.DataFrame({"魅力属性": [30, 2], "期望属性": [5, 40], "必备属性": [3, 10],
                          "无差异属性": [2, 8]}, index=["novel shape", "speed"])
    t = kano_from_counts(table)
    assert t["category"].tolist() == ["A", "O"]
    assert t[["R", "Q"]].to_numpy().sum() == 0 and t["n"].tolist() == [40, 60]
    # Better = (A + O) / (A + O + M + I), Worse = -(O + M) / (A + O + M + I)
    assert t.loc["speed", "better"] == pytest.approx(42 / 60)
    assert t.loc["speed", "worse"] == pytest.approx(-50 / 60)
    assert t["n_missing"].isna().all()


def test_counts_table_errors():
    with pytest.raises(DataError, match="shares"):
        kano_from_counts(pd.DataFrame({"A": [0.5], "O": [0.2], "M": [0.2], "I": [0.1]}))
    with pytest.raises(DataError, match="'total'"):
        kano_from_counts(pd.DataFrame({"A": [1], "O": [1], "M": [1], "I": [1], "total": [4]}))
    with pytest.raises(DataError, match="categories I"):
        kano_from_counts(pd.DataFrame({"A": [1], "O": [1], "M": [1]}))
    with pytest.raises(DataError, match="sum of the counts"):
        kano_from_counts(pd.DataFrame({"A": [1], "O": [1], "M": [1], "I": [1], "n": [5]}))


def test_questionnaire_table_and_excel(tmp_path):
    features = {"waterproof": {"zh": "防水", "en": "a waterproof keyboard"}, "speed": "fast"}
    path = tmp_path / "kano.xlsx"
    q = kano_questionnaire(features, path=path)
    assert q["column"].tolist() == ["waterproof_f", "waterproof_d", "speed_f", "speed_d"]
    assert q["kind"].tolist() == ["functional", "dysfunctional"] * 2
    assert q.loc[0, "question_zh"] == "如果产品具有“防水”，您的感受是？"
    assert q.loc[1, "question_en"] == ("If the product does not have a waterproof keyboard, "
                                      "how do you feel?")
    # every answer wording reads back as its own code in csi.kano
    for code in range(1, 6):
        for lang in ("zh", "en"):
            assert {_code_value(v) for v in q[f"answer_{code}_{lang}"]} == {code}
    book = load_workbook(path)
    assert book.sheetnames == ["questions", "answers"]
    rows = list(book["questions"].values)
    assert list(rows[0]) == q.columns.tolist() and len(rows) == 5
    assert rows[1][3] == q.loc[0, "question_zh"]
    assert [r[1] for r in list(book["answers"].values)[1:]] == [a[0] for a in KANO_ANSWERS.values()]


def test_questionnaire_errors(tmp_path):
    with pytest.raises(DataError, match="xlsx"):
        kano_questionnaire(["speed"], path=tmp_path / "q.csv")
    with pytest.raises(DataError, match="more than once"):
        kano_questionnaire(["speed", "speed"])
