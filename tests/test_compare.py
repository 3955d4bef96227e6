"""csi.compare: models side by side, nested tests, group comparisons.

References: the shipped specs on the bundled data (tables line up, missing constructs are
NaN); lavaan's nested LRT recomputed from its fit fixtures; lavaan's measurement invariance
on Holzinger-Swineford by school (tests/fixtures/lavaan/hs_invariance.csv,
hs_configural_params.csv); and simulated groups with known paths for the permutation test.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import hs_data, hs_spec

import csi_models as csi
from csi_models.comparison import compare
from csi_models.simulation import population, simulate
from csi_models.spec import spec_from_dict

FIX = Path(__file__).parent / "fixtures" / "lavaan"
HS_SPEC = hs_spec()


@pytest.fixture(scope="module")
def data():
    return csi.datasets.load_ecsi_mobi()


@pytest.mark.parametrize("method", ["pls", "cbsem"])
def test_three_shipped_specs_side_by_side(data, method):
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = csi.compare(["acsi", "ecsi", "ccsi"], data, method=method)
        singles = ({m: csi.fit(m, data, method=method) for m in ("acsi", "ecsi", "ccsi")}
                   if method == "pls" else cmp.results)  # CB-SEM: checked against lavaan below
    pd.testing.assert_frame_equal(data, before)
    assert list(cmp.status.model) == ["acsi", "ecsi", "ccsi"]
    assert (cmp.status.status == "ok").all()
    assert set(cmp.table.columns) == {"model", "section", "name", "value"}
    wide = cmp.wide()
    assert list(wide.columns) == ["acsi", "ecsi", "ccsi"]
    # ACSI has no Image, CCSI no Complaints: blank, not an error
    assert np.isnan(wide.loc[("r2", "Expectation"), "acsi"])
    assert np.isnan(wide.loc[("index", "Image"), "acsi"]) and np.isnan(wide.loc[("index", "Complaints"), "ccsi"])
    assert np.isnan(wide.loc[("path", "Satisfaction -> Complaints"), "ccsi"])
    assert np.isnan(wide.loc[("path", "Image -> Quality"), "ecsi"])
    for m, res in singles.items():
        assert wide.loc[("r2", "Satisfaction"), m] == pytest.approx(res.r2["Satisfaction"])
        assert wide.loc[("sample", "n"), m] == res.n
        assert wide.loc[("index", "Satisfaction"), m] == pytest.approx(
            res.indices.set_index("construct").loc["Satisfaction", "estimate"])
    if method == "cbsem":
        for m in ("acsi", "ecsi", "ccsi"):
            ref = pd.read_csv(FIX / f"{m}_fit.csv", keep_default_na=False).set_index("name")["value"]
            for key in ("chisq", "df", "aic", "bic", "cfi", "rmsea", "srmr"):
                assert wide.loc[("fit", key), m] == pytest.approx(float(ref[key]), rel=1e-5)
        assert cmp.tests.empty  # different items: nothing nested
    else:
        assert {"srmr", "d_uls", "d_g", "gof"} <= set(wide.loc["fit"].index)


def test_fit_measures_keep_the_engine_order_across_models(data):
    """A measure only some fits have (here chisq.scaled and pvalue.scaled taken out of the
    first model's rows) keeps its place among the fit rows of wide(), whichever model comes
    first; at df = 0 a robust fit has lavaan's NA p-value."""
    from dataclasses import replace

    just = spec_from_dict({"name": "just", "scale": {"min": 1, "max": 10},
                           "constructs": {"Quality": {"items": ["PERQ1", "PERQ2"]},
                                          "Satisfaction": {"items": ["CUSA1"]}},
                           "paths": ["Quality -> Satisfaction"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compare({"just": just, "acsi": "acsi"}, data, method="cbsem", se="robust")
    table = result.table
    partial = replace(result, table=table[~((table.model == "just") & table.name.isin(
        ["chisq.scaled", "pvalue.scaled"]))])
    names = list(partial.wide(["fit"]).index.get_level_values("name"))
    engine_order = [k for k in result.results["acsi"]._engine.fit_keys if k in names]
    assert names == engine_order and "chisq.scaled" in names
    assert not np.isnan(result.wide(["fit"]).loc[("fit", "pvalue.scaled"), "acsi"])
    assert np.isnan(result.wide(["fit"]).loc[("fit", "pvalue.scaled"), "just"])   # lavaan: NA


def test_robust_invariance_matches_lavaan_mlr():
    """se='robust' groups: every step carries lavaan's MLR (information = "expected") scaled
    test and robust measures, and the differences are lavTestLRT's Satorra-Bentler (2001)
    ones (tests/fixtures/lavaan/hs_mlr_invariance.csv, polished fits); a note says so."""
    from csi_models.engines.cbsem_robust import robust_measures
    from csi_models.engines.invariance import per_group_values
    from csi_models.engines.multigroup import STEPS, MultiGroupModel
    from csi_models.statistics.fit_measures import Moments

    ref = pd.read_csv(FIX / "hs_mlr_invariance.csv").set_index("step")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = compare(HS_SPEC, hs_data(), by="school", method="cbsem", se="robust")
        plain = compare(HS_SPEC, hs_data(), by="school", method="cbsem")
    ours = cmp.tests.set_index("step")
    assert ours.converged.all()
    for col, lav in (("chisq", "chisq"), ("chisq_scaled", "chisq.scaled"),
                     ("chisq_scaling_factor", "chisq.scaling.factor"),
                     ("chisq_scaled_p_value", "pvalue.scaled"), ("cfi_robust", "cfi.robust"),
                     ("tli_robust", "tli.robust"), ("rmsea_robust", "rmsea.robust")):
        # p-values: lavaan's scalar pvalue.scaled (2.7e-11) is 5e-17 off pchisq of its own
        # chisq.scaled; ours is pchisq's
        np.testing.assert_allclose(ours[col], ref.loc[ours.index, col if col == "chisq" else lav],
                                   rtol=1e-7, atol=1e-15, err_msg=col)
    for col, lav in (("chisq_diff", "chisq_diff"), ("p_value", "pvalue_diff")):
        np.testing.assert_allclose(ours.loc[["metric", "scalar"], col],
                                   ref.loc[["metric", "scalar"], lav], rtol=1e-7, err_msg=col)
    assert any("se='robust'" in n and "Satorra-Bentler" in n for n in cmp.notes)
    # the ML table is unchanged and has no robust numbers
    assert plain.tests.chisq_scaled.isna().all() and plain.tests.cfi_robust.isna().all()
    assert not np.allclose(plain.tests.chisq_diff[1:], ours.chisq_diff[1:], rtol=1e-3)

    # every scaled and robust measure lavaan gives, at the steps' optima (two groups)
    results = cmp.results
    layout = next(iter(results.values())).estimates.layout
    values = [r.data.values[list(layout.items)].to_numpy(float) for r in results.values()]
    moments = [Moments(np.cov(X, rowvar=False, bias=True), None, len(X), X.mean(0), None)
               for X in values]
    starts = [per_group_values(r.parameters, layout, X.mean(0))
              for r, X in zip(results.values(), values)]
    keys = [k for k in ref.columns if k.endswith((".scaled", ".robust", ".factor"))
            or k.startswith("scaling.factor")]
    assert len(keys) == 32
    for step in STEPS:
        model = MultiGroupModel(layout, moments, step)
        fit = model.fit(model.start(starts))
        c = model.scaling(fit.x, values)
        f = {**fit.fit_indices, **robust_measures(fit.fit_indices, c["c"], c["c_base"], 2), **c}
        for key in keys:
            # rmsea intervals: lavaan's uniroot stops at ~1e-7 of the noncentrality
            rel = 1e-6 if ".ci." in key else 1e-7
            assert f[key] == pytest.approx(ref.loc[step, key], rel=rel, abs=1e-12), (step, key)


def test_robust_invariance_leaves_unconverged_steps_unscaled(data):
    """ECSI split 150/100: no step converges; their information is near-singular there, so
    the scaled and robust columns are NaN rather than numbers lavaan does not reproduce."""
    grouped = data.assign(g=np.where(np.arange(len(data)) < 150, "a", "b"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tests = compare("ecsi", grouped, by="g", method="cbsem", se="robust").tests
    assert not tests.converged.any() and tests.chisq.notna().all()
    assert tests[["chisq_scaled", "chisq_scaling_factor", "cfi_robust", "rmsea_robust",
                  "chisq_diff"]].isna().all().all()


def test_nested_models_get_a_chisq_difference_test(data):
    """lavaan-polished ECSI vs ECSI without Image -> Loyalty: the LRT is recomputed from the
    general model's lavaan chisq and our restricted fit (the restricted one has no fixture)."""
    spec = csi.load_spec("ecsi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = compare({"ecsi": spec, "no_image_loyalty": spec.drop_path("Image", "Loyalty"),
                       "acsi": "acsi"}, data, method="cbsem")
    assert len(cmp.tests) == 1
    row = cmp.tests.iloc[0]
    assert (row.restricted, row.general) == ("no_image_loyalty", "ecsi")
    lavaan = float(pd.read_csv(FIX / "ecsi_fit.csv", keep_default_na=False)
                   .set_index("name")["value"]["chisq"])
    restricted = cmp.results["no_image_loyalty"].fit_indices["chisq"]
    assert row.chisq_diff == pytest.approx(restricted - lavaan, rel=1e-5)
    assert row.df_diff == 1
    from scipy.stats import chi2
    assert row.p_value == pytest.approx(chi2.sf(row.chisq_diff, 1))
    assert list(cmp.tests.columns) == ["test", "restricted", "general", "chisq_diff", "df_diff", "p_value"]


# the HS CFA; and with residual covariances between two items' errors and between two
# constructs' disturbances (lavaan's group.equal leaves them free in every group)
HS_COV_SPEC = (HS_SPEC.add_path("visual", "textual").add_path("visual", "speed")
               .add_covariance("textual", "speed").add_covariance("x1", "x4"))


# a construct of x9 alone (its error variance fixed at 0) with x9 ~~ x7: the groups' averaged
# start of the metric step made a group's Sigma indefinite, and compare() raised
HS_SINGLE_COV_SPEC = spec_from_dict({
    "name": "hs", "scale": {"min": -100, "max": 100},
    "constructs": {"visual": {"items": ["x1", "x2", "x3"]},
                   "textual": {"items": ["x4", "x5", "x6"]},
                   "speed": {"items": ["x7", "x8"]}, "nine": {"items": ["x9"]}},
    "paths": [], "covariances": ["x9 ~~ x7"]})


@pytest.mark.parametrize("spec, fixture", [(HS_SPEC, "hs_invariance.csv"),
                                           (HS_COV_SPEC, "hs_cov_invariance.csv"),
                                           (HS_SINGLE_COV_SPEC, "hs_single_cov_invariance.csv")])
def test_invariance_matches_lavaan(spec, fixture):
    hs = hs_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = compare(spec, hs, by="school", method="cbsem")
    assert list(cmp.status.group) == ["Pasteur", "Grant-White"]  # lavaan's group order
    ref = pd.read_csv(FIX / fixture).set_index("step")
    ours = cmp.tests.set_index("step")
    assert ours.converged.all()
    for col in ("chisq", "df", "npar", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "logl"):
        np.testing.assert_allclose(ours[col], ref.loc[ours.index, col], rtol=1e-6, err_msg=col)
    np.testing.assert_allclose(ours["chisq_p_value"], ref.loc[ours.index, "pvalue"], rtol=1e-5)
    for col, lav in (("chisq_diff", "chisq_diff"), ("df_diff", "df_diff"), ("p_value", "pvalue_diff")):
        np.testing.assert_allclose(ours.loc[["metric", "scalar"], col], ref.loc[["metric", "scalar"], lav],
                                   rtol=1e-5, err_msg=col)
    assert np.isnan(ours.loc["configural", "p_value"])
    if spec is not HS_SPEC:
        return
    # configural = separate fits: per-group loadings equal lavaan's configural estimates
    params = pd.read_csv(FIX / "hs_configural_params.csv")
    for label, group in params[params.op == "=~"].groupby("group_label"):
        mine = cmp.results[label].loadings.set_index("item")
        np.testing.assert_allclose(mine.loc[group.rhs, "unstandardized"], group.est, atol=1e-4)


def test_groups_too_small_or_failing_are_reported_not_dropped(data):
    frame = data.copy()
    frame["segment"] = np.where(np.arange(len(frame)) % 2 == 0, "even", "odd")
    frame.loc[frame.index[:4], "segment"] = "tiny"
    frame.loc[frame.index[4:30], "segment"] = "broken"
    frame.loc[frame.index[4:30], "CUSA1"] = 5   # constant item: this group cannot be fitted
    frame.loc[frame.index[30], "segment"] = None
    cmp = compare("ecsi", frame, by="segment", permutations=50, random_state=0)
    status = cmp.status.set_index("group")
    assert status.loc["tiny", "status"] == "too small"
    assert status.loc["broken", "status"] == "failed" and "CUSA1" in status.loc["broken", "message"]
    assert (status.loc[["even", "odd"], "status"] == "ok").all()
    assert bool(status.loc["even", "converged"]) and status.loc["tiny", "converged"] is None
    assert list(cmp.wide().columns) == ["odd", "even"]  # order of first appearance
    assert set(map(tuple, cmp.tests[["group_1", "group_2"]].to_numpy())) == {("odd", "even")}
    assert any("no 'segment' value" in n for n in cmp.notes)
    with pytest.raises(csi.errors.DataError, match="industry"):
        compare("ecsi", frame, by="industry")


def _groups(spec, n, path_2, seed):
    rng = np.random.default_rng(seed)
    a = simulate(spec, n, random_state=rng)
    b = simulate(spec, n, random_state=rng, paths={("Quality", "Satisfaction"): path_2})
    return pd.concat([a.assign(group="A"), b.assign(group="B")], ignore_index=True)


def _rejections(path_2: float, replications: int, permutations: int, n: int = 150):
    spec = csi.load_spec("acsi").with_scale(-10, 10)
    hits = []
    for rep in range(replications):
        cmp = compare(spec, _groups(spec, n, path_2, 1000 + rep), by="group",
                      permutations=permutations, random_state=rep)
        tests = cmp.tests[cmp.tests.parameter.str.contains("->")].set_index("parameter")
        hits.append(tests.p_value < 0.05)
    return pd.DataFrame(hits)


def test_permutation_mga_power_and_size():
    """30 replications, 2 x 150 simulated respondents, 199 permutations each.

    Power: Quality -> Satisfaction is 0.3 in group A and 0.65 in group B; the test must find
    it at 5% in most replications. Size: with equal populations, the rejection rate over
    all 9 paths x 30 replications must stay near 5% (at most 9%)."""
    assert population(csi.load_spec("acsi"), paths={("Quality", "Satisfaction"): 0.65}).r2.max() < 1
    power = _rejections(0.65, 30, 199)
    assert power["Quality -> Satisfaction"].mean() >= 0.8
    null = _rejections(0.3, 30, 199)
    assert null.to_numpy().mean() <= 0.09


def test_cli_compare(capsys):
    from csi_models.cli import main

    assert main(["compare", "acsi", "ecsi", "--data", "demo"]) == 0
    out = capsys.readouterr().out
    assert "Satisfaction -> Complaints" in out and "acsi" in out and "ecsi" in out
    assert main(["compare", "ecsi", "--data", "demo", "--by", "nothere"]) == 1
    assert "nothere" in capsys.readouterr().err


def test_permutation_moments_reproduce_the_separate_fits():
    """The batched estimates of an assignment that keeps every respondent in its group must be
    the separate fits' paths, R^2 and 0-100 indices, for each group (moments from sums,
    batched PLS, each group's own weights, means and sds in its index)."""
    from csi_models.comparison.groups import permuted_estimates
    from csi_models.statistics.moments import BatchMoments

    frame = csi.datasets.load_ecsi_mobi().assign(half=lambda d: np.arange(len(d)) < 100)
    cmp = compare("ecsi", frame, by="half", permutations=10, random_state=0)
    a, b = cmp.results[True], cmp.results[False]
    X = np.vstack([a.data.values.to_numpy(float), b.data.values.to_numpy(float)])
    identity = np.zeros((2, len(X)))
    identity[:, :a.n] = 1.0
    names, one, two, ok = permuted_estimates(a, b, BatchMoments(X), identity)
    assert ok.all()
    for res, values in ((a, one), (b, two)):
        expected = pd.Series(
            {**{f"{r.source} -> {r.target}": r.estimate for r in res.paths.itertuples()},
             **{f"R2 {c}": v for c, v in res.r2.items()},
             **{f"index {r.construct}": r.estimate for r in res.indices.itertuples()}})
        assert set(names) == set(expected.index)
        for row in values:
            np.testing.assert_allclose(row, expected[names].to_numpy(), rtol=1e-9, atol=1e-9)


def test_permutations_do_not_depend_on_the_chunk_size():
    """Permutations are estimated a chunk at a time (bounded memory); the table is the same for
    any chunk size, including one permutation at a time and all at once."""
    from csi_models.comparison.groups import permutation_mga

    frame = csi.datasets.load_ecsi_mobi().assign(half=lambda d: np.arange(len(d)) % 3 == 0)
    cmp = compare("acsi", frame, by="half", permutations=2, random_state=0)
    a, b = cmp.results[True], cmp.results[False]
    tables = [permutation_mga(a, b, (True, False), 37, np.random.default_rng(5), chunk=c)
              for c in (1, 10, 37, None)]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])
    assert (tables[0].permutations[~tables[0].parameter.str.startswith("index")] == 37).all()


def test_permutation_seed_and_counts():
    frame = csi.datasets.load_ecsi_mobi().assign(half=lambda d: np.arange(len(d)) % 2)
    one = compare("acsi", frame, by="half", permutations=99, random_state=7).tests
    two = compare("acsi", frame, by="half", permutations=99, random_state=7).tests
    pd.testing.assert_frame_equal(one, two)
    paths = ~one.parameter.str.startswith("index")
    assert (one.permutations[paths] == 99).all() and (one.permutations <= 99).all()
    assert one.p_value.between(0.01, 1).all()   # an index undefined in a permutation is counted out
    assert {"Quality -> Satisfaction", "R2 Satisfaction", "index Satisfaction"} <= set(one.parameter)


def test_every_test_table_has_its_columns_and_names_p_values_alike(data):
    """p-values of tests are ``p_value`` in every table; a table without rows (fewer than two
    groups fitted, nothing nested) still has its columns."""
    from csi_models.engines.invariance import INVARIANCE_COLUMNS

    frame = data.assign(g=np.where(np.arange(len(data)) < 12, "small", "big"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_group = compare("acsi", frame, by="g", method="cbsem", min_size=20)
        pls = compare("acsi", frame, by="g", method="pls", min_size=20)
        nested = compare(["acsi"], data, method="cbsem")
    assert one_group.tests.empty and list(one_group.tests.columns) == INVARIANCE_COLUMNS
    assert any("at least two fitted groups" in n for n in one_group.notes)
    assert pls.tests.empty and "p_value" in pls.tests.columns
    assert nested.tests.empty and "p_value" in nested.tests.columns
    hs = hs_data().assign(x1=lambda d: d.x1.where(d.index % 9 != 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fiml = compare(HS_SPEC, hs, by="school", method="cbsem", missing="fiml")
    assert list(fiml.tests.columns) == INVARIANCE_COLUMNS and fiml.tests.empty


@pytest.mark.parametrize("call,match", [
    (lambda d: compare([], d), "models is empty"),
    (lambda d: compare({}, d), "models is empty"),
    (lambda d: compare(["acsi"], d, method="foo"), "method='foo'"),
    (lambda d: compare(["acsi"], d, foo=1), "unknown option.*'foo'.*missing"),
    (lambda d: compare("acsi", d, by="g", adjust="bonferroni"), "adjust='bonferroni'"),
    (lambda d: compare("acsi", d, by="g", permutations=-1), "permutations=-1"),
    (lambda d: compare("acsi", d, by="g", permutations="a"), "permutations='a'"),
    (lambda d: compare("acsi", d, by="g", permutations=True), "permutations=True"),
    (lambda d: compare("acsi", d, by="g", min_size="a"), "min_size='a'"),
    (lambda d: compare("acsi", d, by="g", random_state="a"), "random_state='a'"),
    (lambda d: compare("acsi", d, by="g", random_state=-1), "random_state=-1"),
])
def test_bad_arguments_are_named(data, call, match):
    with pytest.raises(csi.errors.CSIError, match=match):
        call(data.assign(g=np.arange(len(data)) % 2))


def test_method_is_spelled_as_fit_accepts_it(data):
    frame = data.assign(g=np.arange(len(data)) % 2)
    upper = compare("acsi", frame, by="g", method="PLS", permutations=5, random_state=1)
    lower = compare("acsi", frame, by="g", method="pls", permutations=5, random_state=1)
    pd.testing.assert_frame_equal(upper.tests, lower.tests)
    assert (upper.tests.test == "permutation").all()


def test_compare_is_reproducible_with_one_seed(mobi):
    """One random_state reaches every fit (each model's and each group's bootstrap gets its
    own child seed, derived from its label) and the permutation test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [compare(["acsi", "ccsi"], mobi, bootstrap=30, random_state=1) for _ in range(2)]
        other = compare(["acsi", "ccsi"], mobi, bootstrap=30, random_state=2)
        alone = compare(["ccsi"], mobi, bootstrap=30, random_state=1)
    se = [r.results["acsi"].paths.se.to_numpy() for r in runs]
    np.testing.assert_array_equal(se[0], se[1])
    assert np.abs(se[0] - other.results["acsi"].paths.se.to_numpy()).max() > 0
    # a model's stream depends on its label, not on which other models are compared
    np.testing.assert_array_equal(runs[0].results["ccsi"].paths.se, alone.results["ccsi"].paths.se)
    frame = mobi.assign(half=np.arange(len(mobi)) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = [compare("acsi", frame, by="half", bootstrap=20, permutations=30, random_state=3)
                  for _ in range(2)]
    pd.testing.assert_frame_equal(groups[0].tests, groups[1].tests)
    np.testing.assert_array_equal(groups[0].results[0].indices.se, groups[1].results[0].indices.se)


def test_permutations_zero_switches_the_group_tests_off(data):
    """permutations=0: the side-by-side table of every group, no permutation test, no MICOM."""
    frame = data.assign(g=np.arange(len(data)) % 3)
    cmp = compare("acsi", frame, by="g", permutations=0, random_state=1)
    assert (cmp.status.status == "ok").all() and len(cmp.results) == 3
    assert cmp.tests.empty and "p_value" in cmp.tests.columns and cmp.micom is None
    assert any("permutations=0" in n for n in cmp.notes)
    wide = cmp.wide(["index"])
    for g, res in cmp.results.items():   # the table still holds each group's own fit
        np.testing.assert_allclose(wide[g].to_numpy(), res.indices.estimate.to_numpy())


def test_adjusted_p_values_are_holm_and_bh_across_all_tests(data):
    """p_adjusted = statsmodels' multipletests over every p-value of the tests table, and by
    hand on three of them; adjust='none' adds no column."""
    from statsmodels.stats.multitest import multipletests

    frame = data.assign(g=np.arange(len(data)) % 3)
    plain = compare("acsi", frame, by="g", permutations=19, random_state=4)
    holm = compare("acsi", frame, by="g", permutations=19, random_state=4, adjust="holm").tests
    bh = compare("acsi", frame, by="g", permutations=19, random_state=4, adjust="bh").tests
    assert "p_adjusted" not in plain.tests.columns
    pd.testing.assert_frame_equal(holm.drop(columns="p_adjusted"), plain.tests)
    assert list(holm.columns).index("p_adjusted") == list(holm.columns).index("p_value") + 1
    ok = holm.p_value.notna().to_numpy()
    assert ok.sum() > 50 and len(holm.group_1.unique()) == 2   # 3 pairs of groups
    np.testing.assert_allclose(holm.p_adjusted[ok], multipletests(holm.p_value[ok], method="holm")[1])
    np.testing.assert_allclose(bh.p_adjusted[ok], multipletests(bh.p_value[ok], method="fdr_bh")[1])
    assert holm.p_adjusted[~ok].isna().all()


def test_adjustment_by_hand():
    """Holm: sorted p (0.01, 0.02, 0.04) times (3, 2, 1), running max -> 0.03, 0.04, 0.04;
    BH: p m / rank (0.03, 0.03, 0.04), running min from the top -> 0.03, 0.03, 0.04."""
    from csi_models.comparison.table import with_adjusted

    tests = pd.DataFrame({"parameter": ["a", "b", "c", "d"], "p_value": [0.04, 0.01, np.nan, 0.02]})
    holm = with_adjusted(tests, "holm")
    np.testing.assert_allclose(holm.p_adjusted, [0.04, 0.03, np.nan, 0.04])
    np.testing.assert_allclose(with_adjusted(tests, "bh").p_adjusted, [0.04, 0.03, np.nan, 0.03])
    assert "p_adjusted" not in tests.columns   # the caller's table is not changed
