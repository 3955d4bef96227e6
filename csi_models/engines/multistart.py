"""Every start of a stack of bootstrap refits in one worker: the unit of work that
``engines.resamples`` sends to processes; a single fit (``cbsem._kernel_fit``) is a stack of
one through the same loop of starts, without giving up early.

A resample is minimized from its starts in turn (``resamples``' module docstring: its
data-based start, semopy's, the full-sample estimates, its best point repaired, BFGS steps from
the data-based start) until one converges. Run as one job per chunk of resamples, a chunk
goes through all its starts without waiting for the other chunks: with one parallel round
per start, a worker that had drawn fewer hard resamples sat idle at each round's end (1000
ECSI resamples: 2 processes took 31.7 s against 47.9 s for one, a speed-up of 1.5). Each
resample's numbers are its own (``mlfit``: no step depends on the other data sets of a
stack), so the chunking, i.e. ``n_jobs``, cannot change them. This module imports numpy only
(scipy's LAPACK wrappers on the first step), so worker processes start without semopy and
sympy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csi_models.engines import mlfit, quasi_newton
from csi_models.engines.start import data_start

# resamples minimized together. Each Newton or scoring step costs a few dozen numpy calls
# whatever the stack, so the few resamples still running at a chunk's end cost ~3-10 times
# as much a step as a full stack (ECSI: 470 us a data set for the loss and gradient of 1-4
# of them, 66 us for 120 or more); fewer, larger chunks have fewer such tails. 1000 ECSI
# resamples, 2 processes: 19.2-19.6 s with 500 (2 chunks), 19.9-20.2 s with 250 (4 chunks),
# 22.9 s and 31.0 s with 200 (6 chunks), alternating. Memory: a chunk keeps a few stacks of
# chunk x q x q (information, Hessian, their damped copies): 14 MB each for ECSI's q = 59
# free parameters. A model with more of them gets smaller chunks, each such stack at most
# STACK_BYTES (q = 150: 93 resamples a chunk)
CHUNK = 500
STACK_BYTES = 16 * 2**20
# Newton steps from the first start: with 100, 9 of 1000 ECSI resamples (seed 1) failed that
# 200 converge, and lavaan converges on 6 of those 9
NEWTON_STEPS = 200
# from the other starts: 1000 ECSI resamples took 43.2 s instead of 65.5 s and 706 converged
# instead of 708 (lavaan converges on one of the two; on resamples 0-299 lavaan converged on
# 210, we on 218 with this cap and on 219 without it); 130 steps: 48.4 s, 707 converged.
# (Measured before mlfit's give_up, which now ends most failing starts long before either cap.)
RETRY_NEWTON_STEPS = 100
# the start 'data, quasi-Newton' (``quasi_newton.bfgs`` from the data-based start, then
# Newton steps): at most QUASI_NEWTON_STEPS evaluations of F, until max |g| < QUASI_NEWTON_TOL
# in the bootstrap; in a single fit (no ``give_up``) up to FIT_QUASI_NEWTON_STEPS, until
# FIT_QUASI_NEWTON_TOL. Of the 41 ECSI resamples (seed 1) where lavaan 0.6-14 converged and
# the bootstrap's refit did not, its starts without give-up (and the admissible one) brought
# 6 to lavaan's chi-square (+1e-3) with 400 / 1e-4, 12 with 1000 / 1e-5, 20 with 3000 / 1e-5
# and 15 with 6000 / 1e-6 (longer runs drift along ridges). Paid only where every earlier
# start failed: single fits of ECSI resamples 0-99 took 98-105 s instead of 33-39 s, and
# 87 converged instead of 74
QUASI_NEWTON = "data, quasi-Newton"
QUASI_NEWTON_STEPS, QUASI_NEWTON_TOL = 400, 1e-4
FIT_QUASI_NEWTON_STEPS, FIT_QUASI_NEWTON_TOL = 3000, 1e-5
# the start 'admissible' (single fits, last): QUASI_NEWTON_STEPS BFGS steps with every
# variance held at or above 0 (``quasi_newton.bfgs``' ``nonnegative``), then Newton steps. It
# runs also where another start converged to a point with a negative variance, and replaces
# that point only by a converged one lower by more than REPLACE_MARGIN: a proper optimum
# next to the improper one a fit found (ECSI resamples 153 and 761: chi-square 749.975 and
# 879.680, lavaan's, instead of 749.981 and 879.689 with a negative variance; 100 steps
# find them too). It adds 0.05-0.1 s to a single ECSI fit that converges improper (0.07 ->
# 0.15-0.18 s on resample 1, whose point it keeps). Not in the bootstrap: most ECSI
# resamples converge to an improper point, and running it there doubled the time (12.6 s
# to 22 s, one process) for 3 more converged of 1000
ADMISSIBLE = "admissible"
REPLACE_MARGIN = 1e-10    # relative; the real gains seen were 4e-8 to 2e-5 of F


@dataclass
class Refits:
    """Per resample: the best point over its starts (the converged one where one converged),
    F, max |g|, iterations summed over its starts, the variance that keeps falling (-1),
    what moved over the last Newton steps, whether and why the best start was given up
    (``mlfit.STALLED``, ``mlfit.FAR_AFTER_SCORING``, else 0), and its label ('' when no
    start was run)."""

    x: np.ndarray
    F: np.ndarray
    gmax: np.ndarray
    iters: np.ndarray
    falling: np.ndarray
    moved: np.ndarray
    given_up: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls, K: int, n_free: int) -> "Refits":
        return cls(np.zeros((K, n_free)), np.full(K, np.inf), np.full(K, np.inf),
                   np.zeros(K, int), np.full(K, -1), np.full((K, n_free), np.nan),
                   np.zeros(K, int), np.full(K, "", dtype=object))

    def put(self, idx, other: "Refits") -> None:
        """Write ``other``'s rows at positions ``idx``."""
        for name in self.__dataclass_fields__:
            getattr(self, name)[idx] = getattr(other, name)


def refit(structure, S, logdet, starts, tol: float, polish: float,
          give_up: bool = True) -> Refits:
    """Minimize every data set (S, log|S|) from ``starts`` in turn until it converges
    (max |g| < ``tol``, polished towards ``polish``). ``starts``: (label, x0) pairs, x0 a
    parameter vector shared by every data set, or None for the computed starts 'data'
    (``start.data_start``), 'repaired' (``repaired``, run only where the best point so far
    has a variance below 0), ``QUASI_NEWTON`` (``quasi_newton_start``, then Newton steps
    without scoring steps) and ``ADMISSIBLE`` (the same with the variances held at or above
    0; run also on converged data sets with a variance below 0, replacing their point only
    by a lower converged one). With ``give_up`` (bootstrap refits) the first start has
    ``NEWTON_STEPS`` Newton steps, the others ``RETRY_NEWTON_STEPS``, and every start is
    given up when its Newton steps stop making progress or its first phase (scoring, or
    BFGS steps) ends far from an optimum (``mlfit``'s ``give_up``; the BFGS steps have their
    own schedule, ``quasi_newton``). Without it (a single fit, ``cbsem._kernel_fit``: one
    data set, where robustness counts more than time) every start runs to the caps."""
    out = Refits.empty(len(S), structure.n_free)
    variances = mlfit.variance_parameters(structure)
    todo = np.arange(len(S))
    with np.errstate(all="ignore"):
        for attempt, (label, fixed) in enumerate(starts):
            run = todo
            if label == "repaired":
                run = todo[np.isfinite(out.F[todo]) & (out.x[todo][:, variances] < 0).any(axis=1)]
            elif label == ADMISSIBLE:
                improper = (out.x[:, variances] < 0).any(axis=1) & (out.gmax < tol)
                run = np.union1d(todo, np.flatnonzero(improper))
            if not run.size:
                continue
            options = {}
            if label == "data":
                x0 = data_start(structure, S[run])
            elif label in (QUASI_NEWTON, ADMISSIBLE):   # their own first phase, not scoring
                x0, iters, options = quasi_newton_start(
                    structure, S[run], logdet[run], give_up=give_up,
                    nonnegative=variances if label == ADMISSIBLE else None)
                out.iters[run] += iters
            elif label == "repaired":
                x0 = repaired(structure, out.x[run], S[run])
            else:
                x0 = np.repeat(np.asarray(fixed, float)[None], run.size, 0)
            detail = {}
            x, F, gmax, iters, _ = mlfit.minimize(
                structure, x0, S[run], logdet[run], tol=tol, polish=polish, detail=detail,
                newton_steps=RETRY_NEWTON_STEPS if attempt and give_up else NEWTON_STEPS,
                give_up=give_up, **options)
            out.iters[run] += iters
            conv = gmax < tol
            # a converged point is replaced only by a converged one lower by more than
            # rounding (ADMISSIBLE: its Newton steps mostly return to the same improper
            # point, a few units in the last place lower)
            lower = F < out.F[run] - REPLACE_MARGIN * np.maximum(1.0, out.F[run])
            better = np.where(out.gmax[run] < tol, conv & lower, conv | (F < out.F[run]))
            sel = run[better]
            out.x[sel], out.F[sel], out.gmax[sel] = x[better], F[better], gmax[better]
            out.falling[sel], out.moved[sel] = detail["falling"][better], detail["moved"][better]
            out.given_up[sel], out.labels[sel] = detail["given_up"][better], label
            todo = np.setdiff1d(todo, run[conv])
    return out


def quasi_newton_start(structure, S, logdet, give_up: bool = False, nonnegative=None):
    """(x0, iterations, options of ``mlfit.minimize``) of the starts ``QUASI_NEWTON`` and
    (with ``nonnegative``, the variances) ``ADMISSIBLE``: BFGS
    steps from the data-based start (``quasi_newton.bfgs``), from whose end Newton steps
    take over, with no scoring steps (they could leave the valley the BFGS steps found).
    mlfit's checks then apply to where the BFGS steps ended: with ``give_up``, a data set
    still at max |g| >= ``mlfit.HOPELESS_GRADIENT`` gets no Newton steps, whether its BFGS
    steps ran to their cap or were stopped by their own schedule."""
    long = not give_up and nonnegative is None      # QUASI_NEWTON in a single fit
    steps, tol = ((FIT_QUASI_NEWTON_STEPS, FIT_QUASI_NEWTON_TOL) if long else
                  (QUASI_NEWTON_STEPS, QUASI_NEWTON_TOL))
    x0, iterations = quasi_newton.bfgs(structure, data_start(structure, S), S, logdet, steps,
                                       tol, give_up=give_up, nonnegative=nonnegative)
    return x0, iterations, {"scoring_steps": 0}


def repaired(structure, best, S) -> np.ndarray:
    """The start before the quasi-Newton one: each resample's best point so far (where the
    other starts stopped, mostly along a ridge into an improper region) with every
    negative variance reset to its data-based start value; ``refit`` runs it only where
    a variance is below 0. On 1000 ECSI resamples (seed 1) 31 of the 297 that no other
    start brings to convergence converged from it when it came in (734 in all; lavaan
    0.6-14 converges on 716). With the Newton ridge of 1e-13 (``mlfit.RIDGE``) 49
    converge from it, 751 in all."""
    fresh = data_start(structure, S)
    variances = mlfit.variance_parameters(structure)
    out = best.copy()
    out[:, variances] = np.where(best[:, variances] < 0, fresh[:, variances], best[:, variances])
    return out


def chunk_size(n_free: int) -> int:
    """Resamples a chunk: ``CHUNK``, fewer where a chunk x n_free x n_free stack would
    exceed ``STACK_BYTES``, but at least 8 (past 512 free parameters a stack exceeds it)."""
    return int(max(8, min(CHUNK, STACK_BYTES // (8 * max(n_free, 1) ** 2))))


def chunks(K: int, jobs: int, n_free: int = 0) -> list[slice]:
    """Slices of about ``chunk_size(n_free)`` resamples, as many as a multiple of ``jobs``
    (every worker busy)."""
    count = -(-K // chunk_size(n_free))
    count = -(-count // jobs) * jobs if K >= jobs else 1
    edges = np.linspace(0, K, count + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
