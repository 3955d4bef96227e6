"""PLS path modelling (Wold; Lohmoeller 1989) in numpy, over item correlation matrices.

With standardized items every PLS quantity is a function of the item correlation matrix S:
construct covariances are W'SW, item-construct covariances SW, outer updates SWE (mode A)
or S_jj^-1 (SWE)_j (mode B). ``estimate_batch`` therefore runs any number of correlation
matrices (the full sample, or thousands of bootstrap resamples) through the same iterations
at once; a single fit is a batch of one, so bootstrap and single fits agree exactly.

Algorithm (Tenenhaus et al. 2005, section 2): start from unit weights; repeat
(1) scores Y = XW scaled to unit variance, (2) inner proxies Z = YE with the inner scheme E,
(3) outer weights: mode A w_j = cov(X_j, z_j), mode B w_j = S_jj^-1 cov(X_j, z_j), until the
largest weight change is below ``tol``. Inner schemes: centroid e_jk = sign(r_jk), factorial
e_jk = r_jk for adjacent constructs; path weighting uses r_jk for successors and the
multiple-regression coefficients of j on its predecessors. Matches seminr (PyPI 0.2.1,
estimate_pls) to 1e-10 for paths, weights, loadings and R^2 (tests/test_pls_seminr.py).

Sign rule: each construct is oriented so that the sum of its items' loadings is positive.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from csi_models.engines.base import (Engine, Estimates, Layout, Option, Resamples, choice,
                                     positive_number, whole_number)
from csi_models.errors import ConvergenceWarning, EstimationError
from csi_models.spec.validation import require_first_order
from csi_models.statistics.moments import BatchMoments, full_moments

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


def _moments(St: np.ndarray, w: np.ndarray, plan: _Plan):
    """For item weights w (items, N): C (J, items, N), the construct-item covariances
    C[k, i] = sum_{l in block k} w_l S_li, and R (J, J, N), the construct covariances
    R[k, j] = sum_{i in block j} C[k, i] w_i (W is block-diagonal: no product with zeros).

    Everything runs with the batch axis last as vector operations of length N, term by
    term: each member's numbers are exactly those it gets in a batch of one (so a group's
    bootstrap is the same stacked with other groups' or alone), and for the tiny matrices
    of PLS this is several times faster than a stack of small BLAS products."""
    p, N = w.shape
    J = len(plan.slices)
    C = np.empty((J, p, N))
    R = np.empty((J, J, N))
    term, small = np.empty((p, N)), np.empty((J, N))
    for k, rows in enumerate(plan.slices):
        np.multiply(St[rows.start], w[rows.start], out=C[k])
        for i in range(rows.start + 1, rows.stop):
            C[k] += np.multiply(St[i], w[i], out=term)
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


def _standardize(w, C, R, plan):
    """Rescale each construct's weights to a unit-variance score (and C, R alike)."""
    var = np.diagonal(R).T                                                 # (J, N)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1.0 / np.sqrt(np.where(var > 0, var, np.nan))
    C *= d[:, None, :]
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
    """PLS on correlation matrices ``St`` (items, items, N) in block order, batch last."""
    p, _, B = St.shape
    J = len(plan.slices)
    inv_b = _mode_b_inverses(St, plan)          # inverses of the mode-B blocks, computed once
    w = np.ones((p, B))                                            # unit weights
    w, C, R = _standardize(w, *_moments(St, w, plan), plan)
    out_w, out_C, out_R = np.empty_like(w), np.empty_like(C), np.empty_like(R)
    live = np.arange(B)              # members still iterating (last axis of St, w, C, R)
    stale = np.zeros(B, bool)        # stopped members still carried along in the arrays
    converged = np.zeros(B, bool)
    iterations = np.zeros(B, int)
    for _ in range(max_iter):
        target = _targets(C, _inner_weights(R, plan, scheme), plan)
        for rows, inv in inv_b:      # mode B: w_j = S_jj^-1 cov(X_j, z_j)
            t = target[rows].copy()
            target[rows] = np.stack([_sum0(inv[i] * t) for i in range(inv.shape[0])])
        w_new, C, R = _standardize(target, *_moments(St, target, plan), plan)
        with np.errstate(invalid="ignore"):
            change = np.abs(w_new - w).max(axis=0)
        w = w_new
        done = change < tol
        stop = (done | ~np.isfinite(change)) & ~stale   # a failed (NaN) member stops too
        iterations[live[~stale]] += 1
        if stop.any():
            members = live[stop]
            converged[members] = done[stop]
            out_w[:, members], out_C[..., members], out_R[..., members] = \
                w[:, stop], C[..., stop], R[..., stop]
            stale |= stop
            if stale.all():
                break
            if stale.mean() > 0.25:   # drop stopped members: later iterations touch less of S
                keep = ~stale
                live, St, w, C, R = live[keep], St[..., keep], w[:, keep], C[..., keep], R[..., keep]
                inv_b = [(rows, inv[..., keep]) for rows, inv in inv_b]
                stale = stale[keep]
    else:  # max_iter reached: the members still iterating are returned unconverged
        members = live[~stale]
        out_w[:, members], out_C[..., members], out_R[..., members] = \
            w[:, ~stale], C[..., ~stale], R[..., ~stale]
    w, C, R = out_w, out_C, out_R
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


CHUNK_BYTES = 3 * 2 ** 20   # correlation matrices per chunk: ~3 MB, so a chunk stays in cache


def estimate_batch(S: np.ndarray, layout: Layout, scheme: str = "path", tol: float = 1e-7,
                   max_iter: int = 300, chunk: int | None = None) -> PLSBatch:
    """Run PLS on a stack of item correlation matrices ``S`` of shape (B, items, items).

    Weights are kept as one vector per member (the blocks of W are disjoint), the score
    normalisation is folded into the next product with S (one pass over S per iteration),
    and all the algebra runs with the batch axis last as elementwise vector operations, so
    every member's numbers are bit for bit those it gets alone or in any other stack.
    Members are processed in chunks of ``chunk`` matrices (default: ~3 MB of S)."""
    scheme = SCHEMES[scheme]
    plan = _Plan(layout)
    B, p, _ = S.shape
    size = chunk or max(1, CHUNK_BYTES // (8 * p * p))
    order = plan.order
    parts = []
    for a in range(0, B, size):
        St = np.ascontiguousarray(S[a:a + size][:, order[:, None], order[None, :]].transpose(1, 2, 0))
        parts.append(_estimate_chunk(St, plan, scheme, tol, max_iter))
    if len(parts) == 1:
        return parts[0]
    return PLSBatch(*(np.concatenate([getattr(q, f) for q in parts])
                      for f in PLSBatch.__dataclass_fields__))


def correlation(values: np.ndarray) -> np.ndarray:
    """Item correlation matrix of complete data (n-1 and n divisors give the same)."""
    return full_moments(values)[0][0]


def _resamples(batch: PLSBatch, layout: Layout, S, mean, sd) -> Resamples:
    """A PLSBatch (and the moments it was estimated from) as the engines' common stack."""
    M = layout.membership
    reasons = tuple("" if ok else "not converged" if np.isfinite(w).all() else
                    "singular data (e.g. an item constant in the resample)"
                    for ok, w in zip(batch.ok, batch.weights))
    return Resamples(paths=batch.paths, weights=(batch.weights * M).sum(axis=2),
                     loadings=(batch.item_cor * M).sum(axis=2), r2=batch.r2, item_mean=mean,
                     item_sd=sd, item_cor=S, ok=batch.ok, reasons=reasons)


def _items(survey, layout: Layout) -> np.ndarray:
    """The items' answers (n x p, layout order), without a copy when the survey's columns
    are already in that order (a fit of 10^6 respondents then holds the data once)."""
    frame = survey.values
    if list(frame.columns) != list(layout.items):
        frame = frame[list(layout.items)]
    return frame.to_numpy(float, copy=False)


def f_squared(S: np.ndarray, layout: Layout, r2: np.ndarray, scheme: str, tol: float,
              max_iter: int) -> list[tuple[int, int, float]]:
    """(source, target, f²) with R²_excl from re-estimating PLS without the path, as seminr's
    ``f_squared``: f² = (R²_incl - R²_excl) / (1 - R²_incl) (Cohen 1988)."""
    from csi_models.statistics.quality import without_path

    rows = []
    for j in layout.endogenous:
        pred = layout.predecessors(j)
        for i in pred:
            excluded = 0.0
            if pred.size > 1:
                sub, items, jj = without_path(layout, int(i), j)
                batch = estimate_batch(S[np.ix_(items, items)][None], sub, scheme, tol, max_iter)
                excluded = float(batch.r2[0, jj])
            rows.append((int(i), j, (r2[j] - excluded) / (1 - r2[j])))
    return rows


GROUP_BYTES = 2 ** 26   # size of one chunk's count matrix (64 MB): bounds memory for any B


class PLSEngine(Engine):
    """PLS path modelling (see the module docstring): every fit, resample, jackknife sample
    and permuted group is a member of a batch of correlation matrices."""

    name, title = "pls", "PLS"
    options = {
        "scheme": Option("path", choice("path", "factorial", "centroid", aliases=SCHEMES),
                         "unknown inner scheme {value!r} (argument {key}): use 'path', 'factorial' "
                         "or 'centroid'", "inner weighting scheme"),
        "tol": Option(1e-7, positive_number, "{key}={value!r}: give a positive number such as 1e-7",
                      "stop when no outer weight changes by more than tol"),
        "max_iter": Option(300, whole_number, "{key}={value!r}: give a whole number of iterations >= 1",
                           "iteration cap"),
    }
    missing_rules = ("listwise", "mean")
    group_test = "permutation"
    long_title = "PLS path modelling"
    fit_keys = ("srmr", "d_uls", "d_g", "srmr_saturated", "d_uls_saturated", "d_g_saturated", "gof")
    fit_rules = (("srmr", ">", 0.08),)   # Henseler et al. (2014)
    ipma = True
    respondent_weights = True
    refused_missing = {"fiml": "missing='fiml' is a CB-SEM method; for PLS use missing='listwise' "
                               "or missing='mean'"}

    def fit(self, spec, survey, options) -> Estimates:
        require_first_order(spec, "PLS")
        if spec.covariances:
            pairs = ", ".join(f"{a} ~~ {b}" for a, b in spec.covariances)
            raise EstimationError(f"PLS cannot estimate residual covariances ({pairs}): fit with "
                                  "method='cbsem', or drop the spec's 'covariances:'")
        layout = Layout.from_spec(spec)
        isolated = [c for j, c in enumerate(layout.constructs)
                    if not (layout.adjacency[j].any() or layout.adjacency[:, j].any())]
        if isolated:
            raise EstimationError(f"construct(s) {', '.join(isolated)} have no structural path: "
                                  "PLS needs every construct connected to another; add a path")
        weights = getattr(survey, "weights", None)
        shared = getattr(survey, "moments", None)      # computed by the data check
        if (shared is not None and shared[0] is survey.values and weights is None
                and list(survey.values.columns) == list(layout.items)):
            S, mean, sd = shared[1]
        else:
            S, mean, sd = full_moments(_items(survey, layout), weights)
        batch = estimate_batch(S, layout, options["scheme"], options["tol"], options["max_iter"])
        if not np.isfinite(batch.weights).all() or not np.isfinite(batch.paths).all():
            raise EstimationError(_singular_message(spec, S[0], layout))
        if not batch.converged[0]:
            warnings.warn(f"PLS did not converge in {options['max_iter']} iterations (tolerance "
                          f"{options['tol']:g}); raise max_iter or check the model",
                          ConvergenceWarning, stacklevel=3)
        one = _resamples(batch, layout, S, mean, sd)
        return Estimates(
            method="pls", layout=layout, weights=one.weights[0], loadings=one.loadings[0],
            cross_loadings=batch.item_cor[0], paths=batch.paths[0], r2=batch.r2[0],
            construct_cor=batch.construct_cor[0], converged=bool(batch.converged[0]),
            iterations=int(batch.iterations[0]), item_mean=mean[0], item_sd=sd[0], item_cor=S[0])

    def from_moments(self, layout, S, mean, sd, options) -> Resamples:
        """Estimates of a stack of correlation matrices with their item means and sds."""
        batch = estimate_batch(S, layout, options["scheme"], options["tol"], options["max_iter"])
        return _resamples(batch, layout, S, mean, sd)

    def _chunks(self, n_rows, layout, options, sums, total, progress):
        """Estimate ``total`` copies of the data chunk by chunk (memory stays bounded):
        ``sums(a, b)`` gives (S, mean, sd) of copies a..b-1."""
        step = max(256, (GROUP_BYTES // (8 * n_rows)) // 256 * 256)
        parts = []
        for first in range(0, total, step):
            last = min(total, first + step)
            parts.append(self.from_moments(layout, *sums(first, last), options))
            if progress is not None:
                progress(last - first)
        return Resamples.stack(parts)

    def resample(self, spec, survey, estimates, options, rows, n_jobs=1, progress=None):
        layout = estimates.layout
        moments = BatchMoments(survey.values[list(layout.items)].to_numpy(float),
                               getattr(survey, "weights", None))
        return self._chunks(moments.n, layout, options, lambda a, b: moments.resamples(rows[a:b]),
                            len(rows), progress)

    def leave_one_out(self, spec, survey, estimates, options, n_jobs=1, progress=None):
        layout = estimates.layout
        moments = BatchMoments(survey.values[list(layout.items)].to_numpy(float),
                               getattr(survey, "weights", None))
        return self._chunks(moments.n, layout, options,
                            lambda a, b: moments.leave_one_out(np.arange(a, b)), moments.n, progress)

    def settings(self, spec, survey, estimates, options) -> dict:
        return {"algorithm": "PLS path modelling (Lohmoeller), our numpy implementation",
                "inner_scheme": options["scheme"],
                "modes": {c.name: ("B" if c.mode == "formative" else "A") for c in spec.constructs},
                "scaling": "items z-scored (sd with n - 1); scores of unit variance",
                "initial_weights": "unit weights", "tolerance": options["tol"],
                "stop_rule": "max |change in any outer weight| < tolerance",
                "max_iter": options["max_iter"], "iterations": estimates.iterations,
                "sign_rule": "each construct oriented so its loadings sum to a positive number"}

    def status(self, estimates, settings) -> str:
        if estimates.converged:
            return f"converged in {estimates.iterations} iterations (tolerance {settings['tolerance']:g})"
        return f"NOT converged after {estimates.iterations} iterations"

    def reliability(self, estimates):
        from csi_models.statistics import quality as q

        lay = estimates.layout
        rho_c, ave = q.rho_c_ave(lay, estimates.loadings)
        return q.rho_a(estimates.item_cor, lay, estimates.weights), rho_c, ave

    def fit_measures(self, survey, estimates):
        from csi_models.statistics.fit_measures import pls_measures

        return pls_measures(estimates.layout, estimates.item_cor, estimates.loadings,
                            estimates.paths, estimates.construct_cor, estimates.r2)

    def f_squared(self, estimates, options):
        return f_squared(estimates.item_cor, estimates.layout, estimates.r2, options["scheme"],
                         options["tol"], options["max_iter"])


ENGINE = PLSEngine()


def fit(spec, survey, scheme: str = "path", tol: float = 1e-7, max_iter: int = 300) -> Estimates:
    """A PLS fit of prepared survey data with these options (for the modules that build on
    PLS: PLSc, higher-order constructs, interactions); ``csi.fit`` is the public entry."""
    return ENGINE.fit(spec, survey, ENGINE.resolve({"scheme": scheme, "tol": tol,
                                                    "max_iter": max_iter}))


def _singular_message(spec, S: np.ndarray, layout: Layout) -> str:
    """Name the block whose items are collinear, if one is; else the constructs."""
    for j, c in enumerate(layout.constructs):
        idx = np.flatnonzero(layout.membership[:, j])
        if idx.size > 1 and np.linalg.matrix_rank(S[np.ix_(idx, idx)], tol=1e-10) < idx.size:
            return (f"the items of construct {c} ({', '.join(layout.items[i] for i in idx)}) are "
                    "perfectly collinear, so PLS cannot estimate it; drop a duplicated item")
    return ("PLS estimation failed: the construct scores are perfectly collinear (singular "
            "regression), e.g. two constructs measured by identical items; check the spec")
