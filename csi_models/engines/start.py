"""Data-based starting values of a CB-SEM fit, computed from each data set's own covariances
(a stack of K of them at once, as ``engines.mlkernel``).

As lavaan's default start (its "simple" values refined by Hagglund's fabin3), not copied from
its code: the marker loading stays at its fixed value (1); another loading is an
instrumental-variable estimate, lambda_j = cov(y_j, z) / cov(y_marker, z), with z the sum of
the items outside the construct's block (its errors are uncorrelated with both items' errors
under the model); a construct's variance is the average of s_ij / (lambda_i lambda_j) over its
items' pairs (the marker's variance for a single item); residual variances are half the item
variances; paths and covariances start at 0. Unlike semopy's default start (the same values
for every data set) these follow each bootstrap resample's own covariances.
"""

from __future__ import annotations

import numpy as np

FLOOR = 0.05   # a construct variance estimated below FLOOR x its marker's variance starts there


def data_start(structure, S: np.ndarray) -> np.ndarray:
    """(K, n_free) starting values for the sample covariances S (K, p, p)."""
    K, p, _ = S.shape
    x = np.zeros((K, structure.n_free))
    base_lam = structure.base["lambda"]
    li, lr, lc = structure.free["lambda"]
    loadings = np.repeat(base_lam[None], K, axis=0)
    for c in range(base_lam.shape[1]):
        fixed = np.flatnonzero(base_lam[:, c] != 0)
        free = lr[lc == c]
        if not fixed.size or not free.size:
            continue
        marker = fixed[0]
        block = np.union1d(fixed, free)
        outside = np.setdiff1d(np.arange(p), block)
        if outside.size:
            cov_z = S[:, :, outside].sum(axis=2)                 # cov(y_i, z), (K, p)
            with np.errstate(all="ignore"):
                est = cov_z[:, free] / cov_z[:, [marker]]
            loadings[:, free, c] = np.where(np.isfinite(est), est, 1.0) * base_lam[marker, c]
        else:
            loadings[:, free, c] = base_lam[marker, c]
    x[:, li] = loadings[:, lr, lc]
    si, sr, sc = structure.free["psi"]
    for k_par, r, c in zip(si, sr, sc):
        if r == c:
            x[:, k_par] = _construct_variance(S, loadings[:, :, r])
    ti, tr, tc = structure.free["theta"]
    diag = tr == tc
    x[:, ti[diag]] = S[:, tr[diag], tr[diag]] / 2
    return x


def _construct_variance(S, lam) -> np.ndarray:
    """Average of s_ij / (lambda_i lambda_j) over the construct's item pairs i < j (K,),
    summed in one order for any stack (a contiguous copy: over the strided rows of a stack
    numpy summed in another order than for one data set, and a resample's start, and so its
    refit, depended on the chunk it fell in)."""
    items = np.flatnonzero(np.abs(lam).max(axis=0) > 0)
    if items.size == 1:
        i = items[0]
        return S[:, i, i] / lam[:, i] ** 2
    i, j = np.triu_indices(items.size, 1)
    a, b = items[i], items[j]
    with np.errstate(all="ignore"):
        est = np.ascontiguousarray(S[:, a, b] / (lam[:, a] * lam[:, b])).mean(axis=1)
    floor = FLOOR * S[:, items[0], items[0]]
    return np.where(np.isfinite(est) & (est > floor), est, floor)
