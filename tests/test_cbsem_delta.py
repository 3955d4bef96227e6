"""Specific indirect effects and delta-method inference on a CB-SEM fit against lavaan 0.6-14
(``ind := a*b`` and its standardizedSolution() row, make_lavaan_refs.R section 13)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from conftest import LAVAAN
from csi_models.engines.cbsem_delta import delta_for_fit, indirect_effect
from csi_models.errors import SpecError


@pytest.fixture(scope="module")
def ecsi_fit(mobi):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csi.fit("ecsi", mobi, method="cbsem")


def test_indirect_effect_matches_lavaan_defined_parameter(ecsi_fit):
    ref = pd.read_csv(LAVAAN / "ecsi_indirect.csv").iloc[0]
    row = indirect_effect(ecsi_fit.spec, ecsi_fit.data, ecsi_fit.estimates,
                          ["Expectation", "Quality", "Satisfaction"]).iloc[0]
    assert row["through"] == "Expectation -> Quality -> Satisfaction"
    assert row["unstandardized"] == pytest.approx(ref["est"], abs=1e-6)
    assert row["unstandardized_se"] == pytest.approx(ref["se"], rel=1e-4)
    assert row["estimate"] == pytest.approx(ref["std.all"], abs=1e-6)
    assert row["se"] == pytest.approx(ref["std.all.se"], rel=1e-4)
    assert row["ci_lower"] < row["estimate"] < row["ci_upper"] and 0 <= row["p_value"] <= 1


def test_delta_for_fit_reproduces_the_standardized_path_se(ecsi_fit):
    """A standardized path as a function of the solution: lavaan's std.all se of that path."""
    lay = ecsi_fit.estimates.layout
    i, j = lay.constructs.index("Quality"), lay.constructs.index("Value")
    values, se, _ = delta_for_fit(ecsi_fit.spec, ecsi_fit.data, ecsi_fit.estimates,
                                  lambda s: s.B[i, j] * np.sqrt(s.phi[i, i] / s.phi[j, j]))
    t = ecsi_fit.parameters
    row = t[(t.op == "~") & (t.lhs == "Value") & (t.rhs == "Quality")].iloc[0]
    assert values[0] == pytest.approx(row.std_all, abs=1e-9)
    assert se[0] == pytest.approx(row.std_all_se, rel=1e-6)


def test_chain_must_follow_paths(ecsi_fit):
    with pytest.raises(SpecError, match="follows no path of the model at Quality -> Image"):
        indirect_effect(ecsi_fit.spec, ecsi_fit.data, ecsi_fit.estimates, ["Quality", "Image"])
    with pytest.raises(SpecError, match="unknown: 'Price'"):
        indirect_effect(ecsi_fit.spec, ecsi_fit.data, ecsi_fit.estimates, ["Price", "Quality"])


# --- indices, effects and impacts: lavaan's := defined parameters (section 14) --------------
KINDS = {"index": ("indices", ["construct"]), "total": ("effects", ["source", "target"]),
         "direct": ("effects", ["source", "target"]),
         "indirect": ("effects", ["source", "target"]), "impact": ("impacts", ["source", "target"])}


@pytest.mark.parametrize("kind", list(KINDS))
def test_indices_effects_and_impacts_carry_lavaan_delta_method_se(ecsi_fit, kind):
    """Without a bootstrap every index, standardized effect and impact has lavaan's :=
    estimate and delta-method se (item means and sample covariances as fixed numbers)."""
    view, keys = KINDS[kind]
    ref = pd.read_csv(LAVAAN / "ecsi_derived.csv", keep_default_na=False)
    ref = ref[ref.kind == kind]
    ours = getattr(ecsi_fit, view)
    if view == "effects":
        ours = ours[ours.effect == kind]
    both = ours.merge(ref, on=keys, how="inner")
    assert len(both) == len(ref) == len(ours) > 0
    assert np.allclose(both.estimate, both.est.astype(float), rtol=0, atol=1e-6)
    se = both.se_y.astype(float).to_numpy()
    assert np.allclose(both.se_x, se, rtol=1e-4, atol=1e-7), both[[*keys, "se_x", "se_y"]]
    varies = se > 0   # not: a one-item index, the direct effect where no path is
    assert varies.sum() >= 6
    z = 1.959963984540054
    assert np.allclose(both.ci_lower, both.estimate - z * both.se_x)
    assert np.allclose(both.ci_upper, both.estimate + z * both.se_x)
    assert both.n_boot.isna().all()
    if kind != "index":   # an index is not tested against 0 in its view (as with a bootstrap)
        assert np.allclose(both.statistic[varies], (both.estimate / both.se_x)[varies])
        assert ((both.p_value[varies] >= 0) & (both.p_value[varies] <= 1)).all()
    else:
        assert both.statistic.isna().all() and both.p_value.isna().all()


def test_long_table_carries_the_index_test_and_direct_effects_match_paths(ecsi_fit):
    t = ecsi_fit.table
    index = t[t.kind == "index"]
    assert index.se.notna().all() and index.statistic.notna().sum() == 6  # Complaints: se 0
    direct = ecsi_fit.effects.query("effect == 'direct'").merge(ecsi_fit.paths,
                                                                on=["source", "target"])
    assert np.allclose(direct.se_x, direct.se_y, rtol=1e-6)


def test_delta_inference_is_only_for_complete_data_cbsem_without_bootstrap(mobi):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pls = csi.fit("ecsi", mobi, method="pls")
        fiml = csi.fit("acsi", mobi, method="cbsem", missing="fiml")
    for res in (pls, fiml):
        assert res.impacts.se.isna().all() and res.indices.se.isna().all()
    assert fiml.paths.se.notna().all()   # the standardized solution keeps its delta SEs


def test_weighted_fit_delta_is_taken_at_the_tables_own_estimates(mobi):
    """With respondent weights the item covariance that standardizes the scores is weighted:
    the delta method's function, evaluated at the estimates, gives the table's indices (it
    used the unweighted covariance before: up to 0.027 points off)."""
    data = mobi.assign(w=np.where(np.arange(len(mobi)) % 3 == 0, 2.0, 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit("ecsi", data, method="cbsem", weights="w")
    values, se = res._delta["indices"]
    np.testing.assert_allclose(values, res.indices["estimate"].to_numpy(), atol=1e-9)
    assert np.isfinite(se).all() and (se >= 0).all()
