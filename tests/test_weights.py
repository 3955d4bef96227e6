"""Respondent weights (PLS): integer weights give exactly the estimates of repeated rows.
CB-SEM weights: tests/test_cbsem_weights.py."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.errors import CSIWarning, DataError
from csi_models.simulation import simulate


@pytest.fixture(scope="module")
def survey():
    data = simulate("acsi", 150, random_state=7, discrete=True)
    data["w"] = np.random.default_rng(1).integers(0, 4, size=len(data))
    return data


def repeated(data):
    return data.loc[data.index.repeat(data["w"])].reset_index(drop=True)


def test_integer_weights_equal_repeated_rows(survey):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        weighted = csi.fit("acsi", survey, weights="w")
        copies = csi.fit("acsi", repeated(survey))
    for table in ("paths", "loadings", "weights"):
        np.testing.assert_allclose(getattr(weighted, table).estimate,
                                   getattr(copies, table).estimate, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weighted.r2, copies.r2, rtol=0, atol=1e-12)
    # weighted item means in the 0-100 indices
    np.testing.assert_allclose(weighted.indices["estimate"], copies.indices["estimate"], rtol=0, atol=1e-10)
    assert weighted.settings["respondent_weights"].startswith("column 'w'")
    # and they differ from the unweighted fit
    plain = csi.fit("acsi", survey)
    assert np.abs(plain.paths.estimate - weighted.paths.estimate).max() > 1e-3


def test_scaling_the_weights_changes_nothing(survey):
    scaled = survey.assign(w=survey["w"] * 2.5)
    a = csi.fit("acsi", survey, weights="w")
    b = csi.fit("acsi", scaled, weights="w")
    np.testing.assert_allclose(a.paths.estimate, b.paths.estimate, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.indices["estimate"], b.indices["estimate"], rtol=0, atol=1e-10)


def test_weighted_bootstrap_resamples_respondents_with_their_weights(survey):
    res = csi.fit("acsi", survey, weights="w", bootstrap=200, random_state=3)
    from csi_models.inference.bootstrap import resample_rows

    rows = resample_rows(len(survey), [5], res.bootstrap.seed)[0]
    one = survey.iloc[rows].reset_index(drop=True)
    direct = csi.fit("acsi", one, weights="w")
    draw = res.bootstrap.draws["paths"][5]
    np.testing.assert_allclose(draw, direct.paths.estimate, rtol=0, atol=1e-10)
    assert np.isfinite(res.paths["se"]).all()


def test_bad_weights_are_named(survey):
    with pytest.raises(DataError, match="'weight'"):
        csi.fit("acsi", survey, weights="weight")
    with pytest.raises(DataError, match=">= 0"):
        csi.fit("acsi", survey.assign(w=-survey["w"] - 1), weights="w")
    with pytest.raises(DataError, match="every weight"):
        csi.fit("acsi", survey.assign(w=0), weights="w")
    # shares summing to 1: the sds' divisor sum w - 1 would be 0 (NaN indices before)
    with pytest.raises(DataError, match="sum to 1; .*rescale"):
        csi.fit("acsi", survey.assign(w=survey["w"] / survey["w"].sum()), weights="w")
    before = survey.copy()
    csi.fit("acsi", survey, weights="w")
    pd.testing.assert_frame_equal(survey, before)


def test_fit_many_passes_the_weights_on(survey):
    from csi_models.batch import fit_many

    data = survey.assign(company=np.where(survey.index < 75, "A", "B"))
    batch = fit_many("acsi", data, by="company", weights="w", random_state=1)
    alone = csi.fit("acsi", data[data.company == "B"].reset_index(drop=True), weights="w")
    np.testing.assert_allclose(batch.paths.query("company == 'B'").estimate, alone.paths.estimate,
                               rtol=0, atol=1e-12)
