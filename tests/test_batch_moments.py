"""fit_many over a source too large for memory (a Parquet folder, a Dask DataFrame): one pass
collects every group's moments; each group is fitted from them as csi.fit_moments fits a whole
source, with the same numbers as fit_many on the rows in memory."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.batch import fit_many, read_batch
from csi_models.errors import CSIError, DataError

dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def data():
    data = csi.simulate("acsi", 200, groups=4, random_state=3, discrete=True)
    data = data.rename(columns={"group": "company"})
    data["industry"] = np.where(data.company.isin(["G01", "G02"]), "Retail", "Banks")
    return data


@pytest.fixture(scope="module")
def folder(data, tmp_path_factory):
    """The rows shuffled over three Parquet files: every group spread over every file."""
    path = tmp_path_factory.mktemp("survey")
    shuffled = data.sample(frac=1, random_state=1).reset_index(drop=True)
    for k, part in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        shuffled.iloc[part].to_parquet(path / f"part-{k}.parquet")
    return path


def in_folder(frame, path):
    """``frame``'s rows alternately in two Parquet files of the folder ``path`` (a large
    source: fit_many reads a folder in one pass; a single file it reads into memory)."""
    path.mkdir()
    frame.iloc[::2].to_parquet(path / "part-0.parquet")
    frame.iloc[1::2].to_parquet(path / "part-1.parquet")
    return path


def quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_many(*args, **kwargs)


def same_tables(a, b, atol):
    for name in ("indices", "paths", "r2", "impacts"):
        left, right = getattr(a, name), getattr(b, name)
        assert list(left.columns) == list(right.columns)
        numbers = left.select_dtypes("number").columns
        pd.testing.assert_frame_equal(left.drop(columns=numbers), right.drop(columns=numbers))
        np.testing.assert_allclose(left[numbers].to_numpy(float), right[numbers].to_numpy(float),
                                   rtol=0, atol=atol)


@pytest.mark.parametrize("method", ["pls", "cbsem"])
def test_a_parquet_folder_gives_the_in_memory_batch(data, folder, method):
    by = ["industry", "company"]
    big = quiet("acsi", folder, by=by, method=method)
    memory = quiet("acsi", data, by=by, method=method)
    assert big.keys == memory.keys and list(big.status.status) == ["ok"] * 4
    assert list(big.status.n) == list(memory.status.n) == [200] * 4
    # CB-SEM: the sums of another order move the optimizer's end point within its tolerance
    same_tables(big, memory, atol=1e-9 if method == "pls" else 1e-6)
    key = ("Retail", "G02")
    res = big[key]
    assert "item moments" in res.settings["fitted_from"]
    np.testing.assert_allclose(res.paths.estimate, memory[key].paths.estimate, rtol=0, atol=1e-8)


def test_a_dask_dataframe_gives_the_in_memory_batch(data):
    big = quiet("acsi", dd.from_pandas(data, npartitions=3), by="company")
    same_tables(big, quiet("acsi", data, by="company"), atol=1e-9)


def test_a_bad_group_of_a_large_source_is_a_status_row(data, tmp_path):
    broken = data.copy()
    broken.loc[broken.company == "G03", "CUSA1"] = 4         # a constant item in G03
    broken.loc[len(broken)] = broken.iloc[0]                 # G05: one respondent
    broken.loc[len(broken) - 1, "company"] = "G05"
    batch = quiet("acsi", in_folder(broken, tmp_path / "survey"), by="company")
    status = batch.status.set_index("company")
    assert status.loc["G03", "status"] == "failed" and "CUSA1" in status.loc["G03", "message"]
    assert status.loc["G05", "status"] == "too small"
    assert (status.loc[["G01", "G02", "G04"], "status"] == "ok").all()


def test_a_bad_weight_fails_its_group_only(data, tmp_path):
    weighted = data.assign(w=1.0)
    weighted.loc[weighted.company == "G02", "w"] = -1.0
    batch = quiet("acsi", in_folder(weighted, tmp_path / "survey"), by="company", weights="w")
    status = batch.status.set_index("company")
    assert status.loc["G02", "status"] == "failed" and "weight" in status.loc["G02", "message"]
    assert "200 rows" in status.loc["G02", "message"]     # counted over both files
    assert (status.loc[["G01", "G03", "G04"], "status"] == "ok").all()


def test_what_moments_cannot_do_is_refused_before_the_pass(folder):
    with pytest.raises(CSIError, match="bootstrap"):
        fit_many("acsi", folder, by="company", bootstrap=100)
    with pytest.raises(CSIError, match="listwise"):
        fit_many("acsi", folder, by="company", missing="mean")
    with pytest.raises(DataError, match="'firm'"):
        fit_many("acsi", folder, by="firm")


def test_out_and_resume_with_a_parquet_source(data, folder, tmp_path):
    out = tmp_path / "results"
    first = quiet("acsi", folder, by="company", out=out, random_state=1, n_jobs=2)
    again = quiet("acsi", folder, by="company", out=out, resume=True, random_state=1)
    assert again.settings["n_fitted_now"] == 0
    same_tables(read_batch(out), first, atol=0)
