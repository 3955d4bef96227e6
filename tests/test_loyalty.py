"""Attitude x behaviour loyalty segments (seeds/001) on a hand-computed example."""

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.analysis.loyalty import loyalty_segments
from csi_models.errors import DataError

# attitude mean, behaviour mean, satisfaction (1-5):
# r0 (8, 1) latent, r1 (2, 5) inertial, r2 (9, 6) absolute, r3 (3, 2) non-loyal,
# r4 (7, 4) absolute, r5 missing behaviour
DATA = pd.DataFrame({"intend": [8, 2, 9, 3, 7, 8], "recommend": [8, 2, 9, 3, 7, 8],
                     "repeat": [1, 5, 6, 2, 4, np.nan],
                     "sat1": [5, 2, 4, 1, 5, 3], "sat2": [3, 2, 4, 1, 5, 3]})


def test_segments_by_hand():
    before = DATA.copy()
    r = loyalty_segments(DATA, ["intend", "recommend"], "repeat", attitude_cut=7,
                         behaviour_cut=4, satisfaction=["sat1", "sat2"], scale=(1, 5))
    t = r.table
    assert t.index.tolist() == ["non-loyal", "latent", "inertial", "absolute"]
    assert t["segment_zh"].tolist() == ["非忠诚", "潜在忠诚", "惯性忠诚", "绝对忠诚"]
    assert t["n"].tolist() == [1, 1, 1, 2]
    assert t["share"].tolist() == pytest.approx([0.2, 0.2, 0.2, 0.4])
    # 0-100 score = 100 * (mean - 1) / 4: r3 0; r0 (4-1)/4; r1 25; r2 75, r4 100
    assert t["satisfaction_index"].tolist() == pytest.approx([0, 75, 25, 87.5])
    assert r.segment.tolist()[:5] == ["latent", "inertial", "absolute", "non-loyal", "absolute"]
    assert pd.isna(r.segment.iloc[5])
    pd.testing.assert_frame_equal(DATA, before)


def test_weights_and_scores_from_a_fit():
    r = loyalty_segments(DATA, "intend", "repeat", np.int64(7), 4.0, satisfaction=["sat1", "sat2"],
                         scale=(1, 5), weights={"sat1": 3, "sat2": 1})
    # r0: 100 * (3 * 4 + 1 * 2) / (4 * 4) = 87.5
    assert r.table.loc["latent", "satisfaction_index"] == pytest.approx(87.5)
    data = csi.datasets.load_ecsi_mobi()
    res = csi.fit("ecsi", data, method="pls")
    scores = res.scores_100["Satisfaction"]
    r = loyalty_segments(data, ["CUSL1", "CUSL3"], "CUSL2", 7, 7, satisfaction=scores)
    assert r.table["n"].sum() == len(data)
    # the n-weighted mean of the segment indices is the mean score, i.e. the index
    mean = (r.table["satisfaction_index"] * r.table["n"]).sum() / len(data)
    assert mean == pytest.approx(scores.mean(), abs=1e-10)


def test_errors():
    with pytest.raises(DataError, match="'loyal'"):
        loyalty_segments(DATA, "loyal", "repeat", 7, 4)
    with pytest.raises(DataError, match="attitude_cut"):
        loyalty_segments(DATA, "intend", "repeat", "high", 4)
    with pytest.raises(DataError, match="outside the scale"):
        loyalty_segments(DATA, "intend", "repeat", 7, 4, satisfaction="sat1", scale=(1, 4))
