"""Fit indices against lavaan 0.6-14 fixtures (CB-SEM) and hand computation (PLS).

CB-SEM: every fitMeasures entry we compute is compared, (a) from lavaan's own implied
moments (tests our formulas alone) and (b) through ``csi.fit(...).fit_indices`` (formulas
plus our engine). FIML: chi-square, logl, baseline etc. from our EM H1 model; lavaan's EM
stops at about 1e-6 in the H1 moments (ours reaches a higher log-likelihood), hence 1e-6.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from conftest import hs_data, hs_spec

import csi_models as csi
from csi_models.engines.cbsem_robust import ROBUST_KEYS
from csi_models.statistics import fit_measures as fi
from csi_models.statistics.pls_fit_measures import discrepancies, pls_implied, pls_measures
from csi_models.engines import pls
from csi_models.spec.layout import Layout
from csi_models.simulation import population, structural_correlations
from csi_models.spec.loading import spec_from_dict

FIX = Path(__file__).parent / "fixtures" / "lavaan"
HS_SPEC = hs_spec()
NOT_COMPARED = {"gfi", "agfi", "pgfi"}  # NaN with FIML, see fit_indices docstring


def _lavaan_fit(name: str) -> pd.Series:
    raw = pd.read_csv(FIX / f"{name}_fit.csv", keep_default_na=False).set_index("name")["value"]
    return pd.to_numeric(raw, errors="coerce").dropna()


def _compare(ours: pd.Series, name: str, rtol: float = 1e-6, skip=()) -> int:
    ref = _lavaan_fit(name)
    shared = [k for k in ours.index if k in ref.index and k not in skip]
    assert {"chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
            "rmsea.pvalue", "srmr", "logl", "aic", "bic", "bic2", "npar", "baseline.chisq",
            "baseline.df", "unrestricted.logl"} <= set(shared)
    for key in shared:
        assert ours[key] == pytest.approx(ref[key], rel=rtol, abs=1e-9), key
    return len(shared)


def _matrix(path: Path, order) -> np.ndarray:
    return pd.read_csv(path, index_col=0).loc[order, order].to_numpy()


@pytest.mark.parametrize("name", ["ecsi", "acsi", "ccsi", "hs"])
def test_formulas_on_lavaan_moments(name):
    sample = pd.read_csv(FIX / f"{name}_sample.csv", index_col=0)
    order = list(sample.index)
    S, Sigma = sample.to_numpy(), _matrix(FIX / f"{name}_implied.csv", order)
    ref = _lavaan_fit(name)
    ours = fi.ml_measures([fi.Moments(S, Sigma, int(ref["ntotal"]))], int(ref["npar"]))
    assert _compare(ours, name, rtol=1e-6) >= 40  # rmsea CI: lavaan uniroot ~1e-8


@pytest.mark.parametrize("name", ["ecsi", "acsi", "ccsi"])
def test_fit_result_matches_lavaan(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(name, csi.datasets.load_ecsi_mobi(), method="cbsem")
    _compare(res.fit_indices, name, rtol=1e-5)


def test_fit_result_hs_and_hs_fiml():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        complete = csi.fit(HS_SPEC, hs_data(), method="cbsem")
        fiml = csi.fit(HS_SPEC, pd.read_csv(FIX / "hs_missing.csv"), method="cbsem", missing="fiml")
    _compare(complete.fit_indices, "hs", rtol=1e-6)
    # rmsea.pvalue.robust (3.7e-4) carries lavaan's EM tolerance at 1e-4 of itself
    _compare(fiml.fit_indices, "hs_fiml", rtol=1e-5, skip=NOT_COMPARED | {"rmsea.pvalue.robust"})
    assert fiml.fit_indices["rmsea.pvalue.robust"] == pytest.approx(
        _lavaan_fit("hs_fiml")["rmsea.pvalue.robust"], abs=1e-7)
    assert fiml.fit_indices[["gfi", "agfi", "pgfi"]].isna().all()


@pytest.mark.parametrize("name,data", [("hs_fiml", "hs_missing"), ("ecsi_fiml", "ecsi_missing")])
def test_fiml_formulas_on_lavaan_moments(name, data):
    order = list(pd.read_csv(FIX / f"{name}_implied.csv", index_col=0).index)
    X = pd.read_csv(FIX / f"{data}.csv")[order].to_numpy(float)
    Sigma = _matrix(FIX / f"{name}_implied.csv", order)
    mu = pd.read_csv(FIX / f"{name}_implied_mean.csv", index_col=0).loc[order].to_numpy().ravel()
    ref = _lavaan_fit(name)
    ours = fi.fiml_measures(X, Sigma, mu, int(ref["npar"]))
    _compare(ours, name, rtol=1e-5, skip=NOT_COMPARED)
    m, S, _ = fi.em_moments(X)
    np.testing.assert_allclose(S, _matrix(FIX / f"{name}_sample.csv", order), atol=1e-5)


ROBUST = list(ROBUST_KEYS)


@pytest.mark.parametrize("name,data,se", [("hs_fiml", "hs_missing", "standard"),
                                          ("hs_fiml_mlr", "hs_missing", "robust"),
                                          ("ecsi_fiml", "ecsi_missing", "standard")])
def test_fiml_robust_measures_on_lavaan_moments(name, data, se):
    """The FIML-corrected .robust CFI/TLI/RMSEA (Zhang & Savalei 2022; lavaan's "V6" for ML,
    "V3" for MLR) from lavaan's EM (h1) and implied moments: our formulas alone, to lavaan's
    root-finding precision. Through csi.fit (our EM, which lavaan stops at ~1e-6) to 1e-4."""
    from csi_models.engines.cbsem_robust import robust_indices
    from csi_models.engines.fiml_h1 import corrected_test

    frame = pd.read_csv(FIX / f"{data}.csv")
    spec = "ecsi" if name.startswith("ecsi") else HS_SPEC
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(spec, frame, method="cbsem", missing="fiml", se=se)
    order = list(res.estimates.layout.items)
    X = frame[order].to_numpy(float)
    m = pd.read_csv(FIX / f"{name}_sample_mean.csv", index_col=0).loc[order].to_numpy().ravel()
    mu = pd.read_csv(FIX / f"{name}_implied_mean.csv", index_col=0).loc[order].to_numpy().ravel()
    S, Sigma = _matrix(FIX / f"{name}_sample.csv", order), _matrix(FIX / f"{name}_implied.csv", order)
    t = corrected_test(X, None, (m, S), fi.independence_moments(X), Sigma, mu,
                       res.estimates.extras["moments_jacobian"], robust=se == "robust")
    ours = robust_indices(t["chisq"], t["df"], len(X), t["c"], t["baseline.chisq"],
                          t["baseline.df"], t["c_base"])
    ref = _lavaan_fit(name)
    for key in ROBUST:
        assert ours[key] == pytest.approx(ref[key], rel=1e-7, abs=1e-8), key
    for key in ROBUST:
        assert res.fit_indices[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-7), key
    # the corrected chi-square is not the FIML one, nor its scaling factor 1
    assert t["chisq"] != pytest.approx(res.fit_indices["chisq"], rel=1e-3)
    assert t["c"] != pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("weighted", [False, True])
def test_saturated_information_is_the_differenced_hessian(weighted):
    """The analytic observed information of the unrestricted model under missing data
    (``fiml_h1.saturated_sandwich``) equals half the Hessian differenced from FIML's analytic
    gradient (``fiml.sandwich``), with and without respondent weights."""
    from csi_models.data.weights import normalized
    from csi_models.engines.fiml import FIML, sandwich
    from csi_models.engines.fiml_h1 import FreeMoments, h1_pairs, saturated_sandwich

    X = pd.read_csv(FIX / "hs_missing.csv").drop(columns="id").to_numpy(float)
    w = normalized(0.5 + ((7 * np.arange(1, len(X) + 1)) % 10) / 4) if weighted else None
    h1 = fi.em_moments(X, weights=w)[:2]
    full = FreeMoments(X.shape[1], h1_pairs(X.shape[1]))
    A0, B0 = sandwich(FIML(full, X, w), full.vector(*h1))
    A1, B1 = saturated_sandwich(X, w, h1)
    np.testing.assert_allclose(A1, A0, rtol=0, atol=1e-8 * np.abs(A0).max())
    np.testing.assert_allclose(B1, B0, rtol=1e-12)


def test_robust_indices_follow_lavaan_edge_rules():
    """lavaan's lav_fit_cfi / tli / rni / rmsea where the corrected chi-squares lie below
    their expectations (near-independent items: CFI 1, no division by zero), where the
    scaling factor is negative (RMSEA from max(X2/(N df) - c/N, 0), interval 0 to 0) and
    at df = 0 (lavaan's complete-data values: RMSEA 0, no CFI/TLI without a model factor)."""
    from csi_models.engines.cbsem_robust import robust_indices

    low = robust_indices(5.0, 8, 300, 1.1, 2.0, 15, 1.2)       # t = -3.8, t_b = -16
    assert low["cfi.robust"] == 1.0 and low["rmsea.robust"] == 0.0
    assert low["tli.robust"] == pytest.approx(1 - (-3.8 * 15) / (-16 * 8))
    assert low["rni.robust"] == pytest.approx(1 - 3.8 / 16)
    negative = robust_indices(30.0, 8, 300, -0.5, 400.0, 15, 1.2)
    assert negative["rmsea.robust"] == pytest.approx(np.sqrt(30 / 2400 + 0.5 / 300))
    assert negative["rmsea.ci.lower.robust"] == negative["rmsea.ci.upper.robust"] == 0.0
    assert np.isnan(negative["rmsea.pvalue.robust"])
    zero = robust_indices(np.nan, 0, 300, np.nan, np.nan, 15, np.nan)   # complete data
    assert np.isnan([zero["cfi.robust"], zero["tli.robust"], zero["rni.robust"]]).all()
    assert zero["rmsea.robust"] == zero["rmsea.ci.upper.robust"] == 0.0
    assert np.isnan(zero["rmsea.pvalue.robust"])
    assert np.isnan(robust_indices(30.0, 8, 300, np.nan, 400.0, 15, 1.2)["cfi.robust"])


def test_fiml_on_near_independent_items_gives_fit_measures():
    """Two weakly related constructs with 10% missing answers: the FIML-corrected
    chi-squares lie below their expectations (lavaan: cfi.robust 1), and fit_indices and
    summary() work, with and without robust SEs and with weights (a ZeroDivisionError
    before)."""
    rng = np.random.default_rng(29)
    n = 300
    f = rng.standard_normal((n, 2)) @ np.array([[1, 0.05], [0, 1]])
    X = np.column_stack([f[:, k // 3] * 0.3 + rng.standard_normal(n) for k in range(6)])
    X[rng.random(X.shape) < 0.1] = np.nan
    data = pd.DataFrame(X, columns=[f"a{k}" for k in range(3)] + [f"b{k}" for k in range(3)])
    data["w"] = 0.5 + (np.arange(n) % 4) / 2
    spec = spec_from_dict({"name": "weak", "scale": {"min": -100, "max": 100}, "constructs": {
        "A": {"items": ["a0", "a1", "a2"]}, "B": {"items": ["b0", "b1", "b2"]}},
        "paths": ["A -> B"]})
    for options in ({}, {"se": "robust"}, {"weights": "w"}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = csi.fit(spec, data, method="cbsem", missing="fiml", **options)
        fit = res.fit_indices
        assert np.isfinite(fit[["cfi.robust", "tli.robust", "rmsea.robust"]]).all(), options
        assert "Model fit:" in res.summary()


def test_fiml_robust_measures_are_nan_without_the_jacobian():
    """A FIML fit made without standard errors keeps no Jacobian: its .robust measures are
    NaN rather than numbers from another formula."""
    from csi_models.engines.cbsem_robust import fiml_fit_measures

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(HS_SPEC, pd.read_csv(FIX / "hs_missing.csv"), method="cbsem",
                      missing="fiml")
    est = res.estimates
    bare = replace(est, extras={k: v for k, v in est.extras.items() if k != "moments_jacobian"})
    values = pd.read_csv(FIX / "hs_missing.csv")[list(est.layout.items)].to_numpy(float)
    out = fiml_fit_measures(values, bare)
    assert out[ROBUST].isna().all() and np.isfinite(out["cfi"])
    assert res.fit_indices[ROBUST].notna().all()


# --- PLS -----------------------------------------------------------------------------------
def _implied_by_hand(res, saturated: bool) -> np.ndarray:
    """Item by item. The estimated model's construct correlations as cSEM defines them
    (Psi = diag(1 - R^2), (I - B)^-1 (Gamma Phi Gamma' + Psi) (I - B)^-T, then the diagonal
    set to 1), computed by another route than the code: covariance algebra equation by
    equation in topological order, cov(eta_j, x) = sum_i beta_ij cov(eta_i, x) and
    var(eta_j) = beta' Cov(pred) beta + 1 - R^2_j."""
    est, lay = res.estimates, res.estimates.layout
    S = res.item_correlations.to_numpy()
    R = est.construct_cor
    if not saturated:
        J = len(lay.constructs)
        C = np.full((J, J), np.nan)
        exo = [j for j in range(J) if not lay.adjacency[:, j].any()]
        C[np.ix_(exo, exo)] = R[np.ix_(exo, exo)]
        done = list(exo)
        while len(done) < J:
            j = next(j for j in range(J) if j not in done
                     and all(i in done for i in lay.predecessors(j)))
            pred = lay.predecessors(j)
            beta = est.paths[pred, j]
            for k in done:
                C[j, k] = C[k, j] = sum(b * C[i, k] for b, i in zip(beta, pred))
            C[j, j] = beta @ C[np.ix_(pred, pred)] @ beta + 1 - est.r2[j]
            done.append(j)
        R = C.copy()
        np.fill_diagonal(R, 1.0)
    lam, block = est.loadings, lay.block
    p = len(lam)
    out = np.eye(p)
    for a in range(p):
        for b in range(p):
            if a == b:
                continue
            ja, jb = block[a], block[b]
            if ja == jb and lay.formative[ja]:
                out[a, b] = S[a, b]
            else:
                out[a, b] = lam[a] * lam[b] * (1.0 if ja == jb else R[ja, jb])
    return out


@pytest.mark.parametrize("spec", ["ecsi", "acsi"])
def test_pls_srmr_duls_dg_by_hand(spec):
    s = csi.load_spec(spec).with_mode("Quality", "formative")
    res = csi.fit(s, csi.datasets.load_ecsi_mobi(), method="pls")
    S = res.item_correlations.to_numpy()
    got = res.fit_indices
    for suffix, saturated in (("", False), ("_saturated", True)):
        implied = _implied_by_hand(res, saturated)
        resid = S - implied
        p = len(S)
        assert got["srmr" + suffix] == pytest.approx(
            np.sqrt(sum(resid[i, j] ** 2 for i in range(p) for j in range(i + 1)) / (p * (p + 1) / 2)))
        assert got["d_uls" + suffix] == pytest.approx(0.5 * np.sum(resid ** 2))
        root = scipy.linalg.sqrtm(np.linalg.inv(S)).real
        assert got["d_g" + suffix] == pytest.approx(
            0.5 * np.sum(scipy.linalg.logm(root @ implied @ root).real ** 2), rel=1e-6)
    assert got["srmr"] > got["srmr_saturated"] > 0


def test_pls_srmr_is_csems_not_unit_variance_endogenous():
    """The estimated-model SRMR uses cSEM's implied matrix, which differs (third decimal on a
    mode B model) from giving every endogenous construct variance 1 before the covariances."""
    s = csi.load_spec("ecsi")
    for c in s.constructs:
        if len(c.items) > 1:
            s = s.with_mode(c.name, "formative")
    res = csi.fit(s, csi.datasets.load_ecsi_mobi(), method="pls")
    est, lay = res.estimates, res.estimates.layout
    S = res.item_correlations.to_numpy()
    unit = pls_implied(lay, S, est.loadings,
                       structural_correlations(lay, est.paths, est.construct_cor))
    assert abs(discrepancies(S, unit)["srmr"] - res.fit_indices["srmr"]) > 1e-4
    resid = S - _implied_by_hand(res, False)
    low = np.tril_indices(len(S))
    assert res.fit_indices["srmr"] == pytest.approx(np.sqrt(np.mean(resid[low] ** 2)), abs=1e-12)


def test_pls_gof_by_hand():
    res = csi.fit("ecsi", csi.datasets.load_ecsi_mobi(), method="pls")
    multi = res.loadings[res.loadings.construct != "Complaints"]
    expected = np.sqrt((multi.estimate ** 2).mean() * res.r2.mean())
    assert res.fit_indices["gof"] == pytest.approx(expected)


def test_composite_population_fits_exactly():
    """PLS mode B on the population correlations of a composite population reproduces them:
    every discrepancy is zero (for the estimated and the saturated model)."""
    spec = csi.load_spec("ecsi")
    for c in spec.construct_names:
        spec = spec.with_mode(c, "formative")
    pop = population(spec, kind="composite", path_value=0.25, item_cor=0.4)
    layout = Layout.from_spec(spec)
    S = pop.item_cov.to_numpy()
    batch = pls.estimate_batch(S[None], layout, tol=1e-12, max_iter=1000)
    M = layout.membership
    loadings = (batch.item_cor[0] * M).sum(axis=1)
    got = pls_measures(layout, S, loadings, batch.paths[0], batch.construct_cor[0], batch.r2[0])
    for key in ("srmr", "d_uls", "d_g", "srmr_saturated", "d_uls_saturated", "d_g_saturated"):
        assert abs(got[key]) < 1e-8, key


# --- df = 0 ----------------------------------------------------------------------------------
JUST_IDENTIFIED = spec_from_dict({
    "name": "just", "scale": {"min": 1, "max": 10},
    "constructs": {"Quality": {"items": {"PERQ1": {}, "PERQ2": {}}},
                   "Satisfaction": {"items": {"CUSA1": {}}}},
    "paths": ["Quality -> Satisfaction"]})
ROUND_OFF_RULE = {"cn_05", "cn_01"}  # lavaan: NaN if chisq < machine epsilon, else 1


def test_just_identified_model_reports_every_measure_as_lavaan():
    """df = 0: lavaan still reports rmsea (0), its interval (0, 0), NaN p-values and 1 for
    tli, rfi, nfi, agfi; we give every key with the same values (and summary() works)."""
    raw = pd.read_csv(FIX / "just_identified_fit.csv", keep_default_na=False).set_index("name")["value"]
    keys = list(raw.index[: list(raw.index).index("ecvi") + 1])   # lavaan's fitMeasures entries
    ref = pd.to_numeric(raw[keys].replace("", np.nan))
    order = list(pd.read_csv(FIX / "just_identified_sample.csv", index_col=0).index)
    S = _matrix(FIX / "just_identified_sample.csv", order)
    Sigma = _matrix(FIX / "just_identified_implied.csv", order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(JUST_IDENTIFIED, csi.datasets.load_ecsi_mobi(), method="cbsem")
    for ours in (fi.ml_measures([fi.Moments(S, Sigma, 250)], 6), res.fit_indices):
        assert ours["df"] == 0 and not set(keys) - set(ours.index)
        for key in set(keys) - ROUND_OFF_RULE:
            if np.isnan(ref[key]):
                assert np.isnan(ours[key]), key
            else:
                assert ours[key] == pytest.approx(ref[key], rel=1e-6, abs=1e-9), key
    assert "rmsea" in res.summary()


def test_just_identified_fiml_mlr_reports_lavaans_scaled_and_robust_values():
    """FIML with MLR at df = 0 (fixture just_fiml_mlr, make_lavaan_refs.R section 17): every
    key lavaan gives, the .scaled ones included (chisq.scaled = chisq, the baseline's scaled
    test, incremental indices 1, NaN where lavaan has NA), and no model scaling factor."""
    raw = pd.read_csv(FIX / "just_fiml_mlr_fit.csv", keep_default_na=False).set_index("name")["value"]
    ref = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit(JUST_IDENTIFIED, pd.read_csv(FIX / "ecsi_missing.csv"), method="cbsem",
                      missing="fiml", se="robust")
    ours = res.fit_indices
    keys = [k for k in ref.index if k.endswith((".scaled", ".robust")) or "scaling" in k]
    assert len(keys) >= 29 and ours["df"] == 0
    for key in keys:
        if np.isnan(ref[key]):
            assert np.isnan(ours.get(key, np.nan)), key
        else:   # cfi.robust: lavaan's 0.999999999999 is its 1
            assert ours[key] == pytest.approx(ref[key], rel=1e-5, abs=1e-9), key
    assert ours["baseline.chisq.scaling.factor"] > 1.2 and "chisq.scaling.factor" in ours


def test_critical_n_at_df_zero_follows_lavaan():
    S = np.array([[2.0, 0.5], [0.5, 1.0]])
    exact = fi.ml_measures([fi.Moments(S, S, 100)], 3, chisq=0.0)
    tiny = fi.ml_measures([fi.Moments(S, S, 100)], 3, chisq=1e-12)
    assert np.isnan(exact["cn_05"]) and tiny["cn_05"] == tiny["cn_01"] == 1.0
