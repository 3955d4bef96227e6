"""BFGS steps on the ML fit function for a stack of data sets (``engines.mlkernel``): another
path to an optimum than ``mlfit``'s Fisher scoring.

Why a second path: on ill-conditioned models the surface has several valleys, and where the
first scoring steps land decides which one a fit follows. On ECSI bootstrap resamples
(seed 1) lavaan 0.6-14 converged on 73 of 1000 where none of our starts did, and on most of
them lavaan's estimates lie at a true optimum: our Newton steps from there converge to max
|gradient| < 1e-13. Fisher scoring from the data-based start jumps into another valley (a
ridge falling into an improper region); a quasi-Newton method, which starts as steepest
descent and learns the curvature as it goes, follows the valley lavaan's (nlminb's) does.
scipy's BFGS from the data-based start reached lavaan's optimum on 11 of 16 such resamples.

The method (Nocedal & Wright, Numerical Optimization, algorithm 6.1): d = -H g with H the
inverse-Hessian estimate, starting at the identity with a first step along -g of length
min(1, ||g||); a step is taken where it lowers F by at least ``ARMIJO`` x its predicted
decrease, and otherwise shortened by quadratic interpolation of F along d (to 0.1-0.5 of
it); H gets the BFGS update where the curvature s'y exceeds 1e-12 ||s|| ||y||, and restarts
at the identity where d is not a descent direction. With ``nonnegative`` (the start
``multistart.ADMISSIBLE``) the steps are taken in u, with those parameters x = u^2. Each
data set's numbers are its own arithmetic whatever the stack (elementwise products, row sums
and per-matrix products only), as in ``mlfit``.
"""

from __future__ import annotations

import numpy as np

from csi_models.engines import mlkernel as mk

ARMIJO = 1e-4
# ``give_up``: on the 248 of 1000 ECSI resamples (seed 1) that no other start brings to
# convergence, the 42 that converge from this one had max |g| <= 1.1, 0.7 and 0.36 after 100,
# 200 and 300 evaluations of F (one spike of 2.4 at 125); the bounds 2, 1, 0.5 save a third
# of the evaluations and lost none of them
GIVE_UP_EVERY, GIVE_UP_FROM = 100, 2.0


def bfgs(structure, x0, S, logdet_S, steps: int, tol: float, give_up: bool = False,
         nonnegative=None):
    """(x, iterations): each data set k from x0[k] until max |g| < ``tol`` or ``steps``
    evaluations of F (a refused step counts as one), or until its step shrinks below 1e-12
    of the unit step (no lower point along d: a ridge, or Sigma not positive definite).
    With ``give_up`` (bootstrap refits), a data set's steps also end after each
    ``GIVE_UP_EVERY`` evaluations while max |g| is above a bound that starts at
    ``GIVE_UP_FROM`` and halves each time (``_hopeless``); what follows is the caller's
    (``multistart.quasi_newton_start``: Newton steps, or none from max |g| >= 1).
    ``nonnegative``: indices of parameters held at or above 0 (``_Squared``)."""
    loss = _Squared(structure, nonnegative)
    x = loss.inner(x0)
    K, n = x.shape
    F, g = loss(x, S, logdet_S)
    d = -g
    alpha = _first_step(g)
    iterations = np.zeros(K, int)
    active = np.flatnonzero(np.isfinite(F) & (np.abs(g).max(axis=1) >= tol))
    H = np.repeat(np.eye(n)[None], active.size, axis=0)    # rows of ``active``, in its order
    for step in range(1, steps + 1):
        if not active.size:
            break
        a = active
        cand = x[a] + alpha[a, None] * d[a]
        Fc, gc = loss(cand, S[a], logdet_S[a])
        iterations[a] += 1
        slope = (g[a] * d[a]).sum(axis=1)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(Fc) & (Fc <= F[a] + ARMIJO * alpha[a] * slope)
        _shorten(alpha, a[~ok], slope[~ok], F[a[~ok]], Fc[~ok])
        taken = a[ok]
        s, y = np.zeros((a.size, n)), np.zeros((a.size, n))   # 0 where refused: H stays
        s[ok], y[ok] = cand[ok] - x[taken], gc[ok] - g[taken]
        x[taken], F[taken], g[taken] = cand[ok], Fc[ok], gc[ok]
        _update(H, s, y)
        d[taken] = -(H @ g[a][:, :, None])[:, :, 0][ok]   # refused: H g as before
        alpha[taken] = 1.0
        uphill = ok.copy()
        uphill[ok] = ~((g[taken] * d[taken]).sum(axis=1) < 0)
        if uphill.any():                  # not a descent direction: start H afresh
            H[uphill] = np.eye(n)
            r = a[uphill]
            d[r] = -g[r]
            alpha[r] = _first_step(g[r])
        gmax = np.abs(g[a]).max(axis=1)
        keep = (gmax >= tol) & (alpha[a] > 1e-12) & ~(give_up & _hopeless(gmax, step))
        if not keep.all():
            H, active = H[keep], a[keep]
    return loss.outer(x), iterations


START_FLOOR = 1e-4


class _Squared:
    """F and its gradient with the parameters ``nonnegative`` written as squares, x_i = u_i^2
    (dF/du_i = 2 u_i dF/dx_i): steps in u cannot take a variance below 0, so the BFGS steps
    stay among admissible solutions and end at the best one they reach (a variance may end
    at 0, where its gradient in u is 0). Without ``nonnegative``: F and g of x themselves."""

    def __init__(self, structure, nonnegative=None):
        self.structure = structure
        self.idx = np.zeros(0, int) if nonnegative is None else np.asarray(nonnegative, int)

    def inner(self, x) -> np.ndarray:
        """u of a start x; a variance at or below ``START_FLOOR`` starts there (at u = 0 its
        gradient in u would be 0 and no step would move it)."""
        u = np.array(x, float, copy=True)
        u[:, self.idx] = np.sqrt(np.maximum(u[:, self.idx], START_FLOOR))
        return u

    def outer(self, u) -> np.ndarray:
        x = u.copy()
        x[:, self.idx] = u[:, self.idx] ** 2
        return x

    def __call__(self, u, S, logdet_S):
        F, g, _, _ = mk.loss_and_gradient(self.structure, self.outer(u), S, logdet_S)
        g[:, self.idx] *= 2 * u[:, self.idx]
        return F, g


def _hopeless(gmax, step) -> np.ndarray:
    """``give_up``: after every ``GIVE_UP_EVERY`` evaluations, whether max |g| is still above
    ``GIVE_UP_FROM`` / 2^(times checked - 1) (ECSI: 2, 1 and 0.5 after 100, 200 and 300)."""
    if step % GIVE_UP_EVERY:
        return np.zeros(gmax.shape, bool)
    return gmax > GIVE_UP_FROM / 2.0 ** (step // GIVE_UP_EVERY - 1)


def _first_step(g) -> np.ndarray:
    """The multiple of -g a first step takes (also after H restarts): 1 / ||g||, at most 1,
    a step of length min(1, ||g||)."""
    return np.minimum(1.0, 1.0 / np.sqrt((g * g).sum(axis=1)))


def _shorten(alpha, rows, slope, F, Fc) -> None:
    """A refused step's length: the minimum of the quadratic through F, its slope along d
    and the refused value, kept within 0.1-0.5 of the refused length (0.1 where F was not
    finite there)."""
    a = alpha[rows]
    with np.errstate(all="ignore"):
        q = -slope * a ** 2 / (2 * (Fc - F - slope * a))
    alpha[rows] = np.clip(np.where(np.isfinite(q), q, 0.1 * a), 0.1 * a, 0.5 * a)


def _update(H, s, y) -> None:
    """BFGS update of each inverse-Hessian estimate in H (in place) by the step s and the
    change of gradient y, where s'y > 1e-12 ||s|| ||y|| (else, as where s = 0, H stays):
    H + c s s' - rho (H y s' + s y' H), rho = 1 / s'y, c = rho + rho^2 y'Hy, written as
    H + u s' + s u' with u = c s / 2 - rho H y: one product [u s] [s u]' per data set (a
    third of the time of two outer products and a transposed sum over the stack)."""
    sy = (s * y).sum(axis=1)
    ok = sy > 1e-12 * np.sqrt((s * s).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(all="ignore"):
        rho = np.where(ok, 1.0 / sy, 0.0)
    Hy = (H @ y[:, :, None])[:, :, 0]
    c = rho + rho ** 2 * (y * Hy).sum(axis=1)
    u = np.where(ok[:, None], 0.5 * c[:, None] * s - rho[:, None] * Hy, 0.0)
    H += np.stack([u, s], axis=2) @ np.stack([s, u], axis=1)
