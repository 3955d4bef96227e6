"""Item moments of a survey too large for memory, in one pass (Parquet row groups, Dask
partitions), with the data checks of ``prepare`` made chunk by chunk.

PLS needs only the item correlation matrix, means and sds; CB-SEM only the covariance matrix
and n. One pass therefore collects, per chunk of rows: each item's answers checked and
converted by the in-memory checks themselves (``data.items.inspect_item``: numbers, missing
codes, scale, out-of-range answers, infinities; their messages name the rows by their labels
in the whole data set), then per item n answered, missing, min, max and whether every answer
is whole (the cells an error names are kept and checked together at the end, so that its
message counts and names rows as for the whole table), and over the complete rows (listwise
deletion) the (weighted) count, sums and cross-products of the items shifted by their scale
midpoints (so the sums do not lose precision to large means), the answer counts of each item (up to ``MAX_DISTINCT`` values) and
the first row labels dropped. Chunks add up (``ChunkMoments.merge``), so Parquet batches are
read one at a time (memory bounded by the batch size) and Dask partitions are reduced in
parallel. ``check_moments`` makes the checks of the prepared table from these sums.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.data.items import ItemCheck, inspect_item
from csi_models.data.weights import unusable_message, usable_weights
from csi_models.errors import DataError

MAX_DISTINCT = 256   # answer counts kept per item (near-constant check); beyond: not counted
MAX_BAD = 10_000     # cells kept per item that an item check rejected (re-checked at the end)
ROWS_KEPT = 6        # row labels kept for messages (rows_text shows 5, then "and N more")


@dataclass
class ChunkMoments:
    """Sums over some rows; ``merge`` adds two (in row order, for the row labels)."""

    p: int
    n_input: int = 0
    errors: list = field(default_factory=list)          # error Findings without rows
    bad: dict = field(default_factory=dict)             # item -> raw cells an error named
    n_bad: dict = field(default_factory=dict)           # item -> how many cells it named
    findings: list = field(default_factory=list)        # item findings of the first chunk
    notes: list = field(default_factory=list)
    scales: dict = field(default_factory=dict)
    n_complete: int = 0
    n_answering: int = 0
    dropped: list = field(default_factory=list)         # first ROWS_KEPT labels dropped
    weight: float = 0.0                                 # sum of weights of complete rows
    sums: np.ndarray = None                             # (p,) sum w (x - shift)
    cross: np.ndarray = None                            # (p, p) sum w (x - shift)(x - shift)'
    answered: np.ndarray = None                         # (p,) answers per item (all rows)
    low: np.ndarray = None                              # (p,) min / max answer (all rows)
    high: np.ndarray = None
    whole: np.ndarray = None                            # (p,) every answer a whole number
    clow: np.ndarray = None                             # (p,) min / max over complete rows
    chigh: np.ndarray = None
    counts: list = None                                 # per item {value: count} or None
    answer_sums: np.ndarray = None                      # (p,) sum of answers (reverse-coded)
    n_dropped: int = 0                                  # rows dropped (listwise)
    n_batches: int = 0                                  # chunks read
    bad_weights: tuple = ()                             # (column, rows, first labels)

    def __post_init__(self):
        p = self.p
        for name, value in (("sums", np.zeros(p)), ("cross", np.zeros((p, p))),
                            ("answered", np.zeros(p, int)), ("low", np.full(p, np.inf)),
                            ("high", np.full(p, -np.inf)), ("whole", np.ones(p, bool)),
                            ("clow", np.full(p, np.inf)), ("chigh", np.full(p, -np.inf)),
                            ("answer_sums", np.zeros(p))):
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.counts is None:
            self.counts = [{} for _ in range(p)]

    def merge(self, other: "ChunkMoments") -> "ChunkMoments":
        bad = dict(self.bad)
        for item, cells in other.bad.items():
            bad[item] = pd.concat([bad[item], cells])[:MAX_BAD] if item in bad else cells
        n_bad = {i: self.n_bad.get(i, 0) + other.n_bad.get(i, 0)
                 for i in {*self.n_bad, *other.n_bad}}
        out = ChunkMoments(self.p, self.n_input + other.n_input,
                           self.errors + [e for e in other.errors if e not in self.errors],
                           bad, n_bad,
                           self.findings or other.findings,
                           self.notes + other.notes, self.scales or other.scales,
                           self.n_complete + other.n_complete, self.n_answering + other.n_answering,
                           (self.dropped + other.dropped)[:ROWS_KEPT], self.weight + other.weight,
                           self.sums + other.sums, self.cross + other.cross,
                           self.answered + other.answered, np.minimum(self.low, other.low),
                           np.maximum(self.high, other.high), self.whole & other.whole,
                           np.minimum(self.clow, other.clow), np.maximum(self.chigh, other.chigh))
        out.counts = [_add_counts(a, b) for a, b in zip(self.counts, other.counts)]
        out.answer_sums = self.answer_sums + other.answer_sums
        out.n_dropped = self.n_dropped + other.n_dropped
        out.n_batches = self.n_batches + other.n_batches
        out.bad_weights = _add_bad_weights(self.bad_weights, other.bad_weights)
        return out

    @property
    def failure(self) -> str:
        """Why these rows cannot be fitted ('' if nothing stops them): unusable weights,
        counted over every chunk read."""
        return unusable_message(*self.bad_weights) if self.bad_weights else ""


def _add_bad_weights(a: tuple, b: tuple) -> tuple:
    if not (a and b):
        return a or b
    return a[0], a[1] + b[1], (a[2] + b[2])[:5]


def _add_counts(a, b):
    if a is None or b is None:
        return None
    out = dict(a)
    for v, c in b.items():
        out[v] = out.get(v, 0) + c
    return out if len(out) <= MAX_DISTINCT else None


def chunk_moments(spec, frame: pd.DataFrame, weights: str | None = None,
                  fill=None) -> ChunkMoments:
    """The sums of one chunk of survey rows (index = the rows' labels in the whole data).
    ``fill``: missing='mean', second pass: each item's mean answer (reverse-coded) replaces its
    missing answers, and the rows used are those answering at least one item."""
    items = list(spec.item_names)
    owner = {i: c.name for c in spec.constructs for i in c.item_names}
    out = ChunkMoments(len(items), n_input=len(frame), n_batches=1)
    if not len(frame):
        return out
    columns, findings = [], []
    for item in items:
        ic = ItemCheck(item, spec.column_of(item), owner[item])
        inspect_item(ic, frame[ic.column], frame.index, spec.item(item), {},
                     reverse=item in spec.reverse)
        # an item empty in this chunk may have answers in others: check_moments decides
        empty = [f for f in ic.findings if f.check == "missing"]
        if ic.values is None and empty and empty[0].severity == "error":
            ic.findings.remove(empty[0])
            ic.values = np.full(len(frame), np.nan)
        findings += ic.findings
        out.notes += ic.notes
        if ic.values is not None:
            out.scales[item] = ic.scale
            columns.append(ic.values)
    errors = [f for f in findings if f.severity == "error"]
    if errors:   # the rows an error names are kept, and checked together at the end
        for f in errors:
            if f.rows:
                out.bad[f.item] = frame.loc[list(f.rows[:MAX_BAD]), spec.column_of(f.item)]
                out.n_bad[f.item] = len(f.rows)
            else:
                out.errors.append(f)
        return out
    # per-chunk shares missing and the lower-half hint are not the data's: check_moments
    out.findings = [f for f in findings if f.check != "missing" and
                    not (f.check == "scale" and f.severity == "warning")]
    X = np.vstack(columns)                 # (items, rows): each item's answers contiguous
    seen = ~np.isnan(X)
    out.answered = seen.sum(axis=1)
    with np.errstate(invalid="ignore"):
        out.low = np.where(seen, X, np.inf).min(axis=1)
        out.high = np.where(seen, X, -np.inf).max(axis=1)
        out.whole = ~(seen & (X != np.round(X))).any(axis=1)
    lo = np.array([out.scales[i].min for i in items])
    hi = np.array([out.scales[i].max for i in items])
    flip = np.array([i in spec.reverse for i in items])
    X[flip] = (lo + hi)[flip, None] - X[flip]
    out.answer_sums = np.where(seen, X, 0.0).sum(axis=1)
    complete = seen.all(axis=0)
    if fill is not None:
        complete = seen.any(axis=0)
        X = np.where(seen, X, np.asarray(fill, float)[:, None])
    out.n_answering = int(seen.any(axis=0).sum())
    out.n_complete = int(complete.sum())
    out.n_dropped = len(frame) - out.n_complete
    out.dropped = list(frame.index[~complete][:ROWS_KEPT])
    Xc = X[:, complete]
    Y = Xc - ((lo + hi) / 2)[:, None]
    if weights is None:
        out.weight, out.sums, out.cross = float(out.n_complete), Y.sum(axis=1), Y @ Y.T
    else:
        w, bad = usable_weights(frame, weights)
        if bad.any():     # counted with the other chunks' (``failure``): no sums
            out.bad_weights = (weights, int(bad.sum()), list(frame.index[bad][:5]))
            return out
        w = w[complete]
        out.weight, out.sums, out.cross = float(w.sum()), Y @ w, (Y * w) @ Y.T
    if out.n_complete:
        out.clow, out.chigh = Xc.min(axis=1), Xc.max(axis=1)
    for k in range(len(items)):
        values, counts = np.unique(Xc[k], return_counts=True)
        out.counts[k] = dict(zip(values.tolist(), counts.tolist())) \
            if values.size <= MAX_DISTINCT else None
    return out


# --- sources: Parquet (row group by row group) and Dask (partitions in parallel) -----------
def parquet_columns(path) -> list[str]:
    """The column names of a Parquet file or folder (a clear error when it is not one)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(path), format="parquet")
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{str(path)!r} could not be read as Parquet ({exc}); give a Parquet "
                        "file or a folder of Parquet files") from None
    if not dataset.files:
        raise DataError(f"the folder {str(path)!r} holds no Parquet files: give a Parquet file "
                        "or a folder of Parquet files")
    return list(dataset.schema.names)


def scan_parquet(spec, path, weights=None, batch_size: int = 65536, fill=None) -> ChunkMoments:
    """One pass over a Parquet file or folder (``pyarrow.dataset``), ``batch_size`` rows at a
    time, reading only the item (and weight) columns; rows are labelled 0, 1, ... in the
    dataset's order (as ``pandas.read_parquet`` labels them)."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    wanted = [spec.column_of(i) for i in spec.item_names] + ([weights] if weights else [])
    total, start = ChunkMoments(len(spec.item_names)), 0
    for batch in dataset.to_batches(columns=wanted, batch_size=batch_size):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        total = total.merge(chunk_moments(spec, frame, weights, fill))
    return total


def scan_dask(spec, frame, weights=None, fill=None) -> ChunkMoments:
    """One pass over a Dask DataFrame: every partition's sums in parallel (``to_delayed``),
    added in partition order; rows keep their Dask index labels."""
    import dask

    wanted = [spec.column_of(i) for i in spec.item_names] + ([weights] if weights else [])
    parts = [dask.delayed(chunk_moments)(spec, part, weights, fill)
             for part in frame[wanted].to_delayed()]
    results = dask.compute(*parts)
    total = ChunkMoments(len(spec.item_names))
    for part in results:
        total = total.merge(part)
    return total


# --- per group (fit_many over a large source) ----------------------------------------------
def group_moments(spec, frame: pd.DataFrame, by: list, weights=None) -> tuple[dict, int]:
    """({key tuple: ChunkMoments} of one chunk's groups, rows without a key). A group with
    unusable weights carries them (``ChunkMoments.failure``): that group fails, not the
    batch."""
    frame = frame.copy(deep=False)
    frame.attrs = {}    # else pandas deep-copies a file's metadata into every group's column
    keyed = frame.dropna(subset=by)
    out = {}
    for key, part in keyed.groupby(by, sort=False, observed=True):
        out[key if isinstance(key, tuple) else (key,)] = chunk_moments(spec, part, weights)
    return out, len(frame) - len(keyed)


def _merge_groups(total: dict, part: dict, p: int) -> None:
    for key, moments in part.items():
        total[key] = total.get(key, ChunkMoments(p)).merge(moments)


def scan_groups(spec, data, by: list, weights=None, batch_size: int = 65536):
    """({key: ChunkMoments}, rows without a key) of every group of a Parquet file or folder
    (batch by batch) or a Dask DataFrame (partitions in parallel, added in partition
    order): one pass, each group's sums as ``scan_parquet``/``scan_dask`` make a whole
    source's (a group spread over many batches adds up as a source spread over them)."""
    wanted = [spec.column_of(i) for i in spec.item_names] + ([weights] if weights else [])
    wanted += [k for k in by if k not in wanted]
    p = len(spec.item_names)
    total, without = {}, 0
    if isinstance(data, (str, os.PathLike)):
        import pyarrow.dataset as ds

        start = 0
        for batch in ds.dataset(str(data), format="parquet").to_batches(columns=wanted,
                                                                         batch_size=batch_size):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            part, none = group_moments(spec, frame, by, weights)
            _merge_groups(total, part, p)
            without += none
        return total, without
    import dask

    parts = [dask.delayed(group_moments)(spec, part, by, weights)
             for part in data[wanted].to_delayed()]
    for part, none in dask.compute(*parts):
        _merge_groups(total, part, p)
        without += none
    return total, without
