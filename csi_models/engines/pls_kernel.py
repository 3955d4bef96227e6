"""The batched PLS kernel: PLS path modelling on a stack of item correlation matrices.

With standardized items every PLS quantity is a function of the item correlation matrix S:
construct covariances are W'SW, item-construct covariances SW, outer updates SWE (mode A)
or S_jj^-1 (SWE)_j (mode B). ``estimate_batch`` therefore runs any number of correlation
matrices (the full sample, thousands of bootstrap resamples, the resamples of many groups)
through the same iterations at once; a single fit is a batch of one. The algebra runs with
the batch axis last as elementwise vector operations, term by term, so a member's numbers are
bit for bit the same alone or in any stack (``engines.pls`` describes the algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from csi_models.engines.base import Layout

SCHEMES = {"path": "path", "path_weighting": "path", "pathweighting": "path",
           "factorial": "factorial", "path_factorial": "factorial", "centroid": "centroid"}


@dataclass(frozen=True)
class PLSBatch:
    """Estimates for a batch of correlation matrices; the first axis is the batch."""

    weights: np.ndarray      # (B, items, constructs), each column non-zero on its block only
    item_cor: np.ndarray     # (B, items, constructs): correlations of items with scores
    construct_cor: np.ndarray  # (B, constructs, constructs)
    paths: np.ndarray        # (B, constructs, constructs)
    r2: np.ndarray           # (B, constructs), NaN for exogenous
    iterations: np.ndarray   # (B,)
    converged: np.ndarray    # (B,) bool
    ok: np.ndarray           # (B,) bool: converged and every number finite


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``solve(a, b)``; a singular member gives NaNs instead of failing the batch."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        out = np.full(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:], np.nan)
        for k in range(a.shape[0]):
            try:
                out[k] = np.linalg.solve(a[k], b[k])
            except np.linalg.LinAlgError:
                pass
        return out


def _sum0(a: np.ndarray) -> np.ndarray:
    """Sum over the first (short) axis, term by term in order: the same rounding for any
    length of the batch axis (numpy's reductions switch to pairwise sums when the batch axis
    has length 1), so a member's numbers never depend on its neighbours in a stack."""
    out = a[0].copy()
    for row in a[1:]:
        out += row
    return out


def _spd_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve many small symmetric positive-definite systems, batch axis last.

    A is (k, k, N), b is (k, N). Gaussian elimination without pivoting (stable for SPD
    matrices), written as O(k^3) vector operations of length N: for the 2x2..6x6 systems of
    path weighting this is ~20x faster than LAPACK's per-matrix loop in np.linalg.solve.
    A singular member gives inf/NaN in its own column only."""
    k = A.shape[0]
    A = A.copy()
    b = b.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in range(k - 1):
            f = A[c + 1:, c] / A[c, c]                        # (k-c-1, N)
            A[c + 1:, c + 1:] -= f[:, None] * A[c, c + 1:][None]
            b[c + 1:] -= f * b[c]
        x = np.empty_like(b)
        for c in range(k - 1, -1, -1):
            rest = b[c] - _sum0(A[c, c + 1:] * x[c + 1:]) if c < k - 1 else b[c]
            x[c] = rest / A[c, c]
    return x


class _Plan:
    """Index arrays of a layout (items in block order) that every iteration reuses."""

    def __init__(self, layout: Layout):
        self.order = np.argsort(layout.block, kind="stable")   # items grouped by construct
        self.M = np.asarray(layout.membership, float)[self.order]
        self.MT = np.ascontiguousarray(self.M.T)
        self.block = layout.block[self.order]
        J = self.M.shape[1]
        bounds = np.searchsorted(self.block, np.arange(J + 1))
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self.A = np.asarray(layout.adjacency, float)
        self.endogenous = [(j, layout.predecessors(j)) for j in layout.endogenous]
        self.modeb = np.flatnonzero(layout.formative)
        linked = (self.A + self.A.T) != 0
        self.neighbours = [list(np.flatnonzero(linked[:, j])) for j in range(J)]
        # the iterations read the covariances of adjacent constructs (inner weights), of
        # the predecessors of a construct (path weighting) and of each construct with itself
        # (scaling): C[k, i] only for the items i of those blocks, as runs of item rows
        need = linked | np.eye(J, dtype=bool)
        for _, pred in self.endogenous:
            need[np.ix_(pred, pred)] = True
        rows = [np.arange(s.start, s.stop) for s in self.slices]
        self.runs = [_runs(np.concatenate([rows[j] for j in np.flatnonzero(need[k])]))
                     for k in range(J)]
        self.every = [[slice(0, len(self.block))]] * J      # all of C (the final pass)


def _runs(rows) -> list:
    """Row numbers as maximal slices of consecutive rows."""
    out = []
    for i in sorted(int(r) for r in rows):
        if out and out[-1].stop == i:
            out[-1] = slice(out[-1].start, i + 1)
        else:
            out.append(slice(i, i + 1))
    return out


def _regressions(Rt: np.ndarray, plan: _Plan, out: np.ndarray, r2: np.ndarray | None = None):
    """OLS coefficients of every endogenous construct on its predecessors, from construct
    correlations ``Rt`` with the batch axis last (J, J, B); written into ``out[pred, j, :]``
    (and R^2 into ``r2[j, :]``)."""
    for j, pred in plan.endogenous:
        rhs = Rt[pred, j]
        beta = _spd_solve(Rt[pred[:, None], pred[None, :]], rhs)
        out[pred, j] = beta
        if r2 is not None:
            r2[j] = _sum0(beta * rhs)


def _inner_weights(Rt: np.ndarray, plan: _Plan, scheme: str) -> np.ndarray:
    """E (J, J, B) with z_j = sum_k E[k, j] y_k for the chosen inner scheme."""
    A = plan.A[:, :, None]
    if scheme == "centroid":
        return (A + A.transpose(1, 0, 2)) * np.sign(Rt)
    if scheme == "factorial":
        return (A + A.transpose(1, 0, 2)) * Rt
    E = A.transpose(1, 0, 2) * Rt  # successors of j: correlations
    _regressions(Rt, plan, E)      # predecessors of j: regression coefficients
    return E


def _moments(St: np.ndarray, w: np.ndarray, plan: _Plan, runs: list, C=None):
    """For item weights w (items, N): C (J, items, N), the construct-item covariances
    C[k, i] = sum_{l in block k} w_l S_li for the item rows ``runs[k]`` (``plan.runs``: those
    the iterations read, zero elsewhere; ``plan.every``: all), and R (J, J, N), the construct
    covariances R[k, j] = sum_{i in block j} C[k, i] w_i (W is block-diagonal: no product
    with zeros). ``C``: an earlier result to overwrite (zero outside ``runs``).

    Everything runs with the batch axis last as vector operations of length N, term by
    term: each member's numbers are exactly those it gets in a batch of one (so a group's
    bootstrap is the same stacked with other groups' or alone), and for the tiny matrices
    of PLS this is several times faster than a stack of small BLAS products."""
    p, N = w.shape
    J = len(plan.slices)
    if C is None:
        C = np.zeros((J, p, N)) if runs is not plan.every else np.empty((J, p, N))
    R = np.empty((J, J, N))
    term, small = np.empty((p, N)), np.empty((J, N))
    for k, rows in enumerate(plan.slices):
        for run in runs[k]:
            c, t = C[k, run], term[:run.stop - run.start]
            np.multiply(St[rows.start, run], w[rows.start], out=c)
            for i in range(rows.start + 1, rows.stop):
                c += np.multiply(St[i, run], w[i], out=t)
    for j, rows in enumerate(plan.slices):
        np.multiply(C[:, rows.start], w[rows.start], out=R[:, j])
        for i in range(rows.start + 1, rows.stop):
            R[:, j] += np.multiply(C[:, i], w[i], out=small)
    return C, R


def _targets(C: np.ndarray, E: np.ndarray, plan: _Plan) -> np.ndarray:
    """target_i = sum_k C[k, i] E[k, block(i)], the inner proxy's covariance with item i,
    over the constructs k adjacent to block(i) (E is zero elsewhere), term by term."""
    target = np.zeros(C.shape[1:])
    for j, rows in enumerate(plan.slices):
        if not plan.neighbours[j]:
            continue                 # an isolated construct: no inner proxy (zero weights)
        first, *rest = plan.neighbours[j]
        np.multiply(C[first, rows], E[first, j], out=target[rows])
        for k in rest:
            target[rows] += C[k, rows] * E[k, j]
    return target


def _standardize(w, C, R, plan, runs):
    """Rescale each construct's weights to a unit-variance score (and C's rows ``runs``, R)."""
    var = np.diagonal(R).T                                                 # (J, N)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1.0 / np.sqrt(np.where(var > 0, var, np.nan))
    for k, rows in enumerate(runs):
        for run in rows:
            C[k, run] *= d[k]
    R *= d[:, None, :]
    R *= d[None, :, :]
    return w * d[plan.block], C, R


def _mode_b_inverses(St: np.ndarray, plan: _Plan) -> list:
    """(items of the block, S_jj^-1 with the batch axis last) of every mode-B block."""
    out = []
    for j in plan.modeb:
        rows = plan.slices[j]
        block = np.ascontiguousarray(St[rows, rows].transpose(2, 0, 1))
        inv = _solve(block, np.broadcast_to(np.eye(block.shape[1]), block.shape))
        out.append((rows, np.ascontiguousarray(inv.transpose(1, 2, 0))))
    return out


def _estimate_chunk(St, plan: _Plan, scheme, tol, max_iter):
    """PLS on correlation matrices ``St`` (items, items, N) in block order, batch last.

    The iterations compute only the parts of C the next step reads (``plan.runs``) and
    keep only each stopped member's last unscaled weights; one full pass over those at the
    end gives w, C and R exactly as the last iteration had them."""
    p, _, B = St.shape
    J = len(plan.slices)
    full = St
    inv_b = _mode_b_inverses(St, plan)          # inverses of the mode-B blocks, computed once
    w = np.ones((p, B))                                            # unit weights
    w, C, R = _standardize(w, *_moments(St, w, plan, plan.runs), plan, plan.runs)
    last = np.empty_like(w)          # each stopped member's last unscaled weights
    live = np.arange(B)              # members still iterating (last axis of St, w, C, R)
    stale = np.zeros(B, bool)        # stopped members still carried along in the arrays
    converged = np.zeros(B, bool)
    iterations = np.zeros(B, int)
    for _ in range(max_iter):
        target = _targets(C, _inner_weights(R, plan, scheme), plan)
        for rows, inv in inv_b:      # mode B: w_j = S_jj^-1 cov(X_j, z_j)
            t = target[rows].copy()
            target[rows] = np.stack([_sum0(inv[i] * t) for i in range(inv.shape[0])])
        w_new, C, R = _standardize(target, *_moments(St, target, plan, plan.runs, C), plan,
                                   plan.runs)
        with np.errstate(invalid="ignore"):
            change = np.abs(w_new - w).max(axis=0)
        w = w_new
        done = change < tol
        stop = (done | ~np.isfinite(change)) & ~stale   # a failed (NaN) member stops too
        iterations[live[~stale]] += 1
        if stop.any():
            members = live[stop]
            converged[members] = done[stop]
            last[:, members] = target[:, stop]
            stale |= stop
            if stale.all():
                break
            if stale.mean() > 0.25:   # drop stopped members: later iterations touch less of S
                keep = ~stale
                live, St, w, C, R = live[keep], St[..., keep], w[:, keep], C[..., keep], R[..., keep]
                inv_b = [(rows, inv[..., keep]) for rows, inv in inv_b]
                stale = stale[keep]
    else:  # max_iter reached: the members still iterating are returned unconverged
        last[:, live[~stale]] = target[:, ~stale]
    w, C, R = _standardize(last, *_moments(full, last, plan, plan.every), plan, plan.every)
    # sign rule: each construct's loadings sum to a positive number
    flip = np.where(np.stack([_sum0(C[k, rows]) for k, rows in enumerate(plan.slices)]) < 0,
                    -1.0, 1.0)                                     # (J, N)
    w, C = w * flip[plan.block], C * flip[:, None, :]
    R = R * flip[:, None, :] * flip[None, :, :]
    paths = np.zeros((J, J, B))
    r2 = np.full((J, B), np.nan)
    _regressions(R, plan, paths, r2)
    w, C = w.T, C.transpose(2, 1, 0)                               # (B, items), (B, items, J)
    R, paths = R.transpose(2, 0, 1), paths.transpose(2, 0, 1)
    finite = np.isfinite(w).all(axis=1) & np.isfinite(paths).all(axis=(1, 2))
    back = np.argsort(plan.order)                                  # to the layout's item order
    return PLSBatch(weights=w[:, back, None] * plan.M[back], item_cor=C[:, back],
                    construct_cor=np.ascontiguousarray(R), paths=np.ascontiguousarray(paths),
                    r2=r2.T.copy(), iterations=iterations, converged=converged,
                    ok=converged & finite)


CHUNK_BYTES = 12 * 2 ** 20  # correlation matrices per chunk (~4000 of 19 items): long vectors


def estimate_batch(S: np.ndarray, layout: Layout, scheme: str = "path", tol: float = 1e-7,
                   max_iter: int = 300, chunk: int | None = None) -> PLSBatch:
    """Run PLS on a stack of item correlation matrices ``S`` of shape (B, items, items).

    Weights are kept as one vector per member (the blocks of W are disjoint), the score
    normalisation is folded into the next product with S (one pass over S per iteration),
    and all the algebra runs with the batch axis last as elementwise vector operations, so
    every member's numbers are bit for bit those it gets alone or in any other stack.
    Members are processed in chunks of ``chunk`` matrices (default: ~12 MB of S)."""
    scheme = SCHEMES[scheme]
    plan = _Plan(layout)
    B, p, _ = S.shape
    size = chunk or max(1, CHUNK_BYTES // (8 * p * p))
    order = plan.order
    ordered = bool((order == np.arange(p)).all())
    parts = []
    for a in range(0, B, size):
        part = S[a:a + size] if ordered else S[a:a + size][:, order[:, None], order[None, :]]
        St = np.ascontiguousarray(part.transpose(1, 2, 0))   # free for BatchMoments' S
        parts.append(_estimate_chunk(St, plan, scheme, tol, max_iter))
    if len(parts) == 1:
        return parts[0]
    return PLSBatch(*(np.concatenate([getattr(q, f) for q in parts])
                      for f in PLSBatch.__dataclass_fields__))
