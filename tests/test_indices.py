"""0-100 indices, per-respondent scores, effects and impacts, recomputed by hand."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.errors import IndexWarning


@pytest.fixture(scope="module")
def res(mobi):
    return csi.fit("ecsi", mobi, method="pls")


def hand_index(res, construct, lo=1.0, hi=10.0):
    """The ACSI formula from the published tables: w / sd, applied to the item means."""
    w = res.weights.set_index("item")["estimate"]
    stats = res.item_stats.set_index("item")
    items = res.spec.construct(construct).item_names
    raw = w[items] / stats.loc[items, "sd"]
    return 100 * (raw * (stats.loc[items, "mean"] - lo)).sum() / (raw * (hi - lo)).sum()


def test_indices_match_the_reference_values(res):
    table = res.indices.set_index("construct")
    expected = {"Satisfaction": 72.454, "Quality": 74.977, "Value": 62.347, "Image": 73.528}
    for construct, value in expected.items():
        assert table.loc[construct, "estimate"] == pytest.approx(value, abs=1e-3)
    assert list(res.indices.columns) == ["construct", "estimate", "se", "statistic", "p_value",
                                         "ci_lower", "ci_upper", "n_boot", "note"]
    assert res.indices.se.isna().all() and (res.indices.note == "").all()  # no bootstrap asked
    for construct in res.spec.construct_names:
        assert table.loc[construct, "estimate"] == pytest.approx(hand_index(res, construct), abs=1e-12)


def test_mean_of_respondent_scores_is_the_index(res):
    scores = res.scores_100
    assert scores.shape == (250, 7)
    np.testing.assert_allclose(scores.mean().to_numpy(), res.indices.estimate.to_numpy(), atol=1e-10)
    assert scores.min().min() >= 0 and scores.max().max() <= 100
    # linear in the standardized scores: 0-100 score = index + c * score
    c = scores.std(ddof=1) / res.scores.std(ddof=1)
    np.testing.assert_allclose(scores, res.indices.estimate.to_numpy() + res.scores * c, atol=1e-9)


def test_index_equals_smartpls_rescale_first_definition_with_mixed_scales(mobi):
    """SmartPLS/cSEM rescale items to 0-100 first, then take unstandardized weights on the
    rescaled items: the same number as the ACSI formula with each item's own bounds."""
    spec = csi.load_spec("ecsi").with_scale(0, 10, ["CUSA1"]).with_scale(1, 12, ["CUSA3"])
    res = csi.fit(spec, mobi)
    bounds = {"CUSA1": (0, 10), "CUSA2": (1, 10), "CUSA3": (1, 12)}
    w = res.weights.set_index("item")["estimate"]
    rescaled = pd.DataFrame({i: 100 * (mobi[i] - lo) / (hi - lo) for i, (lo, hi) in bounds.items()})
    raw = w[list(bounds)] / rescaled.std(ddof=1)
    smartpls = (raw / raw.sum() * rescaled.mean()).sum()
    got = res.indices.set_index("construct").loc["Satisfaction", "estimate"]
    assert got == pytest.approx(smartpls, abs=1e-10)


def test_effects_are_the_path_algebra(res):
    names = list(res.construct_correlations.index)
    P = res.paths.pivot(index="source", columns="target", values="estimate").reindex(
        index=names, columns=names).fillna(0).to_numpy()
    total = np.linalg.inv(np.eye(len(names)) - P) - np.eye(len(names))
    eff = res.effects.pivot_table(index=["source", "target"], columns="effect",
                                  values="estimate", sort=False).reset_index()
    assert list(res.effects.columns[:5]) == ["source", "target", "effect", "estimate", "estimate_100"]
    for row in eff.itertuples():
        i, j = names.index(row.source), names.index(row.target)
        assert row.total == pytest.approx(total[i, j], abs=1e-12)
        assert row.direct == pytest.approx(P[i, j], abs=1e-15)
        assert row.indirect == pytest.approx(total[i, j] - P[i, j], abs=1e-12)
    # pairs without a directed path are not listed; Quality -> Satisfaction also runs via Value
    assert len(eff) == int((np.abs(total) > 0).sum())
    qs = eff[(eff.source == "Quality") & (eff.target == "Satisfaction")].iloc[0]
    p = res.paths.set_index(["source", "target"]).estimate
    assert qs.indirect == pytest.approx(p["Quality", "Value"] * p["Value", "Satisfaction"], abs=1e-12)


def test_impacts_are_five_index_points_of_unstandardized_total_effects(res):
    imp = res.impacts.set_index(["source", "target"])
    assert imp.loc[("Quality", "Satisfaction"), "estimate"] == pytest.approx(3.199, abs=1e-3)
    # by hand: sd of each 0-100 score turns the standardized total effect into index points
    sd100 = res.scores_100.std(ddof=1)
    eff = res.effects[res.effects.effect == "total"].set_index(["source", "target"])
    for (driver, target), row in imp.iterrows():
        unstd = eff.loc[(driver, target), "estimate"] * sd100[target] / sd100[driver]
        assert row.estimate == pytest.approx(5 * unstd, abs=1e-10)
        # and as a regression slope of the target's 0-100 score on a +5 shift of the driver
        assert eff.loc[(driver, target), "estimate_100"] == pytest.approx(unstd, abs=1e-10)


def test_negative_weight_gives_nan_and_a_clear_message(mobi):
    flipped = mobi.copy()
    flipped["CUSL2"] = 11 - flipped["CUSL2"]     # a reverse-worded item not declared
    with pytest.warns(IndexWarning, match=r"index of Loyalty not defined: negative weight of CUSL2.*reverse"):
        res = csi.fit("ecsi", flipped)
        table = res.indices.set_index("construct")
    assert np.isnan(table.loc["Loyalty", "estimate"])
    assert "CUSL2" in table.loc["Loyalty", "note"]
    assert table.loc["Satisfaction", "estimate"] == pytest.approx(72.454, abs=1e-3)
    assert res.scores_100["Loyalty"].isna().all()
    imp = res.impacts.set_index(["source", "target"])
    assert np.isnan(imp.loc[("Satisfaction", "Loyalty"), "estimate"])
    assert "index of Loyalty not defined" in res.summary()
    # declaring the item reversed restores the index
    with warnings.catch_warnings():
        warnings.simplefilter("error", IndexWarning)
        fixed = csi.fit(csi.load_spec("ecsi").with_reverse(["CUSL2"]), flipped)
        assert fixed.indices.set_index("construct").loc["Loyalty", "estimate"] == pytest.approx(
            csi.fit("ecsi", mobi).indices.set_index("construct").loc["Loyalty", "estimate"], abs=1e-10)


def test_cbsem_index_uses_factor_score_weights(mobi):
    res = csi.fit("ecsi", mobi, method="cbsem")
    table = res.indices.set_index("construct")
    for construct in res.spec.construct_names:
        assert table.loc[construct, "estimate"] == pytest.approx(hand_index(res, construct), abs=1e-10)
    np.testing.assert_allclose(res.scores_100.mean(), res.indices.estimate, atol=1e-10)
    # the latent model's standardized total effects, e.g. Quality -> Satisfaction
    eff = res.effects[res.effects.effect == "total"].set_index(["source", "target"])
    assert np.isfinite(res.impacts.estimate).all()
    assert eff.loc[("Quality", "Satisfaction"), "estimate"] == pytest.approx(
        res.paths.set_index(["source", "target"]).estimate[("Quality", "Satisfaction")]
        + res.paths.set_index(["source", "target"]).estimate[("Quality", "Value")]
        * res.paths.set_index(["source", "target"]).estimate[("Value", "Satisfaction")], abs=1e-12)


def test_html_summary_shows_indices_and_impacts(res):
    html = res._repr_html_()
    assert "Indices (0-100)" in html and "72.454" in html and "Impacts" in html


def test_respondents_missing_an_item_get_no_score_for_its_construct(mobi):
    """With FIML (CB-SEM) rows keep their missing answers: only the affected construct's
    0-100 score is missing, the others are still computed."""
    from dataclasses import replace

    from csi_models.result import FitResult

    res = csi.fit("ecsi", mobi, method="pls")
    holes = res.data.values.copy()
    holes.loc[0, "CUSA1"] = np.nan
    other = FitResult(res.spec, replace(res.data, values=holes), res.estimates, res.options,
                      res.settings, [], res.statistics, res.point, res.index_notes)
    scores = other.scores_100
    assert np.isnan(scores.loc[0, "Satisfaction"])
    assert scores.loc[0].drop("Satisfaction").notna().all()
    rest = scores.columns.drop("Satisfaction")
    np.testing.assert_allclose(scores[rest], res.scores_100[rest], atol=1e-12)


def test_cbsem_fiml_index_uses_the_models_means_and_one_covariance():
    """With FIML the index is lavaan's: raw factor-score weights Sigma_jj^-1 lambda_j from
    lavaan's implied covariance and loadings, applied to lavaan's FIML means (not the
    available-case means). Weights, scores and the 0-100 metric rest on the same implied
    moments: unit model variance, and scores_100 = index + c * scores exactly."""
    from conftest import LAVAAN, hs_spec, lavaan_matrix, lavaan_params

    data = pd.read_csv(LAVAAN / "hs_missing.csv")
    spec = hs_spec()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(spec, data, method="cbsem", missing="fiml")
    params, sigma = lavaan_params("hs_fiml"), lavaan_matrix("hs_fiml_implied")
    mu = pd.read_csv(LAVAAN / "hs_fiml_implied_mean.csv").set_index("variable")["mean"]
    table = res.indices.set_index("construct")
    c = {}
    for construct in spec.construct_names:
        items = spec.construct(construct).item_names
        lam = params[(params.op == "=~") & (params.lhs == construct)].set_index("rhs")["est"][items]
        r = np.linalg.solve(sigma.loc[items, items].to_numpy(), lam.to_numpy())
        expected = 100 * r @ (mu[items].to_numpy() + 100) / (r.sum() * 200)
        assert table.loc[construct, "estimate"] == pytest.approx(expected, abs=1e-6)
        available = 100 * r @ (data[items].mean().to_numpy() + 100) / (r.sum() * 200)
        assert abs(expected - available) > 1e-4          # the two definitions do differ here
        # standardized weights: unit variance of the score under the implied covariance
        w = res.weights.set_index("item")["estimate"][items].to_numpy()
        sd = np.sqrt(np.diag(res.estimates.implied_cov))[[res.estimates.layout.items.index(i) for i in items]]
        R = sigma.loc[items, items].to_numpy() / np.outer(sd, sd)
        assert w @ R @ w == pytest.approx(1, abs=1e-5)
        c[construct] = 100 * np.sqrt(r @ sigma.loc[items, items].to_numpy() @ r) / (r.sum() * 200)
    # respondents missing an item of a construct have no score; the rest are linear in scores
    values = res.data.values
    assert res.scores_100["visual"].isna().sum() == values[["x1", "x2", "x3"]].isna().any(axis=1).sum() > 0
    both = res.scores_100 - table["estimate"]
    np.testing.assert_allclose(both, res.scores * pd.Series(c), atol=1e-4)
    # the 0-100 metric of effects and impacts uses the same c
    from csi_models.statistics.indices import index_values

    est = res.estimates
    scale = index_values(est.weights, est.item_mean, est.item_sd, res.statistics.lo,
                         res.statistics.hi, est.layout.membership)[1]
    np.testing.assert_allclose(scale, pd.Series(c)[spec.construct_names], rtol=1e-5)


def _edit_every_table(res):
    """Edit what the result hands out, each through a variable (no chained assignment, which
    under pandas 3 never writes), and return the values read back afterwards."""
    stats = res.item_stats
    stats.loc[:, "mean"] = stats["mean"] / 10
    r2 = res.r2
    r2.loc["Satisfaction"] = 0.0
    scores = res.scores
    scores.iloc[:, :] = 0.0
    weights = res.weights
    weights.loc[:, "estimate"] = -1.0
    indices = res.indices
    indices.loc[0, "estimate"] = -5.0
    return (res.item_stats.set_index("item").loc["CUSA1", "mean"], res.r2["Satisfaction"],
            res.scores.abs().sum().sum(), res.weights.estimate.min(), res.indices.estimate[0])


def test_tables_are_handed_out_as_copies(mobi, monkeypatch):
    """Editing a table a result handed out changes neither the result nor what it derives
    later; and the same edits do leak when the cached tables themselves are handed out (so
    this test can fail)."""
    from csi_models import result as result_module

    res = csi.fit("ecsi", mobi, method="pls")
    mean, r2, scores, weight, index = _edit_every_table(res)
    assert mean == pytest.approx(mobi["CUSA1"].mean(), abs=1e-12)
    assert r2 == pytest.approx(0.681, abs=1e-3) and scores > 0 and weight > 0
    assert index == pytest.approx(73.528, abs=1e-3)
    assert res.indices.set_index("construct").loc["Satisfaction", "estimate"] == pytest.approx(
        72.454, abs=1e-3)

    def shared(self, obj, owner=None):   # a cache that hands out the table itself
        if obj is None:
            return self
        return obj.__dict__.setdefault(self.key, self.func(obj))

    monkeypatch.setattr(result_module.cached_table, "__get__", shared)
    leaky = csi.fit("ecsi", mobi, method="pls")
    mean, r2, scores, weight, index = _edit_every_table(leaky)
    assert mean != pytest.approx(mobi["CUSA1"].mean()) and r2 == 0.0 and scores == 0.0
    assert weight == -1.0 and index == -5.0
