"""Nonparametric bootstrap of respondents: batched for PLS, parallel refits for CB-SEM.

Resamples. Resample b draws n rows with replacement. Its rows come from the random stream of
its block of 256 resamples, ``SeedSequence(seed, spawn_key=(b // 256,))``, so resample b is the
same whether resamples are estimated one by one, in batches or in parallel processes, and a
run with more resamples extends a shorter one (``resample_rows`` gives any resample's rows).

PLS (Efron & Tibshirani 1993 ch. 6 applied to PLS as SmartPLS and seminr do). All resamples'
moment matrices come from one matrix product: with counts F (resamples x n) and the n x (p +
p(p+1)/2) matrix G of centred items and their pairwise products, F G / n holds every
resample's means and second moments; from them the correlation matrices, which go through
``pls.estimate_batch`` together. Sign rule per resample: the engine's rule (each construct
oriented so its loadings sum to a positive number), the same rule as the full-sample fit; no
further sign-change correction (as seminr). A resample fails when PLS does not converge or a
number is not finite (e.g. an item constant in the resample); failures are counted, listed
in ``failed`` and left out of the summaries, never silently.

CB-SEM. Each resample is a fresh ``cbsem.fit`` (a new semopy model, polished to the ML
optimum) in parallel processes (joblib); a resample counts as failed when its max |gradient|
exceeds the engine's tolerance (semopy's own success flag is not trusted) or it cannot be fit.

Statistics per resample: standardized paths, weights, loadings, R^2, 0-100 indices (with the
resample's item means and sds), indirect and total effects, ACSI impacts. BCa intervals need
the n leave-one-out estimates (the jackknife); they are computed when first asked for: one
more batch of n for PLS (moments downdated by one row each), n refits for CB-SEM.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd

from csi_models import indices as idx
from csi_models.engines import pls
from csi_models.engines.base import Layout
from csi_models.inference import intervals

BLOCK = 256                 # resamples per random stream
GROUP_BYTES = 2 ** 26       # size of one group's count matrix (64 MB)
KINDS = ("paths", "weights", "loadings", "r2", "indices", "indirect", "total", "impacts")


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


def _counts(rows: np.ndarray, n: int) -> np.ndarray:
    """How often each respondent appears in each resample, (resamples, n) as floats."""
    offsets = rows + n * np.arange(rows.shape[0])[:, None]
    return np.bincount(offsets.ravel(), minlength=rows.size).reshape(rows.shape).astype(float)


# --- what is bootstrapped ------------------------------------------------------------------
class Targets:
    """The statistics of one model (index arrays and the labels of their rows)."""

    def __init__(self, spec, layout: Layout):
        self.layout = layout
        c = layout.constructs
        self.lo, self.hi = idx._bounds(spec, layout)
        self.paths = [(c.index(s), c.index(t)) for s, t in spec.paths]
        self.pairs = idx.effect_pairs(layout.adjacency)
        self.endogenous = layout.endogenous

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
        return pd.DataFrame({"construct": list(c)})

    def compute(self, paths, weights, loadings, r2, mean, sd) -> dict:
        """Every statistic for a stack of estimates (leading axis: resamples)."""
        M = self.layout.membership
        index, scale, _ = idx.index_values(weights, mean, sd, self.lo, self.hi, M)
        total = idx.total_effects(paths)
        impacts = idx.IMPACT_POINTS * idx.rescale_effects(total, scale)
        si, ti = np.array(self.paths, int).reshape(-1, 2).T
        pi, pj = np.array(self.pairs, int).reshape(-1, 2).T
        return {"paths": paths[:, si, ti], "weights": weights, "loadings": loadings,
                "r2": r2[:, self.endogenous], "indices": index,
                "indirect": (total - paths)[:, pi, pj], "total": total[:, pi, pj],
                "impacts": impacts[:, pi, pj]}


# --- results -------------------------------------------------------------------------------
@dataclass
class BootstrapResult:
    """Draws and summaries of a bootstrap; ``table(kind)`` for paths, weights, loadings, r2,
    indices, indirect, total, impacts (columns: keys, estimate, mean, se, t, p_value,
    ci_lower, ci_upper, n_boot)."""

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
        interval = interval or self.interval
        if interval not in intervals.INTERVALS:
            raise ValueError(f"interval={interval!r}: use 'percentile' or 'bca'")
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
class _Moments:
    """Means, sds and correlations of weighted copies of the data from one matrix product."""

    def __init__(self, X: np.ndarray):
        self.n, self.p = X.shape
        self.center = X.mean(axis=0)
        Xc = X - self.center
        self.iu = np.triu_indices(self.p)
        self.G = np.concatenate([Xc, Xc[:, self.iu[0]] * Xc[:, self.iu[1]]], axis=1)
        full = np.zeros((self.p, self.p), int)
        full[self.iu] = np.arange(self.iu[0].size)
        self.unpack = np.maximum(full, full.T).ravel()     # (i, j) -> packed column
        self.diag = full[np.arange(self.p), np.arange(self.p)]
        self.floor = 1e-12 * Xc.var(axis=0)                  # variance treated as zero

    def from_sums(self, sums: np.ndarray, count):
        """(S, mean, sd) from column sums of G over each copy with ``count`` rows."""
        p = self.p
        count = np.asarray(count, float).reshape(-1, 1)
        m1 = sums[:, :p] / count
        i, j = self.iu
        cov = sums[:, p:] / count - m1[:, i] * m1[:, j]           # packed upper triangle
        var = cov[:, self.diag]
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.where(var > self.floor, var, np.nan))
            inv = 1.0 / sd
            cor = cov * inv[:, i] * inv[:, j]
        S = np.take(cor, self.unpack, axis=1).reshape(-1, p, p)
        return S, self.center + m1, sd * np.sqrt(count / (count - 1))

    def resamples(self, rows: np.ndarray):
        return self.from_sums(_counts(rows, self.n) @ self.G, self.n)

    def leave_one_out(self, rows: np.ndarray):
        total = self.G.sum(axis=0)
        return self.from_sums(total - self.G[rows], self.n - 1)


def _pls_stats(targets, S, mean, sd, options):
    batch = pls.estimate_batch(S, targets.layout, options["scheme"], options["tol"], options["max_iter"])
    M = targets.layout.membership
    weights = (batch.weights * M).sum(axis=2)
    loadings = (batch.item_cor * M).sum(axis=2)
    return targets.compute(batch.paths, weights, loadings, batch.r2, mean, sd), batch


def bootstrap_pls(spec, data, options: dict, n_boot: int, random_state=None, level: float = 0.95,
                  interval: str = "percentile", progress=None) -> BootstrapResult:
    """Bootstrap a PLS fit: all resamples estimated together (see the module docstring)."""
    start = time.perf_counter()
    layout = Layout.from_spec(spec)
    targets = Targets(spec, layout)
    X = data.values[list(layout.items)].to_numpy(float)
    moments = _Moments(X)
    n = moments.n
    seed = seed_entropy(random_state)
    S, mean, sd = moments.from_sums(moments.G.sum(axis=0)[None], n)
    estimate, _ = _pls_stats(targets, S, mean, sd, options)

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
        step = max(1, group)
        for first in range(0, n, step):
            stats, _ = _pls_stats(targets, *moments.leave_one_out(np.arange(first, min(n, first + step))),
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
def _cbsem_one(spec, data, targets, rows):
    """Statistics of one CB-SEM refit on ``rows`` (or the reason it failed)."""
    from csi_models.engines import cbsem
    from csi_models.errors import CSIError

    values = data.values.iloc[rows]
    sample = replace(data, values=values.reset_index(drop=True))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = cbsem.fit(spec, sample)
    except Exception as exc:  # noqa: BLE001 - a resample never stops the bootstrap
        kind = "" if isinstance(exc, CSIError) else f"{type(exc).__name__}: "
        return None, f"failed: {kind}{(str(exc).splitlines() or [''])[0][:120]}"
    if not est.converged:
        return None, f"not converged (max |gradient| {est.gradient_norm:.1e})"
    mean = values[list(targets.layout.items)].mean().to_numpy()[None]
    sd = values[list(targets.layout.items)].std(ddof=1).to_numpy()[None]
    return targets.compute(est.paths[None], est.weights[None], est.loadings[None],
                           est.r2[None], mean, sd), None


def _cbsem_many(spec, data, targets, rows_list):
    return [_cbsem_one(spec, data, targets, rows) for rows in rows_list]


def _run_parallel(spec, data, targets, rows_all, n_jobs, bar):
    from joblib import Parallel, delayed

    chunks = np.array_split(np.arange(len(rows_all)), max(1, min(len(rows_all), 4 * max(1, abs(n_jobs or 1)))))
    jobs = (delayed(_cbsem_many)(spec, data, targets, [rows_all[i] for i in c]) for c in chunks if c.size)
    results = []
    for part in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
        results += part
        bar.update(len(part))
    return results


def bootstrap_cbsem(spec, data, estimates, n_boot: int, random_state=None, level: float = 0.95,
                    interval: str = "percentile", n_jobs: int = -1, progress=None) -> BootstrapResult:
    """Bootstrap a CB-SEM fit by refitting each resample in parallel processes."""
    start = time.perf_counter()
    layout = estimates.layout
    targets = Targets(spec, layout)
    n = data.n
    seed = seed_entropy(random_state)
    items = list(layout.items)
    values = data.values[items]
    estimate = targets.compute(estimates.paths[None], estimates.weights[None], estimates.loadings[None],
                               estimates.r2[None], values.mean().to_numpy()[None],
                               values.std(ddof=1).to_numpy()[None])
    rows = resample_rows(n, np.arange(n_boot), seed)
    bar = _Progress(n_boot, progress, "bootstrap (CB-SEM)")
    results = _run_parallel(spec, data, targets, list(rows), n_jobs, bar)
    failed = [(b, reason) for b, (_, reason) in enumerate(results) if reason]
    good = [s for s, _ in results if s is not None]
    draws = {k: (np.concatenate([s[k] for s in good]) if good else np.empty((0, estimate[k].shape[1])))
             for k in KINDS}

    def jackknife():
        loo = [np.delete(np.arange(n), i) for i in range(n)]
        out = _run_parallel(spec, data, targets, loo, n_jobs, _Progress(n, progress, "jackknife (CB-SEM)"))
        return {k: np.concatenate([s[k] if s is not None else np.full_like(estimate[k], np.nan)
                                   for s, _ in out]) for k in KINDS}

    return BootstrapResult(
        engine="cbsem", n_requested=n_boot, seed=seed, level=level, interval=interval, n_obs=n,
        estimate=estimate, draws=draws, targets=targets,
        failed=pd.DataFrame(failed, columns=["resample", "reason"]),
        seconds=time.perf_counter() - start,
        sign_rule="none needed: the first loading of each construct is fixed to 1 in every refit",
        jackknife_fn=jackknife)
