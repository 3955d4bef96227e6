"""``fit_many``: one model fitted to every group (company, wave, region) of a survey.

Groups run in local processes (this one beside loky workers, ``n_jobs`` in all) or on a
``dask.distributed`` client (``client=``; ``batch.parallel``); each group's bootstrap is
seeded from the run's seed and the group's key (``batch.groups.group_seed``), so the
numbers are identical for any ``n_jobs``, locally and on Dask, in any completion order. A
bad group becomes a status row (``batch.worker``). A Dask DataFrame or a Parquet folder is
read once for every group's moments, each group fitted from them (no bootstrap).
With ``out=`` the tables are written as Parquet as each group finishes (``batch.store``) and
``resume=True`` fits only the groups not yet finished.
"""

from __future__ import annotations

import time

import pandas as pd

from csi_models.batch import groups as grp
from csi_models.batch.store import Store, read_tables, saved_settings
from csi_models.batch.fast import eligible
from csi_models.batch.parallel import run_tasks
from csi_models.batch.worker import TABLES, engine_only
from csi_models.errors import CSIError, DataError, EstimationError

class BatchResult:
    """The results of ``fit_many``: tables with the group keys first.

    ``indices``, ``paths``, ``r2``, ``impacts``: the key columns, then the columns of a single
    fit's table. ``status``: every group with n, status ('ok', 'too small', 'failed',
    'not converged'), converged, message, n_warnings, seconds, seed. ``warnings``: keys,
    warning. ``draws``: keys, draw, construct, estimate (each index's bootstrap draws; what
    ``aggregate`` and ``change`` use). ``batch[key]`` is that group's FitResult, refitted
    with its recorded seed (identical to the batch's numbers)."""

    def __init__(self, by, settings, tables, spec=None, method=None, options=None, groups=None):
        self.by = list(by)
        self.settings = dict(settings)
        self._tables = tables
        self._spec, self._method, self._options = spec, method, options or {}
        self._groups = groups       # key -> rows, when the data are at hand

    def _table(self, name) -> pd.DataFrame:
        table = self._tables.get(name)
        return pd.DataFrame(columns=self.by) if table is None else table.copy()

    status = property(lambda self: self._table("status"), doc="every group's status row")
    indices = property(lambda self: self._table("indices"), doc="keys + res.indices")
    paths = property(lambda self: self._table("paths"), doc="keys + res.paths")
    r2 = property(lambda self: self._table("r2"), doc="keys + res.r2_table")
    impacts = property(lambda self: self._table("impacts"), doc="keys + res.impacts")
    warnings = property(lambda self: self._table("warnings"), doc="keys, warning")
    draws = property(lambda self: self._table("draws"), doc="keys, draw, construct, estimate")

    @property
    def keys(self) -> list[tuple]:
        return [tuple(grp._plain(v) for v in row) for row in self.status[self.by].itertuples(index=False)]

    def __len__(self) -> int:
        return len(self.status)

    def __getitem__(self, key):
        key = grp.normalize_key(key, self.by)
        status = self.status
        match = status[(status[self.by] == pd.Series(key, index=self.by)).all(axis=1)]
        if match.empty:
            raise KeyError(f"{key!r} is not a group of this batch (see batch.status)")
        row = match.iloc[0]
        if row["status"] in ("too small", "failed"):
            raise CSIError(f"group {key!r} has no result: {row['status']}: {row['message']}")
        if self._groups is None:
            raise CSIError(f"group {key!r}: this batch was read from disk without its data; "
                           "fit it with csi.fit(spec, rows, random_state=batch.status.seed) or "
                           "run fit_many(..., out=..., resume=True) and index that result")
        from threadpoolctl import threadpool_limits

        from csi_models.data.streaming import ChunkMoments
        from csi_models.fitting import fit

        rows = self._groups[key]
        with threadpool_limits(1):      # as in the workers: the batch's numbers bit for bit
            if isinstance(rows, ChunkMoments):      # a group of a Dask or Parquet source
                from csi_models.batch.worker import _fit_scanned

                return _fit_scanned(self._spec, rows, self._method, self._options)
            return fit(self._spec, rows, method=self._method,
                       random_state=int(row["seed"]), progress=False, **self._options)

    def precision(self, max_width: float = 4.0) -> pd.DataFrame:
        """The EPSI precision rule per group and construct: keys, construct, ci_width
        (ci_upper - ci_lower of the index), meets_rule (width <= ``max_width`` points; EPSI
        asks for a 95% interval no wider than 4 index points)."""
        table = self.indices
        if "ci_lower" not in table:
            raise CSIError("the indices have no intervals: run fit_many with bootstrap=1000 or more")
        out = table[[*self.by, "construct"]].copy()
        out["ci_width"] = table["ci_upper"] - table["ci_lower"]
        out["meets_rule"] = out["ci_width"] <= max_width
        return out

    def __repr__(self) -> str:
        counts = self.status["status"].value_counts().to_dict() if len(self) else {}
        return (f"<BatchResult {self.settings.get('model')} by {self.settings.get('method')}: "
                f"{len(self)} groups by {', '.join(self.by)} "
                f"({', '.join(f'{v} {k}' for k, v in counts.items()) or 'none'})>")


def _per_group(tables: dict, by: list, keys: list) -> dict:
    """{key: its tables} from a chunk's tables (for the per-group Parquet files)."""
    if len(keys) == 1:
        return {keys[0]: tables}
    out = {key: {} for key in keys}
    for name, table in tables.items():
        if table is None:
            continue
        for key, part in table.groupby(by, sort=False, observed=True):
            key = tuple(grp._plain(v) for v in (key if isinstance(key, tuple) else (key,)))
            out[key][name] = part.reset_index(drop=True)
    return out


def _check(method, bootstrap, random_state, n_jobs, min_n, options):
    """Every argument checked once, before any group is fitted (a bad option is the
    caller's mistake, not a group's failure); returns (engine name, run seed)."""
    from csi_models import fitting
    from csi_models.engines.base import get_engine
    from csi_models.inference.random import seed_entropy

    engine = get_engine(method)
    engine.resolve(engine_only(options))
    engine.check_missing(options.get("missing", "listwise"))   # as csi.fit checks them
    if options.get("weights") is not None and not engine.respondent_weights:
        raise EstimationError(f"weights={options['weights']!r}: respondent weights are not "
                              f"implemented for method={engine.name!r}")
    fitting.check_bootstrap(bootstrap, random_state, options.get("ci", 0.95),
                             options.get("interval", "percentile"), n_jobs,
                             options.get("improper", "keep"))
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 2:
        raise DataError(f"min_n={min_n!r}: give the smallest group size to fit, a whole number >= 2")
    return engine.name, seed_entropy(random_state)


def fit_many(spec, data, by, method: str = "pls", *, bootstrap: int = 0, random_state=None,
             n_jobs: int = 1, client=None, out=None, resume: bool = False, min_n: int = 30,
             **options) -> BatchResult:
    """Fit ``spec`` to every group of ``data`` defined by the key column(s) ``by``.

    bootstrap, random_state: each group is bootstrapped with ``bootstrap`` resamples, seeded
        from ``random_state`` and its key (identical for any n_jobs or client).
    n_jobs: local processes, this one included (it fits chunks beside n_jobs - 1 loky
        workers; -1 = every core); ``client``: a ``dask.distributed.Client`` instead
        (install ``csi-models[dask]``).
    out, resume: a folder for Parquet output written as each group finishes; ``resume=True``
        skips the groups already there (same settings required; without ``random_state``,
        the seed of the run there: the groups fitted now get the seeds they would have got).
    min_n: groups with fewer respondents are not fitted (status 'too small').
    options: passed to ``csi.fit`` (missing, weights, scheme, tol, max_iter, se, ci, interval).
    """
    from csi_models.data import as_frame
    from csi_models.spec import load_spec

    by = grp.key_columns(by)
    method, seed = _check(method, bootstrap, random_state, n_jobs, min_n, options)
    if resume and out is None:
        raise DataError("resume=True fits the groups a run has not yet written to its out= "
                        "folder: give out=")
    if resume and random_state is None and (saved := saved_settings(out)) is not None:
        seed = saved.get("seed", seed)     # a new random seed would never match the run's
    from csi_models.moments_fit import is_large_source

    spec = load_spec(spec)
    large = is_large_source(data)
    if large:
        groups, without = _scan_groups(spec, data, by, method, bootstrap, options)
    else:
        data = as_frame(data)
        groups = grp.split(data, by)
        without = len(data) - sum(len(r) for r in groups.values())
    if not groups:
        raise DataError(f"the data have no rows with a value in every key column ({', '.join(by)})")
    fit_options = {**options, "bootstrap": bootstrap, "n_jobs": 1}
    settings = {"model": spec.name, "method": method, "by": by, "bootstrap": int(bootstrap or 0),
                "seed": seed, "min_n": min_n,
                "options": {k: v for k, v in sorted(options.items())}}
    store = Store(out, settings, resume) if out is not None else None
    done = store.finished() if store is not None else set()
    from csi_models.batch.store import group_id

    tasks = [(key, rows, spec, method, fit_options, grp.group_seed(seed, key), min_n)
             for key, rows in groups.items() if group_id(key) not in done]
    start = time.perf_counter()
    fast = not large and eligible(spec, method, fit_options)
    collected = []
    for position, keys, tables in run_tasks(tasks, by, fast, n_jobs, client):
        if store is not None:
            for key, group_tables in _per_group(tables, by, keys).items():
                store.write({"status": group_tables["status"], **group_tables}, key)
        collected.append((position, tables))
    if store is not None:   # the whole batch, this run's groups and the earlier ones
        _, tables = read_tables(out)
        tables = _ordered(tables, by, list(groups))
    else:
        collected.sort(key=lambda part: part[0])
        tables = {name: _concat([t.get(name) for _, t in collected])
                  for name in ("status", "warnings", "draws", *TABLES)}
    settings.update(n_groups=len(groups), n_fitted_now=len(tasks),
                    rows_without_key=int(without),
                    seconds=round(time.perf_counter() - start, 3))
    return BatchResult(by, settings, tables, spec, method, {k: v for k, v in fit_options.items()
                                                            if k != "n_jobs"}, groups)


def _scan_groups(spec, data, by, method, bootstrap, options):
    """({key: the group's scanned moments}, rows without a key) of a Dask DataFrame or a
    Parquet file or folder, in one pass (``data.streaming.scan_groups``), each group then
    fitted from its moments as ``csi.fit_moments`` fits a whole source; what such a fit
    cannot do (a bootstrap, FIML, CB-SEM with weights) is refused before the pass."""
    from csi_models.data.streaming import scan_groups
    from csi_models.moments_fit import check_columns, check_options

    weights, missing = options.get("weights"), options.get("missing", "listwise")
    if missing != "listwise":
        raise CSIError(f"missing={missing!r}: fit_many over a Dask DataFrame or Parquet source "
                       "fits each group from the moments of its complete rows (listwise)")
    check_options(method, weights, missing, bootstrap, engine_only(options))
    grp.check_keys(check_columns(spec, data, weights), by)
    scanned, without = scan_groups(spec, data, by, weights)
    groups = {tuple(grp._plain(v) for v in key): moments for key, moments in scanned.items()}
    try:
        order = sorted(groups)
    except TypeError:       # mixed key types: order of appearance
        order = list(groups)
    return {key: groups[key] for key in order}, without


def _concat(parts: list):
    parts = [p for p in parts if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def _ordered(tables: dict, by: list, order: list) -> dict:
    """Tables read from disk, in the batch's group order."""
    rank = {key: i for i, key in enumerate(order)}
    out = {}
    for name, table in tables.items():
        if table is None:
            out[name] = None
            continue
        pos = [rank.get(tuple(grp._plain(v) for v in row), len(rank))
               for row in table[by].itertuples(index=False)]
        out[name] = table.assign(_pos=pos).sort_values("_pos", kind="stable") \
            .drop(columns="_pos").reset_index(drop=True)
    return out


def read_batch(path) -> BatchResult:
    """The BatchResult stored in a ``fit_many(..., out=path)`` folder (finished groups only).
    Its tables are complete; ``batch[key]`` needs the data (refit with ``resume=True``)."""
    settings, tables = read_tables(path)
    by = settings["by"]
    status = tables["status"]
    if status is not None and len(status):
        try:
            order = sorted(tuple(grp._plain(v) for v in row) for row in status[by].itertuples(index=False))
        except TypeError:   # mixed key types: keep file order
            order = [tuple(grp._plain(v) for v in row) for row in status[by].itertuples(index=False)]
        tables = _ordered(tables, by, order)
    return BatchResult(by, settings, tables, method=settings.get("method"))
