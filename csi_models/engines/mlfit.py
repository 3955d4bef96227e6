"""Minimizing the ML fit function for a stack of data sets at once (``engines.mlkernel``).

Each data set runs its own minimization in two phases, all data sets stepping together:

1. Damped Fisher scoring (Levenberg-Marquardt on the expected information, which is positive
   definite everywhere): the step d solves (I + lam diag(I)) d = g; a step that lowers F is
   taken and lam shrinks, one that does not is refused and lam grows. Robust far from the
   optimum, but only linearly convergent where the model misfits, and on ill-conditioned CSI
   models (latent correlations near 1) it can crawl for hundreds of steps. So it runs until
   max |g| < ``NEWTON_FROM`` (1e-2) or for at most ``scoring_steps`` steps.
2. Newton steps on the exact Hessian (``mlkernel.hessian``) in a trust-region fashion: the step
   solves (H + (shift + mu) I) d = g, with the shift making H positive definite where it is not
   (a saddle or ridge) and mu growing after a refused step and shrinking after a taken one. A
   step is taken when it lowers F or, where F changes by less than round-off (near the optimum
   F is too flat to rank steps), when it shrinks max |g|; until max |g| < ``tol``, and then
   on towards ``polish`` for at most ``POLISH_STEPS`` steps that keep max |g| < ``tol``
   (on a flat ECSI ridge the polish would otherwise run 200 steps, and could walk off to
   points where max |g| is 1e-4 while F still falls by 1e-8).

Statuses: 'converged' (max |g| < tol); 'improper region' (the fit keeps falling towards an
improper region: a variance already below 0 fell on at least 90% of the last ``WINDOW``
Newton steps and no slower in their second half than in their first, so there is no optimum
ahead; ``detail['falling']`` holds that parameter's index, else -1); 'failed' (the iteration
cap, no step that lowers F, Sigma not positive definite at the start). lavaan does not bound
variances either, and converges to improper optima where they exist; so do we.

With ``give_up`` (bootstrap refits, where every start of every resample is one of thousands),
a data set that has not reached max |g| < ``tol`` and whose Newton steps make no progress is
stopped early, with status 'failed' and ``detail['given_up']``: from the ``STALL_AFTER + 1``-th
Newton step on, when F fell by less than ``STALL_DROP`` over the last ``STALL_WINDOW`` steps,
max |g| stayed above ``STALL_GRADIENT``, did not shrink steadily (the largest of its last five
values not below 0.3 times the largest of its first five) and, at the rate it shrank over the
window, would not reach ``tol`` within the Newton steps left. On ECSI resamples such fits
mostly drift along a ridge, paths between near-collinear constructs growing without bound
with a disturbance variance below 0 and F falling by ~1e-6 a step, up to the iteration cap.
It is a heuristic, and a trade-off: on 1000 ECSI resamples (seed 1) the refits took 36%
fewer iterations and 3 resamples that converge without the rule (to improper optima, slowly)
did not; a few others converge from a later start instead. Also with ``give_up``, a data set
whose scoring phase runs to its cap and ends with max |g| >= ``HOPELESS_GRADIENT`` gets no
Newton steps (one whose scoring stalled, no step lowering F, still gets them): on 1000 ECSI
resamples about 550 starts ended their scoring there; 3 of them went on to converge, and
the Newton steps of the others (~30 each) were 14% of the refits' iterations.
"""

from __future__ import annotations

import numpy as np

from csi_models.engines import mlkernel as mk

NEWTON_FROM = 1e-2   # 1e-3 took ~18% more time on CCSI resamples, the same fits on ECSI
POLISH_STEPS = 20
WINDOW = 40
# ``give_up``: no progress over STALL_WINDOW Newton steps (after more than STALL_AFTER of them)
# STALL_GRADIENT: with 1e-5, starts hovering at max |g| of 2e-6 to 1e-5 on a flat ridge (F
# falling by ~1e-7 a step) ran on to the Newton cap; with 3e-6, 1000 ECSI resamples (seed 1)
# took 5.6% fewer iterations (204 679 -> 193 308) and one more converged (795)
STALL_WINDOW, STALL_AFTER, STALL_DROP, STALL_GRADIENT = 20, 30, 1e-4, 3e-6
HOPELESS_GRADIENT = 1.0   # ``give_up``: max |g| at the end of the scoring phase
# detail['given_up']: 0, or why ``give_up`` stopped the data set
STALLED, FAR_AFTER_SCORING = 1, 2
# how a failed resample's reason names each give-up: ``engines.resamples`` writes it, and
# ``inference.bootstrap.failure_kind`` counts the reasons by it
GIVEN_UP_TEXT = {STALLED: "given up: the fit function fell by less than",
                 FAR_AFTER_SCORING: "given up: max |gradient| was still above"}
# the Newton steps' least ridge, relative to max diag H. ECSI resamples' Hessians have
# eigenvalues from 1e-5 to 7e6: a ridge of 1e-10 x 7e6 shortened the steps along the valley
# the fit follows ~70-fold, and 1000 resamples (seed 1) converged on 733; with 1e-13, on 751
# (1e-12: 748; 1e-14: 755, but the factor then nears the rounding of the Cholesky)
RIDGE = 1e-13


def _solve(A, g, lam, ridge=None):
    """Damped steps for a stack: (A + lam diag(A) + ridge) d = g, NaN where singular. A is
    damped in place: callers pass their own copy (a fancy-indexed stack)."""
    diag = np.einsum("kii->ki", A)            # a writable view of the diagonals
    diag += lam[:, None] * (diag + 1e-12)
    if ridge is not None:
        diag += ridge[:, None]
    d, ok = solve_positive(A, g)
    for k in np.flatnonzero(~ok):             # not positive definite: LU
        try:
            d[k] = np.linalg.solve(A[k], g[k])
        except np.linalg.LinAlgError:
            d[k] = np.nan
    return d


def solve_positive(A, g):
    """(d, ok): A d = g for each symmetric matrix of the stack by its Cholesky factor, one
    LAPACK call (posv) a matrix; ok False (d NaN) where A is not positive definite. Each
    data set's step is its own arithmetic, whatever the stack (chunking and n_jobs cannot
    change a resample). For 59 x 59 matrices this costs half to a fifth of numpy's stacked
    Cholesky plus a substitution vectorized over the stack (200 matrices: 13.5 ms against
    24 ms; 10: 0.6 ms against 2.9 ms, where the substitution's 118 numpy calls dominated).
    scipy.linalg is imported here, on the first CB-SEM step (~0.5 s in a fresh process)."""
    from scipy.linalg.lapack import dposv

    d = np.full_like(g, np.nan)
    ok = np.zeros(len(A), bool)
    for k in np.flatnonzero(np.isfinite(A).all(axis=(1, 2))):   # posv takes inf for a number
        _, x, info = dposv(A[k].T, g[k], lower=1)     # A symmetric: .T is its Fortran view
        if info == 0:
            d[k], ok[k] = x, True
    ok &= np.isfinite(d).all(axis=1)
    d[~ok] = np.nan
    return d, ok


def variance_parameters(structure) -> np.ndarray:
    """Indices of the free parameters that are variances (diagonal of Psi or Theta)."""
    out = [idx[r == c] for kind in ("psi", "theta")
           for idx, r, c in [structure.free[kind]]]
    return np.unique(np.concatenate(out)) if out else np.zeros(0, int)


class _State:
    """x, F, g, Sigma^-1 and the matrices of every data set, updated where a step is taken."""

    def __init__(self, structure, x, S, logdet_S):
        self.structure, self.S, self.logdet_S = structure, S, logdet_S
        self.x = np.array(x, float, copy=True)
        self.F, self.g, self.inv, self.parts = mk.loss_and_gradient(structure, self.x, S, logdet_S)
        self.gmax = np.abs(self.g).max(axis=1)

    def try_steps(self, active, d, accept):
        """Evaluate x - d on ``active``; take it where accept(Fc, gmax_c, F, gmax) holds."""
        cand = self.x[active] - d
        Fc, gc, invc, partsc = mk.loss_and_gradient(self.structure, cand, self.S[active],
                                                    self.logdet_S[active])
        gmc = np.abs(gc).max(axis=1)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(Fc) & np.isfinite(d).all(axis=1) & \
                accept(Fc, gmc, self.F[active], self.gmax[active])
        take = active[ok]
        self.x[take], self.F[take], self.g[take], self.inv[take] = cand[ok], Fc[ok], gc[ok], invc[ok]
        self.gmax[take] = gmc[ok]
        for p, pc in zip(self.parts, partsc):
            p[take] = pc[ok]
        return ok


class _AtPoint:
    """Each data set's matrix at its current point (expected information, Hessian), kept
    until the point moves: a refused step leaves x, and so the matrix, as it was (on ECSI
    resamples a third of the scoring steps and a tenth of the Newton steps are refused).
    Rows are computed on their own, so the cache changes no number."""

    def __init__(self, K: int):
        self.mats, self.stale = None, np.ones(K, bool)

    def at(self, rows, compute):
        """The matrices of ``rows``, computing (``compute(rows)``) those not kept."""
        new = rows[self.stale[rows]]
        if new.size:
            mats = compute(new)
            if self.mats is None:
                self.mats = np.empty((len(self.stale), *mats.shape[1:]))
            self.mats[new], self.stale[new] = mats, False
        return self.mats[rows]

    def moved(self, rows) -> None:
        self.stale[rows] = True


def _lower(Fc, gmc, F, gmax):
    return Fc <= F


def _lower_or_flatter(tol):
    """Newton's acceptance: F lower, or as low and flatter; never leaving max |g| < tol."""
    def accept(Fc, gmc, F, gmax):
        noise = 1e-13 * np.maximum(1.0, F)
        better = (Fc < F - noise) | ((Fc <= F + noise) & (gmc < gmax))
        return better & ((gmax >= tol) | (gmc < tol))
    return accept


def minimize(structure, x0, S, logdet_S, tol: float = 1e-6, max_iter: int = 300,
             newton_steps: int = 200, scoring_steps: int = 60, detail: dict | None = None,
             polish: float | None = None, give_up: bool = False):
    """Fit every data set k (sample covariance S[k]) from x0[k]. Returns (x, F, max|g|,
    iterations, status) arrays over k; see the module docstring for the statuses,
    ``polish`` (a max |g| below ``tol``) and ``give_up``. ``max_iter`` caps the scoring steps
    (at most ``scoring_steps`` of them are taken before the Newton phase unless
    ``newton_steps`` is 0); ``detail``, a dict, receives 'falling', 'moved' and 'given_up'
    (0, ``STALLED`` or ``FAR_AFTER_SCORING``)."""
    st = _State(structure, x0, S, logdet_S)
    K = len(st.x)
    lam = np.full(K, 1e-3)
    information = _AtPoint(K)
    iterations = np.zeros(K, int)
    status = np.where(np.isfinite(st.F), "", "failed").astype(object)
    cap = min(max_iter, scoring_steps) if newton_steps else max_iter
    for _ in range(cap):
        active = np.flatnonzero((status == "") & (st.gmax >= NEWTON_FROM))
        if not active.size:
            break
        I = information.at(active, lambda rows: mk.information(
            structure, st.inv[rows], tuple(p[rows] for p in st.parts)))
        ok = st.try_steps(active, _solve(I, st.g[active], lam[active]), _lower)
        information.moved(active[ok])
        iterations[active] += 1
        lam[active[ok]] = np.maximum(lam[active[ok]] / 4, 1e-9)
        lam[active[~ok]] *= 8
        status[active[~ok & (lam[active] > 1e8)]] = "stalled"
    hopeless = (status == "") & (st.gmax >= HOPELESS_GRADIENT) & give_up
    status[hopeless] = "failed"
    falling, anchor, given_up = _newton(st, status, iterations, tol, min(tol, polish or tol),
                                        newton_steps, give_up)
    given_up = np.where(hopeless, FAR_AFTER_SCORING, np.where(given_up, STALLED, 0))
    done = np.isin(status, ["", "stalled"])
    status[done & (st.gmax < tol)] = "converged"
    status[done & (st.gmax >= tol)] = "failed"
    status[(falling >= 0) & (status != "converged")] = "improper region"
    if detail is not None:
        detail["falling"] = np.where(status == "improper region", falling, -1)
        detail["moved"] = st.x - anchor   # over the last WINDOW to 2 WINDOW Newton steps
        detail["given_up"] = given_up
    return st.x, st.F, st.gmax, iterations, status


def _newton(st, status, iterations, tol, polish, steps, give_up=False):
    """Phase 2 (module docstring); returns per data set the index of a variance that keeps
    falling below 0 (-1 if none), x as it was WINDOW to 2 WINDOW Newton steps ago (NaN
    before that many steps: what still moves on a fit that does not converge) and whether
    it was given up (``give_up``)."""
    K = len(st.x)
    variances = variance_parameters(st.structure)
    history = np.full((K, WINDOW + 1, variances.size), np.nan)
    taken = np.zeros(K, int)
    mu = np.zeros(K)
    hessians = _AtPoint(K)
    falling = np.full(K, -1)
    anchor, newer = np.full(st.x.shape, np.nan), np.full(st.x.shape, np.nan)
    todo = np.flatnonzero(np.isin(status, ["", "stalled"]))
    history[todo, 0] = st.x[todo][:, variances]
    grads = np.full((K, WINDOW + 1), np.nan)
    grads[todo, 0] = st.gmax[todo]
    polished = np.zeros(K, int)          # Newton steps since max |g| fell below tol
    accept = _lower_or_flatter(tol)
    # F and max |g| after each of the last STALL_WINDOW + 1 Newton steps (give_up)
    recent_F = np.full((K, STALL_WINDOW + 1), np.nan)
    recent_g = np.full((K, STALL_WINDOW + 1), np.nan)
    given_up = np.zeros(K, bool)
    for step in range(steps):
        polished[todo[st.gmax[todo] < tol]] += 1
        todo = todo[(st.gmax[todo] >= polish) & (falling[todo] < 0)
                    & (polished[todo] <= POLISH_STEPS)]
        if not todo.size:
            break
        H = hessians.at(todo, lambda rows: mk.hessian(
            st.structure, st.S[rows], st.inv[rows], tuple(p[rows] for p in st.parts)))
        with np.errstate(all="ignore"):
            d = _newton_steps(H, st.g[todo], mu[todo])
        ok = st.try_steps(todo, d, accept)
        hessians.moved(todo[ok])
        iterations[todo] += 1
        mu[todo[ok]] = np.where(mu[todo[ok]] < 1e-8, 0.0, mu[todo[ok]] / 4)
        mu[todo[~ok]] = np.maximum(mu[todo[~ok]] * 8, 1e-6)
        moved = todo[ok]
        gone = todo[~ok & (mu[todo] > 1e6)]          # no step helps: give up
        status[gone] = "stalled"
        todo = np.setdiff1d(todo, gone)
        taken[moved] += 1
        turn = moved[taken[moved] % WINDOW == 0]
        anchor[turn], newer[turn] = newer[turn], st.x[turn]
        history[moved, taken[moved] % (WINDOW + 1)] = st.x[moved][:, variances]
        grads[moved, taken[moved] % (WINDOW + 1)] = st.gmax[moved]
        full = moved[taken[moved] >= WINDOW]
        if full.size and variances.size:
            scale = np.diagonal(st.S[full], axis1=1, axis2=2).max(axis=1)
            falling[full] = _keeps_falling(history[full], grads[full], taken[full], variances,
                                           scale)
        if give_up:
            slot = step % (STALL_WINDOW + 1)
            recent_F[todo, slot], recent_g[todo, slot] = st.F[todo], st.gmax[todo]
            if step >= STALL_AFTER:      # not converged, nor flagged by _keeps_falling
                check = todo[(st.gmax[todo] >= tol) & (falling[todo] < 0)]
                stuck = check[_stalled(recent_F[check], recent_g[check], slot, tol,
                                       steps - step - 1)]
                status[stuck] = "failed"
                given_up[stuck] = True
                todo = np.setdiff1d(todo, stuck)
    return falling, anchor, given_up


def _stalled(recent_F, recent_g, slot, tol, left) -> np.ndarray:
    """Which data sets made no progress over the last STALL_WINDOW Newton steps
    (``give_up`` in the module docstring): ``slot`` is the newest column of the ring buffers,
    ``left`` the Newton steps still allowed."""
    order = (slot + 1 + np.arange(STALL_WINDOW + 1)) % (STALL_WINDOW + 1)    # oldest first
    F, g = recent_F[:, order], recent_g[:, order]
    with np.errstate(invalid="ignore", divide="ignore"):
        shrinking = g[:, -5:].max(axis=1) < 0.3 * g[:, :5].max(axis=1)   # linear convergence
        rate = (g[:, -1] / g[:, 0]) ** (1 / STALL_WINDOW)                # per step
        in_reach = (rate < 1) & (np.log(tol / g[:, -1]) / np.log(rate) <= left)
        return ((F[:, 0] - F[:, -1] < STALL_DROP) & (g.min(axis=1) > STALL_GRADIENT)
                & ~shrinking & ~in_reach)


def _newton_steps(H, g, mu):
    """Steps solving (H + ridge I) d = g, ridge = RIDGE + mu (relative to max diag H), plus
    1.5 |lowest eigenvalue of H| where H + ridge I is not positive definite: only those
    matrices get eigenvalues and a second solve (on ECSI resamples the eigenvalues of the
    whole stack were a third of the time)."""
    scale = np.abs(np.diagonal(H, axis1=1, axis2=2)).max(axis=1)
    ridge = (RIDGE + mu) * scale
    A = H.copy()
    np.einsum("kii->ki", A)[...] += ridge[:, None]
    d, ok = solve_positive(A, g)
    bad = np.flatnonzero(~ok)
    if bad.size:
        low = np.zeros(bad.size)
        finite = np.isfinite(H[bad]).all(axis=(1, 2))
        low[finite] = np.linalg.eigvalsh(H[bad[finite]])[:, 0]
        d[bad] = _solve(H[bad], g[bad], np.zeros(bad.size), ridge[bad] + np.maximum(-1.5 * low, 0))
    return d


def _keeps_falling(history, grads, taken, variances, scale) -> np.ndarray:
    """For each data set, a variance parameter below 0 that fell on >= 90% of the last WINDOW
    Newton steps and either no slower in their second half than in their first while max |g|
    did not shrink tenfold (Newton near an optimum would), or is already below minus the
    largest item variance (``scale``; as the fit function flattens towards an infimum at
    infinity, |g| and the steps shrink too); -1 where none."""
    n = WINDOW + 1
    order = (taken[:, None] + 1 + np.arange(n)[None]) % n       # oldest first
    h = np.take_along_axis(history, order[:, :, None], axis=1)  # (k, n, v)
    g = np.take_along_axis(grads, order, axis=1)
    stuck = g[:, -1] > 0.1 * g[:, 0]
    fell = (np.diff(h, axis=1) < 0).mean(axis=1) >= 0.9
    half = WINDOW // 2
    first, second = h[:, 0] - h[:, half], h[:, half] - h[:, -1]
    absurd = h[:, -1] < -scale[:, None]
    keeps = fell & (h[:, -1] < 0) & (((second >= first) & (second > 0) & stuck[:, None]) | absurd)
    pick = np.where(keeps.any(axis=1), variances[np.argmax(keeps, axis=1)], -1)
    return pick
