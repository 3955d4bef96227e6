"""The experience ledger of seeds/003: net value and the cost of negative experiences."""

import numpy as np
import pandas as pd
import pytest

from csi_models.analysis.experience import (EXPERIENCE_TYPES, experience_net_value,
                                            experience_shares, negative_experience_cost)
from csi_models.errors import DataError

SEED_003 = dict(revenue=50_000_000, negative_share=0.22, complain_share=0.02,
                complainers_lost=0.28, complainers_at_risk=0.34, silent_lost=0.45,
                silent_at_risk=0.55)


def test_seed_003_worked_example_to_the_dollar():
    t = negative_experience_cost(**SEED_003)
    assert t.index.tolist() == ["complainers", "silent", "total"]
    # the text: "2%投诉客户有28%流失,带来公司损失$61,600"
    assert round(t.loc["complainers", "revenue_lost"], 2) == 61_600.00
    # "其中45%流失,带来差不多五百万元收入损失,相当于整家公司收入的10%"
    assert round(t.loc["silent", "revenue_lost"], 2) == 4_851_000.00
    assert t.loc["silent", "revenue_lost"] / 50e6 == pytest.approx(0.09702)
    assert round(t.loc["complainers", "revenue_at_risk"], 2) == 74_800.00
    assert round(t.loc["silent", "revenue_at_risk"], 2) == 5_929_000.00
    assert t.loc["complainers", "customers_share"] == pytest.approx(0.0044)
    assert t.loc["silent", "customers_share"] == pytest.approx(0.2156)
    assert t.loc["total", "customers_share"] == pytest.approx(0.22)
    assert round(t.loc["total", "revenue_lost"], 2) == 61_600 + 4_851_000
    assert round(t.loc["total", "revenue_at_risk"], 2) == 74_800 + 5_929_000


def test_cost_rejects_impossible_shares():
    with pytest.raises(DataError, match="0.22"):
        negative_experience_cost(**{**SEED_003, "negative_share": 22})
    with pytest.raises(DataError, match="add up to more than 1"):
        negative_experience_cost(**{**SEED_003, "silent_lost": 0.6})
    with pytest.raises(DataError, match="finite number"):
        negative_experience_cost(**{**SEED_003, "revenue": "50m"})


def test_net_value_by_hand():
    data = pd.DataFrame({"p1": [5, 4, 1, 3, np.nan], "p2": [5, 2, 1, 3, np.nan],
                         "price": [1, 2, 5, 5, 4]})
    t = experience_net_value(data, {"product": ["p1", "p2"], "price": "price"},
                             positive_min=4, negative_max=2)
    # product means 5, 3, 1, 3 (row 5 unanswered): 1 positive, 2 neutral, 1 negative
    assert t.loc["product", ["n", "n_missing"]].tolist() == [4, 1]
    assert t.loc["product", "net_value"] == pytest.approx(0.25 - 0.25)
    assert t.loc["product", "share_neutral"] == pytest.approx(0.5)
    # price 1, 2, 5, 5, 4: 3 positive, 2 negative of 5
    assert t.loc["price", "net_value"] == pytest.approx(3 / 5 - 2 / 5)
    assert set(EXPERIENCE_TYPES) >= {"product", "price"}
    with pytest.raises(DataError, match="no columns"):
        experience_net_value(data, {"service": "s1"}, 4, 2)


def test_shares_from_a_survey_by_hand():
    # 10 respondents; 5 negative (experience <= 2): 2 complained, 3 silent
    data = pd.DataFrame({
        "exp": [1, 2, 1, 2, 2, 5, 4, 5, 4, 3],
        "complained": [1, 1, 0, 0, 0, 0, 1, 0, 0, 0],
        "rebuy": [1, 6, 2, 5, 9, 9, 9, 9, 9, 9],
        "recommend": [1, 6, 2, 5, 9, 9, 9, 9, 9, 9],
    })
    before = data.copy()
    s = experience_shares(data, "exp", "complained", ["rebuy", "recommend"], negative_max=2,
                          lost_max=3, at_risk_max=6)
    assert s == pytest.approx({"negative_share": 0.5, "complain_share": 0.4,
                               "complainers_lost": 0.5, "complainers_at_risk": 0.5,
                               "silent_lost": 1 / 3, "silent_at_risk": 1 / 3})
    t = negative_experience_cost(revenue=1000, **s)
    assert t.loc["complainers", "revenue_lost"] == pytest.approx(1000 * 0.2 * 0.5)
    pd.testing.assert_frame_equal(data, before)
    with pytest.raises(DataError, match="must be 1"):
        experience_shares(data.assign(complained=2), "exp", "complained", "rebuy", 2, 3, 6)


def test_survey_without_complainers_says_so():
    data = pd.DataFrame({"exp": [1, 2, 5], "complained": [0, 0, 0], "rebuy": [1, 5, 9]})
    s = experience_shares(data, "exp", "complained", "rebuy", 2, 3, 6)
    assert np.isnan(s["complainers_lost"]) and s["complain_share"] == 0
    with pytest.raises(DataError, match="complainers_lost is NaN"):
        negative_experience_cost(revenue=1000, **s)
