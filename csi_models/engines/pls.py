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

from csi_models.engines.base import Estimates, Layout
from csi_models.errors import ConvergenceWarning, EstimationError

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


def _unit_variance(S: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Scale each construct's weights so that its score X w has variance w'Sw = 1."""
    var = np.einsum("bpj,bpj->bj", W, S @ W)
    with np.errstate(invalid="ignore", divide="ignore"):
        return W / np.sqrt(np.where(var > 0, var, np.nan))[:, None, :]


def _regressions(R: np.ndarray, layout: Layout, out: np.ndarray, r2: np.ndarray | None = None):
    """OLS coefficients of every endogenous construct on its predecessors, written into
    ``out[:, pred, j]`` (and R^2 into ``r2[:, j]``)."""
    for j in layout.endogenous:
        pred = layout.predecessors(j)
        beta = _solve(R[:, pred[:, None], pred[None, :]], R[:, pred, j][..., None])[..., 0]
        out[:, pred, j] = beta
        if r2 is not None:
            r2[:, j] = np.einsum("bk,bk->b", beta, R[:, pred, j])


def _inner_weights(R: np.ndarray, layout: Layout, scheme: str) -> np.ndarray:
    """E with z_j = sum_k E[k, j] y_k for the chosen inner scheme."""
    A = layout.adjacency
    if scheme == "centroid":
        return (A + A.T) * np.sign(R)
    if scheme == "factorial":
        return (A + A.T) * R
    E = A.T * R  # successors of j: correlations
    _regressions(R, layout, E)  # predecessors of j: regression coefficients
    return E


def estimate_batch(S: np.ndarray, layout: Layout, scheme: str = "path", tol: float = 1e-7,
                   max_iter: int = 300) -> PLSBatch:
    """Run PLS on a stack of item correlation matrices ``S`` of shape (B, items, items)."""
    scheme = SCHEMES[scheme]
    M = layout.membership
    B = S.shape[0]
    modeb = np.flatnonzero(layout.formative)
    if modeb.size:  # block-diagonal inverse of S over the mode-B blocks, computed once
        S_inv_b = np.zeros_like(S)
        for j in modeb:
            idx = np.flatnonzero(M[:, j])
            S_inv_b[:, idx[:, None], idx[None, :]] = _solve(
                S[:, idx[:, None], idx[None, :]], np.broadcast_to(np.eye(idx.size), (B, idx.size, idx.size)))
        b_items = np.flatnonzero(M[:, modeb].any(axis=1))
    W = _unit_variance(S, np.broadcast_to(M, S.shape[:1] + M.shape).copy())
    active = np.ones(B, bool)        # still iterating
    converged = np.zeros(B, bool)
    iterations = np.zeros(B, int)
    for _ in range(max_iter):
        C = S @ W
        R = np.swapaxes(W, 1, 2) @ C
        target = (C @ _inner_weights(R, layout, scheme)) * M
        if modeb.size:
            target[:, b_items] = (S_inv_b @ target)[:, b_items]
        W_new = _unit_variance(S, target)
        with np.errstate(invalid="ignore"):
            change = np.abs(W_new - W).max(axis=(1, 2))
        W = np.where(active[:, None, None], W_new, W)
        iterations += active
        converged |= active & (change < tol)
        active &= ~(change < tol) & np.isfinite(change)  # a failed (NaN) member stops too
        if not active.any():
            break

    C = S @ W
    flip = np.where((C * M).sum(axis=1) < 0, -1.0, 1.0)[:, None, :]
    W, C = W * flip, C * flip
    R = np.swapaxes(W, 1, 2) @ C
    paths = np.zeros_like(R)
    r2 = np.full(R.shape[:2], np.nan)
    _regressions(R, layout, paths, r2)
    finite = np.isfinite(W).all(axis=(1, 2)) & np.isfinite(paths).all(axis=(1, 2))
    return PLSBatch(weights=W, item_cor=C, construct_cor=R, paths=paths, r2=r2,
                    iterations=iterations, converged=converged, ok=converged & finite)


def correlation(values: np.ndarray) -> np.ndarray:
    """Item correlation matrix of complete data (n-1 and n divisors give the same)."""
    z = values - values.mean(axis=0)
    cov = z.T @ z
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def fit(spec, data, scheme: str = "path", tol: float = 1e-7, max_iter: int = 300) -> Estimates:
    """Estimate a PLS path model on prepared survey data (a batch of one)."""
    if scheme not in SCHEMES:
        raise EstimationError(f"unknown inner scheme {scheme!r}; use 'path', 'factorial' or 'centroid'")
    if data.missing == "fiml":
        raise EstimationError("missing='fiml' is a CB-SEM method; for PLS use missing='listwise' "
                              "or missing='mean'")
    layout = Layout.from_spec(spec)
    isolated = [c for j, c in enumerate(layout.constructs)
                if not (layout.adjacency[j].any() or layout.adjacency[:, j].any())]
    if isolated:
        raise EstimationError(f"construct(s) {', '.join(isolated)} have no structural path: PLS "
                              "needs every construct connected to another; add a path")
    S = correlation(data.values.to_numpy(float))[None]
    batch = estimate_batch(S, layout, scheme, tol, max_iter)
    if not np.isfinite(batch.weights).all() or not np.isfinite(batch.paths).all():
        raise EstimationError(_singular_message(spec, S[0], layout))
    if not batch.converged[0]:
        warnings.warn(f"PLS did not converge in {max_iter} iterations (tolerance {tol:g}); "
                      "raise max_iter or check the model", ConvergenceWarning, stacklevel=3)
    M = layout.membership
    return Estimates(
        method="pls", layout=layout,
        weights=(batch.weights[0] * M).sum(axis=1),
        loadings=(batch.item_cor[0] * M).sum(axis=1),
        cross_loadings=batch.item_cor[0], paths=batch.paths[0], r2=batch.r2[0],
        construct_cor=batch.construct_cor[0], converged=bool(batch.converged[0]),
        iterations=int(batch.iterations[0]))


def _singular_message(spec, S: np.ndarray, layout: Layout) -> str:
    """Name the block whose items are collinear, if one is; else the constructs."""
    for j, c in enumerate(layout.constructs):
        idx = np.flatnonzero(layout.membership[:, j])
        if idx.size > 1 and np.linalg.matrix_rank(S[np.ix_(idx, idx)], tol=1e-10) < idx.size:
            return (f"the items of construct {c} ({', '.join(layout.items[i] for i in idx)}) are "
                    "perfectly collinear, so PLS cannot estimate it; drop a duplicated item")
    return ("PLS estimation failed: the construct scores are perfectly collinear (singular "
            "regression), e.g. two constructs measured by identical items; check the spec")
