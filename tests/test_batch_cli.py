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
    assert "3 groups" in capsys.readouterr().err


def test_csi_batch_prints_the_indices_as_csv(capsys, tmp_path):
    data = simulate("acsi", 60, groups=2, random_state=2, discrete=True)
    data.to_csv(tmp_path / "survey.csv", index=False)
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "group"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns[:3]) == ["group", "construct", "estimate"] and len(table) == 12
    assert main(["batch", "acsi", "--data", str(tmp_path / "survey.csv"), "--by", "firm"]) == 1
    assert "'firm'" in capsys.readouterr().err
