"""fit_many's fast PLS path (batch.fast) against per-group csi.fit: the same tables bit for
bit, the same warnings, and groups the fast path declines (data warnings, failures) handled
by the full path with csi.fit's messages."""

import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import csi_models as csi
from csi_models.batch import fit_many
from csi_models.batch import fast
from csi_models.batch.groups import split
from csi_models.engines import pls
from csi_models.engines.base import Layout
from csi_models.errors import CSIWarning
from csi_models.inference.bootstrap import resample_rows
from csi_models.simulation import simulate
from csi_models.statistics.moments import BatchMoments


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        yield


def _survey():
    data = simulate("acsi", 60, groups=6, random_state=4, discrete=True)
    g3 = data.group == "G03"
    data.loc[g3 & (data.index % 7 == 0), "CUEX2"] = np.nan          # missing: a data warning
    data.loc[data.group == "G04", "PERV1"] = 11 - data.loc[data.group == "G04", "PERV1"]  # reversed
    g5 = np.flatnonzero(data.group == "G05")
    data.loc[data.index[g5[:58]], "CUSA3"] = 7                          # nearly constant
    return data


def test_every_group_equals_its_own_csi_fit_bit_for_bit():
    data = _survey()
    batch = fit_many("acsi", data, by="group", bootstrap=200, random_state=11)
    spec = csi.load_spec("acsi")
    assert fast.eligible(spec, "pls", {"bootstrap": 200})
    model = fast._Model(spec, {})
    clean = {k[0]: model.clean(model.values(r)) for k, r in split(data, ["group"]).items()}
    assert clean["G01"] and not clean["G03"] and not clean["G05"]   # both paths are exercised
    for key in [f"G0{k}" for k in range(1, 7)]:
        rows = data[data.group == key].drop(columns="group").reset_index(drop=True)
        seed = int(batch.status.set_index("group").loc[key, "seed"])
        with warnings.catch_warnings(), threadpool_limits(1):   # one BLAS thread, as the batch
            warnings.simplefilter("ignore")
            res = csi.fit(spec, rows, bootstrap=200, random_state=seed, progress=False, n_jobs=1)
        for name, table in (("indices", res.indices), ("paths", res.paths), ("r2", res.r2_table),
                            ("impacts", res.impacts)):
            got = getattr(batch, name).query("group == @key").drop(columns="group")
            pd.testing.assert_frame_equal(got.reset_index(drop=True), table, check_exact=True)
        said = batch.warnings.query("group == @key").warning.tolist()
        assert said == res.warnings
        draws = batch.draws.query("group == @key").estimate.to_numpy()
        np.testing.assert_array_equal(draws, np.asarray(res.bootstrap.draws["indices"]).ravel())
    status = batch.status.set_index("group")
    assert (status.status == "ok").all()
    assert status.loc["G05", "n_warnings"] >= 1                      # nearly constant CUSA3
    assert batch.warnings.query("group == 'G05'").warning.str.contains("nearly constant").any()


def test_tables_without_bootstrap_equal_csi_fit():
    data = simulate("acsi", 80, groups=2, random_state=2, discrete=True)
    batch = fit_many("acsi", data, by="group")
    res = csi.fit("acsi", data[data.group == "G02"].drop(columns="group").reset_index(drop=True))
    got = batch.indices.query("group == 'G02'").drop(columns="group").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, res.indices, check_exact=True)
    assert batch.draws.empty


def test_a_pls_member_is_the_same_alone_or_stacked():
    """The kernel's promise the batch relies on: no member depends on its neighbours."""
    spec = csi.load_spec("acsi")
    layout = Layout.from_spec(spec)
    data = simulate("acsi", 120, random_state=3, discrete=True)
    S, _, _ = BatchMoments(data[list(layout.items)].to_numpy(float)).resamples(
        resample_rows(120, np.arange(300), 5))
    stacked = pls.estimate_batch(S, layout)
    for k in (0, 17, 299):
        alone = pls.estimate_batch(S[k:k + 1], layout)
        for field in ("weights", "paths", "r2", "item_cor"):
            np.testing.assert_array_equal(getattr(alone, field)[0], getattr(stacked, field)[k])
    mixed = pls.estimate_batch(S[::-1], layout, chunk=7)
    np.testing.assert_array_equal(mixed.paths[::-1], stacked.paths)
