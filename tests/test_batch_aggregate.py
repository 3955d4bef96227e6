"""aggregate (hand-computed example), change (direct computation from the two bootstrap
distributions), p-value adjustment, simulate(groups=K) (known truth), plan_sample."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.batch import BatchResult, adjust_p, aggregate, change, fit_many, plan_sample
from csi_models.errors import CSIError, CSIWarning, DataError
from csi_models.simulation import population, simulate


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        yield


def hand_batch():
    """Three companies in two industries, one construct, a few bootstrap draws each."""
    by = ["industry", "company"]
    status = pd.DataFrame({"industry": ["X", "X", "Y"], "company": ["A", "B", "C"],
                           "n": [100, 300, 200], "status": "ok"})
    indices = pd.DataFrame({"industry": ["X", "X", "Y"], "company": ["A", "B", "C"],
                            "construct": "Satisfaction", "estimate": [70.0, 80.0, 60.0]})
    draws = {"A": [69, 71, 70, 72], "B": [79, 81, 80, 78, 82], "C": [59, 61, 60, 62]}
    rows = [("X" if c != "C" else "Y", c, b, "Satisfaction", float(v))
            for c, values in draws.items() for b, v in enumerate(values)]
    draws = pd.DataFrame(rows, columns=[*by, "draw", "construct", "estimate"])
    return BatchResult(by, {}, {"status": status, "indices": indices, "draws": draws})


def test_aggregate_by_revenue_against_a_hand_computed_example():
    revenue = pd.Series({"A": 1.0, "B": 3.0, "C": 2.0})
    table = aggregate(hand_batch(), weights=revenue, levels=["industry"])
    x = table.query("level == 'industry' and industry == 'X'").iloc[0]
    y = table.query("level == 'industry' and industry == 'Y'").iloc[0]
    nat = table.query("level == 'national'").iloc[0]
    assert x.estimate == pytest.approx((70 + 3 * 80) / 4, abs=1e-12)          # 77.5
    assert y.estimate == pytest.approx(60.0, abs=1e-12)
    assert nat.estimate == pytest.approx((70 + 240 + 120) / 6, abs=1e-12)     # 71.667
    # national draws (A + 3B + 2C) / 6 over the first 4 draws: 70.667, 72.667, 71.667, 71.667
    assert nat.n_boot == 4 and nat.n_groups == 3 and nat.weight == 6
    assert nat.se == pytest.approx(np.sqrt(2 / 3), abs=1e-12)
    assert nat.ci_lower == pytest.approx(424 / 6 + 0.075, abs=1e-12)          # linear quantile
    assert nat.ci_upper == pytest.approx(430 / 6 + 0.925, abs=1e-12)
    # X: (A + 3B) / 4 per draw: 76.5, 78.5, 77.5, 76.5 -> sd
    assert x.se == pytest.approx(np.std([76.5, 78.5, 77.5, 76.5], ddof=1), abs=1e-12)


def test_aggregate_without_weights_uses_sample_sizes():
    nat = aggregate(hand_batch()).query("level == 'national'").iloc[0]
    assert nat.estimate == pytest.approx((100 * 70 + 300 * 80 + 200 * 60) / 600, abs=1e-12)


def test_aggregate_names_a_missing_weight():
    with pytest.raises(DataError, match="no weight"):
        aggregate(hand_batch(), weights={"A": 1.0, "B": 2.0})
    with pytest.raises(DataError, match=">= 0"):
        aggregate(hand_batch(), weights={"A": 1.0, "B": 2.0, "C": -1.0})
    with pytest.raises(CSIError, match="not key columns"):
        aggregate(hand_batch(), levels=["sector"])


def test_adjustments_by_hand():
    p = [0.01, 0.04, 0.03]
    np.testing.assert_allclose(adjust_p(p, "holm"), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(adjust_p(p, "bh"), [0.03, 0.04, 0.04])
    np.testing.assert_allclose(adjust_p([0.2, np.nan], "holm"), [0.2, np.nan])


@pytest.fixture(scope="module")
def waves():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        pop = population("acsi")
        one = simulate("acsi", 120, groups=3, random_state=1, discrete=True, pop=pop, shift_sd=0)
        two = simulate("acsi", 120, groups=3, random_state=2, discrete=True, pop=pop, shift_sd=0)
        two.loc[two.group == "G02", two.columns[1:]] += 1        # G02 improves by one scale point
        two[two.columns[1:]] = two[two.columns[1:]].clip(1, 10)
        a = fit_many("acsi", one, by="group", bootstrap=200, random_state=1)
        b = fit_many("acsi", two, by="group", bootstrap=200, random_state=1)
    return a, b


def test_change_against_a_direct_computation(waves):
    a, b = waves
    table = change(a, b, adjust="holm")
    row = table.query("level == 'group' and group == 'G01' and construct == 'Satisfaction'").iloc[0]
    da = a.draws.query("group == 'G01' and construct == 'Satisfaction'").estimate.dropna().to_numpy()
    db = b.draws.query("group == 'G01' and construct == 'Satisfaction'").estimate.dropna().to_numpy()
    m = min(da.size, db.size)
    d = db[:m] - da[:m]
    ia = a.indices.query("group == 'G01' and construct == 'Satisfaction'").estimate.item()
    ib = b.indices.query("group == 'G01' and construct == 'Satisfaction'").estimate.item()
    assert row.estimate == pytest.approx(ib - ia, abs=1e-12)
    assert row.se == pytest.approx(d.std(ddof=1), abs=1e-12)
    assert (row.ci_lower, row.ci_upper) == pytest.approx(tuple(np.percentile(d, [2.5, 97.5])), abs=1e-12)
    p = min(1, 2 * min((1 + (d <= 0).sum()) / (m + 1), (1 + (d >= 0).sum()) / (m + 1)))
    assert row.p_value == pytest.approx(p, abs=1e-15)
    assert row.n_boot == m
    # G02 rose by about 100/9 points: significant after Holm; the holm family is the 3 groups
    sat = table.query("level == 'group' and construct == 'Satisfaction'").set_index("group")
    assert sat.loc["G02", "estimate"] > 5 and sat.loc["G02", "significant"]
    np.testing.assert_allclose(sat.p_adjusted, adjust_p(sat.p_value, "holm"))
    assert sat.loc["G02", "ci_lower"] > 0


def test_change_of_the_national_index(waves):
    a, b = waves
    table = change(a, b, levels=[], adjust="bh")
    nat = table.query("level == 'national' and construct == 'Satisfaction'").iloc[0]
    agg_a = aggregate(a).query("level == 'national' and construct == 'Satisfaction'").iloc[0]
    agg_b = aggregate(b).query("level == 'national' and construct == 'Satisfaction'").iloc[0]
    assert nat.estimate == pytest.approx(agg_b.estimate - agg_a.estimate, abs=1e-12)
    assert nat.se > 0 and nat.ci_lower < nat.estimate < nat.ci_upper


def test_precision_rule(waves):
    a, _ = waves
    table = a.precision(max_width=4.0)
    assert list(table.columns) == ["group", "construct", "ci_width", "meets_rule"]
    assert (table.ci_width > 4).all() and not table.meets_rule.any()   # 120 respondents: too few


def test_simulated_groups_have_their_known_shift():
    data = simulate("acsi", 1500, groups=3, random_state=4, discrete=True, shift_sd=0.4)
    truth = pd.DataFrame(data.attrs["truth"]).drop_duplicates("group").set_index("group")["shift"]
    assert list(data.group.unique()) == ["G01", "G02", "G03"] and len(data) == 4500
    batch = fit_many("acsi", data, by="group", random_state=1)
    sat = batch.indices.query("construct == 'Satisfaction'").set_index("group").estimate
    # items are mid + z (max - min) / 6: a shift of s sds moves every index by 100 s / 6
    np.testing.assert_allclose((sat - sat.mean()).to_numpy(),
                               (100 / 6 * (truth - truth.mean())).to_numpy(), atol=1.5)
    paths = pd.DataFrame(data.attrs["truth"]).groupby("group").path.apply(list)
    assert paths["G01"] != paths["G02"]                    # differing true paths
    again = simulate("acsi", 1500, groups=3, random_state=4, discrete=True, shift_sd=0.4)
    pd.testing.assert_frame_equal(data, again)


def test_plan_sample_widths_shrink_as_one_over_root_n():
    pilot = csi.fit("acsi", simulate("acsi", 250, random_state=3, discrete=True))
    plan = plan_sample("acsi", pilot=pilot, ci_width=2.0, n=(100, 400), bootstrap=150,
                       replications=1, random_state=1)
    wide = plan.table.pivot(index="construct", columns="n", values="ci_width")
    ratio = wide[100] / wide[400]
    assert (ratio > 1.3).all()                                    # sqrt(400 / 100) = 2, and one
    assert 1.7 < np.exp(np.log(ratio).mean()) < 2.4               # noisy replication each
    req = plan.required.set_index("construct")
    for construct, row in req.iterrows():
        if row.extrapolated:                                      # n_max (w / target)^2, by 10s
            expected = int(np.ceil(400 * (wide.loc[construct, 400] / 2.0) ** 2 / 10) * 10)
            assert row.n_required == expected
        else:
            assert wide.loc[construct, row.n_required] <= 2.0
    assert plan.n_required == req.n_required.max()
    with pytest.raises(CSIError, match="pilot"):
        plan_sample("acsi")


def test_aggregate_and_change_name_a_wrong_argument():
    import pytest

    import csi_models as csi

    with pytest.raises(csi.errors.CSIError, match="batch must be the result of csi.fit_many"):
        csi.aggregate("not a batch")
    with pytest.raises(csi.errors.CSIError, match="before must be the result of csi.fit_many"):
        csi.change(None, None)
