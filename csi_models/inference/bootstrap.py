"""Nonparametric bootstrap of respondents, for any engine.

Resamples. Resample b draws n rows with replacement. Its rows come from the random stream of
its block of 256 resamples, ``SeedSequence(seed, spawn_key=(b // 256,))``, so resample b is the
same whether resamples are estimated one by one, in batches or in parallel processes, and a
run with more resamples extends a shorter one (``resample_rows`` gives any resample's rows).

The engine estimates the stack of resamples (``Engine.resample``): PLS all at once from one
matrix product (Efron & Tibshirani 1993 ch. 6 applied to PLS as SmartPLS and seminr do; per
resample the engine's sign rule, no further sign-change correction, as seminr), CB-SEM by
fresh refits in parallel processes, each started from the full-sample solution and counted as
failed when its max |gradient| exceeds the engine's tolerance. The statistics kernel
(``statistics.kernel``) derives every statistic of every resample: standardized paths, weights,
loadings, R², 0-100 indices (with the resample's item means and sds), direct, indirect and
total effects, impacts, HTMT.

Failed resamples are counted, listed in ``failed`` and left out of every summary. CB-SEM
resamples that converged to an improper solution (negative variance, standardized estimate
beyond 1, latent correlation at 1) are counted apart (``n_improper``) and kept (``improper=
"keep"``, as lavaan) or left out (``"drop"``). A statistic can also be undefined in a resample
that did not fail (an index whose weight turns negative there, and the impacts involving it):
that draw is NaN and is left out of that statistic only; ``n_boot`` in every table says how
many resamples each number used, and ``incomplete(kind)`` lists the statistics that used fewer
than all (``csi.fit`` warns). BCa intervals need the n leave-one-out estimates (the
jackknife); they are computed by the engine when first asked for.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.engines.base import Resamples, get_engine
from csi_models.errors import CSIError
from csi_models.inference import intervals
from csi_models.inference.random import seed_entropy
from csi_models.statistics.kernel import Statistics

BLOCK = 256                 # resamples per random stream
IMPROPER = ("keep", "drop")


# --- random streams ------------------------------------------------------------------------
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


# --- results -------------------------------------------------------------------------------
def failure_kind(reason: str) -> str:
    """A failed resample's reason without its numbers, so that the warning counts kinds
    ('did not converge', 'given up for want of progress', 'given up far from an optimum',
    'singular data', ...) instead of listing every resample's gradient."""
    from csi_models.engines.mlfit import FAR_AFTER_SCORING, GIVEN_UP_TEXT, STALLED

    if "; " + GIVEN_UP_TEXT[FAR_AFTER_SCORING] in reason:
        return "given up far from an optimum"
    if "; " + GIVEN_UP_TEXT[STALLED] in reason:
        return "given up for want of progress"
    if reason.startswith("failed: "):             # a refit that raised (FIML): its error
        return "failed: " + failure_kind(reason[len("failed: "):])
    if reason.startswith("the resample's item covariance matrix is singular"):   # CB-SEM
        return "singular data"
    return reason.split(" (")[0].split(":")[0]


@dataclass
class BootstrapResult:
    """Draws and summaries of a bootstrap; ``table(kind)`` for every kind of
    ``statistics.kernel.KINDS`` (columns: keys, estimate, mean, se, statistic, p_value,
    ci_lower, ci_upper, n_boot). ``draws[kind]`` is read-only: (resamples used, statistics),
    NaN where a statistic is undefined in a resample. Picklable: the jackknife for BCa is
    recomputed from the engine name, spec, data and options it keeps."""

    engine: str
    n_requested: int
    seed: int
    level: float
    interval: str
    n_obs: int
    estimate: dict                   # kind -> (1, statistics): the full-sample values
    draws: dict                      # kind -> (resamples used, statistics)
    statistics: Statistics
    failed: pd.DataFrame             # resample, reason
    seconds: float
    sign_rule: str
    n_improper: int = 0
    improper: str = "keep"
    source: tuple = field(default=(), repr=False)   # (spec, survey, estimates, options, n_jobs)
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
        """Resamples whose draws enter the summaries."""
        return self.n_requested - self.n_failed - (self.n_improper if self.improper == "drop" else 0)

    def jackknife(self) -> dict:
        """Leave-one-out estimates (computed once, when a BCa interval is first asked for)."""
        if self._jackknife is None:
            spec, survey, estimates, options, n_jobs = self.source
            stack = get_engine(self.engine).leave_one_out(spec, survey, estimates, options, n_jobs)
            derived = self.statistics.derive(stack)
            self._jackknife = {k: np.where(stack.ok[:, None], v, np.nan) for k, v in derived.items()}
        return self._jackknife

    def table(self, kind: str, interval: str | None = None) -> pd.DataFrame:
        """keys, estimate, mean, se, statistic, p_value, ci_lower, ci_upper, n_boot of one kind
        of statistic (``interval``: 'percentile' or 'bca'; default: the run's)."""
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
        table = self.statistics.keys(kind)
        for name, values in (("estimate", est), ("mean", s["mean"]), ("se", s["se"]),
                             ("statistic", s["t"]), ("p_value", s["p_value"]),
                             ("ci_lower", lower), ("ci_upper", upper), ("n_boot", s["n_boot"])):
            table[name] = values
        return table

    def incomplete(self, kind: str) -> pd.DataFrame:
        """Statistics defined in the full sample but undefined in some resamples that did not
        fail (e.g. an index whose weight turns negative there): keys, n_boot, n_undefined."""
        if kind not in self.draws:
            return self.table(kind)          # names the valid kinds
        defined = np.isfinite(self.estimate[kind][0])
        n_boot = np.where(defined, np.isfinite(self.draws[kind]).sum(axis=0), 0)  # as table()
        keep = defined & (self.n_ok - n_boot > 0)
        table = self.statistics.keys(kind).loc[keep].reset_index(drop=True)
        table["n_boot"] = n_boot[keep]
        table["n_undefined"] = self.n_ok - n_boot[keep]
        return table

    def messages(self) -> list[str]:
        """What the bootstrap left out: failed (and dropped improper) resamples, and
        statistics undefined in some of the resamples used (their summaries then use fewer
        draws: their n_boot)."""
        out = []
        if self.n_failed:
            kinds = Counter(failure_kind(r) for r in self.failed.reason)
            counted = "; ".join(f"{n} {kind}" for kind, n in kinds.most_common())
            out.append(f"{self.n_failed} of {self.n_requested} bootstrap resamples failed "
                       f"({counted}) and are left out of the standard errors and "
                       "intervals; see res.bootstrap.failed")
        if self.n_improper:
            what = ("left out" if self.improper == "drop" else
                    "kept (improper='keep', as lavaan; improper='drop' leaves them out)")
            out.append(f"{self.n_improper} of {self.n_requested} bootstrap resamples converged to "
                       f"an improper solution (negative variance, standardized estimate beyond "
                       f"1 or latent correlation at 1) and are {what}")
        for row in self.incomplete("indices").itertuples():
            out.append(f"the index of {row.construct} is undefined (a negative weight) in "
                       f"{row.n_undefined} of {self.n_ok} bootstrap resamples; its se and "
                       f"interval, and those of the effects on the 0-100 metric and the impacts "
                       f"involving {row.construct}, use the other {row.n_boot} or fewer (column "
                       "n_boot of res.indices and res.impacts)")
        for kind in ("paths", "weights", "loadings", "r2", "indirect", "total", "htmt"):
            short = self.incomplete(kind)
            if len(short):
                keys = ["/".join(map(str, k)) for k in short.iloc[:, :-2].itertuples(index=False)]
                out.append(f"{kind}: {', '.join(keys)} undefined in {short.n_undefined.max()} or "
                           f"fewer of {self.n_ok} bootstrap resamples, left out of their se and "
                           f"intervals (res.bootstrap.table({kind!r}).n_boot)")
        return out

    def settings(self) -> dict:
        return {"bootstrap": self.n_requested, "bootstrap_seed": self.seed,
                "bootstrap_failed": self.n_failed, "bootstrap_improper": self.n_improper,
                "bootstrap_improper_rule": self.improper, "bootstrap_level": self.level,
                "bootstrap_interval": self.interval, "bootstrap_seconds": round(self.seconds, 3),
                "bootstrap_resampling": f"respondents with replacement, streams per block of {BLOCK}",
                "bootstrap_sign_rule": self.sign_rule}


class _Progress:
    """The bootstrap's progress callback ``bar(k)``: a tqdm bar with an ETA
    (``inference.progress``), shown after 2 s by default, at once with progress=True, never
    with progress=False; closed when the count is reached."""

    def __init__(self, total: int, enabled, label: str):
        from csi_models.inference.progress import progress_bar

        self.total, self.done = total, 0
        self.bar = progress_bar(total, enabled, label)

    def __call__(self, k: int):
        self.done += k
        self.bar.update(k)
        if self.done >= self.total:
            self.bar.close()


SIGN_RULES = {"pls": "per resample, the engine's rule (each construct's loadings sum to a "
                     "positive number), as in the full-sample fit; no further sign-change correction",
              "cbsem": "none needed: the first loading of each construct is fixed to 1 in every refit"}


def bootstrap(engine, spec, survey, estimates, options: dict, statistics: Statistics,
              estimate: dict, n_boot: int, random_state=None, level: float = 0.95,
              interval: str = "percentile", n_jobs=1, progress=None,
              improper: str = "keep") -> BootstrapResult:
    """Bootstrap a fit: the engine estimates every resample, the kernel derives the
    statistics (see the module docstring). ``estimate`` holds the full sample's derived
    statistics (``statistics.derive`` of the fit), reused, never re-estimated."""
    start = time.perf_counter()
    seed = seed_entropy(random_state)
    rows = resample_rows(survey.n, np.arange(n_boot), seed)
    bar = _Progress(n_boot, progress, f"bootstrap ({engine.title})")
    stack: Resamples = engine.resample(spec, survey, estimates, options, rows, n_jobs, bar)
    return summarized(engine, spec, survey, estimates, options, statistics, estimate, stack,
                      seed, level, interval, n_jobs, improper, start)


def summarized(engine, spec, survey, estimates, options: dict, statistics: Statistics,
               estimate: dict, stack: Resamples, seed: int, level: float, interval: str,
               n_jobs, improper: str, start: float) -> BootstrapResult:
    """The BootstrapResult of a stack of resamples the engine has estimated (``bootstrap``;
    ``batch.fast`` estimates many groups' stacks at once and hands each in here)."""
    n_boot = len(stack.ok)
    improper_mask = (stack.improper if stack.improper is not None
                     else np.zeros(n_boot, bool)) & stack.ok
    use = stack.ok & ~improper_mask if improper == "drop" else stack.ok
    derived = statistics.derive(stack if use.all() else stack.select(use))
    failed = [(b, reason) for b, (ok, reason) in enumerate(zip(stack.ok, stack.reasons)) if not ok]
    return BootstrapResult(
        engine=engine.name, n_requested=n_boot, seed=seed, level=level, interval=interval,
        n_obs=survey.n, estimate=estimate, draws=derived, statistics=statistics,
        failed=pd.DataFrame(failed, columns=["resample", "reason"]),
        seconds=time.perf_counter() - start, sign_rule=SIGN_RULES.get(engine.name, ""),
        n_improper=int(improper_mask.sum()), improper=improper,
        source=(spec, survey, estimates, options, n_jobs))
