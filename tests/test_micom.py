"""MICOM (comparison/micom.py): the statistics of each step recomputed by hand from separate
PLS fits, and the size and power of the permutation tests on simulated groups (no peer tool
with MICOM was available as an oracle)."""

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.comparison.micom import micom
from csi_models.data.prepare import prepare
from csi_models.engines import pls
from csi_models.errors import CSIError, DataError
from csi_models.simulation import simulate
from csi_models.spec.loading import spec_from_dict

ECSI = csi.load_spec("ecsi")
SMALL = spec_from_dict({
    "name": "small", "scale": {"min": -10, "max": 10},
    "constructs": {"Quality": {"mode": "formative", "items": {"q1": {}, "q2": {}, "q3": {}}},
                   "Satisfaction": {"mode": "formative", "items": {"s1": {}, "s2": {}, "s3": {}}}},
    "paths": ["Quality -> Satisfaction"]})


def test_statistics_by_hand(mobi):
    first = np.arange(len(mobi)) < 110
    out = micom(ECSI, prepare(ECSI, mobi), np.where(first, "early", "late"), permutations=50,
                tol=1e-12, max_iter=1000)
    fits = [pls.fit(ECSI, prepare(ECSI, frame), tol=1e-12, max_iter=1000)
            for frame in (mobi[first], mobi[~first], mobi)]
    X = prepare(ECSI, mobi).values[list(fits[0].layout.items)].to_numpy(float)
    Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    table = out.table.set_index(["step", "construct"])
    M = fits[0].layout.membership
    for j, name in enumerate(fits[0].layout.constructs):
        s1, s2, pooled = (Z @ (f.weights * M[:, j]) for f in fits)
        assert table.loc[("compositional", name), "estimate"] == pytest.approx(
            np.corrcoef(s1, s2)[0, 1], abs=1e-9)
        assert table.loc[("mean", name), "estimate"] == pytest.approx(
            pooled[first].mean() - pooled[~first].mean(), abs=1e-9)
        assert table.loc[("variance", name), "estimate"] == pytest.approx(
            np.log(pooled[first].var(ddof=1) / pooled[~first].var(ddof=1)), abs=1e-9)
    assert (out.table.group_1 == "early").all() and (out.table.permutations == 50).all()
    assert table.loc[("compositional", "Complaints"), "p_value"] == 1.0   # one item: c = 1
    assert set(out.invariance.invariance) <= {"none", "partial", "full"}


def _groups(n, seed, weights_b=None, shift_b=0.0, scale_b=1.0):
    rng = np.random.default_rng(seed)
    a = simulate(SMALL, n, kind="composite", item_cor=0.4, path_value=0.5, random_state=rng)
    b = simulate(SMALL, n, kind="composite", item_cor=0.4, path_value=0.5, random_state=rng,
                 weights=weights_b)
    b = b * scale_b + shift_b
    return pd.concat([a, b], ignore_index=True), np.repeat(["A", "B"], n)


def _rejections(replications, **differences):
    hits = []
    for rep in range(replications):
        data, groups = _groups(150, 500 + rep, **differences)
        table = micom(SMALL, data, groups, permutations=99, random_state=rep).table
        hits.append(~table.set_index(["step", "construct"]).invariant)
    return pd.DataFrame(hits)


def test_size_and_power_on_simulated_groups():
    """25 replications of 2 x 150 respondents, 99 permutations. Equal populations: each step
    rejects in at most ~10% of the construct x replication cases (nominal 5%). Different
    composite weights in group B (Quality: 1, 0, -0.3 instead of equal) are found by the
    compositional step; a mean shift of 0.4 sd in every item by the means step; items scaled
    by 1.5 by the variances step."""
    null = _rejections(25)
    assert null.to_numpy().mean() <= 0.10
    weights = _rejections(25, weights_b={"q1": 1.0, "q2": 0.0, "q3": -0.3})
    assert weights[("compositional", "Quality")].mean() >= 0.8
    assert weights[("compositional", "Satisfaction")].mean() <= 0.2
    shifted = _rejections(25, shift_b=0.4, scale_b=1.5)
    assert shifted.xs("mean", axis=1, level=0).to_numpy().mean() >= 0.8
    assert shifted.xs("variance", axis=1, level=0).to_numpy().mean() >= 0.8


def test_more_than_two_groups_gives_every_pair(mobi):
    groups = np.array(["x", "y", "z"])[np.arange(len(mobi)) % 3]
    out = micom(ECSI, prepare(ECSI, mobi), groups, permutations=20)
    pairs = set(map(tuple, out.table[["group_1", "group_2"]].to_numpy()))
    assert pairs == {("x", "y"), ("x", "z"), ("y", "z")}
    assert len(out.table) == 3 * 3 * len(ECSI.constructs)


def test_bad_input_is_named(mobi):
    survey = prepare(ECSI, mobi)
    with pytest.raises(DataError, match="single group"):
        micom(ECSI, survey, ["a"] * len(mobi))
    with pytest.raises(DataError, match="labels for"):
        micom(ECSI, survey, ["a", "b"])
    with pytest.raises(DataError, match="fewer than"):
        micom(ECSI, survey, ["a"] * (len(mobi) - 2) + ["b"] * 2)
    with pytest.raises(CSIError, match="permutations"):
        micom(ECSI, survey, np.arange(len(mobi)) % 2, permutations=0)
