"""One group of a batch: fit it, and turn the result (or the failure) into table rows.

Runs in a worker process (joblib) or on a Dask worker, so it takes and returns only
picklable, small things: the group's rows, the spec and options in; a ``GroupOutcome`` of
plain DataFrames out (the FitResult itself stays in the worker; ``BatchResult[key]`` refits
a group with its recorded seed and gets the identical result).

A group never raises: too few rows, a constant item, a missing column or any other error
become its status row (``status`` 'too small' or 'failed', the message naming the problem);
a fit that did not converge keeps its tables with status 'not converged'. The warnings the
fit issued are collected with the group's key (per process: run Dask workers as processes,
its default, since Python's warning capture is not thread-safe). BLAS runs one thread per
group, so a group's numbers are bit-identical serially, in processes and on Dask.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from csi_models.errors import CSIError, CSIWarning

#: the tables a batch collects from each group's FitResult
TABLES = ("indices", "paths", "r2", "impacts")
#: options ``csi.fit`` takes itself (bootstrap, intervals, data rules); the rest are the engine's
FIT_LEVEL = ("n_jobs", "bootstrap", "ci", "interval", "improper", "missing", "weights")
#: the columns of ``BatchResult.status`` after the key columns
STATUS = ("n", "status", "converged", "message", "n_warnings", "seconds", "seed")


@dataclass
class GroupOutcome:
    """What one group produced: its status row, warnings, tables and index draws (all
    without the key columns; the caller adds them)."""

    key: tuple
    status: dict
    warnings: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)    # name -> DataFrame
    draws: pd.DataFrame | None = None              # draw, construct, estimate


def _tables(res) -> dict:
    """The result's tables that a batch collects (the table vocabulary of every result)."""
    return {"indices": res.indices, "paths": res.paths, "r2": res.r2_table,
            "impacts": res.impacts}


def index_draws(res) -> pd.DataFrame:
    """The bootstrap draws of every index, long: draw (0..resamples that did not fail - 1),
    construct, estimate (NaN where the index is undefined in that resample)."""
    boot = res.bootstrap
    if boot is None:
        return pd.DataFrame({"draw": pd.Series(dtype="int64"), "construct": pd.Series(dtype=str),
                             "estimate": pd.Series(dtype=float)})
    draws = np.asarray(boot.draws["indices"])
    names = list(boot.statistics.keys("indices")["construct"])
    return pd.DataFrame({"draw": np.repeat(np.arange(draws.shape[0]), len(names)),
                         "construct": np.tile(names, draws.shape[0]),
                         "estimate": draws.ravel()})


def fit_group(key: tuple, rows: pd.DataFrame, spec, method: str, options: dict, seed: int,
              min_n: int) -> GroupOutcome:
    """Fit one group (``csi.fit`` with the group's ``seed``; or, when ``rows`` are the
    group's scanned moments (``data.streaming.ChunkMoments``), ``moments_fit.fit_scanned``);
    never raises."""
    from csi_models.data.streaming import ChunkMoments
    from csi_models.fitting import fit

    start = time.perf_counter()
    scanned = isinstance(rows, ChunkMoments)
    n = rows.n_input if scanned else len(rows)
    status = {"n": int(n), "status": "ok", "converged": None, "message": "",
              "seed": int(seed)}
    if n < min_n:
        status.update(status="too small", message=f"{n} respondents, fewer than "
                      f"min_n={min_n}: collect more, or lower min_n")
        status["seconds"] = time.perf_counter() - start
        return GroupOutcome(key, status)
    # one BLAS thread in every worker and in the main process: sums then round the same way
    # whether a group runs serially, in a process or on Dask (bit-identical results)
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
        warnings.simplefilter("always")
        try:
            res = (_fit_scanned(spec, rows, method, options) if scanned else
                   fit(spec, rows, method=method, random_state=seed, progress=False, **options))
        except Exception as exc:  # noqa: BLE001 - a group never stops the batch
            kind = "" if isinstance(exc, CSIError) else f"{type(exc).__name__}: "
            status.update(status="failed", message=f"{kind}{str(exc).strip()}")
            res = None
    messages = [f"{w.category.__name__}: {w.message}" for w in caught
                if issubclass(w.category, CSIWarning)]
    outcome = GroupOutcome(key, status, warnings=messages)
    if res is not None:
        status["converged"] = bool(res.converged)
        if not res.converged:
            status.update(status="not converged",
                          message="the estimation did not converge; its tables are kept, "
                                  "see batch[key].summary()")
        outcome.tables = _tables(res)
        outcome.draws = index_draws(res)
    status["n_warnings"] = len(messages)
    status["seconds"] = time.perf_counter() - start
    return outcome


def engine_only(options: dict) -> dict:
    """The options that are the engine's (not ``FIT_LEVEL``)."""
    return {k: v for k, v in options.items() if k not in FIT_LEVEL}


def _fit_scanned(spec, moments, method: str, options: dict):
    from csi_models.moments_fit import check_options, fit_scanned
    from csi_models.spec import load_spec

    weights, missing = options.get("weights"), options.get("missing", "listwise")
    engine, engine_options = check_options(method, weights, missing, options.get("bootstrap", 0),
                                           engine_only(options))
    return fit_scanned(load_spec(spec), moments, engine, engine_options, weights, missing,
                       f"the group's rows of {moments.n_batches} chunk(s)")


def frames(outcome, by) -> dict:
    """A ``worker.GroupOutcome``'s tables with the key columns first."""
    keys = dict(zip(by, outcome.key))

    def keyed(frame):
        if frame is None:
            return None
        frame = frame.copy()
        for pos, (name, value) in enumerate(keys.items()):
            frame.insert(pos, name, [value] * len(frame))
        return frame

    status = {name: outcome.status.get(name) for name in STATUS}
    frames = {"status": keyed(pd.DataFrame([status])),
              "warnings": keyed(pd.DataFrame({"warning": outcome.warnings}, dtype=object)),
              "draws": keyed(outcome.draws)}
    frames.update({name: keyed(outcome.tables.get(name)) for name in TABLES})
    return frames
