"""CB-SEM with respondent weights against lavaan 0.6-14's sampling.weights
(tests/fixtures/make_lavaan_weights.R), and integer weights against repeated rows."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.errors import CSIWarning, EstimationError

from conftest import LAVAAN, hs_spec, lavaan_fit, lavaan_matrix, lavaan_params
from csi_models.inference.bootstrap import resample_rows

#: lavaan's fitMeasures that are not ours to compare (the fixture script's own entries)
SCRIPT_KEYS = ("opt_", "max_abs", "newton", "fmin_default", "chisq_default", "iterations",
               "converged", "any_negative", "negative_variances", "lavaan_version",
               "baseline_max")


def quiet_fit(spec, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        return csi.fit(spec, data, **kw)


@pytest.fixture(scope="module")
def weighted_mobi(mobi):
    """ECSI data with the fixture script's weight column w = 0.5 + ((7 r) mod 10) / 4."""
    r = np.arange(1, len(mobi) + 1)
    return mobi.assign(w=0.5 + ((7 * r) % 10) / 4)


@pytest.fixture(scope="module")
def ecsi_weighted(weighted_mobi):
    return quiet_fit("ecsi", weighted_mobi, method="cbsem", weights="w")


def lavaan_rows(res):
    """Our parameter rows in the order of lavaan's table (covariances in either order)."""
    ours = {}
    for row in res.parameters.itertuples():
        ours[row.lhs, row.op, row.rhs] = ours[row.rhs, row.op, row.lhs] = row
    lav = lavaan_params("ecsi_weighted")
    return lav, pd.DataFrame([ours[key]._asdict() for key in zip(lav.lhs, lav.op, lav.rhs)])


def test_estimates_and_robust_se_match_lavaan(ecsi_weighted):
    res = ecsi_weighted
    assert res.converged
    lav, ours = lavaan_rows(res)
    np.testing.assert_allclose(ours["est"], lav["est"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["std_all"], lav["std.all"], rtol=0, atol=1e-6)
    free = (lav["free"] > 0).to_numpy()
    np.testing.assert_allclose(ours["se"][free], lav["se"][free], rtol=1e-4)
    # the plain (unweighted, expected-information) SEs are far from these
    plain = quiet_fit("ecsi", res.data.values, method="cbsem")
    _, unweighted = lavaan_rows(plain)
    assert np.max(np.abs(unweighted["se"][free] / lav["se"][free] - 1)) > 0.1
    items = list(res.estimates.layout.items)
    np.testing.assert_allclose(res.estimates.sample_cov,
                               lavaan_matrix("ecsi_weighted_sample").loc[items, items], atol=1e-10)
    np.testing.assert_allclose(res.estimates.implied_cov,
                               lavaan_matrix("ecsi_weighted_implied").loc[items, items], atol=1e-6)


def test_fit_measures_match_lavaan(ecsi_weighted):
    """Every fitMeasures entry lavaan gives with sampling weights, unscaled, Yuan-Bentler
    scaled and robust (chisq 622.17, chisq.scaled 435.77 with scaling factor 1.428)."""
    ours = ecsi_weighted.fit_indices
    lav = lavaan_fit("ecsi_weighted")
    keys = [k for k in lav.index if not k.startswith(SCRIPT_KEYS)]
    assert lav["opt_test"] == "yuan.bentler.mplus" and lav["opt_se"] == "robust.huber.white"
    assert not set(keys) - set(ours.index)
    np.testing.assert_allclose(ours[keys].astype(float), lav[keys].astype(float), rtol=1e-6,
                               atol=1e-9)
    assert ours["chisq.scaled"] == pytest.approx(435.7731, abs=1e-3)


def test_scaling_the_weights_changes_nothing(weighted_mobi):
    """lavaan normalizes the weights to sum to N: SEs and the test are scale-free too.
    (ACSI: on ECSI with these weights the ML optimizer's path from semopy's start is chaotic,
    and weights times 7.5, a covariance 3e-15 away, did not converge.)"""
    before = weighted_mobi.copy()
    one = quiet_fit("acsi", weighted_mobi, method="cbsem", weights="w")
    pd.testing.assert_frame_equal(weighted_mobi, before)   # the caller's data untouched
    scaled = quiet_fit("acsi", weighted_mobi.assign(w=weighted_mobi.w * 7.5), method="cbsem",
                       weights="w")
    assert one.converged and scaled.converged
    np.testing.assert_allclose(scaled.parameters["est"], one.parameters["est"], atol=1e-8)
    np.testing.assert_allclose(scaled.parameters["se"], one.parameters["se"], rtol=1e-6)
    assert scaled.fit_indices["chisq.scaled"] == pytest.approx(one.fit_indices["chisq.scaled"],
                                                               rel=1e-8)


@pytest.fixture(scope="module")
def integer_weighted(mobi):
    data = mobi.assign(w=np.random.default_rng(5).integers(0, 4, size=len(mobi)))
    repeated = data.loc[data.index.repeat(data["w"])].reset_index(drop=True)
    return data, repeated


def test_integer_weights_give_the_estimates_of_repeated_rows(integer_weighted):
    """Same weighted covariance, so the same ML estimates, indices (weighted item means) and
    quality tables; the SEs differ, as in lavaan (N is the rows given, not the sum of w)."""
    data, repeated = integer_weighted
    weighted = quiet_fit("acsi", data, method="cbsem", weights="w")
    copies = quiet_fit("acsi", repeated, method="cbsem")
    np.testing.assert_allclose(weighted.parameters["est"], copies.parameters["est"], atol=1e-7)
    for table in ("paths", "loadings", "weights"):
        np.testing.assert_allclose(getattr(weighted, table).estimate,
                                   getattr(copies, table).estimate, atol=1e-7)
    np.testing.assert_allclose(weighted.indices["estimate"], copies.indices["estimate"], atol=1e-6)
    pd.testing.assert_frame_equal(weighted.item_stats, copies.item_stats, rtol=1e-12)
    assert_same_quality(weighted, copies, atol=1e-7)
    assert weighted.n == len(data) and copies.n == len(repeated)
    assert not np.allclose(weighted.parameters["se"], copies.parameters["se"], equal_nan=True)


def assert_same_quality(a, b, atol):
    for name in ("quality", "fornell_larcker", "vif", "inner_vif", "f2", "item_correlations",
                 "cross_loadings", "construct_correlations"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), rtol=0, atol=atol,
                                      check_exact=False)
    pd.testing.assert_frame_equal(a.htmt[["construct_1", "construct_2", "estimate"]],
                                  b.htmt[["construct_1", "construct_2", "estimate"]],
                                  rtol=0, atol=atol, check_exact=False)


def test_weighted_quality_tables_of_pls_equal_repeated_rows(integer_weighted):
    data, repeated = integer_weighted
    weighted = quiet_fit("acsi", data, weights="w")
    copies = quiet_fit("acsi", repeated)
    assert_same_quality(weighted, copies, atol=1e-10)
    pd.testing.assert_frame_equal(weighted.item_stats, copies.item_stats, rtol=1e-12)
    assert np.abs(weighted.quality["alpha"] - quiet_fit("acsi", data).quality["alpha"]).max() > 1e-3


def test_weighted_bootstrap_resamples_respondents_with_their_weights():
    """Draw b is the weighted fit of resample b's rows, each with its weight (as PLS).
    Simulated data with a proper solution: on the ECSI survey some resamples have several
    improper optima, and which one a fit reaches is not a property of the weights."""
    from csi_models.inference.bootstrap import resample_rows
    from csi_models.simulation import simulate

    data = simulate("acsi", 300, random_state=11, discrete=True)
    data["w"] = 0.5 + np.random.default_rng(2).random(len(data)) * 2
    res = quiet_fit("acsi", data, method="cbsem", weights="w", bootstrap=20, random_state=4,
                    n_jobs=1)
    assert res.bootstrap.n_ok == 20 and res.bootstrap.n_improper == 0
    for b in (0, 19):
        rows = resample_rows(len(data), [b], res.bootstrap.seed)[0]
        direct = quiet_fit("acsi", data.iloc[rows].reset_index(drop=True), method="cbsem",
                           weights="w")
        np.testing.assert_allclose(res.bootstrap.draws["paths"][b], direct.paths.estimate,
                                   atol=1e-6)
        np.testing.assert_allclose(res.bootstrap.draws["indices"][b], direct.indices.estimate,
                                   atol=1e-6)
        np.testing.assert_allclose(res.bootstrap.draws["htmt"][b], direct.htmt.estimate,
                                   atol=1e-10)
    assert np.isfinite(res.paths["se"]).all()


@pytest.fixture(scope="module")
def hs_weighted_missing():
    """The FIML fixture's data (make_lavaan_refs.R) with the same weight formula."""
    data = pd.read_csv(LAVAAN / "hs_missing.csv").drop(columns="id")
    r = np.arange(1, len(data) + 1)
    return data.assign(w=0.5 + ((7 * r) % 10) / 4)


def test_weights_with_fiml_match_lavaan(hs_weighted_missing):
    """missing='fiml' with weights: lavaan's sem(..., missing = "ml", sampling.weights = "w")
    (tests/fixtures/make_lavaan_weights.R): estimates, robust SEs and the fit measures of the
    weighted H0 and H1 (EM) log-likelihoods."""
    from test_cbsem_lavaan import merged

    res = quiet_fit(hs_spec(), hs_weighted_missing, method="cbsem", missing="fiml", weights="w")
    assert res.converged and res.n == 301
    table = merged(res, "hs_fiml_weighted")
    np.testing.assert_allclose(table["est"], table["est_lav"], rtol=0, atol=1e-8)
    std = table[table.op != "~1"]
    np.testing.assert_allclose(std["std_all"], std["std.all"], rtol=0, atol=1e-8)
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-6)
    lav, ours = lavaan_fit("hs_fiml_weighted"), res.fit_indices
    for key in ("chisq", "df", "npar", "logl", "unrestricted.logl", "baseline.chisq", "cfi",
                "tli", "rmsea", "aic", "bic"):
        assert ours[key] == pytest.approx(lav[key], rel=1e-8, abs=1e-8), key
    # lavaan's interval bounds are roots found to ~1e-8; its SRMR with missing data
    # differs from ours (on the EM moments) in the 8th digit
    for key in ("rmsea.ci.lower", "rmsea.ci.upper", "srmr"):
        assert ours[key] == pytest.approx(lav[key], abs=1e-6), key
    # the Yuan-Bentler scaled test lavaan reports by default with sampling.weights
    for key in ("chisq.scaled", "pvalue.scaled", "chisq.scaling.factor", "scaling.factor.h1",
                "scaling.factor.h0", "baseline.chisq.scaled", "baseline.chisq.scaling.factor",
                "cfi.scaled", "tli.scaled", "rmsea.scaled", "rmsea.ci.lower.scaled",
                "rmsea.ci.upper.scaled", "rmsea.pvalue.scaled"):
        assert ours[key] == pytest.approx(lav[key], rel=1e-6, abs=1e-8), key
    # the FIML-corrected .robust measures ("V3"), weighted; our EM vs lavaan's: 1e-4
    for key in ("cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust",
                "rmsea.ci.upper.robust", "rmsea.notclose.pvalue.robust"):
        assert ours[key] == pytest.approx(lav[key], rel=1e-4), key
    # the weights matter: the unweighted FIML fit is elsewhere
    plain = quiet_fit(hs_spec(), hs_weighted_missing.drop(columns="w"), method="cbsem",
                      missing="fiml")
    assert np.abs(plain.parameters["est"].to_numpy() - res.parameters["est"].to_numpy()).max() > 1e-2
    assert "missing='ml'" in res.settings["respondent_weights"]


def test_integer_weights_with_fiml_give_the_repeated_rows(hs_weighted_missing):
    data = hs_weighted_missing.assign(w=1 + np.arange(len(hs_weighted_missing)) % 2)
    weighted = quiet_fit(hs_spec(), data, method="cbsem", missing="fiml", weights="w")
    repeated = data.loc[data.index.repeat(data["w"])].drop(columns="w").reset_index(drop=True)
    plain = quiet_fit(hs_spec(), repeated, method="cbsem", missing="fiml")
    np.testing.assert_allclose(weighted.parameters["est"], plain.parameters["est"], atol=1e-7)
    np.testing.assert_allclose(weighted.indices["estimate"], plain.indices["estimate"], atol=1e-7)
    np.testing.assert_allclose(weighted.fit_indices["chisq"] * len(repeated) / len(data),
                               plain.fit_indices["chisq"], rtol=1e-7)


def test_weighted_fiml_bootstrap_refits_each_resample_with_its_weights(hs_weighted_missing):
    data = hs_weighted_missing
    res = quiet_fit(hs_spec(), data, method="cbsem", missing="fiml", weights="w",
                    bootstrap=3, random_state=4)
    assert res.bootstrap.n_ok == 3
    rows = resample_rows(len(data), [1], res.bootstrap.seed)[0]
    direct = quiet_fit(hs_spec(), data.iloc[rows].reset_index(drop=True), method="cbsem",
                       missing="fiml", weights="w")
    np.testing.assert_allclose(res.bootstrap.draws["loadings"][1], direct.loadings.estimate,
                               atol=1e-6)
    np.testing.assert_allclose(res.bootstrap.draws["indices"][1], direct.indices.estimate,
                               atol=1e-6)


def test_fit_many_passes_the_weights_to_cbsem(weighted_mobi):
    from csi_models.batch import fit_many

    data = weighted_mobi.assign(company=np.where(weighted_mobi.index < 125, "A", "B"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        batch = fit_many("acsi", data, by="company", method="cbsem", weights="w", random_state=1)
    alone = quiet_fit("acsi", data[data.company == "B"].reset_index(drop=True), method="cbsem",
                      weights="w")
    np.testing.assert_allclose(batch.paths.query("company == 'B'").estimate, alone.paths.estimate,
                               atol=1e-10)
    np.testing.assert_allclose(batch.indices.query("company == 'B'").estimate,
                               alone.indices.estimate, atol=1e-10)


def test_modification_indices_match_lavaan(ecsi_weighted):
    """lavaan's modindices() with sampling weights: those of ML on the weighted covariance."""
    from conftest import LAVAAN

    ours = ecsi_weighted.modification_indices()
    lav = pd.read_csv(LAVAAN / "ecsi_weighted_modindices.csv")
    both = lav.merge(ours, on=["lhs", "op", "rhs"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"]
    np.testing.assert_allclose(both["mi_y"], both["mi_x"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(both["epc_y"], both["epc_x"], atol=1e-3, rtol=1e-4)


def test_weighted_invariance_matches_lavaans_sampling_weights():
    """compare(..., by=, weights=) with CB-SEM: the invariance steps are lavaan's multi-group
    fits with sampling.weights (weights normalized over all groups; each group's weighted
    moments, its summed weight as n) with their scaled tests on the observed information and
    lavTestLRT's Satorra-Bentler differences (make_lavaan_weights.R, polished fits)."""
    from conftest import hs_data

    hs = hs_data()
    hs["w"] = 0.5 + ((7 * np.arange(1, len(hs) + 1)) % 10) / 4
    ref = pd.read_csv(LAVAAN / "hs_weighted_invariance.csv").set_index("step")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        comparison = csi.compare(hs_spec(), hs, by="school", method="cbsem", weights="w")
        unweighted = csi.compare(hs_spec(), hs, by="school", method="cbsem")
    ours = comparison.tests.set_index("step")
    assert ours.converged.all() and list(ours.index) == ["configural", "metric", "scalar"]
    for col, lav in (("chisq", "chisq"), ("df", "df"), ("cfi", "cfi"), ("tli", "tli"),
                     ("rmsea", "rmsea"), ("srmr", "srmr"), ("logl", "logl"), ("aic", "aic"),
                     ("bic", "bic"), ("chisq_scaled", "chisq.scaled"),
                     ("chisq_scaling_factor", "chisq.scaling.factor"),
                     ("chisq_scaled_p_value", "pvalue.scaled"), ("cfi_robust", "cfi.robust"),
                     ("tli_robust", "tli.robust"), ("rmsea_robust", "rmsea.robust")):
        # (the scalar step's pvalue.scaled, 9e-11, is lavaan's to 3e-17 only)
        np.testing.assert_allclose(ours[col], ref.loc[ours.index, lav], rtol=1e-7, atol=1e-15,
                                   err_msg=col)
    for col, lav in (("chisq_diff", "chisq_diff"), ("p_value", "pvalue_diff")):
        np.testing.assert_allclose(ours.loc[["metric", "scalar"], col],
                                   ref.loc[["metric", "scalar"], lav], rtol=1e-7, err_msg=col)
    assert any("respondent weights" in note and "Satorra-Bentler" in note
               for note in comparison.notes)
    assert not np.allclose(unweighted.tests.chisq, ours.chisq, rtol=1e-3)


def test_nested_models_with_weights_and_fiml_get_lavaans_scaled_difference(hs_weighted_missing):
    """compare()'s chi-square difference of two nested weighted FIML fits is lavaan's
    lavTestLRT there: the Satorra-Bentler (2001) scaled difference (make_lavaan_weights.R;
    lavaan's fits at its default convergence, hence 1e-5)."""
    restricted = hs_spec(["visual -> textual", "textual -> speed"])
    general = hs_spec(["visual -> textual", "textual -> speed", "visual -> speed"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        tests = csi.compare({"restricted": restricted, "general": general}, hs_weighted_missing,
                            method="cbsem", missing="fiml", weights="w").tests
    row = tests[tests.test == "chisq_difference"].iloc[0]
    lav = pd.read_csv(LAVAAN / "hs_fiml_weighted_lrt.csv").iloc[0]
    assert row["df_diff"] == lav["df_diff"] == 1
    assert row["chisq_diff"] == pytest.approx(lav["chisq_diff"], rel=1e-5)
    assert row["p_value"] == pytest.approx(lav["p_value"], rel=1e-5)


def test_fiml_bootstrap_refits_start_where_the_full_sample_solution_is_proper(
        hs_weighted_missing, monkeypatch):
    """FIML resamples are refitted without standard errors, from the full-sample estimates
    when they are a proper solution, else from each resample's own start (on ECSI, whose
    solution is improper, the full-sample start cost a resample 22 s instead of 4 s)."""
    from dataclasses import replace

    from csi_models.engines import cbsem_engine

    seen = []

    def spy(spec, survey, rows, start, n_jobs, se, progress):
        seen.append((start, se))
        return [(None, "skipped")] * len(rows)
    monkeypatch.setattr(cbsem_engine, "refit_each", spy)
    res = quiet_fit(hs_spec(), hs_weighted_missing.drop(columns="w"), method="cbsem",
                    missing="fiml")
    engine, rows = res._engine, [np.arange(len(res.data.values))]
    engine.resample(res.spec, res.data, res.estimates, engine.resolve({}), rows)
    improper = replace(res.estimates, extras={**res.estimates.extras, "improper": ["a problem"]})
    engine.resample(res.spec, res.data, improper, engine.resolve({}), rows)
    np.testing.assert_array_equal(seen[0][0], res.estimates.extras["x"])
    assert seen[1][0] is None and seen[0][1] == seen[1][1] == "none"


def test_weighted_fiml_with_too_few_weighted_respondents_says_so(hs_weighted_missing):
    """Rows with weight 0 do not count: 5 weighted respondents for 9 items is a clear error
    (not a fit that does not converge with numpy warnings)."""
    data = hs_weighted_missing.assign(w=np.where(np.arange(len(hs_weighted_missing)) < 5, 1.0, 0.0))
    with pytest.raises(EstimationError, match=r"fewer respondents with a positive weight \(5\)"):
        quiet_fit(hs_spec(), data, method="cbsem", missing="fiml", weights="w")
