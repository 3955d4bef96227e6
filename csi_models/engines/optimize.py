"""Taking an ML fit to the true optimum: Fisher scoring, then Newton steps.

Shared by ``engines.cbsem`` (semopy's objective, gradient and expected information, or
``engines.fiml``'s) and ``multigroup`` (the stacked multi-group model). Far from the optimum,
scoring steps x <- x - a I(x)^-1 g(x) with the expected information I are robust (a halved
until the fit function goes down). Near it, Newton steps on a Hessian differenced from the
analytic gradient converge quadratically; there the fit function is too flat to rank steps
(its change is below round-off on ill-conditioned CSI models), so a Newton step is accepted
when it shrinks max |gradient|. lavaan's fixtures were polished the same way
(tests/fixtures/make_lavaan_refs.R), and our fits match them to 1e-6.
"""

from __future__ import annotations

import numpy as np


# FIML on ECSI bootstrap resamples (2.4% missing): the fits that fail take scoring steps cut
# to 1/100-1/2000 for hundreds of iterations while max |g| grows (2e1 -> 3e2, 4e3 -> 6e3), 7-17 s
# each; the fits that converge take full steps. 30 such steps without a lower max |g| end it
RIDGE_STEPS = 30


def numeric_hessian(grad, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the analytic gradient (step h max(1, |x_j|)), symmetrized."""
    n = x.size
    H = np.empty((n, n))
    for j in range(n):
        step = h * max(1.0, abs(x[j]))
        e = np.zeros(n)
        e[j] = step
        H[:, j] = (grad(x + e) - grad(x - e)) / (2 * step)
    return (H + H.T) / 2


def fisher_scoring(fun, grad, information, x: np.ndarray, tol: float = 1e-7,
                   max_iter: int = 500, min_step: float = 1e-8, stall: int = 150,
                   ridge: int = RIDGE_STEPS) -> np.ndarray:
    """Steps x <- x - a I(x)^-1 g(x), a halved (down to ``min_step``) until ``fun`` does not
    go up, until max |g| < ``tol``; stops early when I is singular, no step helps, ``stall``
    steps in a row were cut below 1/1000 (the fit is creeping towards a boundary, e.g. a
    latent correlation of 1 on an ECSI bootstrap resample, where no optimum exists), or
    ``ridge`` steps in a row were cut below 1/100 without lowering max |g| (running down a
    ridge: ``RIDGE_STEPS``). Newton steps (``newton``) take over from where it stops."""
    short = 0
    run, run_gmax = 0, np.inf       # steps in a row below 1/100, and max |g| when they began
    for _ in range(max_iter):
        g = grad(x)
        gmax = np.abs(g).max()
        if not np.isfinite(g).all() or gmax < tol:
            break
        if run >= ridge and gmax >= run_gmax:
            break
        try:
            step = np.linalg.solve(information(x), g)
        except np.linalg.LinAlgError:
            break
        f0, a = fun(x), 1.0
        while a > min_step and not fun(x - a * step) <= f0:
            a /= 2
        if a <= min_step:
            break
        x = x - a * step
        short = short + 1 if a < 1e-3 else 0
        if short >= stall:
            break
        run, run_gmax = (run + 1, run_gmax if run else gmax) if a < 1e-2 else (0, np.inf)
    return x


def newton(grad, x: np.ndarray, hessian=None, tol: float = 1e-12,
           max_steps: int = 20) -> tuple[np.ndarray, int]:
    """Newton steps x <- x - H^-1 g(x) while they shrink max |g| (a step is halved up to
    30 times), until max |g| < ``tol``; stops where H is not positive definite (Newton would
    head for a saddle). ``hessian`` defaults to ``numeric_hessian(grad, .)``. H is kept
    while full steps shrink max |g| at least tenfold (near the optimum, where these polishing
    steps run, the old H is as good; a differenced Hessian costs 2q gradients) and
    recomputed otherwise. Returns (x, number of steps taken)."""
    hessian = hessian or (lambda z: numeric_hessian(grad, z))
    steps, H, fresh = 0, None, False       # fresh: H was computed at this x
    g = grad(x)
    for _ in range(max_steps):
        size = np.abs(g).max()
        if not np.isfinite(size) or size < tol:
            break
        if H is None:
            H, fresh = hessian(x), True
            try:
                if not np.isfinite(H).all() or np.linalg.eigvalsh(H)[0] <= 0:
                    break
            except np.linalg.LinAlgError:
                break
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        for halvings in range(30):
            candidate = x - step
            g_new = grad(candidate)
            if np.abs(g_new).max() < size:
                break
            step = step / 2
        else:
            if not fresh:                   # an old H: try once more with one at this x
                H = None
                continue
            break
        if halvings or not np.abs(g_new).max() < size / 10:
            H = None
        x, g, steps, fresh = candidate, g_new, steps + 1, False
    return x, steps
