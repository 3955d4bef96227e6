"""Modification indices against lavaan 0.6-14's modindices() (every row, make_lavaan_refs.R
section 11): the same candidate rows, mi, epc and sepc.all."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from conftest import LAVAAN, hs_data, hs_spec
from csi_models.engines import modindices
from csi_models.errors import EstimationError
from test_covariances import pd_data, pd_spec


def _ours(spec, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(spec, data, method="cbsem")
    return modindices.for_fit(res.spec, res.data, res.estimates)


@pytest.mark.parametrize("name, tol", [("political_democracy", 1e-6), ("hs", 1e-6), ("ecsi", 1e-4)])
def test_modification_indices_match_lavaan(mobi, name, tol):
    spec, data = {"political_democracy": (pd_spec(), pd_data()), "hs": (hs_spec(), hs_data()),
                  "ecsi": ("ecsi", mobi)}[name]
    ours = _ours(spec, data)
    assert list(ours.columns) == ["lhs", "op", "rhs", "mi", "epc", "sepc_all"]
    assert (np.diff(ours["mi"]) <= 0).all()           # sorted by mi
    lav = pd.read_csv(LAVAAN / f"{name}_modindices.csv")
    both = lav.merge(ours, on=["lhs", "op", "rhs"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"]
    np.testing.assert_allclose(both["mi_y"], both["mi_x"], atol=tol, rtol=tol)
    np.testing.assert_allclose(both["epc_y"], both["epc_x"], atol=tol * 10, rtol=tol)
    np.testing.assert_allclose(both["sepc_all"], both["sepc.all"], atol=tol * 10, rtol=tol)


def test_modification_indices_need_complete_data_cbsem(mobi):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit("acsi", mobi, method="pls")
    with pytest.raises(EstimationError, match="complete-data CB-SEM fit"):
        modindices.for_fit(res.spec, res.data, res.estimates)
