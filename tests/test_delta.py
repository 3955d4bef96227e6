"""Delta-method standard errors of standardized CB-SEM estimates against lavaan 0.6-14's
``standardizedSolution()`` (fixture column ``std.all.se``, tests/fixtures/make_lavaan_refs.R),
and the generic delta method against a hand computation."""

import numpy as np
import pandas as pd
import pytest

from conftest import LAVAAN, close, hs_data, hs_spec
from csi_models.engines.delta import delta_method, jacobian
from test_cbsem_lavaan import fit_quiet, merged


@pytest.mark.parametrize("name", ["ecsi", "acsi"])
def test_standardized_se_matches_lavaan_csi_models(mobi, name):
    table = merged(fit_quiet(name, mobi), name)
    close(table["std_all_se"], table["std.all.se"], 1e-4)


def test_standardized_se_matches_lavaan_hs():
    table = merged(fit_quiet(hs_spec(), hs_data()), "hs")
    close(table["std_all_se"], table["std.all.se"], 1e-5)


def test_standardized_se_matches_lavaan_fiml():
    data = pd.read_csv(LAVAAN / "hs_missing.csv").drop(columns="id")
    table = merged(fit_quiet(hs_spec(), data, missing="fiml"), "hs_fiml")
    std = table[table.op != "~1"]
    close(std["std_all_se"], std["std.all.se"], 1e-4)


def test_delta_method_by_hand():
    """g(a, b) = (a b, a / b): J = [[b, a], [1/b, -a/b^2]], Var g = J V J'."""
    x = np.array([0.6, 0.8])
    V = np.array([[0.01, 0.002], [0.002, 0.04]])
    values, se, cov = delta_method(lambda z: np.array([z[0] * z[1], z[0] / z[1]]), x, V)
    J = np.array([[0.8, 0.6], [1 / 0.8, -0.6 / 0.64]])
    np.testing.assert_allclose(values, [0.48, 0.75])
    np.testing.assert_allclose(cov, J @ V @ J.T, rtol=1e-9)
    np.testing.assert_allclose(se, np.sqrt(np.diag(J @ V @ J.T)), rtol=1e-9)
    np.testing.assert_allclose(jacobian(lambda z: np.array([np.sum(z ** 2)]), x), [2 * x], rtol=1e-9)
    # a constant quantity has se 0, one that is NaN at x has se NaN
    with np.errstate(invalid="ignore"):
        _, se, _ = delta_method(lambda z: np.array([1.0, np.sqrt(-z[0])]), x, V)
    assert se[0] == 0 and np.isnan(se[1])
