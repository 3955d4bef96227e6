"""The vectorized pieces of the data check and of the large-sample PLS fit: answer tallies
against pandas' value_counts, the duplicate check's candidates, one-pass moments against
numpy, and the moments the check hands to the fit."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.data import prepare
from csi_models.data.check import tally
from csi_models.errors import CSIWarning
from csi_models.simulation import simulate
from csi_models.statistics.moments import BLOCK_ROWS, full_moments


@pytest.mark.parametrize("values", [
    np.array([3, 3, 5, 7, 7, 7, np.nan, 1], float),
    np.array([0.5, 0.25, 0.5, np.nan, 2.0]),
    np.array([-2, -2, 4, 4, 4, 10], float),
    np.array([4.0] * 6),
])
def test_tally_counts_as_value_counts(values):
    got = tally(values)
    seen = pd.Series(values).dropna()
    counts = seen.value_counts(normalize=True)
    assert (got.count, got.distinct) == (len(seen), len(counts))
    assert got.top == counts.iloc[0]
    assert (got.min, got.max, got.mean, got.first) == (seen.min(), seen.max(), seen.mean(),
                                                       seen.iloc[0])


def _findings(data, check):
    report = csi.check("acsi", data)
    return report.findings[report.findings.check == check]


def test_duplicates_found_with_and_without_missing_answers():
    data = simulate("acsi", 200, random_state=1, discrete=True)
    data["PERQ4"] = data["PERQ2"]
    data["PERV2"] = np.clip(data["PERV1"] + 1, 1, 10)   # correlates ~1, yet not a copy
    dup = _findings(data, "duplicate")
    assert list(dup.item) == ["PERQ4"] and "PERQ2" in dup.message.iloc[0]
    data.loc[3, ["PERQ2", "PERQ4"]] = np.nan           # missing: the other path, same finding
    dup = csi.check("acsi", data, missing="mean").findings.query("check == 'duplicate'")
    assert list(dup.item) == ["PERQ4"]


def test_one_pass_moments_match_numpy_far_from_zero_and_over_blocks():
    rng = np.random.default_rng(4)
    n = BLOCK_ROWS * 2 + 123
    X = 1e6 + rng.normal(size=(n, 4)) @ np.array([[1, .5, 0, 0], [0, 1, .3, 0],
                                                  [0, 0, 1, .2], [0, 0, 0, 1]])
    S, mean, sd = full_moments(np.asfortranarray(X))
    np.testing.assert_allclose(S[0], np.corrcoef(X, rowvar=False), atol=1e-9)
    exact = X.astype(np.longdouble).mean(axis=0).astype(float)     # an extended-precision reference
    np.testing.assert_allclose(mean[0], exact, rtol=2e-16)
    np.testing.assert_allclose(sd[0], X.std(axis=0, ddof=1), rtol=1e-8)
    w = rng.integers(0, 3, n).astype(float)
    Sw, meanw, _ = full_moments(X, w)
    repeated = np.repeat(X, w.astype(int), axis=0)
    np.testing.assert_allclose(Sw[0], np.corrcoef(repeated, rowvar=False), atol=1e-9)
    np.testing.assert_allclose(meanw[0], repeated.astype(np.longdouble).mean(axis=0).astype(float),
                               rtol=2e-16)


def test_the_fit_uses_the_checks_moments_only_for_those_values():
    data = simulate("acsi", 300, random_state=5, discrete=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        survey = prepare(csi.load_spec("acsi"), data)
    values, moments = survey.moments
    assert values is survey.values
    again = full_moments(survey.values.to_numpy(float))
    for a, b in zip(moments, again):
        np.testing.assert_array_equal(a, b)
    res = csi.fit("acsi", data)
    np.testing.assert_array_equal(res.estimates.item_cor, moments[0][0])
    # a copy with other rows does not carry them over
    import dataclasses

    other = dataclasses.replace(survey, values=survey.values.iloc[:150].reset_index(drop=True))
    from csi_models.engines.pls import ENGINE

    est = ENGINE.fit(survey.spec, other, ENGINE.resolve({}))
    np.testing.assert_allclose(est.item_cor, full_moments(other.values.to_numpy(float))[0][0],
                               atol=0)
