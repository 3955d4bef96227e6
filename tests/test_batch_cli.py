"""`csi batch`: the command over fit_many (its own file: test_cli.py is the CLI's)."""

import io

import pandas as pd

from csi_models.batch import fit_many, read_batch
from csi_models.cli import main
from csi_models.simulation import simulate


def test_csi_batch_writes_parquet_and_resumes(capsys, tmp_path):
    data = simulate("acsi", 60, groups=3, random_state=1, discrete=True)
    data.loc[data.group == "G02", "CUSA2"] = 7                     # a constant item
    data.to_csv(tmp_path / "survey.csv", index=False)
    out = tmp_path / "results"
    # one group failed, two fitted: exit 3 (partial), as csi --help documents
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group",
                 "--bootstrap", "20", "--seed", "1", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "3 groups: 2 ok, 1 failed" in err and "G02: failed" in err and "CUSA2" in err
    batch = read_batch(out)
    direct = fit_many("acsi", pd.read_csv(tmp_path / "survey.csv"), by="group", bootstrap=20,
                      random_state=1)
    pd.testing.assert_frame_equal(batch.indices, direct.indices)
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group",
                 "--bootstrap", "20", "--seed", "1", "--out", str(out), "--resume"]) == 3
    err = capsys.readouterr().err
    assert "3 groups" in err and "resumed: 0 fitted now, 3 from the earlier run" in err


def test_csi_batch_resumes_without_a_seed_and_reads_a_parquet_folder(capsys, tmp_path):
    """--resume without --seed continues with the seed of the run in --out; --data may be a
    folder of Parquet files (one pass over each group's moments)."""
    data = simulate("acsi", 60, groups=3, random_state=4, discrete=True)
    (tmp_path / "survey").mkdir()
    data.iloc[::2].to_parquet(tmp_path / "survey" / "part-0.parquet")
    data.iloc[1::2].to_parquet(tmp_path / "survey" / "part-1.parquet")
    args = ["batch", "acsi", "--data", str(tmp_path / "survey"), "--by", "group",
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    assert "resumed: 0 fitted now, 3 from the earlier run" in capsys.readouterr().err
    batch = read_batch(tmp_path / "out")
    assert list(batch.status.n) == [60] * 3
    direct = fit_many("acsi", data, by="group")
    pd.testing.assert_frame_equal(batch.indices.drop(columns=batch.indices.select_dtypes(
        "number").columns), direct.indices.drop(columns=direct.indices.select_dtypes(
            "number").columns))
    assert abs(batch.indices.estimate.to_numpy() - direct.indices.estimate.to_numpy()).max() < 1e-9


def test_csi_batch_prints_the_indices_as_csv(capsys, tmp_path):
    data = simulate("acsi", 60, groups=2, random_state=2, discrete=True)
    data.to_csv(tmp_path / "survey.csv", index=False)
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns[:3]) == ["group", "construct", "estimate"] and len(table) == 12
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "firm"]) == 1
    assert "'firm'" in capsys.readouterr().err


def test_csi_batch_passes_missing_se_and_weights(capsys, tmp_path):
    """--missing, --se and --weights reach fit_many: the printed indices are those of
    fit_many with the same options, and the weights change them."""
    data = simulate("acsi", 80, groups=2, random_state=2, discrete=True)
    data["w"] = 0.5 + (data.index % 4) / 2
    data.to_csv(tmp_path / "survey.csv", index=False)
    argv = ["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group",
            "--method", "cbsem", "--se", "robust", "--weights", "w", "--missing", "fiml"]
    assert main(argv) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    direct = fit_many("acsi", data, by="group", method="cbsem", se="robust", weights="w",
                      missing="fiml")
    pd.testing.assert_frame_equal(printed.drop(columns="note"),   # CSV reads '' as NaN
                                  direct.indices.drop(columns="note"), check_dtype=False,
                                  rtol=1e-10)
    plain = fit_many("acsi", data, by="group", method="cbsem")
    assert (plain.indices["estimate"] - direct.indices["estimate"]).abs().max() > 1e-3


def test_csi_batch_resumes_a_folder_fit_many_wrote(capsys, tmp_path):
    """The CLI passes only options that differ from csi.fit's defaults, so a folder written
    by fit_many(...) resumes from `csi batch ... --resume` (and the other way round)."""
    data = simulate("acsi", 60, groups=2, random_state=3, discrete=True)
    data.to_csv(tmp_path / "survey.csv", index=False)
    out = tmp_path / "api"
    fit_many("acsi", data, by="group", out=out)
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group",
                 "--out", str(out), "--resume"]) == 0
    assert "resumed: 0 fitted now, 2 from the earlier run" in capsys.readouterr().err
    cli_out = tmp_path / "cli"
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group",
                 "--out", str(cli_out)]) == 0
    again = fit_many("acsi", data, by="group", out=cli_out, resume=True)
    assert again.settings["n_fitted_now"] == 0


def test_a_missing_rule_the_engine_refuses_is_one_error_not_every_group_failing(capsys, tmp_path):
    """missing='fiml' with PLS is the caller's mistake: fit_many raises before fitting, and
    `csi batch` exits with one line, rather than reporting every group failed."""
    import pytest

    from csi_models.errors import EstimationError

    data = simulate("acsi", 40, groups=2, random_state=4, discrete=True)
    with pytest.raises(EstimationError, match="missing='fiml' is a CB-SEM method"):
        fit_many("acsi", data, by="group", method="pls", missing="fiml")
    data.to_csv(tmp_path / "survey.csv", index=False)
    code = main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group",
                 "--missing", "fiml"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "missing='fiml' is a CB-SEM method" in err
