"""CB-SEM against lavaan 0.6-14 at the polished ML optimum (tests/fixtures/make_lavaan_refs.R).

The fixtures were produced by lavaan, polished with Newton steps on lavaan's own gradient and
Hessian; CI only reads the committed CSVs.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.engines import cbsem
from csi_models.errors import EstimationError, ImproperSolutionWarning
from csi_models.spec.loading import spec_from_dict

from conftest import LAVAAN, close, hs_data, hs_spec, lavaan_fit, lavaan_matrix, lavaan_params


def fit_quiet(spec, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImproperSolutionWarning)
        return csi.fit(spec, data, method="cbsem", **kw)


def merged(res, name):
    """Our parameter table joined to lavaan's on (lhs, op, rhs), covariances in either order."""
    ours = res.parameters.copy()
    theirs = lavaan_params(name)
    latent_means = (theirs.op == "~1") & theirs.lhs.isin(res.spec.construct_names)
    theirs = theirs[~latent_means]  # fixed at 0 by lavaan; semopy has no such rows
    swap = ours.op == "~~"
    flipped = ours[swap].rename(columns={"lhs": "rhs", "rhs": "lhs"})
    both = pd.concat([ours, flipped]).drop_duplicates(["lhs", "op", "rhs"])
    table = theirs.merge(both, on=["lhs", "op", "rhs"], suffixes=("_lav", ""), how="left")
    assert table["est"].notna().all(), table[table["est"].isna()][["lhs", "op", "rhs"]]
    return table


@pytest.mark.parametrize("name", ["ecsi", "acsi", "ccsi"])
def test_shipped_models_match_lavaan(mobi, name):
    res = fit_quiet(name, mobi)
    assert res.converged and res.estimates.gradient_norm < 1e-8
    table = merged(res, name)
    close(table["est"], table["est_lav"], 1e-5)
    close(table["std_all"], table["std.all"], 1e-4)
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-3)
    assert res.n * res.estimates.objective == pytest.approx(lavaan_fit(name)["chisq"], abs=1e-3)
    close(res.estimates.implied_cov, lavaan_matrix(f"{name}_implied"), 1e-6)
    cor = lavaan_matrix(f"{name}_latent_cor").loc[res.construct_correlations.index,
                                                  res.construct_correlations.columns]
    close(res.construct_correlations, cor, 1e-5)


def test_ecsi_standardized_paths_and_r2(mobi):
    """The published-table view: standardized paths (some beyond 1 on this data) and R^2."""
    res = fit_quiet("ecsi", mobi)
    lav = lavaan_params("ecsi")
    reg = lav[lav.op == "~"].set_index(["rhs", "lhs"])["std.all"]
    for row in res.paths.itertuples():
        assert row.estimate == pytest.approx(reg[row.source, row.target], abs=1e-4)
    var = lav[(lav.op == "~~") & (lav.lhs == lav.rhs)].set_index("lhs")["std.all"]
    for construct, r2 in res.r2.items():
        assert r2 == pytest.approx(1 - var[construct], abs=1e-4)


def test_ecsi_improper_solution_is_reported(mobi):
    with pytest.warns(ImproperSolutionWarning, match=r"standardized paths beyond \+-1: .*Satisfaction "
                                                     r"-> Loyalty \(3\.270\).*latent correlations near 1"):
        res = csi.fit("ecsi", mobi, method="cbsem")
    assert any("ImproperSolutionWarning" in w for w in res.warnings)
    assert "ImproperSolutionWarning" in res.summary().split("Settings:")[0]


def test_holzinger_swineford_cfa_matches_lavaan():
    res = fit_quiet(hs_spec(), hs_data())
    table = merged(res, "hs")
    close(table["est"], table["est_lav"], 1e-5)
    close(table["std_all"], table["std.all"], 1e-5)
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-4)
    assert res.n * res.estimates.objective == pytest.approx(85.305522, abs=1e-5)


def test_holzinger_swineford_fiml_matches_lavaan():
    data = pd.read_csv(LAVAAN / "hs_missing.csv").drop(columns="id")
    res = fit_quiet(hs_spec(), data, missing="fiml")
    assert res.n == 301 and res.converged
    table = merged(res, "hs_fiml")
    close(table["est"], table["est_lav"], 1e-5)
    std = table[table.op != "~1"]
    close(std["std_all"], std["std.all"], 1e-5)
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-3)
    assert res.estimates.gradient_norm < 1e-8
    # the start it says it took (it said semopy's SLSQP start, which FIML never runs)
    assert res.estimates.extras["start"] == cbsem.FIML_START == res.settings["start"]


def test_fiml_reaches_lavaans_optimum_where_its_first_start_fails():
    """ECSI with 5% of the answers missing at random (tests/fixtures/ecsi_missing_mcar5.csv):
    from the complete-data optimum of the pairwise covariances FIML ran into an improper
    region (max |gradient| 58, chi-square 540.75); with the data-based start as the next
    one it converges at lavaan's polished optimum (fixture ecsi_fiml_mcar5)."""
    data = pd.read_csv(Path(__file__).parent / "fixtures" / "ecsi_missing_mcar5.csv")
    res = fit_quiet("ecsi", data, missing="fiml")
    assert res.converged and res.estimates.gradient_norm < 1e-8
    assert res.estimates.extras["start"] in (cbsem.FIML_START, cbsem.FIML_DATA_START,
                                             "semopy default")
    assert res.fit_indices["chisq"] == pytest.approx(lavaan_fit("ecsi_fiml_mcar5")["chisq"],
                                                     rel=1e-9)
    table = merged(res, "ecsi_fiml_mcar5")
    close(table["est"], table["est_lav"], 1e-5)
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-3)


def test_fiml_that_converges_from_no_start_is_reported_not_raised():
    """ECSI with 5% of the answers missing at random (seed 11): no start converges (lavaan
    stops at an improper point, Quality's variance -0.008). A later start's unconverged
    point, which had run off to parameters of 1e11, replaced the first start's, and its
    standard errors raised numpy's 'SVD did not converge'; now the fit comes back with the
    first start's point, a warning and finite estimates."""
    from csi_models.errors import ConvergenceWarning

    data = csi.datasets.load_ecsi_mobi().astype(float)
    data = data.mask(np.random.default_rng(11).random(data.shape) < 0.05)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = csi.fit("ecsi", data, method="cbsem", missing="fiml")
    if not res.converged:
        assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
        assert res.estimates.extras["start"] == cbsem.FIML_START
    assert np.isfinite(res.parameters.est).all() and res.parameters.est.abs().max() < 1e3
    assert res.fit_indices["chisq"] == pytest.approx(560.0, abs=1.0)


def test_standard_errors_of_a_point_without_a_finite_hessian_are_nan():
    from csi_models.engines.cbsem_standard_errors import _pinv

    assert np.isnan(_pinv(np.array([[1.0, np.inf], [np.inf, 1.0]]))).all()
    np.testing.assert_allclose(_pinv(np.diag([2.0, 4.0])), np.diag([0.5, 0.25]))


def test_fiml_with_robust_standard_errors_matches_lavaan():
    """se='robust' with missing='fiml': lavaan's se='robust.huber.white' with missing='ml'
    (the sandwich on the respondents' scores, the observed information as its bread)."""
    data = pd.read_csv(LAVAAN / "hs_missing.csv").drop(columns="id")
    res = fit_quiet(hs_spec(), data, missing="fiml", se="robust")
    plain = fit_quiet(hs_spec(), data, missing="fiml")
    table = merged(res, "hs_fiml_robust")
    close(table["est"], table["est_lav"], 1e-6)
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-5)
    # and they are not the observed-information SEs (which lavaan's hs_fiml fixture holds)
    assert np.abs(res.parameters.se - plain.parameters.se).max() > 1e-3


def test_fiml_with_robust_se_gives_lavaan_mlr_scaled_test():
    """se='robust' with missing='fiml' is lavaan's estimator='MLR' with missing='ml': its
    SEs and the Yuan-Bentler (Mplus) scaled chi-square with its scaled fit measures."""
    from conftest import lavaan_fit

    data = pd.read_csv(LAVAAN / "hs_missing.csv").drop(columns="id")
    res = fit_quiet(hs_spec(), data, missing="fiml", se="robust")
    table = merged(res, "hs_fiml_mlr")
    free = table[table["free_lav"] > 0]
    np.testing.assert_allclose(free["se"], free["se_lav"], rtol=1e-6)
    ours, lav = res.fit_indices, lavaan_fit("hs_fiml_mlr")
    for key in ("chisq", "chisq.scaled", "pvalue.scaled", "chisq.scaling.factor",
                "scaling.factor.h1", "scaling.factor.h0", "baseline.chisq.scaled",
                "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled", "rmsea.scaled",
                "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled"):
        assert ours[key] == pytest.approx(lav[key], rel=1e-6, abs=1e-8), key
    assert ours["chisq.scaled"] != pytest.approx(ours["chisq"], rel=1e-3)
    # the FIML-corrected .robust measures, lavaan's "V3" with MLR (our EM vs lavaan's: 1e-4)
    for key in ("cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.lower.robust",
                "rmsea.ci.upper.robust", "rmsea.notclose.pvalue.robust"):
        assert ours[key] == pytest.approx(lav[key], rel=1e-4), key
    fit_lines = res.summary().split("Model fit:")[1].split("Flags")[0]
    assert all(k in fit_lines for k in ("chisq.scaled", "cfi.robust", "rmsea.robust"))
    # without se='robust' the test stays the unscaled one, as lavaan's default
    assert "chisq.scaled" not in fit_quiet(hs_spec(), data, missing="fiml").fit_indices


def test_ecsi_fiml_matches_lavaan():
    data = pd.read_csv(LAVAAN / "ecsi_missing.csv")
    res = fit_quiet("ecsi", data, missing="fiml")
    assert res.converged
    table = merged(res, "ecsi_fiml")
    close(table["est"], table["est_lav"], 1e-4)
    std = table[table.op != "~1"]
    close(std["std_all"], std["std.all"], 1e-4)
    from conftest import lavaan_fit

    ours, lav = res.fit_indices, lavaan_fit("ecsi_fiml")
    for key in ("chisq", "cfi", "rmsea", "cfi.robust", "tli.robust", "rmsea.robust",
                "rmsea.ci.lower.robust", "rmsea.ci.upper.robust"):
        assert ours[key] == pytest.approx(lav[key], rel=1e-5), key


def test_fresh_model_per_fit_gives_identical_results(mobi):
    first = fit_quiet("ecsi", mobi).parameters
    other = fit_quiet("ecsi", mobi.sample(frac=1.0, random_state=3)).parameters
    close(first["est"], other["est"], 1e-7)


def test_formative_and_mean_replacement_are_refused(mobi):
    with pytest.raises(EstimationError, match="Image is formative .*method='pls'"):
        csi.fit(csi.load_spec("ecsi").with_mode("Image", "formative"), mobi, method="cbsem")
    with pytest.raises(EstimationError, match="missing='mean' is for PLS"):
        csi.fit("ecsi", mobi, method="cbsem", missing="mean")


def test_singular_covariance_is_named(mobi):
    with pytest.raises(EstimationError, match="covariance matrix is singular"):
        csi.fit("ecsi", mobi.assign(PERQ7=mobi["PERQ6"]), method="cbsem")


def test_fiml_with_items_never_answered_together_is_named(mobi):
    """FIML where two items are never observed together (split questionnaire): a clear
    error naming them, not numpy's 'Eigenvalues did not converge'."""
    data = mobi.astype(float)
    data.loc[data.index < 125, "CUSCO"] = np.nan
    data.loc[data.index >= 125, "CUSL1"] = np.nan
    with pytest.raises(EstimationError, match="items 'CUS(CO|L1)' and 'CUS(CO|L1)' are answered "
                                              "together by fewer than two respondents"):
        csi.fit("acsi", data, method="cbsem", missing="fiml")


def test_fiml_fits_a_three_form_design_whose_pairwise_covariances_are_indefinite(mobi):
    """Planned missingness (three forms, each without one of three item blocks, 36
    respondents): the pairwise covariance matrix is indefinite, yet FIML's EM estimate is
    fine, so the fit runs (lavaan's missing = "ml" converges on it too) instead of being
    refused as singular; duplicated columns are still refused."""
    spec = spec_from_dict({"name": "tf", "scale": {"min": 1, "max": 10}, "constructs": {
        "Q": {"items": ["PERQ1", "PERQ2", "PERQ3", "PERQ4"]},
        "S": {"items": ["CUSA1", "CUSA2", "CUSA3"]}}, "paths": ["Q -> S"]})
    items = list(spec.item_names)
    data = mobi.sample(36, random_state=0).reset_index(drop=True)[items].astype(float)
    blocks = np.array_split(np.random.default_rng(0).permutation(items), 4)
    for r in range(len(data)):
        data.loc[r, list(blocks[1 + r % 3])] = np.nan
    assert np.linalg.eigvalsh(data.cov().to_numpy())[0] < 0
    res = fit_quiet(spec, data, missing="fiml")
    assert res.converged and res.fit_indices["df"] == 13
    with pytest.raises(EstimationError, match="covariance matrix is singular"):
        csi.fit(spec, data.assign(CUSA3=data["CUSA2"]), method="cbsem", missing="fiml")


def test_unidentified_model_is_named_before_estimation(mobi):
    """One construct with 2 items: 4 free parameters for 3 moments (df = -1, as lavaan counts).
    The error says so and names the construct, for complete data and FIML alike; two such
    constructs correlated with each other are identified (df = 1) and fit."""
    one = {"name": "one", "scale": {"min": 1, "max": 10}, "paths": [],
           "constructs": {"Value": {"items": {"PERV1": {}, "PERV2": {}}}}}
    with pytest.raises(EstimationError, match=r"not identified: it has 4 free parameters but its 2 "
                                              r"items give only 3 variances and covariances \(df = -1\)"
                                              r".*Value \(2 items\)"):
        csi.fit(one, mobi, method="cbsem")
    with pytest.raises(EstimationError, match=r"5 variances, covariances and means \(df = -1\).*Value"):
        csi.fit(one, mobi, method="cbsem", missing="fiml")
    two = {**one, "constructs": {**one["constructs"], "Satisfaction": {"items": {"CUSA1": {}, "CUSA2": {}}}}}
    res = fit_quiet(two, mobi)
    assert res.converged and res.fit_indices["df"] == 1


def _resample(res, seed):
    from dataclasses import replace

    from csi_models.inference.bootstrap import resample_rows

    rows = resample_rows(res.n, [0], seed)[0]
    return replace(res.data, values=res.data.values.iloc[rows].reset_index(drop=True))


@pytest.mark.parametrize("name,missing", [("acsi", "listwise"), ("hs", "fiml")])
def test_start_values_skip_the_search(mobi, name, missing):
    """``start=extras['x']`` at the optimum: no step (a fit from the default start counts
    its steps), the same point. On a bootstrap
    resample, starting from the full-sample values reaches the optimum that semopy's default
    start reaches (the bootstrap's use of ``start``)."""
    from csi_models.engines import cbsem

    data = (mobi if name == "acsi" else pd.read_csv(LAVAAN / "hs_missing.csv").drop(columns="id"))
    res = fit_quiet(hs_spec() if name == "hs" else name, data, missing=missing)
    x = res.estimates.extras["x"]
    assert x.size == res.estimates.extras["n_free"] == res.fit_indices["npar"]
    assert res.estimates.iterations > 0         # the kernel's steps are counted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImproperSolutionWarning)
        again = cbsem.fit(res.spec, res.data, start=x)
        assert again.iterations == 0 and again.converged
        np.testing.assert_allclose(again.extras["x"], x, rtol=0, atol=1e-12)
        sample = _resample(res, 3)
        default = cbsem.fit(res.spec, sample)
        warm = cbsem.fit(res.spec, sample, start=x)
    assert default.converged and warm.converged
    np.testing.assert_allclose(warm.extras["x"], default.extras["x"], atol=1e-6)
    np.testing.assert_allclose(warm.paths, default.paths, atol=1e-6)
    np.testing.assert_allclose(warm.parameters.se, default.parameters.se, rtol=1e-6)
    with pytest.raises(EstimationError, match=rf"start: give the {x.size} finite free-parameter"):
        cbsem.fit(res.spec, res.data, start=x[:-1])


def test_a_start_that_does_not_converge_falls_back_to_the_default_start(mobi):
    """ECSI bootstrap resample 6 (seed 6): scoring from the full-sample estimates strands far
    from the optimum, semopy's default start converges; the fit with ``start`` must give the
    default start's optimum, never a worse one."""
    from csi_models.engines import cbsem

    res = fit_quiet("ecsi", mobi)
    sample = _resample(res, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = cbsem.fit(res.spec, sample)
        warm = cbsem.fit(res.spec, sample, start=res.estimates.extras["x"])
    assert default.converged and warm.converged
    np.testing.assert_allclose(warm.extras["x"], default.extras["x"], atol=1e-6)


@pytest.mark.parametrize("name", ["ecsi", "acsi", "ccsi"])
def test_factor_score_weights_follow_lavaan(mobi, name):
    """Own-block factor-score weights from lavaan's numbers alone: w_j proportional to
    Sigma_jj^-1 lambda_j with lavaan's implied covariance and unstandardized loadings, put on
    z-scored items (times the item sd) and scaled to a unit-variance score (w'Rw = 1 with the
    sample correlations). Complete data."""
    res = fit_quiet(name, mobi)
    implied = lavaan_matrix(f"{name}_implied")
    params = lavaan_params(name)
    loadings = params[params.op == "=~"]
    ours = res.weights.set_index("item")["estimate"]
    for construct, block in loadings.groupby("lhs", sort=False):
        items = list(block.rhs)
        raw = np.linalg.solve(implied.loc[items, items].to_numpy(), block.est.to_numpy())
        w = raw * mobi[items].std(ddof=1).to_numpy()
        w = w / np.sqrt(w @ mobi[items].corr().to_numpy() @ w)
        np.testing.assert_allclose(ours[items].to_numpy(), w, rtol=1e-5, atol=1e-8, err_msg=construct)


def test_fiml_derivatives_equal_semopys():
    """engines.fiml.SemopyDerivatives (all parameters at once) gives semopy's own
    calc_sigma_grad / calc_mean_grad, on models with latent and residual covariances."""
    from csi_models.data.prepare import prepare
    from csi_models.engines import cbsem
    from csi_models.engines.base import Layout
    from csi_models.engines.fiml import SemopyDerivatives
    from test_covariances import pd_data, pd_spec

    hs = pd.read_csv(LAVAAN / "hs_missing.csv").drop(columns="id")
    for spec, data in ((hs_spec(), hs), (pd_spec(), pd_data()), (csi.load_spec("ecsi"), None)):
        data = pd.read_csv(LAVAAN / "ecsi_missing.csv") if data is None else data
        survey = prepare(spec, data, missing="fiml")
        model, frame, _, _ = cbsem._build(spec, Layout.from_spec(spec), survey, "fiml")
        model.load(frame)
        x = model.param_vals + np.random.default_rng(0).normal(0, 0.1, model.param_vals.size)
        model.update_matrices(x)
        sigma, (m, c) = model.calc_sigma()
        dsigma, dmu = SemopyDerivatives(model)(model, m, c, len(sigma), x.size)
        ref_sigma = [v if np.ndim(v) else np.zeros_like(sigma) for v in model.calc_sigma_grad(m, c)]
        ref_mu = [np.asarray(v)[:, 0] if np.ndim(v) else np.zeros(len(sigma))
                  for v in model.calc_mean_grad(m, c)]
        np.testing.assert_allclose(dsigma, np.array(ref_sigma), rtol=0, atol=1e-14)
        np.testing.assert_allclose(dmu, np.array(ref_mu), rtol=0, atol=1e-14)
