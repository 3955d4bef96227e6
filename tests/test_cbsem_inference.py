"""CB-SEM inference: semopy's analytic standard errors against lavaan's, and the parallel
bootstrap (each resample a fresh, polished ML fit)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.engines import cbsem, cbsem_engine
from csi_models.inference import bootstrap as bs
from csi_models.spec import spec_from_dict

LAVAAN = Path(__file__).parent / "fixtures" / "lavaan"


def hs_data() -> pd.DataFrame:
    import semopy

    path = Path(semopy.__file__).parent / "examples" / "holzinger_swineford39_data.csv"
    return pd.read_csv(path, index_col=0)


HS_SPEC = spec_from_dict({
    "name": "hs", "scale": {"min": 0, "max": 10},
    "constructs": {"visual": {"items": ["x1", "x2", "x3"]},
                   "textual": {"items": ["x4", "x5", "x6"]},
                   "speed": {"items": ["x7", "x8", "x9"]}},
    "paths": ["visual -> textual", "textual -> speed"]})


def _boot(data, est, n_boot):
    """The bootstrap of a CB-SEM fit of prepared data, as csi.fit runs it (serially)."""
    from csi_models.engines.base import Resamples, get_engine
    from csi_models.statistics.kernel import Statistics

    engine = get_engine("cbsem")
    options = engine.resolve({})
    est = cbsem_engine.with_moments(est, data)
    stats = Statistics(HS_SPEC, est.layout)
    return bs.bootstrap(engine, HS_SPEC, data, est, options, stats,
                        stats.derive(Resamples.of(est)), n_boot, random_state=1, n_jobs=1)


def lavaan_se(name: str) -> pd.DataFrame:
    table = pd.read_csv(LAVAAN / f"{name}_params.csv", keep_default_na=False, na_values=[""])
    return table[table.free > 0]


def compare_se(result, name: str, rtol: float):
    ours = result.parameters
    lav = lavaan_se(name)
    checked = 0
    for row in lav.itertuples():
        same = ours[(ours.op == row.op) & (((ours.lhs == row.lhs) & (ours.rhs == row.rhs))
                                           | ((ours.lhs == row.rhs) & (ours.rhs == row.lhs)))]
        assert len(same) == 1, (row.lhs, row.op, row.rhs)
        assert same.se.iloc[0] == pytest.approx(row.se, rel=rtol), (row.lhs, row.op, row.rhs)
        checked += 1
    assert checked == len(lav) > 20


@pytest.fixture(scope="module")
def hs_cfa_spec():
    return spec_from_dict({"name": "hs", "scale": {"min": 0, "max": 10},
                           "constructs": {"visual": {"items": ["x1", "x2", "x3"]},
                                          "textual": {"items": ["x4", "x5", "x6"]},
                                          "speed": {"items": ["x7", "x8", "x9"]}},
                           "paths": []})


def test_ecsi_standard_errors_equal_lavaan():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit("ecsi", csi.datasets.load_ecsi_mobi(), method="cbsem")
    compare_se(res, "ecsi", 1e-6)
    # the unstandardized paths and their analytic se stand beside the standardized estimates
    params = res.parameters[res.parameters.op == "~"].rename(columns={"lhs": "target",
                                                                      "rhs": "source"})
    both = res.paths.merge(params, on=["source", "target"])
    assert len(both) == len(res.paths) == 12
    np.testing.assert_allclose(both.unstandardized, both.est, rtol=1e-15)
    np.testing.assert_allclose(both.unstandardized_se, both.se_y, rtol=1e-15)


def test_hs_standard_and_robust_standard_errors_equal_lavaan(hs_cfa_spec):
    compare_se(csi.fit(hs_cfa_spec, hs_data(), method="cbsem"), "hs", 1e-8)
    # the sandwich on the expected information: lavaan's MLR with information="expected"
    compare_se(csi.fit(hs_cfa_spec, hs_data(), method="cbsem", se="robust"), "hs_mlr_expected", 1e-8)


def test_robust_standard_errors_come_with_lavaan_mlr_scaled_test(hs_cfa_spec):
    """se='robust' on complete data is lavaan's MLR (information='expected'): its
    Yuan-Bentler (Mplus) scaled chi-square, scaling factors, .scaled and .robust measures
    (the intervals are lavaan's roots, found to ~1e-8)."""
    from conftest import lavaan_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(hs_cfa_spec, hs_data(), method="cbsem", se="robust")
        plain = csi.fit(hs_cfa_spec, hs_data(), method="cbsem")
    ours, lav = res.fit_indices, lavaan_fit("hs_mlr_expected")
    keys = [k for k in lav.index if k.endswith((".scaled", ".robust")) or "scaling" in k]
    assert len(keys) >= 30 and set(keys) <= set(ours.index)
    for key in keys:
        assert ours[key] == pytest.approx(lav[key], rel=1e-7, abs=1e-9), key
    assert ours["chisq"] == pytest.approx(plain.fit_indices["chisq"], rel=1e-12)
    assert not any(k.endswith((".scaled", ".robust")) for k in plain.fit_indices.index)
    assert "chisq.scaled" in res.summary().split("Model fit:")[1]


def test_nested_robust_fits_get_lavaan_scaled_difference():
    """compare() of two nested se='robust' fits of complete data: lavaan's lavTestLRT of
    MLR fits, the Satorra-Bentler (2001) scaled difference (make_lavaan_refs.R section 15;
    lavaan's fits at its default convergence, hence 1e-5)."""
    from conftest import hs_spec

    from csi_models.errors import CSIWarning

    specs = {"restricted": hs_spec(["visual -> textual", "textual -> speed"]),
             "general": hs_spec(["visual -> textual", "textual -> speed", "visual -> speed"])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        tests = csi.compare(specs, hs_data(), method="cbsem", se="robust").tests
        plain = csi.compare(specs, hs_data(), method="cbsem").tests
    row = tests[tests.test == "chisq_difference"].iloc[0]
    lav = pd.read_csv(Path(__file__).parent / "fixtures" / "lavaan" / "hs_mlr_lrt.csv").iloc[0]
    assert row["df_diff"] == lav["df_diff"] == 1
    assert row["chisq_diff"] == pytest.approx(lav["chisq_diff"], rel=1e-5)
    assert row["p_value"] == pytest.approx(lav["p_value"], rel=1e-5)
    # without robust SEs the difference is the plain one, which differs
    unscaled = plain[plain.test == "chisq_difference"].iloc[0]["chisq_diff"]
    assert unscaled != pytest.approx(row["chisq_diff"], rel=1e-3)


@pytest.fixture(scope="module")
def hs_boot():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csi.fit(HS_SPEC, hs_data(), method="cbsem", bootstrap=6, random_state=3, n_jobs=2)


def test_cbsem_bootstrap_resamples_are_fresh_fits(hs_boot):
    boot = hs_boot.bootstrap
    assert boot.engine == "cbsem" and boot.n_failed == 0
    rows = bs.resample_rows(hs_boot.n, np.arange(6), boot.seed)
    data = hs_data()
    for b in (0, 5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            single = csi.fit(HS_SPEC, data.iloc[rows[b]].reset_index(drop=True), method="cbsem")
        np.testing.assert_allclose(boot.draws["paths"][b], single.paths.estimate, atol=1e-6)
        np.testing.assert_allclose(boot.draws["loadings"][b], single.loadings.estimate, atol=1e-6)
        np.testing.assert_allclose(boot.draws["indices"][b], single.indices.estimate, atol=1e-6)
    paths = hs_boot.paths
    # the inference columns of the standardized estimate come from the bootstrap; the
    # unstandardized estimate and its analytic se stand beside them
    assert list(paths.columns) == ["source", "target", "estimate", "se", "statistic", "p_value",
                                   "ci_lower", "ci_upper", "n_boot", "unstandardized",
                                   "unstandardized_se"]
    np.testing.assert_allclose(paths.se, boot.draws["paths"].std(axis=0, ddof=1), rtol=1e-12)
    assert hs_boot.indices.se.notna().all() and hs_boot.impacts.se.notna().all()
    s = hs_boot.settings
    assert (s["bootstrap"], s["bootstrap_seed"], s["bootstrap_failed"]) == (6, 3, 0)


def test_cbsem_bootstrap_is_the_same_serial_or_parallel(hs_boot):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = csi.fit(HS_SPEC, hs_data(), method="cbsem", bootstrap=3, random_state=3, n_jobs=1)
    np.testing.assert_allclose(serial.bootstrap.draws["paths"], hs_boot.bootstrap.draws["paths"][:3],
                               atol=1e-12)


def test_cbsem_resamples_that_miss_the_gradient_tolerance_are_counted(monkeypatch):
    monkeypatch.setattr(cbsem, "GRADIENT_TOLERANCE", 0.0)   # nothing counts as converged
    data = csi.data.prepare(HS_SPEC, hs_data())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cbsem.fit(HS_SPEC, data)
        boot = _boot(data, est, 3)
    assert boot.n_failed == 3 and boot.failed.reason.str.startswith("did not converge").all()
    assert boot.draws["paths"].shape == (0, 2)
    assert np.isnan(boot.table("paths").se).all()


def test_cbsem_resamples_start_from_the_full_sample_solution(monkeypatch):
    """The resamples get the full-sample solution vector (``estimates.extras['x']``, semopy's
    active-parameter order) as their second start; FIML resamples are full refits, each
    started there."""
    data = csi.data.prepare(HS_SPEC, hs_data())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cbsem.fit(HS_SPEC, data)
    solution = est.extras["x"]
    from csi_models.engines import resamples

    real, starts = resamples.resample_stack, []

    def recording(spec, survey, rows, start=None, *args, **kw):
        starts.append(start)
        return real(spec, survey, rows, start, *args, **kw)

    monkeypatch.setattr(resamples, "resample_stack", recording)   # imported where it runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = _boot(data, est, 3)
    assert boot.n_failed == 0 and len(starts) == 1
    np.testing.assert_array_equal(starts[0], solution)
    fiml = csi.data.prepare(HS_SPEC, hs_data(), missing="fiml")
    refits = []
    real_fit = cbsem.fit

    def recording_fit(spec, sample, se="standard", **kw):
        refits.append(kw.get("start"))
        return real_fit(spec, sample, se=se, **kw)

    monkeypatch.setattr(cbsem, "fit", recording_fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cbsem.fit(HS_SPEC, fiml)
        refits.clear()
        cbsem_engine.refit_each(HS_SPEC, fiml, [np.arange(0, 200), np.arange(50, 300)],
                                est.extras["x"])
    assert len(refits) == 2 and all(np.array_equal(r, est.extras["x"]) for r in refits)


def test_parallel_chunks_follow_the_effective_worker_count():
    from joblib import cpu_count

    assert len(cbsem_engine.chunks(100, -1)) == min(100, 4 * cpu_count())
    assert len(cbsem_engine.chunks(100, 1)) == 4 and len(cbsem_engine.chunks(3, 2)) == 3
    assert len(cbsem_engine.chunks(100, -2)) == 4 * max(1, cpu_count() - 1)
    np.testing.assert_array_equal(np.concatenate(cbsem_engine.chunks(37, -1)), np.arange(37))
