"""Residual covariances in the spec language (``covariances:``, ``spec.add_covariance``):
validation, lavaan syntax, YAML round trip, PLS refusal, and Bollen's political democracy
model (six residual covariances) against lavaan 0.6-14 (make_lavaan_refs.R, section 10)."""

import warnings

import numpy as np
import pytest

import csi_models as csi
from conftest import close, lavaan_fit, lavaan_matrix
from csi_models.errors import EstimationError, SpecError
from csi_models.spec import spec_from_dict, spec_from_yaml
from test_cbsem_lavaan import merged

PD_COVARIANCES = ["y1 ~~ y5", "y2 ~~ y4", "y2 ~~ y6", "y3 ~~ y7", "y4 ~~ y8", "y6 ~~ y8"]


def pd_spec(covariances=PD_COVARIANCES):
    return spec_from_dict({
        "name": "political_democracy", "scale": {"min": -100, "max": 100},
        "constructs": {"ind60": {"items": ["x1", "x2", "x3"]},
                       "dem60": {"items": ["y1", "y2", "y3", "y4"]},
                       "dem65": {"items": ["y5", "y6", "y7", "y8"]}},
        "paths": ["ind60 -> dem60", "ind60 -> dem65", "dem60 -> dem65"],
        "covariances": covariances})


def pd_data():
    from semopy.examples import political_democracy

    return political_democracy.get_data()


def test_political_democracy_matches_lavaan():
    data = pd_data()
    original = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(pd_spec(), data, method="cbsem")
    assert data.equals(original)
    assert res.converged and res.estimates.gradient_norm < 1e-8
    sample = lavaan_matrix("political_democracy_sample")
    close(res.estimates.sample_cov, sample.loc[list(res.spec.item_names), list(res.spec.item_names)], 1e-6)
    table = merged(res, "political_democracy")
    close(table["est"], table["est_lav"], 1e-5)
    close(table["std_all"], table["std.all"], 1e-5)
    close(table["std_all_se"], table["std.all.se"], 1e-5)
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-4)
    assert res.n * res.estimates.objective == pytest.approx(lavaan_fit("political_democracy")["chisq"], abs=1e-5)
    assert len(table[(table.op == "~~") & (table.lhs != table.rhs) & table.lhs.str.startswith("y")]) == 6


def test_covariances_round_trip_and_lavaan_syntax():
    spec = pd_spec()
    assert spec.covariances[0] == ("y1", "y5")
    assert "y1 ~~ y5\n" in spec.to_lavaan() and spec.to_lavaan().count("~~") == 6
    again = spec_from_yaml(spec.to_yaml())
    assert again == spec and again.covariances == spec.covariances
    added = pd_spec([]).add_covariance("y1", "y5")
    assert added.covariances == (("y1", "y5"),) and "y1 ~~ y5" in added.to_lavaan()
    assert pd_spec([]).add_covariance("dem60", "ind60").covariances == (("dem60", "ind60"),)
    assert spec.drop_construct("dem65").covariances == (("y2", "y4"),)


@pytest.mark.parametrize("entry, message", [
    ("y1 ~~ y99", r"covariance y1 ~~ y99 .*refers to 'y99', which is neither an item nor a construct"),
    ("y1 ~~ y1", r"pairs 'y1' with itself"),
    ("y1 ~~ dem60", r"pairs construct 'dem60' with item 'y1'"),
    ("y5 ~~ y1", r"covariance y5 ~~ y1 .*listed twice \(also as y1 ~~ y5\)"),
    ("y1 - y5", r"not of the form 'a ~~ b'"),
])
def test_bad_covariances_are_spec_errors(entry, message):
    with pytest.raises(SpecError, match=message):
        pd_spec(["y1 ~~ y5", entry])


def test_covariance_line_numbers_in_yaml():
    text = pd_spec().to_yaml().replace("y6 ~~ y8", "y6 ~~ y9")
    with pytest.raises(SpecError, match=r"<spec>, line \d+\): refers to|line \d+.*y9"):
        spec_from_yaml(text)


def test_pls_refuses_covariances():
    with pytest.raises(EstimationError, match=r"PLS cannot estimate residual covariances \(y1 ~~ y5.*method='cbsem'"):
        csi.fit(pd_spec(), pd_data(), method="pls")


def test_group_comparison_of_a_spec_with_covariances_tests_that_model(mobi):
    """The multi-group model has the spec's residual covariances, free in every group: its
    configural chi-square is the sum of the groups' own fits, each with the covariances
    (489.1 here; 528.5 without them). lavaan's numbers: test_compare.py."""
    spec = (csi.load_spec("acsi").add_covariance("PERQ1", "PERQ2")
            .add_covariance("CUEX3", "PERQ1"))
    data = mobi.assign(g=np.where(mobi.index % 2 == 0, "a", "b"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comparison = csi.compare(spec, data, by="g", method="cbsem")
    tests = comparison.tests.set_index("step")
    assert tests.converged.all() and list(tests.index) == ["configural", "metric", "scalar"]
    own = sum(r.fit_indices["chisq"] for r in comparison.results.values())
    np.testing.assert_allclose(tests.loc["configural", "chisq"], own, rtol=1e-8)
    assert not any("residual covariances" in note for note in comparison.notes)


def test_an_invariance_step_keeps_a_converged_start_the_steps_left(mobi):
    """ACSI with CUEX1 ~~ CUEX2 in two halves: the configural start (the groups' own
    converged fits) passes the convergence test, and the steps from it ran down a ridge to
    max |gradient| 0.15; the start is kept. Steps that converge from no start are flagged
    and get no difference test."""
    spec = csi.load_spec("acsi").add_covariance("CUEX1", "CUEX2")
    data = mobi.assign(g=np.where(mobi.index % 2 == 0, "a", "b"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comparison = csi.compare(spec, data, by="g", method="cbsem")
    tests = comparison.tests.set_index("step")
    own = sum(r.fit_indices["chisq"] for r in comparison.results.values())
    assert tests.loc["configural", "converged"]
    np.testing.assert_allclose(tests.loc["configural", "chisq"], own, rtol=1e-9)
    for step in ("metric", "scalar"):   # no difference test to or from an unconverged fit
        if not (tests.loc[step, "converged"] and tests.shift().loc[step, "converged"]):
            assert np.isnan(tests.loc[step, "p_value"]) and np.isnan(tests.loc[step, "chisq_diff"])
