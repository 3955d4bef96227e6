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
