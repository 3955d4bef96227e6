"""Nonparametric bootstrap of respondents: batched for PLS, parallel refits for CB-SEM.

Resamples. Resample b draws n rows with replacement. Its rows come from the random stream of
its block of 256 resamples, ``SeedSequence(seed, spawn_key=(b // 256,))``, so resample b is the
same whether resamples are estimated one by one, in batches or in parallel processes, and a
run with more resamples extends a shorter one (``resample_rows`` gives any resample's rows).

PLS (Efron & Tibshirani 1993 ch. 6 applied to PLS as SmartPLS and seminr do). All resamples'
means, sds and correlation matrices come from one matrix product (``inference.moments``) and
go through ``pls.estimate_batch`` together. Sign rule per resample: the engine's rule (each
construct oriented so its loadings sum to a positive number), the same rule as the
full-sample fit; no further sign-change correction (as seminr). A resample fails when PLS
does not converge or a number is not finite (e.g. an item constant in the resample).

CB-SEM. Each resample is a fresh ``cbsem.fit`` (a new semopy model, polished to the ML
optimum) started from the full-sample estimates, in parallel processes (joblib); a resample
counts as failed when its max |gradient| exceeds the engine's tolerance (semopy's own
success flag is not trusted) or it cannot be fit.

Failed resamples are counted, listed in ``failed`` and left out of every summary. A statistic
can also be undefined in a resample that did not fail (an index whose weight turns negative
there, and the impacts involving it): that draw is NaN and is left out of that statistic
only; ``n_boot`` in every table says how many resamples each number used, and
``incomplete(kind)`` lists the statistics that used fewer than all (``csi.fit`` warns).

Statistics per resample: standardized paths, weights, loadings, R^2, 0-100 indices (with the
resample's item means and sds, ``indices.index_moments``), indirect and total effects, ACSI
impacts, HTMT (from the resample's item correlations). BCa intervals need the n
leave-one-out estimates (the jackknife); they are computed when first asked for: one more
batch of n for PLS (moments downdated by one row each), n refits for CB-SEM.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from csi_models.statistics import indices as idx
from csi_models.statistics import quality
from csi_models.engines import pls
from csi_models.engines.base import Layout
from csi_models.errors import CSIError
from csi_models.inference import intervals
from csi_models.inference.moments import BatchMoments

BLOCK = 256                 # resamples per random stream
GROUP_BYTES = 2 ** 26       # size of one group's count matrix (64 MB)
KINDS = ("paths", "weights", "loadings", "r2", "indices", "indirect", "total", "impacts", "htmt")


# --- random streams ------------------------------------------------------------------------
def seed_entropy(random_state) -> int:
    """The integer seed a run uses (recorded in settings, so any run can be repeated)."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2 ** 63))
    if isinstance(random_state, np.random.SeedSequence):
        return int(random_state.entropy)
    return int(random_state)


def resample_rows(n: int, ids, seed: int) -> np.ndarray:
    """Row numbers (len(ids), n) of resamples ``ids`` of a bootstrap seeded with ``seed``."""
    ids = np.asarray(ids, int)
    out = np.empty((ids.size, n), dtype=np.intp)
    blocks = ids // BLOCK
    for k in np.unique(blocks):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(k),)))
        rows = rng.integers(0, n, size=(BLOCK, n))
        chosen = blocks == k
        out[chosen] = rows[ids[chosen] % BLOCK]
    return out


# --- what is bootstrapped ------------------------------------------------------------------
class Targets:
    """The statistics of one model (index arrays and the labels of their rows)."""

    def __init__(self, spec, layout: Layout):
        self.layout = layout
        c = layout.constructs
        self.lo, self.hi = idx.scale_bounds(spec, layout)
        self.paths = [(c.index(s), c.index(t)) for s, t in spec.paths]
        self.pairs = idx.effect_pairs(layout.adjacency)
        self.endogenous = layout.endogenous
        self.htmt_pairs = np.triu_indices(len(c), k=1)

    def keys(self, kind: str) -> pd.DataFrame:
        c, lay = self.layout.constructs, self.layout
        if kind in ("paths",):
            return pd.DataFrame([(c[i], c[j]) for i, j in self.paths], columns=["source", "target"])
        if kind in ("indirect", "total", "impacts"):
            return pd.DataFrame([(c[i], c[j]) for i, j in self.pairs], columns=["source", "target"])
        if kind in ("weights", "loadings"):
            return pd.DataFrame({"construct": [c[j] for j in lay.block], "indicator": list(lay.items)})
        if kind == "r2":
            return pd.DataFrame({"construct": [c[j] for j in self.endogenous]})
        if kind == "htmt":
            a, b = self.htmt_pairs
            return pd.DataFrame({"construct_1": [c[i] for i in a], "construct_2": [c[j] for j in b]})
        return pd.DataFrame({"construct": list(c)})

    def compute(self, paths, weights, loadings, r2, mean, sd, S) -> dict:
        """Every statistic for a stack of estimates (leading axis: resamples); ``S`` holds the
        item correlation matrices (for HTMT)."""
        M = self.layout.membership
        index, scale, _ = idx.index_values(weights, mean, sd, self.lo, self.hi, M)
        total = idx.total_effects(paths)
        impacts = idx.IMPACT_POINTS * idx.rescale_effects(total, scale)
        si, ti = np.array(self.paths, int).reshape(-1, 2).T
        pi, pj = np.array(self.pairs, int).reshape(-1, 2).T
        a, b = self.htmt_pairs
        return {"paths": paths[:, si, ti], "weights": weights, "loadings": loadings,
                "r2": r2[:, self.endogenous], "indices": index,
                "indirect": (total - paths)[:, pi, pj], "total": total[:, pi, pj],
                "impacts": impacts[:, pi, pj], "htmt": quality.htmt(S, self.layout)[:, a, b]}


# --- results -------------------------------------------------------------------------------
@dataclass
class BootstrapResult:
    """Draws and summaries of a bootstrap; ``table(kind)`` for paths, weights, loadings, r2,
    indices, indirect, total, impacts, htmt (columns: keys, estimate, mean, se, t, p_value,
    ci_lower, ci_upper, n_boot). ``draws[kind]`` is read-only: (resamples that did not fail,
    statistics), NaN where a statistic is undefined in a resample."""

    engine: str
    n_requested: int
    seed: int
    level: float
    interval: str
    n_obs: int
    estimate: dict
    draws: dict                      # kind -> (successful resamples, parameters)
    targets: Targets
    failed: pd.DataFrame             # resample, reason
    seconds: float
    sign_rule: str
    jackknife_fn: Callable | None = None
    _jackknife: dict | None = field(default=None, repr=False)

    def __post_init__(self):
        for draws in self.draws.values():   # the tables are summaries of these: keep them fixed
            draws.setflags(write=False)

    @property
    def kinds(self) -> tuple:
        return tuple(self.draws)

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    @property
    def n_ok(self) -> int:
        return self.n_requested - self.n_failed

    def jackknife(self) -> dict:
        """Leave-one-out estimates (computed once, when a BCa interval is first asked for)."""
        if self._jackknife is None:
            self._jackknife = self.jackknife_fn()
        return self._jackknife

    def table(self, kind: str, interval: str | None = None) -> pd.DataFrame:
        """keys, estimate, mean, se, t, p_value, ci_lower, ci_upper, n_boot of one kind of
        statistic (``interval``: 'percentile' or 'bca'; default: the run's)."""
        if kind not in self.draws:
            raise CSIError(f"table({kind!r}): no such bootstrap statistic; use one of "
                           f"{', '.join(map(repr, self.kinds))}")
        interval = self.interval if interval is None else interval
        if not isinstance(interval, str) or interval not in intervals.INTERVALS:
            raise CSIError(f"interval={interval!r}: use 'percentile' or 'bca'")
        est, draws = self.estimate[kind][0], self.draws[kind]
        s = intervals.summarize(est, draws, self.n_obs, self.level)
        if interval == "bca":
            lower, upper = intervals.bca(est, draws, self.jackknife()[kind], self.level)
        else:
            lower, upper = s["pct_lower"], s["pct_upper"]
        table = self.targets.keys(kind)
        for name, values in (("estimate", est), ("mean", s["mean"]), ("se", s["se"]), ("t", s["t"]),
                             ("p_value", s["p_value"]), ("ci_lower", lower), ("ci_upper", upper),
                             ("n_boot", s["n_boot"])):
            table[name] = values
        return table

    def attach(self, table: pd.DataFrame, kind: str, columns, prefix: str = "",
               rename: dict | None = None, key_names: dict | None = None) -> pd.DataFrame:
        """A copy of ``table`` with the bootstrap ``columns`` of ``kind`` (e.g. se, ci_lower),
        matched on the statistic's keys and named ``rename.get(name, prefix + name)``.
        ``key_names`` maps the bootstrap's key names to the table's (e.g. source -> driver).
        Rows of ``table`` keep their order."""
        key_names = key_names or {}
        stats = self.table(kind).rename(columns=key_names)
        keys = [key_names.get(k, k) for k in self.targets.keys(kind).columns]
        merged = table[keys].merge(stats, on=keys, how="left")
        table = table.copy()
        for name in columns:
            table[(rename or {}).get(name, prefix + name)] = merged[name].to_numpy()
        return table

    def incomplete(self, kind: str) -> pd.DataFrame:
        """Statistics defined in the full sample but undefined in some resamples that did not
        fail (e.g. an index whose weight turns negative there): keys, n_boot, n_undefined."""
        table = self.table(kind, interval="percentile")
        table["n_undefined"] = self.n_ok - table["n_boot"]
        keep = np.isfinite(table["estimate"].to_numpy(float)) & (table["n_undefined"] > 0)
        return table.loc[keep, [*self.targets.keys(kind).columns, "n_boot", "n_undefined"]] \
            .reset_index(drop=True)

    def settings(self) -> dict:
        return {"bootstrap": self.n_requested, "bootstrap_seed": self.seed,
                "bootstrap_failed": self.n_failed, "bootstrap_level": self.level,
                "bootstrap_interval": self.interval, "bootstrap_seconds": round(self.seconds, 3),
                "bootstrap_resampling": f"respondents with replacement, streams per block of {BLOCK}",
                "bootstrap_sign_rule": self.sign_rule}


class _Progress:
    """A plain stderr progress bar (on by default when stderr is a terminal)."""

    def __init__(self, total: int, enabled, label: str):
        self.total, self.label, self.done, self.last = total, label, 0, 0.0
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.start = time.perf_counter()

    def update(self, k: int):
        self.done += k
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.2 or self.done >= self.total):
            self.last = now
            bar = "#" * int(30 * self.done / self.total)
            sys.stderr.write(f"\r{self.label} [{bar:<30s}] {self.done}/{self.total} "
                             f"{now - self.start:.1f}s")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


# --- PLS: batched ----------------------------------------------------------------------------
def _pls_stats(targets, S, mean, sd, options):
    batch = pls.estimate_batch(S, targets.layout, options["scheme"], options["tol"], options["max_iter"])
    M = targets.layout.membership
    weights = (batch.weights * M).sum(axis=2)
    loadings = (batch.item_cor * M).sum(axis=2)
    return targets.compute(batch.paths, weights, loadings, batch.r2, mean, sd, S), batch


def bootstrap_pls(spec, data, options: dict, n_boot: int, random_state=None, level: float = 0.95,
                  interval: str = "percentile", progress=None) -> BootstrapResult:
    """Bootstrap a PLS fit: all resamples estimated together (see the module docstring)."""
    start = time.perf_counter()
    layout = Layout.from_spec(spec)
    targets = Targets(spec, layout)
    X = data.values[list(layout.items)].to_numpy(float)
    moments = BatchMoments(X, getattr(data, "weights", None))   # respondent weights, if any
    n = moments.n
    seed = seed_entropy(random_state)
    estimate, _ = _pls_stats(targets, *moments.full(), options)

    group = max(BLOCK, (GROUP_BYTES // (8 * n)) // BLOCK * BLOCK)
    bar = _Progress(n_boot, progress, "bootstrap")
    parts, failed = {k: [] for k in KINDS}, []
    for first in range(0, n_boot, group):
        ids = np.arange(first, min(n_boot, first + group))
        stats, batch = _pls_stats(targets, *moments.resamples(resample_rows(n, ids, seed)), options)
        ok = batch.ok
        for k in KINDS:
            parts[k].append(stats[k][ok])
        failed += [(int(i), "not converged" if np.isfinite(batch.weights[m]).all() else "singular "
                    "data (e.g. an item constant in the resample)") for m, i in enumerate(ids) if not ok[m]]
        bar.update(ids.size)

    def jackknife():
        out = {k: [] for k in KINDS}
        for first in range(0, n, group):
            stats, _ = _pls_stats(targets, *moments.leave_one_out(np.arange(first, min(n, first + group))),
                                  options)
            for k in KINDS:
                out[k].append(stats[k])
        return {k: np.concatenate(v) for k, v in out.items()}

    return BootstrapResult(
        engine="pls", n_requested=n_boot, seed=seed, level=level, interval=interval, n_obs=n,
        estimate=estimate, draws={k: np.concatenate(v) for k, v in parts.items()}, targets=targets,
        failed=pd.DataFrame(failed, columns=["resample", "reason"]),
        seconds=time.perf_counter() - start,
        sign_rule="per resample, the engine's rule (each construct's loadings sum to a positive "
                  "number), as in the full-sample fit; no further sign-change correction",
        jackknife_fn=jackknife)


# --- CB-SEM: parallel refits ---------------------------------------------------------------
def _cbsem_stats(targets, data, est) -> dict:
    """Every statistic of one CB-SEM fit ``est`` of ``data`` (a batch of one)."""
    mean, sd = idx.index_moments(data, est)
    S = data.values[list(targets.layout.items)].corr().to_numpy()   # pairwise, as res.htmt
    return targets.compute(est.paths[None], est.weights[None], est.loadings[None], est.r2[None],
                           mean[None], sd[None], S[None])


def _cbsem_one(spec, data, targets, rows, start=None):
    """Statistics of one CB-SEM refit on ``rows`` (or the reason it failed), started from
    ``start`` (the full-sample solution vector) when given."""
    from csi_models.engines import cbsem

    sample = replace(data, values=data.values.iloc[rows].reset_index(drop=True))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cbsem.fit(spec, sample) if start is None else cbsem.fit(spec, sample, start=start)
    except Exception as exc:  # noqa: BLE001 - a resample never stops the bootstrap
        kind = "" if isinstance(exc, CSIError) else f"{type(exc).__name__}: "
        return None, f"failed: {kind}{(str(exc).splitlines() or [''])[0][:120]}"
    if not est.converged:
        return None, f"not converged (max |gradient| {est.gradient_norm:.1e})"
    return _cbsem_stats(targets, sample, est), None


def _cbsem_many(spec, data, targets, rows_list, start):
    return [_cbsem_one(spec, data, targets, rows, start) for rows in rows_list]


def chunks(n_tasks: int, n_jobs) -> list[np.ndarray]:
    """Task numbers split into about four chunks per worker that ``n_jobs`` gives
    (``joblib.effective_n_jobs``: -1 = every core), so that workers stay busy and the
    progress bar moves. Results do not depend on the chunking."""
    from joblib import effective_n_jobs

    workers = max(1, effective_n_jobs(n_jobs))
    parts = np.array_split(np.arange(n_tasks), max(1, min(n_tasks, 4 * workers)))
    return [c for c in parts if c.size]


def _run_parallel(spec, data, targets, rows_all, n_jobs, bar, start=None):
    """Refit every row set in parallel processes (joblib), chunk by chunk."""
    from joblib import Parallel, delayed

    jobs = (delayed(_cbsem_many)(spec, data, targets, [rows_all[i] for i in c], start)
            for c in chunks(len(rows_all), n_jobs))
    results = []
    for part in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
        results += part
        bar.update(len(part))
    return results


def bootstrap_cbsem(spec, data, estimates, n_boot: int, random_state=None, level: float = 0.95,
                    interval: str = "percentile", n_jobs: int = -1, progress=None) -> BootstrapResult:
    """Bootstrap a CB-SEM fit by refitting each resample in parallel processes, each refit
    started from the full-sample solution (``estimates.extras['x']``, when the engine records
    it)."""
    start_time = time.perf_counter()
    layout = estimates.layout
    targets = Targets(spec, layout)
    n = data.n
    seed = seed_entropy(random_state)
    start = estimates.extras.get("x")
    estimate = _cbsem_stats(targets, data, estimates)
    rows = resample_rows(n, np.arange(n_boot), seed)
    bar = _Progress(n_boot, progress, "bootstrap (CB-SEM)")
    results = _run_parallel(spec, data, targets, list(rows), n_jobs, bar, start)
    failed = [(b, reason) for b, (_, reason) in enumerate(results) if reason]
    good = [s for s, _ in results if s is not None]
    draws = {k: (np.concatenate([s[k] for s in good]) if good else np.empty((0, estimate[k].shape[1])))
             for k in KINDS}

    def jackknife():
        loo = [np.delete(np.arange(n), i) for i in range(n)]
        out = _run_parallel(spec, data, targets, loo, n_jobs,
                            _Progress(n, progress, "jackknife (CB-SEM)"), start)
        return {k: np.concatenate([s[k] if s is not None else np.full_like(estimate[k], np.nan)
                                   for s, _ in out]) for k in KINDS}

    return BootstrapResult(
        engine="cbsem", n_requested=n_boot, seed=seed, level=level, interval=interval, n_obs=n,
        estimate=estimate, draws=draws, targets=targets,
        failed=pd.DataFrame(failed, columns=["resample", "reason"]),
        seconds=time.perf_counter() - start_time,
        sign_rule="none needed: the first loading of each construct is fixed to 1 in every refit",
        jackknife_fn=jackknife)
