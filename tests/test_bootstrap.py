"""The batched PLS bootstrap: every resample is a real fit, streams are reproducible, failures
are counted, and the intervals are the textbook ones (scipy's BCa on the same resamples)."""

import types
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import csi_models as csi
from csi_models.engines import pls
from csi_models.errors import BootstrapWarning
from csi_models.inference import bootstrap as bs
from csi_models.inference import intervals

SEED = 11


@pytest.fixture(scope="module")
def mobi():
    return csi.datasets.load_ecsi_mobi()


@pytest.fixture(scope="module")
def boot_res(mobi):
    return csi.fit("ecsi", mobi, method="pls", bootstrap=40, random_state=SEED)


def _effect(res, kind):
    """The rows of one kind of effect ('direct', 'indirect', 'total') of res.effects."""
    return res.effects[res.effects.effect == kind].reset_index(drop=True)


def _boot(spec, data, n_boot, random_state):
    """The bootstrap of a PLS fit of prepared data, as csi.fit runs it."""
    from csi_models.engines.base import Resamples, get_engine
    from csi_models.statistics.kernel import Statistics

    engine = get_engine("pls")
    options = engine.resolve({})
    est = engine.fit(spec, data, options)
    stats = Statistics(spec, est.layout)
    return bs.bootstrap(engine, spec, data, est, options, stats, stats.derive(Resamples.of(est)),
                        n_boot, random_state=random_state)


def _single(spec_name, frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csi.fit(spec_name, frame.reset_index(drop=True), method="pls")


def test_every_resample_equals_a_one_by_one_fit(mobi, boot_res):
    boot = boot_res.bootstrap
    assert boot.n_failed == 0 and boot.n_ok == 40
    rows = bs.resample_rows(250, np.arange(12), boot.seed)
    for b in range(12):
        single = _single("ecsi", mobi.iloc[rows[b]])
        expected = {
            "paths": single.paths.estimate, "weights": single.weights.estimate,
            "loadings": single.loadings.estimate, "r2": single.r2,
            "indices": single.indices.estimate, "total": _effect(single, "total").estimate,
            "indirect": _effect(single, "indirect").estimate, "impacts": single.impacts.estimate}
        for kind, values in expected.items():
            np.testing.assert_allclose(boot.draws[kind][b], np.asarray(values, float), atol=1e-8,
                                       err_msg=f"resample {b}, {kind}")


def test_resamples_equal_seminr_estimate_pls(mobi, boot_res):
    seminr = pytest.importorskip("seminr")
    spec = csi.load_spec("ecsi")
    mm = seminr.constructs(*[seminr.composite(c.name, c.item_names, weights=seminr.mode_A)
                             for c in spec.constructs])
    sm = seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in spec.paths])
    boot = boot_res.bootstrap
    rows = bs.resample_rows(250, np.arange(3), boot.seed)
    keys = boot.statistics.keys("paths")
    for b in range(3):
        frame = mobi[spec.item_names].iloc[rows[b]].reset_index(drop=True)
        m = seminr.estimate_pls(frame, mm, sm, inner_weights=seminr.path_weighting, stop_criterion=7)
        theirs = [m.path_coef.get(s, t) for s, t in zip(keys.source, keys.target)]
        np.testing.assert_allclose(boot.draws["paths"][b], theirs, atol=1e-6)
        w = [m.outer_weights.get(i, c) for c, i in zip(boot.statistics.keys("weights").construct,
                                                        boot.statistics.keys("weights").item)]
        np.testing.assert_allclose(boot.draws["weights"][b], w, atol=1e-6)


def test_tables_summarize_the_draws(boot_res):
    boot = boot_res.bootstrap
    draws = boot.draws["paths"]
    paths = boot_res.paths
    assert list(paths.columns) == ["source", "target", "estimate", "se", "statistic", "p_value",
                                   "ci_lower", "ci_upper", "n_boot"]
    np.testing.assert_allclose(paths.se, draws.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(paths.statistic, paths.estimate / paths.se, rtol=1e-12)
    np.testing.assert_allclose(paths.p_value, 2 * stats.t.sf(np.abs(paths.statistic), df=249),
                               rtol=1e-10)
    np.testing.assert_allclose(paths.ci_lower, np.quantile(draws, 0.025, axis=0), atol=1e-14)
    np.testing.assert_allclose(paths.ci_upper, np.quantile(draws, 0.975, axis=0), atol=1e-14)
    # the bootstrap's full-sample estimates are the fit's own numbers
    np.testing.assert_allclose(boot.estimate["indices"][0], boot_res.indices.estimate, atol=1e-10)
    np.testing.assert_allclose(boot.estimate["impacts"][0], boot_res.impacts.estimate, atol=1e-10)
    imp = boot_res.impacts
    # Loyalty's index (hence its impacts) is undefined in resamples where CUSL2's weight turns
    # negative: those draws are left out of that column only, and counted in n_boot
    np.testing.assert_allclose(imp.se, np.nanstd(boot.draws["impacts"], axis=0, ddof=1), rtol=1e-12)
    n_boot = boot.table("impacts").n_boot
    assert (n_boot[imp.target != "Loyalty"] == 40).all() and (n_boot < 40).any()
    idx = boot_res.indices
    assert (idx.ci_lower < idx.estimate).all() and (idx.estimate < idx.ci_upper).all()
    s = boot_res.settings
    assert (s["bootstrap"], s["bootstrap_seed"], s["bootstrap_failed"]) == (40, SEED, 0)
    assert s["bootstrap_interval"] == "percentile" and "sign" in s["bootstrap_sign_rule"]
    assert "Bootstrap: 40 of 40 resamples used (0 failed), seed 11" in boot_res.summary()


def test_reproducible_and_independent_of_batching(mobi, monkeypatch):
    spec = csi.load_spec("ecsi")
    data = csi.data.prepare(spec, mobi)
    a = _boot(spec, data, 300, random_state=5)
    b = _boot(spec, data, 300, random_state=5)
    c = _boot(spec, data, 300, random_state=6)
    np.testing.assert_array_equal(a.draws["paths"], b.draws["paths"])
    assert np.abs(a.draws["paths"] - c.draws["paths"]).max() > 0.01
    # a longer run extends a shorter one; smaller groups and chunks give the same numbers
    monkeypatch.setattr(pls, "GROUP_BYTES", 8 * 250 * 256)   # one 256-resample block per group
    longer = _boot(spec, data, 600, random_state=5)
    np.testing.assert_allclose(longer.draws["paths"][:300], a.draws["paths"], atol=1e-13)
    gen = _boot(spec, data, 10, random_state=np.random.default_rng(3))
    assert isinstance(gen.seed, int)


def test_failed_resamples_are_counted_not_dropped_silently(mobi):
    frame = mobi.copy()
    frame["CUSCO"] = 5.0
    frame.loc[[3, 100], "CUSCO"] = [9.0, 2.0]   # CUSCO varies in only two rows
    with pytest.warns(BootstrapWarning,
                      match=r"of 60 bootstrap resamples failed \(\d+ singular data"):
        res = csi.fit("ecsi", frame, bootstrap=60, random_state=2)
    boot = res.bootstrap
    rows = bs.resample_rows(250, np.arange(60), boot.seed)
    constant = [b for b in range(60) if frame["CUSCO"].to_numpy()[rows[b]].std() == 0]
    assert len(constant) > 0
    assert boot.failed["resample"].tolist() == constant
    assert boot.n_failed == len(constant) == res.settings["bootstrap_failed"]
    assert boot.draws["paths"].shape == (60 - len(constant), 12)
    assert (res.paths.se > 0).all()
    assert any("BootstrapWarning" in w for w in res.warnings)


def test_law_school_bca_and_percentile_match_scipy():
    """Efron & Tibshirani (1993) Table 3.1: LSAT and GPA of 15 law schools, correlation 0.776.
    scipy.stats.bootstrap's BCa on the very same resamples is the independent reference."""
    lsat = np.array([576, 635, 558, 578, 666, 580, 555, 661, 651, 605, 653, 575, 545, 572, 594.])
    gpa = np.array([3.39, 3.30, 2.81, 3.03, 3.44, 3.07, 3.00, 3.43, 3.36, 3.13, 3.12, 2.74, 2.76,
                    2.88, 2.96])

    def corr(x, y, axis=-1):
        xm = x - x.mean(axis=axis, keepdims=True)
        ym = y - y.mean(axis=axis, keepdims=True)
        return (xm * ym).sum(axis) / np.sqrt((xm ** 2).sum(axis) * (ym ** 2).sum(axis))

    n, B = 15, 2000
    estimate = corr(lsat, gpa)
    assert estimate == pytest.approx(0.776, abs=5e-4)
    for method in ("BCa", "percentile"):
        ref = stats.bootstrap((lsat, gpa), corr, paired=True, vectorized=True, n_resamples=B,
                              method=method, confidence_level=0.9, rng=np.random.default_rng(42))
        idx = np.random.default_rng(42).integers(0, n, (B, n))   # scipy's resamples
        draws = corr(lsat[idx], gpa[idx])[:, None]
        loo = np.array([corr(np.delete(lsat, i), np.delete(gpa, i)) for i in range(n)])[:, None]
        if method == "BCa":
            lower, upper = intervals.bca(np.array([estimate]), draws, loo, 0.9)
        else:
            s = intervals.summarize(np.array([estimate]), draws, n, 0.9)
            lower, upper = s["pct_lower"], s["pct_upper"]
        assert lower[0] == pytest.approx(ref.confidence_interval.low, abs=1e-12)
        assert upper[0] == pytest.approx(ref.confidence_interval.high, abs=1e-12)
        assert draws.std(ddof=1) == pytest.approx(ref.standard_error, abs=1e-12)
    # BCa shifts the interval down for this left-skewed statistic (E&T ch. 14)
    assert lower[0] < 0.776 < upper[0]


def test_bca_of_the_pls_bootstrap_uses_a_leave_one_out_jackknife(mobi):
    res = csi.fit("ecsi", mobi, bootstrap=60, random_state=4, interval="bca")
    boot = res.bootstrap
    jack = boot.jackknife()
    assert jack["paths"].shape == (250, 12)
    single = _single("ecsi", mobi.drop(index=17))
    np.testing.assert_allclose(jack["paths"][17], single.paths.estimate, atol=1e-8)
    np.testing.assert_allclose(jack["indices"][17], single.indices.estimate, atol=1e-8)
    table = boot.table("paths")
    lower, upper = intervals.bca(boot.estimate["paths"][0], boot.draws["paths"], jack["paths"], 0.95)
    np.testing.assert_allclose(res.paths.ci_lower, lower)
    np.testing.assert_allclose(table.ci_upper, upper)
    assert res.settings["bootstrap_interval"] == "bca"
    pct = boot.table("paths", interval="percentile")
    assert np.abs(pct.ci_lower - table.ci_lower).max() > 0


def test_bad_bootstrap_arguments_are_library_errors(mobi):
    with pytest.raises(csi.errors.CSIError, match="at least 2 resamples"):
        csi.fit("ecsi", mobi, bootstrap=1)
    with pytest.raises(csi.errors.CSIError, match="interval='studentized'"):
        csi.fit("ecsi", mobi, bootstrap=10, interval="studentized")
    with pytest.raises(csi.errors.CSIError, match="ci=95"):
        csi.fit("ecsi", mobi, bootstrap=10, ci=95)


def test_progress_bar_writes_to_stderr(mobi, capsys):
    csi.fit("ecsi", mobi, bootstrap=300, random_state=1, progress=True)
    err = capsys.readouterr().err
    assert "bootstrap (PLS):" in err and "300/300" in err and "<" in err  # tqdm: count, ETA
    csi.fit("ecsi", mobi, bootstrap=20, random_state=1, progress=False)
    assert capsys.readouterr().err == ""


def test_growing_data_and_mode_b(mobi):
    """Mode B blocks and a bigger sample go through the same batched path."""
    spec = csi.load_spec("ecsi").with_mode("Value", "formative")
    big = mobi.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    res = csi.fit(spec, big, bootstrap=30, random_state=3)
    rows = bs.resample_rows(1000, [7], res.bootstrap.seed)[0]
    single = _single(spec, big.iloc[rows])
    np.testing.assert_allclose(res.bootstrap.draws["weights"][7], single.weights.estimate, atol=1e-8)
    assert isinstance(res.bootstrap.table("r2"), pd.DataFrame)


def test_undefined_draws_are_counted_warned_and_shown(mobi):
    """On the bundled data CUSL2's weight turns negative in some resamples: Loyalty's index
    (and the impacts on Loyalty) is undefined there. Those draws are left out of that
    column only, n_boot says so in every table, and a BootstrapWarning names the count."""
    with pytest.warns(BootstrapWarning, match=r"index of Loyalty is undefined \(a negative weight\) "
                                              r"in \d+ of 200 bootstrap resamples"):
        res = csi.fit("ecsi", mobi, bootstrap=200, random_state=1)
    boot = res.bootstrap
    defined = np.isfinite(boot.draws["indices"]).sum(axis=0)
    idx = res.indices.set_index("construct")
    np.testing.assert_array_equal(idx.n_boot, defined)
    missing = 200 - idx.loc["Loyalty", "n_boot"]
    assert missing > 0 and (idx.drop("Loyalty").n_boot == 200).all()
    loyalty = boot.draws["indices"][:, res.spec.construct_names.index("Loyalty")]
    assert idx.loc["Loyalty", "se"] == pytest.approx(np.nanstd(loyalty, ddof=1), rel=1e-12)
    imp = res.impacts
    assert (imp.n_boot[imp.target == "Loyalty"] <= 200 - missing).all()
    assert (imp.n_boot[(imp.target != "Loyalty") & (imp.source != "Loyalty")] == 200).all()
    assert (res.effects.n_boot == 200).all()          # standardized effects: always defined
    text = res.summary()
    assert f"the index of Loyalty is undefined (a negative weight) in {missing} of 200" in text
    assert any(f"in {missing} of 200" in w for w in res.warnings)
    assert list(boot.incomplete("indices").construct) == ["Loyalty"]


def test_an_undefined_estimate_has_no_bootstrap_se_or_interval(mobi):
    """Loyalty's full-sample index is undefined (CUSL2 reversed, not declared): whatever the
    resamples say, its se, t, p and interval are NaN and n_boot 0; BCa without a numpy
    RuntimeWarning although the statistic is NaN in every jackknife fit."""
    flipped = mobi.assign(CUSL2=11 - mobi["CUSL2"])
    for interval in ("percentile", "bca"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", csi.errors.CSIWarning)
            warnings.simplefilter("error", RuntimeWarning)
            res = csi.fit("ecsi", flipped, bootstrap=60, random_state=1, interval=interval)
            table = res.bootstrap.table("indices").set_index("construct")
            assert np.isfinite(res.bootstrap.draws["indices"][:, 6]).sum() > 0  # a few draws exist
            loyalty = table.loc["Loyalty"]
            assert np.isnan(loyalty[["estimate", "mean", "se", "statistic", "p_value", "ci_lower",
                                     "ci_upper"]]
                            .to_numpy(float)).all() and loyalty.n_boot == 0
            idx = res.indices.set_index("construct")
            assert np.isnan(idx.loc["Loyalty", ["se", "ci_lower", "ci_upper"]].to_numpy(float)).all()
            imp = res.impacts[res.impacts.target == "Loyalty"]
            assert imp[["se", "ci_lower", "ci_upper"]].isna().all().all() and (imp.n_boot == 0).all()
            assert idx.drop("Loyalty").se.notna().all()


def test_interval_helpers_with_undefined_columns():
    draws = np.array([[1.0, np.nan, 2.0], [2.0, 5.0, np.nan], [3.0, np.nan, np.nan]])
    s = intervals.summarize(np.array([2.0, np.nan, 2.0]), draws, 10, 0.9)
    np.testing.assert_array_equal(s["n_boot"], [3, 0, 1])
    assert np.isnan(s["se"][1]) and np.isnan(s["pct_lower"][1]) and np.isnan(s["se"][2])
    assert s["se"][0] == pytest.approx(1.0) and s["pct_lower"][2] == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = intervals.acceleration(np.array([[np.nan, 1.0], [np.nan, 2.0], [np.nan, 4.0]]))
        lower, upper = intervals.bca(np.array([np.nan, 2.0]), draws[:, :2], np.full((3, 2), np.nan), 0.9)
    u = np.array([1.0, 2.0, 4.0])
    u = u.mean() - u
    assert a[0] == 0 and a[1] == pytest.approx((u ** 3).sum() / (6 * (u ** 2).sum() ** 1.5))
    assert np.isnan(lower[0]) and np.isnan(upper[0])


def test_effects_have_t_and_p_and_r2_has_intervals(boot_res):
    boot = boot_res.bootstrap
    eff = boot_res.effects
    for part in ("direct", "indirect", "total"):
        draws = boot.draws[part]
        e = eff[eff.effect == part]
        np.testing.assert_allclose(e.se, draws.std(axis=0, ddof=1), rtol=1e-12, atol=1e-15)
        t = e.estimate / e.se
        np.testing.assert_allclose(e.statistic.dropna(), t[e.se > 0], rtol=1e-12)
        np.testing.assert_allclose(e.p_value.dropna(), 2 * stats.t.sf(np.abs(t[e.se > 0]), df=249),
                                   rtol=1e-10)
        np.testing.assert_allclose(e.ci_lower, np.quantile(draws, 0.025, axis=0), atol=1e-14)
    assert eff[eff.effect == "indirect"].statistic.isna().any()   # direct-only pair: no t
    r2 = boot_res.r2_table
    assert list(r2.columns) == ["construct", "estimate", "r2_adjusted", "se", "statistic",
                                "p_value", "ci_lower", "ci_upper", "n_boot"]
    np.testing.assert_allclose(r2.estimate, boot_res.r2.to_numpy())
    np.testing.assert_allclose(r2.se, boot.draws["r2"].std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(r2.ci_upper, np.quantile(boot.draws["r2"], 0.975, axis=0), atol=1e-14)
    assert isinstance(boot_res.r2, pd.Series)
    plain = csi.fit("ecsi", csi.datasets.load_ecsi_mobi()).r2_table
    assert list(plain.columns) == list(r2.columns) and plain[["se", "n_boot"]].isna().all().all()
    assert "R-squared:" in boot_res.summary()


@pytest.mark.parametrize("kwargs, message", [
    ({"bootstrap": "abc"}, r"bootstrap='abc': give the number of resamples as a whole number"),
    ({"bootstrap": 2.7}, r"bootstrap=2.7: give the number"),
    ({"bootstrap": True}, r"bootstrap=True"),
    ({"bootstrap": 5, "random_state": "x"}, r"random_state='x': give the seed as a whole number"),
    ({"bootstrap": 5, "random_state": -1}, r"random_state=-1"),
    ({"bootstrap": 5, "random_state": 1.9}, r"random_state=1.9"),
    ({"bootstrap": 5, "ci": "0.9"}, r"ci='0.9': the interval level must be a number"),
    ({"bootstrap": 5, "interval": ["bca"]}, r"interval=\['bca'\]"),
    ({"scheme": ["path"]}, r"unknown inner scheme \['path'\] \(argument scheme\)"),
    ({"se": "robust"}, r"se='robust' is a CB-SEM option and is not used with method='pls'"),
    ({"bootstrap": 2, "n_jobs": 0}, r"n_jobs=0: give the number of parallel processes"),
    ({"method": "cbsem", "scheme": "factorial"}, r"scheme='factorial' is a PLS option and is not "
                                                 r"used with method='cbsem'"),
    ({"method": "cbsem", "max_iter": 50}, r"max_iter=50 is a PLS option"),
])
def test_bad_arguments_are_named_in_library_errors(mobi, kwargs, message):
    kwargs = {"method": "pls", **kwargs}
    with pytest.raises(csi.errors.CSIError, match=message):
        csi.fit("acsi", mobi, **kwargs)


def test_bad_table_requests_are_library_errors(boot_res):
    with pytest.raises(csi.errors.CSIError, match=r"table\('xx'\): no such bootstrap statistic; "
                                                  r"use one of 'paths'"):
        boot_res.bootstrap.table("xx")
    with pytest.raises(csi.errors.CSIError, match=r"interval='x': use 'percentile' or 'bca'"):
        boot_res.bootstrap.table("paths", interval="x")
    assert csi.fit("ecsi", csi.datasets.load_ecsi_mobi(), bootstrap=4.0, random_state=2).settings[
        "bootstrap"] == 4


def test_batch_moments_and_read_only_draws(mobi, boot_res):
    """inference.moments: every resample's and leave-one-out copy's correlations, means and
    sds equal numpy's on its rows; the draws the tables summarize cannot be edited."""
    from csi_models.statistics.moments import BatchMoments

    X = mobi[csi.load_spec("ecsi").item_names].to_numpy(float)
    m = BatchMoments(X)
    rows = bs.resample_rows(250, np.arange(3), 9)
    S, mean, sd = m.resamples(rows)
    for b in range(3):
        np.testing.assert_allclose(S[b], np.corrcoef(X[rows[b]], rowvar=False), atol=1e-12)
        np.testing.assert_allclose(mean[b], X[rows[b]].mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(sd[b], X[rows[b]].std(axis=0, ddof=1), atol=1e-12)
    S, mean, sd = m.leave_one_out(np.array([4]))
    np.testing.assert_allclose(S[0], np.corrcoef(np.delete(X, 4, axis=0), rowvar=False), atol=1e-12)
    with pytest.raises(ValueError, match="read-only"):
        boot_res.bootstrap.draws["indices"][0, 0] = 0.0


def test_summaries_are_the_same_alone_side_by_side_and_in_any_memory_layout():
    """batch.fast summarizes many groups' draws in one call: each column's numbers must not
    depend on its neighbours, nor on the draws' layout (one column, Fortran or C order)."""
    rng = np.random.default_rng(5)
    parts = [rng.normal(size=(500, k)) * 10.0 ** rng.uniform(-3, 3, size=k) for k in (1, 2, 6)]
    parts[2][rng.random(parts[2].shape) < 0.01] = np.nan
    est = [p[0] * 1.01 for p in parts]
    n = np.array([120, 250, 90])
    widths = [p.shape[1] for p in parts]
    together = intervals.summarize(np.concatenate(est), np.concatenate(parts, axis=1),
                                   np.repeat(n, widths), 0.9)
    at = np.cumsum([0, *widths])
    for g, part in enumerate(parts):
        for layout in (np.ascontiguousarray(part), np.asfortranarray(part)):
            alone = intervals.summarize(est[g], layout, n[g], 0.9)
            for name, values in alone.items():
                np.testing.assert_array_equal(values, together[name][at[g]:at[g + 1]])


def test_the_failure_warning_counts_kinds_of_failure_not_every_resample():
    """Hundreds of failed CB-SEM resamples used to list every one's gradient in the warning;
    it now counts the kinds (and the Chinese report translates them)."""
    from csi_models.report.messages_zh import warning_zh

    reasons = ["did not converge: max |gradient| = 1.68e-03 after 273 iterations (tolerance "
               "1e-06); given up: the fit function fell by less than 0.0001 over 20 Newton "
               "steps, with the disturbance variance of Quality below 0 (now -0.00461)",
               "did not converge: max |gradient| = 2.20e-03 after 280 iterations (tolerance "
               "1e-06); given up: the fit function fell by less than 0.0001 over 20 Newton steps",
               "did not converge: max |gradient| = 2.43e-04 after 440 iterations (tolerance 1e-06)",
               "did not converge: max |gradient| = 7.37e+00 after 271 iterations (tolerance "
               "1e-06); given up: max |gradient| was still above 1 after the scoring (or "
               "quasi-Newton) steps, "
               "with the disturbance variance of Loyalty below 0 (now -14.3)",
               "runs into an improper region: the disturbance variance of Loyalty falls below 0 "
               "and keeps falling (now -8.58)",
               "singular data (e.g. an item constant in the resample)"]
    assert [bs.failure_kind(r) for r in reasons] == [
        "given up for want of progress", "given up for want of progress", "did not converge",
        "given up far from an optimum", "runs into an improper region", "singular data"]
    failed = pd.DataFrame({"resample": range(6), "reason": reasons})
    boot = types.SimpleNamespace(failed=failed, n_failed=6, n_requested=40, n_improper=0,
                                 incomplete=lambda kind: pd.DataFrame(columns=["construct"]))
    text = bs.BootstrapResult.messages(boot)[0]
    assert text.startswith("6 of 40 bootstrap resamples failed (2 given up for want of "
                           "progress; 1 did not converge; 1 given up far from an optimum; "
                           "1 runs into an improper region; 1 singular data) and are left out")
    assert "（2 个因无进展而提前放弃；1 个未收敛；1 个因远离最优解而提前放弃；1 个陷入不当解区域；" \
        "1 个数据奇异）" in warning_zh("BootstrapWarning: " + text)
    from csi_models.engines.resamples import SINGULAR

    assert bs.failure_kind(SINGULAR) == "singular data"                     # CB-SEM
    assert bs.failure_kind("failed: the items' covariance matrix is singular: x5 and x6 "
                           "(r = 1.000)") == "failed: the items' covariance matrix is singular"
    assert bs.failure_kind("not converged (max |gradient| 2.1e-03)") == "not converged"  # FIML
    zh = warning_zh("BootstrapWarning: 3 of 9 bootstrap resamples failed (2 failed: "
                    "LinAlgError; 1 singular data) and are left out of the standard errors")
    assert "（2 个失败：LinAlgError；1 个数据奇异）" in zh
