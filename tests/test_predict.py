"""PLSpredict and CVPAT (statistics/predict.py) against seminr 0.2.1's ``predict_pls`` on the
same folds (a test-time oracle only), CVPAT recomputed by hand from seminr's residuals, and
known truth on simulated data."""

import numpy as np
import pytest
from scipy.stats import t as student

import csi_models as csi
from csi_models.data.prepare import prepare
from csi_models.errors import CSIError, DataError
from csi_models.simulation import simulate
from csi_models.statistics import predict as P

seminr = pytest.importorskip("seminr")
from seminr.predict.metrics import item_metrics  # noqa: E402
from seminr.predict.techniques import predict_DA, predict_EA  # noqa: E402

ECSI = csi.load_spec("ecsi")


@pytest.fixture(scope="module")
def survey(mobi):
    return prepare(ECSI, mobi)


def seminr_predict(data, order, technique):
    mm = seminr.constructs(*[seminr.composite(c.name, c.item_names) for c in ECSI.constructs])
    sm = seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in ECSI.paths])
    model = seminr.estimate_pls(data, mm, sm, stop_criterion=14, max_it=1000)
    return seminr.predict_pls(model, no_folds=10, ordering=[int(i) for i in order],
                              technique=predict_DA if technique == "direct" else predict_EA)


@pytest.mark.parametrize("technique", ["direct", "earliest"])
def test_matches_seminr_predict_pls_on_the_same_folds(mobi, survey, technique):
    ours = P.predict(ECSI, survey, folds=10, repetitions=1, random_state=1, technique=technique,
                     tol=1e-12, max_iter=1000)
    # seminr cuts its row ordering into contiguous folds: rows sorted by our fold number
    theirs = seminr_predict(mobi, np.argsort(ours.folds[0], kind="stable"), technique)
    metrics = item_metrics(theirs)
    for row in ours.items.itertuples():
        assert row.rmse == pytest.approx(metrics.pls_out_of_sample.get("RMSE", row.item), abs=1e-6)
        assert row.mae == pytest.approx(metrics.pls_out_of_sample.get("MAE", row.item), abs=1e-6)
        assert row.lm_rmse == pytest.approx(metrics.lm_out_of_sample.get("RMSE", row.item), abs=1e-6)
        assert row.lm_mae == pytest.approx(metrics.lm_out_of_sample.get("MAE", row.item), abs=1e-6)
    # CVPAT against the LM benchmark, by hand from seminr's out-of-sample residuals
    e_pls = theirs.items.pls_out_of_sample_residuals.values
    e_lm = theirs.items.lm_out_of_sample_residuals.values
    d = (e_pls ** 2).mean(axis=1) - (e_lm ** 2).mean(axis=1)
    stat = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    row = ours.cvpat.set_index(["construct", "benchmark"]).loc[("overall", "lm")]
    assert row["difference"] == pytest.approx(d.mean(), abs=1e-8)
    assert row["statistic"] == pytest.approx(stat, abs=1e-6)
    assert row["p_value"] == pytest.approx(2 * student.sf(abs(stat), d.size - 1), abs=1e-8)


def test_q2_predict_and_indicator_average_by_hand(survey):
    """q2_predict = 1 - SSE(PLS) / SSE(training mean), pooled over repetitions; the training
    means recomputed here from the fold plan."""
    ours = P.predict(ECSI, survey, folds=5, repetitions=2, random_state=7)
    X = survey.values
    for item in ("CUSA1", "CUSL2"):
        y = X[item].to_numpy()
        sse_ia = 0.0
        for plan in ours.folds:
            for k in range(1, 6):
                sse_ia += ((y[plan == k] - y[plan != k].mean()) ** 2).sum()
        row = ours.items.set_index("item").loc[item]
        sse_pls = row["rmse"] ** 2 * 2 * len(y)
        assert row["q2_predict"] == pytest.approx(1 - sse_pls / sse_ia, rel=1e-10)
    ia = ours.cvpat[(ours.cvpat.construct == "overall") & (ours.cvpat.benchmark == "ia")].iloc[0]
    assert ia["difference"] < 0 and ia["p_value"] < 1e-3


def test_folds_are_rs_cut_and_reproducible():
    plan = P.fold_assignment(23, 4, repetitions=3, random_state=5)
    # R: table(cut(1:23, 4)) gives 6 6 5 6
    for row in plan:
        assert np.bincount(row)[1:].tolist() == [6, 6, 5, 6]
    assert (plan == P.fold_assignment(23, 4, repetitions=3, random_state=5)).all()
    assert (plan[0] != plan[1]).any()


def test_known_truth_no_structure_means_no_predictive_power():
    """Paths of zero in the population: PLS cannot beat the training mean (q2_predict <= ~0),
    while with strong paths it clearly does."""
    spec = ECSI.with_scale(-10, 10)
    none = prepare(spec, simulate(ECSI, 400, path_value=0.0, exogenous_cor=0.0, random_state=2))
    strong = prepare(spec, simulate(ECSI, 400, path_value=0.25, random_state=2))
    q_none = P.predict(spec, none, folds=10, repetitions=2).items
    q_strong = P.predict(spec, strong, folds=10, repetitions=2).items
    assert q_none.q2_predict.max() < 0.02
    assert q_strong[q_strong.construct == "Satisfaction"].q2_predict.min() > 0.2


def test_bad_arguments_are_named(survey):
    with pytest.raises(DataError, match="folds=1"):
        P.predict(ECSI, survey, folds=1)
    with pytest.raises(CSIError, match="repetitions"):
        P.predict(ECSI, survey, repetitions=0)
    with pytest.raises(CSIError, match="technique"):
        P.predict(ECSI, survey, technique="ea")


def _weighted(mobi, weights):
    frame = mobi.assign(w=weights)
    return frame, prepare(ECSI, frame, weights="w")


@pytest.mark.parametrize("technique", ["direct", "earliest"])
def test_equal_respondent_weights_give_the_unweighted_prediction(mobi, survey, technique):
    """Weights of 3 for everyone: the same folds, errors and CVPAT as no weights (the sds
    divide by sum w - 1, which scales every item alike and cancels)."""
    plain = P.predict(ECSI, survey, folds=5, repetitions=2, technique=technique)
    _, weighted = _weighted(mobi, 3.0)
    same = P.predict(ECSI, weighted, folds=5, repetitions=2, technique=technique)
    assert same.settings["weighted"] and not plain.settings["weighted"]
    np.testing.assert_array_equal(same.folds, plain.folds)
    cols = ["q2_predict", "rmse", "mae", "lm_rmse", "lm_mae"]
    np.testing.assert_allclose(same.items[cols], plain.items[cols], rtol=1e-10)
    cols = ["loss", "benchmark_loss", "difference", "statistic", "p_value"]
    np.testing.assert_allclose(same.cvpat[cols], plain.cvpat[cols], rtol=1e-9)


def test_a_row_of_weight_zero_counts_for_nothing(mobi, monkeypatch):
    """Weights of 0 on a fifth of the rows: every number equals the unweighted prediction on
    the other rows with the same folds (the fold plan pinned), and differs from the
    unweighted prediction on all rows, which the weights used to be ignored for."""
    rng = np.random.default_rng(5)
    weights = rng.uniform(0.5, 2.0, len(mobi))
    zero = rng.random(len(mobi)) < 0.2
    weights[zero] = 0.0
    plan = P.fold_assignment(len(mobi), 5, 2, random_state=3)
    monkeypatch.setattr(P, "fold_assignment", lambda n, *args, **kwargs:
                        plan if n == len(mobi) else plan[:, ~zero])
    frame, weighted = _weighted(mobi, weights)
    ours = P.predict(ECSI, weighted, folds=5, repetitions=2)
    rest = P.predict(ECSI, prepare(ECSI, frame[~zero].reset_index(drop=True), weights="w"),
                     folds=5, repetitions=2)
    cols = ["q2_predict", "rmse", "mae", "lm_rmse", "lm_mae"]
    np.testing.assert_allclose(ours.items[cols], rest.items[cols], rtol=1e-10)
    cols = ["loss", "benchmark_loss", "difference", "statistic", "p_value"]
    np.testing.assert_allclose(ours.cvpat[cols], rest.cvpat[cols], rtol=1e-9)
    unweighted = P.predict(ECSI, prepare(ECSI, mobi), folds=5, repetitions=2)
    assert not np.allclose(ours.items["rmse"], unweighted.items["rmse"], rtol=1e-4)


def test_weighted_cvpat_is_the_weighted_mean_over_its_linearization_se(mobi, monkeypatch):
    """CVPAT with weights by hand from the item errors predict hands to it: the weighted mean
    difference over sqrt(n / (n - 1) sum w^2 (d - mean)^2) / sum w, on t(n - 1) (R survey's
    svymean)."""
    weights = np.random.default_rng(8).uniform(0.2, 3.0, len(mobi))
    _, weighted = _weighted(mobi, weights)
    seen, original = {}, P._cvpat

    def recording(name, bench, err, cols, w=None):
        seen[name, bench] = err, cols
        return original(name, bench, err, cols, w)

    monkeypatch.setattr(P, "_cvpat", recording)
    ours = P.predict(ECSI, weighted, folds=5, repetitions=1, random_state=2)
    row = ours.cvpat[(ours.cvpat.construct == "overall") & (ours.cvpat.benchmark == "ia")].iloc[0]
    err, cols = seen["overall", "ia"]
    d = ((err["pls"][:, :, cols] ** 2).mean(axis=(0, 2))
         - (err["ia"][:, :, cols] ** 2).mean(axis=(0, 2)))
    mean = np.average(d, weights=weights)
    se = np.sqrt(len(d) / (len(d) - 1) * np.sum(weights ** 2 * (d - mean) ** 2)) / weights.sum()
    assert row["difference"] == pytest.approx(mean, rel=1e-12)
    assert row["statistic"] == pytest.approx(mean / se, rel=1e-10)
    assert row["p_value"] == pytest.approx(2 * student.sf(abs(mean / se), len(d) - 1), rel=1e-8)


def test_result_predict_uses_the_fits_weights(mobi):
    """res.predict() of a weighted fit is the weighted prediction, not the unweighted one."""
    frame = mobi.assign(w=np.random.default_rng(2).uniform(0.5, 2.0, len(mobi)))
    res = csi.fit("ecsi", frame, weights="w")
    out = res.predict(folds=5, repetitions=1)
    direct = P.predict(ECSI, prepare(ECSI, frame, weights="w"), folds=5, repetitions=1)
    assert out.settings["weighted"]
    np.testing.assert_allclose(out.items["rmse"], direct.items["rmse"], rtol=1e-12)


def test_an_item_constant_over_the_weighted_rows_is_named_as_constant(mobi):
    """CUSL1 takes one value on every row of positive weight; rows of weight 0 (the first
    among them) hold others. The item is constant in every training fold, as it would be
    with those rows absent: a DataError, not numbers from an sd of rounding error (~1e-8,
    when the centring row had weight 0)."""
    from csi_models.statistics.moments import full_moments

    # the moments themselves: 7 on every row of positive weight, 5 on the first (weight 0)
    rng = np.random.default_rng(1)
    x = np.full(40, 7.0)
    x[0] = rng.integers(1, 11)
    w = rng.uniform(0.5, 2.0, 40)
    w[0] = 0.0
    sd = full_moments(np.column_stack([x, rng.normal(size=40)]), w)[2][0]
    assert x[0] == 5 and np.isnan(sd[0]) and sd[1] > 0       # was 2.4e-8
    mode = mobi["CUSL1"].mode()[0]
    weights = np.where(mobi["CUSL1"] == mode, 1.5, 0.0)
    assert weights[0] == 0
    _, weighted = _weighted(mobi, weights)
    with pytest.raises(DataError, match="constant in a training fold"):
        P.predict(ECSI, weighted, folds=5, repetitions=1, technique="earliest")
