"""Minimizing the ML fit function for a stack of data sets at once (``engines.mlkernel``).

Each data set runs its own damped Fisher scoring (Levenberg-Marquardt on the expected
information): the step d solves (I + lam diag(I)) d = g; a step that lowers F is taken and
lam shrinks, one that does not is refused and lam grows, so far from the optimum the steps
are short gradient-like moves and near it full scoring steps. Scoring converges linearly when
the model misfits (S far from Sigma); once max |g| < ``NEWTON_FROM`` the last steps are Newton
steps on the Hessian differenced from the analytic gradient (shifted where it is not positive
definite), halved until F goes down or, where F changes by less than round-off (near the
optimum F is too flat to rank steps), until max |g| shrinks; until max
|g| < ``tol`` (1e-6 by default, as the engine's convergence criterion). lavaan's fixtures were
polished the same way (tests/fixtures/make_lavaan_refs.R).

A data set stops with status 'converged' (max |g| < tol) or 'failed' (the iteration cap, no
step that lowers F, Sigma not positive definite at the start). Telling a failure that runs
into an improper region apart from one that stalls is left to the caller, from the estimates
(``cbsem.improper_problems``).
"""

from __future__ import annotations

import numpy as np

from csi_models.engines import mlkernel as mk

NEWTON_FROM = 1e-3
H = 1e-6


def _solve(I, g, lam):
    """Damped scoring steps for a stack: (I + lam diag(I)) d = g, NaN where singular."""
    diag = np.diagonal(I, axis1=1, axis2=2)
    A = I + lam[:, None, None] * (diag[:, :, None] * np.eye(I.shape[-1])
                                  + 1e-12 * np.eye(I.shape[-1]))
    try:
        return np.linalg.solve(A, g[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        out = np.full_like(g, np.nan)
        for k in range(len(g)):
            try:
                out[k] = np.linalg.solve(A[k], g[k])
            except np.linalg.LinAlgError:
                pass
        return out


def _gradient(structure, x, S, logdet_S):
    return mk.loss_and_gradient(structure, x, S, logdet_S)[1]


def _hessian(structure, x, S, logdet_S):
    """(K, q, q) central differences of the analytic gradient, symmetrized."""
    K, q = x.shape
    Hs = np.empty((K, q, q))
    for j in range(q):
        step = H * np.maximum(1.0, np.abs(x[:, j]))
        e = np.zeros_like(x)
        e[:, j] = step
        Hs[:, :, j] = (_gradient(structure, x + e, S, logdet_S)
                       - _gradient(structure, x - e, S, logdet_S)) / (2 * step[:, None])
    return (Hs + Hs.transpose(0, 2, 1)) / 2


def minimize(structure, x0, S, logdet_S, tol: float = 1e-6, max_iter: int = 300,
             newton_steps: int = 20):
    """Fit every data set k (sample covariance S[k]) from x0[k]. Returns (x, F, max|g|,
    iterations, status) arrays over k; see the module docstring for the statuses."""
    x = np.array(x0, float, copy=True)
    K = len(x)
    F, g, inv, parts = mk.loss_and_gradient(structure, x, S, logdet_S)
    lam = np.full(K, 1e-3)
    iterations = np.zeros(K, int)
    status = np.where(np.isfinite(F), "", "failed").astype(object)
    gmax = np.abs(g).max(axis=1)
    for _ in range(max_iter):
        active = np.flatnonzero((status == "") & (gmax >= NEWTON_FROM))
        if not active.size:
            break
        I = mk.information(structure, inv[active], tuple(p[active] for p in parts))
        d = _solve(I, g[active], lam[active])
        cand = x[active] - d
        Fc, gc, invc, partsc = mk.loss_and_gradient(structure, cand, S[active], logdet_S[active])
        ok = np.isfinite(Fc) & (Fc <= F[active]) & np.isfinite(d).all(axis=1)
        take = active[ok]
        x[take], F[take], g[take], inv[take] = cand[ok], Fc[ok], gc[ok], invc[ok]
        for p, pc in zip(parts, partsc):
            p[take] = pc[ok]
        iterations[active] += 1
        lam[take] = np.maximum(lam[take] / 4, 1e-9)
        lam[active[~ok]] *= 8
        gmax[take] = np.abs(g[take]).max(axis=1)
        stuck = active[~ok & (lam[active] > 1e8)]
        status[stuck] = "stalled"
    # Newton polish (and the last word on convergence)
    polish = np.flatnonzero(np.isin(status, ["", "stalled"]))
    for _ in range(newton_steps):
        todo = polish[gmax[polish] >= tol]
        if not todo.size:
            break
        Hs = _hessian(structure, x[todo], S[todo], logdet_S[todo])
        with np.errstate(all="ignore"):
            pd_ok = np.isfinite(Hs).all(axis=(1, 2))
            low = np.zeros(todo.size)
            if pd_ok.any():
                low[pd_ok] = np.linalg.eigvalsh(Hs[pd_ok])[:, 0]
            # where H is not positive definite (a saddle or ridge on the way to an improper
            # region), shift it until it is: a step that still goes down hill
            shift = np.where(pd_ok & (low <= 0), 1.5 * np.abs(low) + 1e-8, 0.0)
            step = _solve(Hs + shift[:, None, None] * np.eye(Hs.shape[-1]), g[todo],
                          np.zeros(todo.size))
        moved = np.zeros(todo.size, bool)
        F_now = F[todo]
        for _ in range(30):
            cand = x[todo] - step
            Fc, gc, *_ = mk.loss_and_gradient(structure, cand, S[todo], logdet_S[todo])
            noise = 1e-13 * np.maximum(1.0, F_now)
            better = pd_ok & ~moved & np.isfinite(Fc) & (
                (Fc < F_now - noise) |
                ((Fc <= F_now + noise) & (np.abs(gc).max(axis=1) < gmax[todo])))
            sel = todo[better]
            x[sel], F[sel], g[sel] = cand[better], Fc[better], gc[better]
            gmax[sel] = np.abs(gc[better]).max(axis=1)
            iterations[sel] += 1
            moved |= better
            step = step / 2
            if (moved | ~pd_ok).all():
                break
        if not moved.any():
            break
    done = np.isin(status, ["", "stalled"])
    status[done & (gmax < tol)] = "converged"
    status[done & (gmax >= tol)] = "failed"
    return x, F, gmax, iterations, status
