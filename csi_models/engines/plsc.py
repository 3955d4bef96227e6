"""Consistent PLS (PLSc; Dijkstra & Henseler 2015, MIS Quarterly 39(2); Dijkstra 2014).

PLSc is ordinary PLS (``engines/pls.py``, mode A for reflective constructs) followed by a
correction of what PLS gets wrong for common factors. For each reflective construct with two
or more items and PLS weights w (scaled so that w'Sw = 1, S the item correlations):

* reliability rho_A = (w'w)^2 w'(S - diag S)w / w'(ww' - diag(ww'))w;
* consistent loadings lambda = w sqrt(rho_A) / (w'w);
* consistent construct correlations r_ij / sqrt(rho_A,i rho_A,j) (r_ij those of the PLS
  scores; rho_A = 1 for composites (mode B) and single items, which stay untouched);
* consistent paths by OLS of every endogenous construct on its predecessors over the
  consistent correlations, R^2 = beta' r_xy.

The weights stay PLS's (so 0-100 indices remain defined on the scores). Cross-loadings are the
item-score correlations disattenuated on the construct side, cor(x_i, score_k) / sqrt(rho_A,k),
with the item's own column the consistent loading. Matches seminr (PyPI 0.2.1, ``reflective()``
constructs, PLSc) to 1e-10 for paths, loadings and R^2 (tests/test_plsc.py).

Admissibility (Dijkstra & Henseler 2015, section 4): a consistent loading beyond 1 (negative
error variance), a construct correlation beyond 1, a non-positive-definite construct
correlation matrix, an R^2 beyond 1 (negative disturbance variance) or a rho_A outside (0, 1]
make the solution improper; ``fit`` says so with ``ImproperSolutionWarning`` and lists the
problems in ``extras["improper"]``. A rho_A <= 0 leaves the correction undefined: ``fit``
raises ``EstimationError``, ``estimate_batch`` marks the member not ok.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from csi_models.engines import pls, pls_kernel
from csi_models.engines.base import Estimates, Layout
from csi_models.errors import EstimationError, ImproperSolutionWarning

EPS = 1e-10   # rounding margin for the admissibility bounds (never compare to exactly 1)


@dataclass(frozen=True)
class PLScBatch:
    """PLSc estimates for a batch of correlation matrices (first axis the batch). The fields
    shared with ``pls.PLSBatch`` have the same shapes and meaning, with the consistent values
    in ``item_cor``, ``construct_cor``, ``paths`` and ``r2``."""

    weights: np.ndarray        # (B, items, constructs) PLS weights (scores of unit variance)
    item_cor: np.ndarray       # (B, items, constructs) consistent cross-loadings
    construct_cor: np.ndarray  # (B, constructs, constructs) consistent construct correlations
    paths: np.ndarray          # (B, constructs, constructs) consistent paths
    r2: np.ndarray             # (B, constructs) consistent R^2, NaN for exogenous
    iterations: np.ndarray     # (B,)
    converged: np.ndarray      # (B,) bool
    ok: np.ndarray             # (B,) bool: converged, rho_A > 0 and every number finite
    loadings: np.ndarray       # (B, items) consistent loading of each item on its construct
    rho_a: np.ndarray          # (B, constructs) 1 for composites and single items
    improper: np.ndarray       # (B,) bool: an inadmissible member (see module docstring)
    pls_item_cor: np.ndarray   # (B, items, constructs) the uncorrected PLS cross-loadings
    pls_construct_cor: np.ndarray  # (B, constructs, constructs) the PLS score correlations


def corrected(layout: Layout) -> np.ndarray:
    """(constructs,) bool: the constructs PLSc corrects (reflective with two or more items)."""
    sizes = np.asarray(layout.membership).sum(axis=0)
    return ~np.asarray(layout.formative, bool) & (sizes > 1)


def correct(S: np.ndarray, layout: Layout, base: pls.PLSBatch) -> PLScBatch:
    """Apply the PLSc correction to PLS estimates ``base`` of the correlation matrices ``S``
    (B, items, items), all members at once."""
    M = np.asarray(layout.membership, float)
    block = layout.block
    fix = corrected(layout)
    w = (base.weights * M).sum(axis=2)                          # (B, items)
    W = w[:, :, None] * M                                        # (B, items, J)
    wtw = np.einsum("bij,bij->bj", W, W)                         # w'w per construct
    # w'S_jj w from the item-score covariances (item_cor = S W for unit-variance scores)
    wsw = np.einsum("bij,bij->bj", W, base.item_cor)
    diag = np.einsum("bii->bi", S)[:, :, None] * M               # s_ii on each block
    num = wsw - np.einsum("bij,bij->bj", W * W, diag)            # w'(S - diag S)w
    den = wtw ** 2 - np.einsum("bij->bj", W ** 4)                # w'(ww' - diag ww')w
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(fix, wtw ** 2 * num / den, 1.0)           # (B, J)
        root = np.sqrt(np.where(rho > 0, rho, np.nan))
        R = base.construct_cor / (root[:, :, None] * root[:, None, :])
        idx = np.arange(R.shape[1])
        R[:, idx, idx] = 1.0
        own = (base.item_cor * M).sum(axis=2)                    # PLS loadings
        lam = np.where(fix[block], w * (root / wtw)[:, block], own)
        cross = base.item_cor / root[:, None, :]
        cross = np.where(M > 0, lam[:, :, None], cross)
    J = len(layout.constructs)
    Rt = np.ascontiguousarray(R.transpose(1, 2, 0))
    paths, r2 = np.zeros((J, J, len(S))), np.full((J, len(S)), np.nan)
    pls_kernel._regressions(Rt, pls_kernel._Plan(layout), paths, r2)
    paths = np.ascontiguousarray(paths.transpose(2, 0, 1))
    r2 = r2.T.copy()
    finite = (np.isfinite(R).all(axis=(1, 2)) & np.isfinite(paths).all(axis=(1, 2))
              & np.isfinite(lam).all(axis=1))
    improper = _improper(layout, lam, R, r2, rho)
    return PLScBatch(weights=base.weights, item_cor=cross, construct_cor=R, paths=paths, r2=r2,
                     iterations=base.iterations, converged=base.converged,
                     ok=base.ok & finite, loadings=lam, rho_a=rho, improper=improper,
                     pls_item_cor=base.item_cor, pls_construct_cor=base.construct_cor)


def estimate_batch(S: np.ndarray, layout: Layout, scheme: str = "path", tol: float = 1e-7,
                   max_iter: int = 300, chunk: int | None = None) -> PLScBatch:
    """PLSc on a stack of item correlation matrices ``S`` (B, items, items): the batched PLS of
    ``pls.estimate_batch`` (same arguments) plus the vectorised correction (``correct``)."""
    return correct(S, layout, pls.estimate_batch(S, layout, scheme, tol, max_iter, chunk))


def _improper(layout: Layout, lam, R, r2, rho) -> np.ndarray:
    """(B,) bool: the batched form of ``admissibility`` (any of its problems)."""
    fix = corrected(layout)
    J = R.shape[1]
    off = ~np.eye(J, dtype=bool)
    bad = ((~(rho[:, fix] > 0)) | (rho[:, fix] > 1 + EPS)).any(axis=1)
    bad |= (np.abs(lam) > 1 + EPS).any(axis=1)
    bad |= (np.abs(R[:, off]) > 1 + EPS).any(axis=1)
    endo = layout.endogenous
    bad |= ((r2[:, endo] > 1 + EPS) | (r2[:, endo] < -EPS)).any(axis=1)
    finite = np.isfinite(R).all(axis=(1, 2))
    if finite.any():
        smallest = np.full(len(R), np.inf)
        smallest[finite] = np.linalg.eigvalsh(R[finite])[:, 0]
        bad |= smallest < -EPS
    return bad


def admissibility(layout: Layout, loadings, construct_cor, r2, rho_a) -> list[str]:
    """The reasons a PLSc solution is improper (empty when it is admissible)."""
    names, items = layout.constructs, layout.items
    problems = []
    for j in np.flatnonzero(corrected(layout)):
        if not rho_a[j] > 0:
            problems.append(f"rho_A of {names[j]} is {rho_a[j]:.3f} (<= 0): its consistent "
                            "correlations are undefined")
        elif rho_a[j] > 1 + EPS:
            problems.append(f"rho_A of {names[j]} is {rho_a[j]:.3f} (> 1)")
    for i in np.flatnonzero(np.abs(loadings) > 1 + EPS):
        problems.append(f"loading of {items[i]} on {names[layout.block[i]]} is {loadings[i]:.3f} "
                        "(|loading| > 1: negative error variance)")
    J = len(names)
    for a in range(J):
        for b in range(a + 1, J):
            if abs(construct_cor[a, b]) > 1 + EPS:
                problems.append(f"correlation of {names[a]} and {names[b]} is "
                                f"{construct_cor[a, b]:.3f} (beyond 1)")
    if np.isfinite(construct_cor).all() and np.linalg.eigvalsh(construct_cor)[0] < -EPS:
        problems.append("the consistent construct correlation matrix is not positive definite")
    for j in layout.endogenous:
        if r2[j] > 1 + EPS or r2[j] < -EPS:
            problems.append(f"R^2 of {names[j]} is {r2[j]:.3f} (outside 0..1: negative "
                            "disturbance variance)")
    return problems


def fit(spec, survey, scheme: str = "path", tol: float = 1e-7, max_iter: int = 300) -> Estimates:
    """Estimate a model by PLSc on prepared survey data (a batch of one). Reflective
    constructs are corrected, formative ones (mode B) and single items are left as PLS has
    them. ``extras``: ``rho_a`` (per construct), ``improper`` (list of str), ``pls_loadings``
    and ``pls_construct_cor`` (the uncorrected values)."""
    base = pls.fit(spec, survey, scheme=scheme, tol=tol, max_iter=max_iter)  # checks, warnings
    layout = base.layout
    S = base.item_cor[None]
    batch = pls.PLSBatch(weights=(base.weights[:, None] * layout.membership)[None],
                         item_cor=base.cross_loadings[None], construct_cor=base.construct_cor[None],
                         paths=base.paths[None], r2=base.r2[None],
                         iterations=np.array([base.iterations]),
                         converged=np.array([base.converged]), ok=np.array([True]))
    out = correct(S, layout, batch)
    rho = out.rho_a[0]
    problems = admissibility(layout, out.loadings[0], out.construct_cor[0], out.r2[0], rho)
    bad = [layout.constructs[j] for j in np.flatnonzero(corrected(layout)) if not rho[j] > 0]
    if bad:
        raise EstimationError(
            f"PLSc cannot correct construct(s) {', '.join(bad)}: rho_A <= 0 (the items hardly "
            "correlate, or some correlate negatively); check reverse-worded items, or make the "
            "construct formative")
    for message in problems:
        warnings.warn(f"PLSc improper solution: {message}", ImproperSolutionWarning, stacklevel=3)
    return Estimates(
        method="plsc", layout=layout, weights=base.weights, loadings=out.loadings[0],
        cross_loadings=out.item_cor[0], paths=out.paths[0], r2=out.r2[0],
        construct_cor=out.construct_cor[0], converged=base.converged, iterations=base.iterations,
        item_mean=base.item_mean, item_sd=base.item_sd, item_cor=base.item_cor,
        extras={"rho_a": rho, "improper": problems, "pls_loadings": base.loadings,
                "pls_construct_cor": base.construct_cor})


class PLScEngine(pls.PLSEngine):
    """PLSc behind the engine protocol: PLS's options, data rules and batched resampling,
    with every member of a batch corrected (``estimate_batch``); improper members (see the
    module docstring) are counted by the bootstrap apart from failed ones."""

    name, title = "plsc", "PLSc"
    long_title = "consistent PLS (PLSc)"

    def fit(self, spec, survey, options) -> Estimates:
        return fit(spec, survey, options["scheme"], options["tol"], options["max_iter"])

    def from_moments(self, layout, S, mean, sd, options):
        batch = estimate_batch(S, layout, options["scheme"], options["tol"], options["max_iter"])
        stack = pls._resamples(batch, layout, S, mean, sd)
        return replace(stack, loadings=batch.loadings, improper=batch.improper & batch.ok)

    def settings(self, spec, survey, estimates, options) -> dict:
        return {**super().settings(spec, survey, estimates, options),
                "algorithm": "consistent PLS (Dijkstra & Henseler 2015) on our PLS",
                "correction": "reflective constructs with 2+ items: loadings w sqrt(rho_A)/(w'w), "
                              "construct correlations r / sqrt(rho_A,i rho_A,j), paths by OLS on "
                              "them; composites and single items as PLS"}

    def reliability(self, estimates):
        from csi_models.statistics import quality as q

        rho_c, ave = q.rho_c_ave(estimates.layout, estimates.loadings)
        return estimates.extras["rho_a"], rho_c, ave

    def f_squared(self, estimates, options):
        from csi_models.statistics.quality import f_squared_latent

        return f_squared_latent(estimates.construct_cor, estimates.layout, estimates.paths,
                                estimates.r2)


ENGINE = PLScEngine()
