"""Fits of data too large for memory from one pass over their moments (csi.fit_moments; csi.fit
hands it a Dask DataFrame or a Parquet folder).

References: the in-memory csi.fit of the same rows (itself checked against seminr and lavaan
elsewhere) must give the same numbers to 1e-10, for PLS and CB-SEM, with listwise missing
answers and respondent weights; the same bad data must give the same DataError messages; the
Parquet pass must go batch by batch (counted) with bounded memory.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.errors import CSIError, DataError

dd = pytest.importorskip("dask.dataframe")
TABLES = ("paths", "loadings", "weights", "indices", "r2_table", "effects", "impacts", "htmt")


@pytest.fixture(scope="module")
def data():
    """The bundled ECSI data, with a few missing answers (listwise deletion) and weights."""
    d = csi.datasets.load_ecsi_mobi().copy()
    d.loc[[3, 40, 41, 200], "CUSL2"] = np.nan
    d["w"] = 1 + np.arange(len(d)) % 4
    return d


def _folder(frame: pd.DataFrame, path, files: int = 3, row_group: int = 25):
    """``frame`` as a folder of ``files`` Parquet files of several row groups each."""
    path.mkdir()
    for k, rows in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[rows].to_parquet(path / f"part{k}.parquet", row_group_size=row_group,
                                    index=False)
    return path


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


def _same(a, b, tol=1e-10):
    for name in TABLES:
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(y.estimate.to_numpy(float), x.estimate.to_numpy(float),
                                   rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(b.item_stats[["mean", "sd"]], a.item_stats[["mean", "sd"]],
                               rtol=1e-12)
    assert b.n == a.n and b.settings["rows_dropped"] == a.settings["rows_dropped"]
    assert b.settings["n_input"] == a.settings["n_input"]
    assert b.settings["data_notes"] == a.settings["data_notes"]
    assert b.warnings == a.warnings      # the same data warnings, word for word


@pytest.mark.parametrize("spec,method,tol", [("ecsi", "pls", 1e-10), ("acsi", "pls", 1e-10),
                                             ("ecsi", "cbsem", 1e-9), ("acsi", "cbsem", 1e-10)])
def test_parquet_folder_gives_the_in_memory_fit(data, tmp_path, spec, method, tol):
    """ECSI by CB-SEM on these 246 rows is improper (standardized paths beyond 2, latent
    correlations near 1): both fits stop at max |gradient| < 1e-9 on a flat ridge and agree
    to 3e-10 relative there; every other case to 1e-10."""
    folder = _folder(data.drop(columns="w"), tmp_path / "survey")
    memory = _quiet(csi.fit, spec, pd.read_parquet(folder), method=method)
    moments = _quiet(csi.fit, spec, str(folder), method=method)    # fit hands a folder on
    assert moments.settings["rows_dropped"] == 4 and moments.n == len(data) - 4
    _same(memory, moments, tol)
    np.testing.assert_allclose(moments.fit_indices.to_numpy(float),
                               memory.fit_indices.to_numpy(float), rtol=1e-9, atol=1e-10)
    pd.testing.assert_frame_equal(moments.quality, memory.quality, rtol=1e-9, atol=1e-10)
    if method == "cbsem":
        np.testing.assert_allclose(moments.parameters.se, memory.parameters.se, rtol=1e-9)
        # delta-method SEs of the standardized paths (a differenced Jacobian): on the improper
        # ECSI ridge the 3e-11 between the two optima shows as 6e-8 (1.1e-7 on Haswell)
        np.testing.assert_allclose(moments.paths.se, memory.paths.se,
                                   rtol=1e-9 if spec == "acsi" else 1e-6)


@pytest.mark.parametrize("method", ["pls", "cbsem"])
def test_dask_dataframe_gives_the_in_memory_fit(data, method):
    frame = data.drop(columns="w")
    memory = _quiet(csi.fit, "ecsi", frame, method=method)
    moments = _quiet(csi.fit, "ecsi", dd.from_pandas(frame, npartitions=5), method=method)
    assert "5 chunk(s) of a Dask DataFrame" in moments.settings["fitted_from"]
    _same(memory, moments)


def test_mean_replacement_in_two_passes(data, tmp_path):
    """missing='mean' (PLS): the first pass gives each item's mean answer, the second fills
    the gaps with it over the rows answering anything; as csi.fit, also with weights."""
    items = list(csi.load_spec("ecsi").item_names)
    frame = data.copy()
    frame.loc[[10, 120], items] = np.nan                       # rows answering nothing
    frame.loc[[5, 6, 7, 150], "IMAG3"] = np.nan
    frame.loc[[6, 201], "PERV1"] = np.nan
    folder = _folder(frame, tmp_path / "mean")
    for weights in (None, "w"):
        memory = _quiet(csi.fit, "ecsi", frame, missing="mean", weights=weights)
        for source in (str(folder), dd.from_pandas(frame, npartitions=4)):
            moments = _quiet(csi.fit, "ecsi", source, missing="mean", weights=weights)
            _same(memory, moments) if weights is None else None
            for name in TABLES:
                np.testing.assert_allclose(getattr(moments, name).estimate,
                                           getattr(memory, name).estimate, atol=1e-10)
            assert moments.n == len(frame) - 2 and moments.settings["rows_dropped"] == 2
            assert moments.settings["data_notes"][-2:] == memory.settings["data_notes"][-2:]


def test_respondent_weights_as_in_memory(data, tmp_path):
    """PLS with frequency weights: the weighted moments of the pass are those of csi.fit."""
    folder = _folder(data, tmp_path / "w")
    memory = _quiet(csi.fit, "ecsi", data, weights="w")
    for source in (str(folder), dd.from_pandas(data, npartitions=3)):
        moments = _quiet(csi.fit_moments, "ecsi", source, weights="w", batch_size=33)
        for name in TABLES:
            np.testing.assert_allclose(getattr(moments, name).estimate,
                                       getattr(memory, name).estimate, atol=1e-10)
    with pytest.raises(CSIError, match="robust standard errors, which a fit from moments"):
        csi.fit_moments("ecsi", str(folder), method="cbsem", weights="w")


def test_parquet_is_read_batch_by_batch_in_bounded_memory(tmp_path):
    """200 000 respondents x 19 items (30 MB as floats) read 4096 rows at a time: pyarrow
    yields ~49 batches and the Python-side peak stays a small fraction of the data."""
    rng = np.random.default_rng(3)
    big = csi.datasets.load_ecsi_mobi()
    items = [c for c in big.columns if c[:-1].isalpha() or c[-1].isdigit()]
    n = 200_000
    frame = big[items].iloc[rng.integers(0, len(big), n)].reset_index(drop=True)
    data_bytes = frame.to_numpy(float).nbytes
    frame.to_parquet(tmp_path / "big.parquet", row_group_size=50_000, index=False)
    del frame
    from csi_models.data.streaming import parquet_columns

    parquet_columns(tmp_path / "big.parquet")    # imports pyarrow.dataset before measuring
    tracemalloc.start()
    tracemalloc.reset_peak()
    res = _quiet(csi.fit_moments, "ecsi", tmp_path / "big.parquet", batch_size=4096)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.n == n and res.settings["fitted_from"].startswith(   # 4 row groups x 13 batches
        f"item moments, one pass over {4 * -(-50_000 // 4096)} chunk(s)")
    assert peak < data_bytes / 4, (peak, data_bytes)


def _message(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as info:
            call()
    return str(info.value)


@pytest.mark.parametrize("damage", [
    lambda d: d.drop(columns=["CUSA2"]),                                    # unknown column
    lambda d: d.rename(columns={"CUSA2": "cusa_2"}),
    lambda d: d.assign(CUSA2=d.CUSA2.where(d.index != 137, 11)),            # out of range
    lambda d: d.assign(CUSA2=d.CUSA2.where(~d.index.isin([5, 140]), -3)),
    lambda d: d.assign(IMAG1=d.IMAG1.astype(str).where(~d.index.isin([7, 77, 177]), "abc")),
    lambda d: d.assign(CUSA2=d.CUSA2.where(d.index % 5 > 0, 0), IMAG1=d.IMAG1.astype(str).where(
        d.index != 99, "x")),                                               # two problems
    lambda d: d.assign(CUSL1=7.0),                                          # constant
    lambda d: d.assign(CUSL1=np.nan),                                       # never answered
    lambda d: d.assign(CUSL1=d.CUSL1.where(d.index < 3)),                  # too few complete rows
])
def test_bad_data_gives_the_errors_of_the_in_memory_fit(data, tmp_path, damage):
    bad = damage(data.drop(columns="w"))
    folder = _folder(bad, tmp_path / "bad")
    expected = _message(lambda: csi.fit("ecsi", pd.read_parquet(folder)))
    assert _message(lambda: csi.fit("ecsi", str(folder))) == expected
    assert _message(lambda: csi.fit("ecsi", dd.from_pandas(bad, npartitions=4))) == expected


def test_respondent_level_things_refuse_clearly(data, tmp_path):
    folder = _folder(data.drop(columns="w"), tmp_path / "s")
    res = _quiet(csi.fit, "ecsi", str(folder))
    for what in (lambda: res.scores, lambda: res.scores_100, lambda: res.predict(),
                 lambda: res.data.values.to_numpy()):
        with pytest.raises(CSIError, match="fitted from moments.*respondent-level"):
            what()
    cb = _quiet(csi.fit, "ecsi", str(folder), method="cbsem")
    with pytest.raises(CSIError, match="respondent-level"):
        cb.modification_indices()
    for kwargs, match in (({"bootstrap": 100}, "bootstrap"),
                          ({"method": "cbsem", "missing": "fiml"}, "FIML needs the rows"),
                          ({"method": "cbsem", "missing": "mean"}, "is for PLS"),
                          ({"method": "cbsem", "se": "robust"}, "robust"),
                          ({"method": "plsc"}, "'pls' and 'cbsem'")):
        with pytest.raises(CSIError, match=match):
            csi.fit("ecsi", str(folder), **kwargs)
    with pytest.raises(CSIError, match="Dask DataFrame or the path"):
        csi.fit_moments("ecsi", data)
    (tmp_path / "csv").mkdir()
    data.to_csv(tmp_path / "csv" / "a.csv")
    with pytest.raises(DataError, match="could not be read as Parquet"):
        csi.fit("ecsi", str(tmp_path / "csv"))
    (tmp_path / "empty").mkdir()      # not 'item columns not in the data'
    with pytest.raises(DataError, match="holds no Parquet files"):
        csi.fit("ecsi", str(tmp_path / "empty"))
    assert "fitted from moments" not in res.summary()   # the summary still prints


def test_an_error_counts_every_bad_cell_beyond_those_kept(data, tmp_path, monkeypatch):
    """Only MAX_BAD rejected cells per item are kept for the final check; the message still
    counts them all (here 7 kept of 50, in several row groups) as the in-memory check does."""
    from csi_models.data import streaming

    monkeypatch.setattr(streaming, "MAX_BAD", 7)
    bad = data.drop(columns="w").assign(CUSA2=lambda d: d.CUSA2.where(d.index % 5 > 0, 12))
    folder = _folder(bad, tmp_path / "many")
    expected = _message(lambda: csi.fit("ecsi", pd.read_parquet(folder)))
    assert "has 50 answer(s)" in expected and "and 45 more" in expected
    assert _message(lambda: csi.fit("ecsi", str(folder))) == expected


def test_unusable_weights_are_counted_over_the_whole_source(data, tmp_path):
    """Negative weights spread over three files: the error counts and names them as the
    in-memory fit does (each chunk's count alone said 'N rows' for its own rows only)."""
    bad = data.assign(w=data.w.where(data.index % 10 > 0, -1.0))
    folder = _folder(bad, tmp_path / "bad")
    message = _message(lambda: csi.fit("ecsi", str(folder), weights="w"))
    assert f"{int((bad.w < 0).sum())} rows have no usable weight" in message
    assert message == _message(lambda: csi.fit("ecsi", pd.read_parquet(folder), weights="w"))
