"""Durable batch output: a folder of Parquet datasets written as each group finishes.

Layout of ``out/``::

    batch.json                 the run's settings (spec, method, by, seed, options)
    status/g-<id>.parquet      one row per finished group (written last: the commit mark)
    indices/ paths/ r2/ impacts/ draws/ warnings/   g-<id>.parquet per group

``<id>`` is a hash of the group's key. Each file is written under a hidden temporary name
(``.tmp-...``, which pyarrow, DuckDB and Spark skip) and renamed into place, and a group's
status file is written after its tables: a group counts as finished exactly when its status
file exists, so a run killed at any moment leaves finished groups intact and at most one
group's stray tables, which ``resume=True`` refits and overwrites. Each folder is a Parquet
dataset: ``pd.read_parquet("out/indices")``, DuckDB's ``read_parquet('out/indices/*.parquet')``
or Spark read it directly; ``read_batch(path)`` gives the BatchResult back.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from csi_models.errors import DataError

FOLDERS = ("status", "indices", "paths", "r2", "impacts", "draws", "warnings")


def group_id(key: tuple) -> str:
    """The file stem of a group: ``g-`` and 20 hex digits of sha256 of its key."""
    return "g-" + hashlib.sha256(json.dumps([str(k) for k in key]).encode()).hexdigest()[:20]


def _write(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def saved_settings(path) -> dict | None:
    """The settings a batch run wrote to ``path`` (None where there is none)."""
    meta = Path(path) / "batch.json"
    return json.loads(meta.read_text()) if meta.exists() else None


class Store:
    """The output folder of one batch run."""

    def __init__(self, path, settings: dict, resume: bool):
        self.path = Path(path)
        meta = self.path / "batch.json"
        saved = saved_settings(self.path)
        if saved is not None:
            if not resume:
                raise DataError(f"{self.path} already holds batch output: pass resume=True to "
                                "fit only the groups not yet finished, or choose an empty folder")
            differs = [k for k in settings if saved.get(k) != settings[k]]
            if differs:
                raise DataError(f"{self.path} holds a batch run with other settings "
                                f"({', '.join(f'{k}: {saved.get(k)!r} there, {settings[k]!r} now' for k in differs)}): "
                                "resume with the same settings, or choose an empty folder")
        elif self.path.exists() and any(p for p in self.path.iterdir() if not p.name.startswith(".")):
            raise DataError(f"{self.path} is not empty and holds no batch output: choose an empty "
                            "or new folder for out=")
        for name in FOLDERS:
            (self.path / name).mkdir(parents=True, exist_ok=True)
        if not meta.exists():
            meta.write_text(json.dumps(settings, indent=1))

    def finished(self) -> set:
        """Ids of the groups whose status file exists."""
        return {p.stem for p in (self.path / "status").glob("g-*.parquet")}

    def write(self, frames: dict, key: tuple) -> None:
        """One finished group's tables (keys already added), the status last."""
        stem = group_id(key)
        for name, frame in frames.items():
            if name != "status" and frame is not None and len(frame):
                _write(frame, self.path / name / f"{stem}.parquet")
        _write(frames["status"], self.path / "status" / f"{stem}.parquet")


def read_tables(path) -> tuple[dict, dict]:
    """(settings, {folder: table}) of the finished groups in ``path``."""
    path = Path(path)
    meta = path / "batch.json"
    if not meta.exists():
        raise DataError(f"{path} holds no batch output (no batch.json): give the out= folder of "
                        "a fit_many run")
    settings = json.loads(meta.read_text())
    done = sorted(p.stem for p in (path / "status").glob("g-*.parquet"))
    tables = {}
    for name in FOLDERS:
        parts = [pd.read_parquet(path / name / f"{stem}.parquet") for stem in done
                 if (path / name / f"{stem}.parquet").exists()]
        tables[name] = pd.concat(parts, ignore_index=True) if parts else None
    return settings, tables
