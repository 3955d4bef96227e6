"""Groups of a batch: splitting the data by key columns, and each group's random seed.

A group's seed depends on the run's seed and the group's key only, never on its position or
on the order in which groups finish:

    seed(key) = SeedSequence(run_seed, spawn_key=words(sha256(json([str(k) for k in key]))))
                .generate_state(1, uint64)[0] >> 1      (below 2**63)

so the same group gets the same bootstrap resamples whatever ``n_jobs`` is, locally or on a
Dask cluster, and whichever other groups are in the batch (a resumed run, or a batch of one
company, reproduces a company's numbers exactly).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from csi_models.errors import DataError


def key_columns(by) -> list[str]:
    """``by`` as a list of column names (one name, or a list of them)."""
    columns = [by] if isinstance(by, str) else list(by) if by is not None else []
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise DataError(f"by={by!r}: give the column (or list of columns) that identifies a "
                        "group, e.g. by='company' or by=['industry', 'company']")
    if len(set(columns)) < len(columns):
        raise DataError(f"by={by!r} names a column twice: list each key column once")
    return columns


def check_keys(columns, by: list[str]) -> None:
    """A DataError naming the key columns of ``by`` that are not among ``columns``."""
    columns = [str(c) for c in columns]
    absent = [c for c in by if c not in columns]
    if absent:
        raise DataError(f"key column(s) {', '.join(map(repr, absent))} are not in the data "
                        f"(columns: {', '.join(columns[:12])}"
                        f"{', ...' if len(columns) > 12 else ''}): check the spelling of by=")


def split(data: pd.DataFrame, by: list[str]) -> dict:
    """{key tuple: that group's rows (a copy)} in sorted key order; a row missing a key value
    belongs to no group (counted by the caller)."""
    check_keys(data.columns, by)
    data = data.copy(deep=False)
    data.attrs = {}     # else pandas deep-copies the survey's metadata into every group
    out = {}
    for key, rows in data.groupby(by, sort=True, dropna=True, observed=True):
        key = tuple(_plain(k) for k in (key if isinstance(key, tuple) else (key,)))
        rows = rows.reset_index(drop=True)
        rows.attrs = {}     # a group is its rows only (no metadata of the whole survey)
        out[key] = rows
    return out


def _plain(value):
    """A key value as a plain Python scalar (numpy int64 -> int), so keys compare and hash
    the same after a round trip through Parquet."""
    return value.item() if isinstance(value, np.generic) else value


def group_seed(run_seed: int, key: tuple) -> int:
    """The seed of group ``key`` in a run seeded ``run_seed`` (see the module docstring)."""
    digest = hashlib.sha256(json.dumps([str(k) for k in key]).encode()).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))
    state = np.random.SeedSequence(int(run_seed), spawn_key=words).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))   # below 2**63: an int64 column in every table


def key_frame(keys, by: list[str]) -> pd.DataFrame:
    """The key columns of a list of key tuples."""
    return pd.DataFrame([list(k) for k in keys], columns=by)


def normalize_key(key, by: list[str]) -> tuple:
    """``batch["C07"]`` or ``batch[("Retail", "C07")]`` -> the key tuple."""
    key = key if isinstance(key, tuple) else (key,)
    if len(key) != len(by):
        raise KeyError(f"{key!r}: a group is named by {len(by)} value(s), one per key column "
                       f"({', '.join(by)})")
    return tuple(_plain(k) for k in key)
