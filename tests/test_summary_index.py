"""Indices recomputed from a published summary equal the fit's own indices."""

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.analysis.summary_index import index_from_summary
from csi_models.errors import DataError, IndexWarning


@pytest.fixture(scope="module")
def fitted():
    data = csi.datasets.load_ecsi_mobi()
    return data, csi.fit("ecsi", data, method="pls")


def _index_column(indices):
    return indices["estimate"] if "estimate" in indices.columns else indices["index"]


def test_summary_indices_equal_the_fit(fitted):
    data, res = fitted
    w = res.weights
    item = "item" if "item" in w.columns else "indicator"
    # what a published table gives: construct, item, weight, item mean, item sd
    table = pd.DataFrame({"construct": w["construct"], "item": w[item],
                          "weight": w["estimate"]})
    sd = data[table["item"]].std(ddof=1)
    means = data[table["item"]].mean()
    got = index_from_summary(table, means, (1, 10), sd=sd)
    expected = _index_column(res.indices).to_numpy()
    assert got["construct"].tolist() == res.indices["construct"].tolist()
    np.testing.assert_allclose(got["estimate"].to_numpy(), expected, rtol=0, atol=1e-10)
    # unstandardized weights (w / sd), per item with constructs=: the same
    unstd = dict(zip(table["item"], table["weight"] / sd.to_numpy()))
    constructs = {c: list(g["item"]) for c, g in table.groupby("construct", sort=False)}
    again = index_from_summary(unstd, means.to_dict(), (1, 10), constructs=constructs)
    np.testing.assert_allclose(again["estimate"].to_numpy(), expected, rtol=0, atol=1e-10)


def test_by_hand():
    # 100 * (1 * (4 - 1) + 3 * (5 - 1)) / (1 * 4 + 3 * 4) = 100 * 15 / 16
    t = index_from_summary({"a": 1, "b": 3}, {"a": 4, "b": 5}, (1, 5))
    assert t.loc[0, "construct"] == "index" and t.loc[0, "estimate"] == pytest.approx(93.75)
    # per-item scales: a on 0..10, b on 1..5
    t = index_from_summary({"a": 1, "b": 1}, {"a": 5, "b": 3}, {"a": (0, 10), "b": (1, 5)})
    assert t.loc[0, "estimate"] == pytest.approx(100 * (5 + 2) / (10 + 4))


def test_negative_weight_and_errors():
    with pytest.warns(IndexWarning, match=r"weight \(b\)"):
        t = index_from_summary({"a": 1, "b": -0.2}, {"a": 4, "b": 5}, (1, 5))
    assert np.isnan(t.loc[0, "estimate"]) and "b" in t.loc[0, "note"]
    with pytest.raises(DataError, match="no value for items b"):
        index_from_summary({"a": 1, "b": 1}, {"a": 4}, (1, 5))
    with pytest.raises(DataError, match=r"\(min, max\)"):
        index_from_summary({"a": 1}, {"a": 4}, (5, 1))
