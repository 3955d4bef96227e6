"""Respondent weights in the PLS group comparisons: the permutation MGA and MICOM permute
respondents with their weights, so the permuted groups are weighted as the observed ones."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.comparison.groups import permuted_estimates, pooled_weights
from csi_models.comparison.micom import micom
from csi_models.errors import CSIWarning
from csi_models.statistics.moments import BatchMoments


@pytest.fixture(scope="module")
def survey():
    data = csi.simulate("acsi", 240, random_state=11, discrete=True)
    rng = np.random.default_rng(3)
    data["w"] = rng.integers(1, 4, size=len(data))
    data["one"] = 1.0
    data["g"] = np.where(rng.random(len(data)) < 0.45, "north", "south")
    return data


def fit(rows, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        return csi.fit("acsi", rows.reset_index(drop=True), **options)


def test_a_permuted_group_is_the_weighted_fit_of_its_respondents(survey):
    north, south = survey[survey.g == "north"], survey[survey.g == "south"]
    res_1, res_2 = fit(north, weights="w"), fit(south, weights="w")
    pooled = pd.concat([north, south], ignore_index=True)
    X = np.vstack([res_1.data.values.to_numpy(float), res_2.data.values.to_numpy(float)])
    moments = BatchMoments(X, pooled_weights([res_1.data, res_2.data]))
    assignment = np.zeros((1, len(pooled)))
    assignment[0, np.random.default_rng(5).permutation(len(pooled))[:len(north)]] = 1.0
    names, first, second, ok = permuted_estimates(res_1, res_2, moments, assignment)
    assert ok.all()
    for values, rows in ((first, assignment[0] == 1), (second, assignment[0] == 0)):
        direct = fit(pooled[rows], weights="w")
        by_name = dict(zip(names, values[0]))
        for path in direct.paths.itertuples():
            assert by_name[f"{path.source} -> {path.target}"] == pytest.approx(path.estimate, abs=1e-10)
        for row in direct.indices.itertuples():
            assert by_name[f"index {row.construct}"] == pytest.approx(row.estimate, abs=1e-8)


def test_unit_weights_change_no_permutation_test_nor_micom(survey):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        plain = csi.compare("acsi", survey, by="g", permutations=200, random_state=2)
        ones = csi.compare("acsi", survey, by="g", permutations=200, random_state=2, weights="one")
    pd.testing.assert_frame_equal(plain.tests, ones.tests, atol=1e-9, rtol=0)
    pd.testing.assert_frame_equal(plain.micom.table, ones.micom.table, atol=1e-9, rtol=0)
    assert ones.micom.settings["weighted"] and not plain.micom.settings["weighted"]


def test_weighted_comparisons_use_the_weights(survey):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        plain = csi.compare("acsi", survey, by="g", permutations=200, random_state=2)
        weighted = csi.compare("acsi", survey, by="g", permutations=200, random_state=2,
                               weights="w")
    fits = {g: fit(survey[survey.g == g], weights="w") for g in ("north", "south")}
    paths = weighted.tests[weighted.tests.parameter.str.contains("->")]
    for row in paths.itertuples():
        source, target = row.parameter.split(" -> ")
        for group, column in ((row.group_1, "estimate_1"), (row.group_2, "estimate_2")):
            table = fits[group].paths
            expected = table[(table.source == source) & (table.target == target)].estimate.item()
            assert getattr(row, column) == pytest.approx(expected, abs=1e-12)
    assert not np.allclose(plain.tests.p_value, weighted.tests.p_value)


def test_micom_with_integer_weights_observes_what_repeated_rows_observe(survey):
    spec = csi.load_spec("acsi")
    items = list(spec.item_names)
    weighted = micom(spec, survey[items], survey["g"], permutations=50, random_state=1,
                     weights=survey["w"].to_numpy())
    copies = survey.loc[survey.index.repeat(survey["w"])]
    repeated = micom(spec, copies[items], copies["g"], permutations=50, random_state=1)
    plain = micom(spec, survey[items], survey["g"], permutations=50, random_state=1)
    # the compositional correlations are the weighted groups' own (the mean and variance
    # steps' sum w - 1 divisors differ: weights are rescaled to sum to the rows)
    step = weighted.table.step == "compositional"
    np.testing.assert_allclose(weighted.table.estimate[step], repeated.table.estimate[step],
                               rtol=0, atol=1e-10)
    assert np.abs(weighted.table.estimate - plain.table.estimate).max() > 1e-4
    with pytest.raises(csi.errors.DataError, match="one finite weight"):
        micom(spec, survey[items], survey["g"], permutations=5, weights=np.ones(3))


def test_the_scale_of_the_weights_changes_nothing(survey):
    """Weights scaled by 1/20 give what the same weights give (weights summing to 1 are
    refused with a message: tests/test_weights.py)."""
    shares = survey.assign(w=survey["w"] / 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        counts = csi.compare("acsi", survey, by="g", permutations=100, random_state=2, weights="w")
        scaled = csi.compare("acsi", shares, by="g", permutations=100, random_state=2, weights="w")
    pd.testing.assert_frame_equal(counts.tests, scaled.tests, atol=1e-9, rtol=0)
    pd.testing.assert_frame_equal(counts.micom.table, scaled.micom.table, atol=1e-9, rtol=0)
