"""Measurement quality against independent references.

PLS: seminr (PyPI 0.2.1) on the bundled ECSI data, modes A and B, to 1e-6 (they agree to
about 1e-10). CB-SEM: the lavaan fixtures (standardized solution, latent correlations)
with the textbook formulas written out here. HTMT on stacks: equal to one-by-one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.statistics import quality as q
from csi_models.spec.layout import Layout

seminr = pytest.importorskip("seminr")
from seminr.evaluate import (  # noqa: E402
    constructs_in_model, cronbachs_alpha, fl_criteria_table, htmt, item_vifs, model_fsquares,
    pls_antecedent_vifs, rho_A, rhoC_AVE)

FIX = Path(__file__).parent / "fixtures" / "lavaan"
TOL = 1e-6
MODE_B = ("Image", "Quality", "Value")


def _spec(mode: str):
    spec = csi.load_spec("ecsi")
    if mode == "B":
        for c in MODE_B:
            spec = spec.with_mode(c, "formative")
    return spec


@pytest.fixture(scope="module", params=["A", "B"])
def pair(request):
    spec = _spec(request.param)
    df = csi.datasets.load_ecsi_mobi()
    mm = seminr.constructs(*[seminr.composite(c.name, c.item_names, weights=(
        seminr.mode_B if c.mode == "formative" else seminr.mode_A)) for c in spec.constructs])
    sm = seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in spec.paths])
    theirs = seminr.estimate_pls(df, mm, sm, inner_weights=seminr.path_weighting,
                                 stop_criterion=14, max_it=1000)
    ours = csi.fit(spec, df, method="pls", tol=1e-13, max_iter=1000)
    return ours, theirs


def test_reliability_matches_seminr(pair):
    ours, m = pair
    names = list(ours.quality.construct)
    alpha = cronbachs_alpha(m)
    rho = rho_A(m)
    rc = rhoC_AVE(m)
    expected = pd.DataFrame({
        "alpha": [alpha.get(c, "alpha") for c in names],
        "rho_a": [rho.get(c, "rhoA") for c in names],
        "rho_c": [rc.get(c, "rhoC") for c in names],
        "ave": [rc.get(c, "AVE") for c in names]}, index=names)
    np.testing.assert_allclose(ours.quality.set_index("construct")[expected.columns].to_numpy(), expected.to_numpy(),
                               atol=TOL)


def test_htmt_and_fornell_larcker_match_seminr(pair):
    ours, m = pair
    names = list(ours.quality.construct)
    h = htmt(m)
    expected = [h.get(a, b) for a, b in zip(ours.htmt.construct_1, ours.htmt.construct_2)]
    np.testing.assert_allclose(ours.htmt.estimate, expected, atol=TOL)
    fl = fl_criteria_table(m, constructs_in_model(m))
    theirs = np.array([[fl.get(a, b) for b in names] for a in names])
    np.testing.assert_allclose(ours.fornell_larcker.to_numpy(), theirs, atol=TOL)


def test_vifs_and_f2_match_seminr(pair):
    ours, m = pair
    mc = constructs_in_model(m)
    items = item_vifs(m, mc)
    np.testing.assert_allclose(
        ours.vif.vif, [items[c][i] for c, i in zip(ours.vif.construct, ours.vif.item)], atol=TOL)
    inner = pls_antecedent_vifs(m, mc)
    np.testing.assert_allclose(
        ours.inner_vif.vif, [inner[t][s] for s, t in zip(ours.inner_vif.source, ours.inner_vif.target)],
        atol=TOL)
    f2 = model_fsquares(m)
    np.testing.assert_allclose(ours.f2.f2, [f2.get(s, t) for s, t in zip(ours.f2.source, ours.f2.target)],
                               atol=TOL)


def test_quality_columns_and_single_item():
    res = csi.fit("acsi", csi.datasets.load_ecsi_mobi(), method="pls")
    assert {"alpha", "rho_a", "rho_c", "ave"} <= set(res.quality.columns)
    assert list(res.quality.columns[:3]) == ["construct", "n_items", "mode"]
    assert res.quality.set_index("construct").loc["Complaints", ["alpha", "rho_a", "rho_c", "ave"]
                                                  ].tolist() == [1, 1, 1, 1]


@pytest.fixture(scope="module")
def cbsem_ecsi():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csi.fit("ecsi", csi.datasets.load_ecsi_mobi(), method="cbsem")


def test_cbsem_reliability_from_lavaan_standardized_solution(cbsem_ecsi):
    """rho_C, AVE (Fornell & Larcker 1981) and coefficient H (Hancock & Mueller 2001) from
    lavaan's std.all loadings and residual variances."""
    params = pd.read_csv(FIX / "ecsi_params.csv")
    load = params[params.op == "=~"]
    resid = params[(params.op == "~~") & (params.lhs == params.rhs)].set_index("lhs")["std.all"]
    for c, group in load.groupby("lhs"):
        lam = group["std.all"].to_numpy()
        theta = resid.loc[group.rhs].to_numpy()
        row = cbsem_ecsi.quality.set_index("construct").loc[c]
        if len(lam) == 1:
            assert row.rho_c == row.ave == row.rho_a == 1
            continue
        assert row.rho_c == pytest.approx(lam.sum() ** 2 / (lam.sum() ** 2 + theta.sum()), abs=1e-5)
        assert row.ave == pytest.approx((lam ** 2).sum() / ((lam ** 2).sum() + theta.sum()), abs=1e-5)
        assert row.rho_a == pytest.approx(1 / (1 + 1 / (lam ** 2 / theta).sum()), abs=1e-5)


def test_cbsem_inner_vif_and_f2_from_lavaan_latent_correlations(cbsem_ecsi):
    R = pd.read_csv(FIX / "ecsi_latent_cor.csv", index_col=0)
    spec = cbsem_ecsi.spec

    def r2(target, preds):
        if not preds:
            return 0.0
        beta = np.linalg.solve(R.loc[preds, preds], R.loc[preds, target])
        return float(beta @ R.loc[preds, target])

    for row in cbsem_ecsi.f2.itertuples():
        preds = spec.predecessors(row.target)
        full = r2(row.target, preds)
        expected = (full - r2(row.target, [p for p in preds if p != row.source])) / (1 - full)
        assert row.f2 == pytest.approx(expected, rel=1e-4)
    for row in cbsem_ecsi.inner_vif.itertuples():
        preds = spec.predecessors(row.target)
        if len(preds) == 1:
            assert np.isnan(row.vif)
        else:
            others = [p for p in preds if p != row.source]
            assert row.vif == pytest.approx(1 / (1 - r2(row.source, others)), rel=1e-4)


def test_htmt_on_a_stack_equals_one_by_one():
    rng = np.random.default_rng(1)
    layout = Layout(("A", "B", "C"), ("a1", "a2", "b1", "b2", "b3", "c1"),
                    np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], float),
                    np.zeros(3, bool), np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], float))
    stack = np.array([np.corrcoef(rng.normal(size=(40, 6)) + rng.normal(size=(40, 1)), rowvar=False)
                      for _ in range(5)])
    batched = q.htmt(stack, layout)
    for S, H in zip(stack, batched):
        np.testing.assert_allclose(H, q.htmt(S, layout), equal_nan=True)
    S = stack[0]  # by hand: A-B
    hetero = np.abs(S[np.ix_([0, 1], [2, 3, 4])]).mean()
    mono_a = abs(S[0, 1])
    mono_b = np.mean([abs(S[2, 3]), abs(S[2, 4]), abs(S[3, 4])])
    assert batched[0, 0, 1] == pytest.approx(hetero / np.sqrt(mono_a * mono_b))
    assert batched[0, 0, 2] == pytest.approx(np.abs(S[[0, 1], 5]).mean() / np.sqrt(mono_a))


def test_summary_flags_thresholds_without_changing_numbers():
    res = csi.fit("ecsi", csi.datasets.load_ecsi_mobi(), method="pls")
    before = res.quality.copy()
    text = res.summary()
    assert "Measurement quality:" in text and "Model fit:" in text
    assert "Measurement quality and fit" in res._repr_html_()
    assert "HTMT Quality-Satisfaction 0.954 > 0.9" in text          # Henseler et al. 2015
    assert "Expectation: AVE 0.480 < 0.5" in text
    assert "Value: AVE" not in text                                 # 0.848 is fine
    pd.testing.assert_frame_equal(res.quality, before)               # unrounded, untouched


def test_collinear_items_give_infinite_vif_not_a_traceback():
    spec = csi.load_spec("ecsi")
    raw = spec.to_dict()
    raw["constructs"]["Image"]["items"]["IMAG1b"] = {"en": "copy of IMAG1"}
    df = csi.datasets.load_ecsi_mobi().assign(IMAG1b=lambda d: d.IMAG1)
    res = csi.fit(csi.load_spec(raw), df, method="pls")
    vif = res.vif.set_index("item").vif
    assert np.isinf(vif["IMAG1b"]) and np.isfinite(vif["CUEX1"])
    assert "Measurement quality:" in res.summary()


def test_htmt_bca_interval_from_resampled_and_leave_one_out_correlations():
    """With interval='bca' res.htmt's interval is the BCa interval of HTMT: draws from each
    resample's np.corrcoef, acceleration from the n leave-one-out correlation matrices."""
    from csi_models.inference import intervals
    from csi_models.inference.bootstrap import resample_rows

    res = csi.fit("acsi", csi.datasets.load_ecsi_mobi(), bootstrap=40, random_state=3, ci=0.9,
                  interval="bca")
    X = res.data.values.to_numpy(float)
    lay = res.estimates.layout
    a, b = lay.constructs.index("Quality"), lay.constructs.index("Satisfaction")
    rows = resample_rows(len(X), np.arange(40), res.bootstrap.seed)
    draws = np.array([[q.htmt(np.corrcoef(X[r], rowvar=False), lay)[a, b]] for r in rows])
    loo = np.array([[q.htmt(np.corrcoef(np.delete(X, i, axis=0), rowvar=False), lay)[a, b]]
                    for i in range(len(X))])
    row = res.htmt[(res.htmt.construct_1 == "Quality") & (res.htmt.construct_2 == "Satisfaction")].iloc[0]
    lower, upper = intervals.bca(np.array([row.estimate]), draws, loo, 0.9)
    assert row.ci_lower == pytest.approx(lower[0], abs=1e-10)
    assert row.ci_upper == pytest.approx(upper[0], abs=1e-10)
    assert row.ci_lower != pytest.approx(np.percentile(draws, 5), abs=1e-6)   # not percentile


@pytest.mark.parametrize("method", ["pls", "cbsem"])
def test_htmt_bootstrap_interval_recomputed_resample_by_resample(method):
    """res.htmt's interval = percentiles of HTMT over the bootstrap's own resamples, each
    recomputed here with np.corrcoef on the resample's rows."""
    from csi_models.inference.bootstrap import resample_rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit("acsi", csi.datasets.load_ecsi_mobi(), method=method,
                      bootstrap=40 if method == "pls" else 8, random_state=5, ci=0.9, n_jobs=1)
    boot = res.bootstrap
    X = res.data.values.to_numpy(float)
    ids = [i for i in range(boot.n_requested) if i not in set(boot.failed["resample"])]
    rows = resample_rows(len(X), ids, boot.seed)
    lay = res.estimates.layout
    a, b = lay.constructs.index("Quality"), lay.constructs.index("Satisfaction")
    draws = [q.htmt(np.corrcoef(X[r], rowvar=False), lay)[a, b] for r in rows]
    row = res.htmt[(res.htmt.construct_1 == "Quality") & (res.htmt.construct_2 == "Satisfaction")].iloc[0]
    assert row.ci_lower == pytest.approx(np.percentile(draws, 5), abs=1e-10)
    assert row.ci_upper == pytest.approx(np.percentile(draws, 95), abs=1e-10)
    assert csi.fit("acsi", csi.datasets.load_ecsi_mobi()).htmt.ci_lower.isna().all()


def test_quality_tables_are_copies(cbsem_ecsi):
    """Editing res.quality or res.parameters changes no table derived from them later."""
    res = csi.fit("acsi", csi.datasets.load_ecsi_mobi(), method="pls")
    quality = res.quality
    quality["ave"] = 0.01
    fl = res.fornell_larcker
    np.testing.assert_allclose(np.diag(fl), np.sqrt(res.quality["ave"]), atol=1e-15)
    assert np.diag(fl).min() > 0.5
    params = cbsem_ecsi.parameters
    params["est"] = 1.0
    assert (cbsem_ecsi.parameters["est"] != 1.0).any()
    assert cbsem_ecsi.quality["rho_c"].between(0, 1).all()
