"""One vocabulary in every public table (README, "Table vocabulary"): this test walks them all.

FitResult tables with and without a bootstrap for both engines, the Comparison tables (models
and groups), the data check report, Kano and gaps. Rules: items are ``item``; directed
quantities have ``source``/``target``; every p-value column is ``p_value`` (a prefixed one
such as ``chisq_p_value`` where a table holds two tests); the test statistic is ``statistic``;
every estimate table carries ``estimate`` and the same inference columns; construct-level
tables have a ``construct`` column. Only ``res.fit_indices`` keeps lavaan's fitMeasures keys.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi

INFERENCE = ["se", "statistic", "p_value", "ci_lower", "ci_upper", "n_boot"]
ESTIMATE_TABLES = ["paths", "loadings", "weights", "r2_table", "indices", "effects", "impacts",
                   "htmt", "table"]
FORBIDDEN = {"indicator", "driver", "pvalue", "p", "t", "z", "t_value", "z_value", "tvalue",
             "impact", "index", "htmt", "r2"}


@pytest.fixture(scope="module")
def results():
    data = csi.datasets.load_ecsi_mobi()
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("pls", "cbsem"):
            out[method] = csi.fit("acsi", data, method=method)
        out["pls+boot"] = csi.fit("acsi", data, method="pls", bootstrap=30, random_state=1)
        out["cbsem+boot"] = csi.fit("acsi", data, method="cbsem", bootstrap=4, random_state=1,
                                    n_jobs=1)
    return out


def _check_names(name: str, table: pd.DataFrame):
    columns = set(map(str, table.columns))
    bad = columns & FORBIDDEN
    assert not bad, f"{name}: columns {bad} break the vocabulary"
    for column in columns:
        if "p_value" not in column:
            assert not column.endswith(("pvalue", "_p")), f"{name}: {column}"


@pytest.mark.parametrize("kind", ["pls", "cbsem", "pls+boot", "cbsem+boot"])
def test_fit_result_tables(results, kind):
    res = results[kind]
    for name in ESTIMATE_TABLES:
        table = getattr(res, name)
        _check_names(name, table)
        assert "estimate" in table.columns and set(INFERENCE) <= set(table.columns), name
    for name in ("paths", "effects", "impacts", "inner_vif", "f2"):
        assert {"source", "target"} <= set(getattr(res, name).columns), name
    for name in ("loadings", "weights", "vif", "item_stats"):
        assert "item" in getattr(res, name).columns, name
    for name in ("quality", "indices", "r2_table", "loadings", "weights", "vif"):
        assert "construct" in getattr(res, name).columns, name
    for name in ("quality", "vif", "inner_vif", "f2", "item_stats", "fornell_larcker"):
        _check_names(name, getattr(res, name))
    if kind.endswith("boot"):
        assert res.paths.se.notna().all() and res.indices.se.notna().all()
        assert (res.paths.n_boot > 0).all()
        _check_names("bootstrap.table", res.bootstrap.table("paths"))
    elif kind == "pls":
        assert res.paths[INFERENCE].isna().all().all()
    if res.method == "cbsem":
        assert {"unstandardized", "unstandardized_se"} <= set(res.paths.columns)
        _check_names("parameters", res.parameters.drop(columns=["lhs", "op", "rhs"]))
    else:
        assert "unstandardized" not in res.paths.columns and res.parameters is None


def test_cbsem_standardized_se_is_the_se_of_the_estimate(results):
    """CB-SEM without a bootstrap: se is the delta-method SE of the standardized estimate
    (as lavaan's standardizedSolution), not the SE of the unstandardized one beside it."""
    res = results["cbsem"]
    paths = res.paths
    if "std_all_se" not in res.estimates.parameters:
        pytest.skip("the CB-SEM engine does not report delta-method SEs yet")
    assert paths.se.notna().all() and not np.allclose(paths.se, paths.unstandardized_se)
    np.testing.assert_allclose(paths.statistic, paths.estimate / paths.se)


def test_comparison_check_kano_and_gaps_tables():
    data = csi.datasets.load_ecsi_mobi()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = csi.compare(["acsi", "ecsi"], data, method="cbsem")
        grp = csi.compare("acsi", data.assign(g=np.arange(250) % 2), by="g", permutations=20,
                          random_state=1)
    for name, table in (("compare.table", cmp.table), ("compare.status", cmp.status),
                        ("compare.tests", cmp.tests), ("groups.tests", grp.tests),
                        ("groups.status", grp.status), ("groups.wide", grp.wide().reset_index())):
        _check_names(name, table)
    assert "p_value" in grp.tests.columns and "p_value" in cmp.tests.columns
    report = csi.check("acsi", data)
    _check_names("check.findings", report.findings)
    _check_names("check.items", report.items)
    assert "item" in report.findings.columns and "item" in report.items.columns
    rng = np.random.default_rng(1)
    f = pd.DataFrame(rng.integers(1, 6, (40, 2)), columns=["speed", "storage"])
    d = pd.DataFrame(rng.integers(1, 6, (40, 2)), columns=["speed", "storage"])
    _check_names("kano", csi.kano(f, d))
    g = csi.gaps(f, d)
    _check_names("gaps.items", g.items)
    assert {"statistic", "p_value"} <= set(g.items.columns)


def test_parameter_table_does_not_depend_on_the_hash_seed(tmp_path):
    """semopy keeps covariances in hash-ordered sets: the rows and the orientation of
    'visual ~~ textual' must not change with PYTHONHASHSEED (two subprocesses)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "fit.py"
    script.write_text(
        "import sys, warnings\nwarnings.simplefilter('ignore')\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from conftest import hs_data, hs_spec\nimport csi_models as csi\n"
        "res = csi.fit(hs_spec(), hs_data(), method='cbsem')\n"
        "res.parameters.to_csv(sys.argv[1], index=False)\n")
    tables = []
    for seed in ("1", "2"):
        out = tmp_path / f"params_{seed}.csv"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, str(script), str(out), os.path.dirname(__file__)],
                       check=True, env=env, timeout=300)
        tables.append(pd.read_csv(out))
    pd.testing.assert_frame_equal(tables[0][["lhs", "op", "rhs"]], tables[1][["lhs", "op", "rhs"]])
    np.testing.assert_allclose(tables[0].est, tables[1].est, atol=1e-9)
    cov = tables[0][(tables[0].op == "~~") & (tables[0].lhs != tables[0].rhs)]
    assert len(cov) and (cov.lhs.map(["visual", "textual", "speed"].index)
                         < cov.rhs.map(["visual", "textual", "speed"].index)).all()
