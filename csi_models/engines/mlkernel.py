"""One batched ML kernel: implied covariance, fit function, analytic gradient and expected
information of a LISREL-type model for a stack of data sets at once.

The model (semopy's matrices, parsed once from the spec's lavaan syntax) is

    Sigma = Lambda A Psi A' Lambda' + Theta,   A = (I - B)^-1,

with B[target, source] the structural paths, Psi the construct (co)variances and
disturbances, Theta the item residual (co)variances. For K data sets with sample covariances
S_k (divisor n, as lavaan's ML) and K parameter vectors x_k this module returns

    F(x) = tr(S Sigma^-1) - p + log|Sigma| - log|S|          (the ML fit function, >= 0)
    g = dF/dx:  with W = Sigma^-1 (Sigma - S) Sigma^-1, M = A Psi A', G = Lambda M, L = Lambda A,
        dF/dLambda = 2 W G,  dF/dB = 2 L' W G,  dF/dPsi = L' W L,  dF/dTheta = W
        (summed over every matrix location of a parameter: symmetric entries count twice)
    I = E[d2F/dx dx'] = tr(Sigma^-1 D_k Sigma^-1 D_l),  D_k = dSigma/dx_k

(Joreskog 1969; Bollen 1989, ch. 4; lavaan's expected information is I/2 per case). F is
evaluated through a Cholesky factor; where Sigma is not positive definite F is inf, and a
value a rounding error below 0 (a perfect fit, df = 0) is 0. Used by ``engines.cbsem`` for
single fits and by ``fit_resamples`` for bootstrap resamples; the estimates equal lavaan
0.6-14's to 1e-6 (tests/test_mlkernel.py, tests/test_cbsem_lavaan.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

KINDS = ("beta", "lambda", "psi", "theta")


@dataclass(frozen=True)
class Structure:
    """Where the free parameters sit: ``base`` holds the fixed values of each matrix (0 at the
    free places); ``free[kind]`` = (parameter index, row, column) of every free location."""

    observed: tuple
    latent: tuple
    base: dict
    free: dict
    n_free: int

    @classmethod
    def from_semopy(cls, model) -> "Structure":
        """From a semopy Model (built from lavaan syntax; matrices need not hold data)."""
        index = {kind: k for k, kind in enumerate(model.matrices_names)}
        base = {kind: np.array(model.matrices[index[kind]], float) for kind in KINDS}
        locations = {kind: [] for kind in KINDS}
        k_free = 0
        for param in model.parameters.values():
            for loc in param.locations:
                kind = next(model.matrices_names[i] for i, mx in enumerate(model.matrices)
                            if mx is loc.matrix)
                if kind not in base:
                    continue
                spots = [loc.indices]
                if getattr(loc, "symmetric", False):  # semopy mirrors the entry
                    spots.append(loc.indices[::-1])
                for r, c in spots:
                    if param.active:
                        locations[kind].append((k_free, r, c))
                    else:
                        base[kind][r, c] = param.start
            k_free += bool(param.active)
        free = {}
        for kind, locs in locations.items():
            arr = np.array(locs, int).reshape(-1, 3)
            base[kind][arr[:, 1], arr[:, 2]] = 0.0
            free[kind] = (arr[:, 0], arr[:, 1], arr[:, 2])
        return cls(tuple(model.names[1][0]), tuple(model.names[0][0]), base, free, k_free)

    def matrices(self, x: np.ndarray) -> dict:
        """kind -> (K, rows, cols) matrices at the parameter vectors x (K, n_free)."""
        out = {}
        for kind in KINDS:
            mats = np.repeat(self.base[kind][None], len(x), axis=0)
            p, r, c = self.free[kind]
            mats[:, r, c] = x[:, p]
            out[kind] = mats
        return out

    @cached_property
    def pairs(self) -> "Pairs":
        """The pairs of ``_pairs`` (worked out once per structure: 0.3 ms for ECSI, as long
        as a single fit's information for one data set)."""
        return _pair_columns(self, len(self.observed), len(self.latent))

    def gather(self, grads: dict) -> np.ndarray:
        """Sum matrix-shaped derivatives over each parameter's locations -> (K, n_free)."""
        K = len(next(iter(grads.values())))
        g = np.zeros((K, self.n_free))
        for kind, mats in grads.items():
            p, r, c = self.free[kind]
            if p.size:
                np.add.at(g.T, p, mats[:, r, c].T)
        return g


def implied(structure: Structure, x: np.ndarray):
    """(Sigma, parts) for parameter vectors x (K, n_free); parts = (Lambda, A, Psi, M)."""
    mats = structure.matrices(np.atleast_2d(x))
    m = mats["beta"].shape[-1]
    A = np.linalg.inv(np.eye(m) - mats["beta"])
    M = A @ mats["psi"] @ A.transpose(0, 2, 1)
    lam = mats["lambda"]
    sigma = lam @ M @ lam.transpose(0, 2, 1) + mats["theta"]
    return sigma, (lam, A, mats["psi"], M)


def cholesky_stack(A: np.ndarray):
    """(L, ok): the lower Cholesky factors of a stack of symmetric matrices and (K,) whether
    each has one (where not, L holds NaN). numpy's stacked cholesky raises when one matrix
    fails; its ufunc underneath marks that matrix with NaN and goes on, so that ufunc is
    called directly (a matrix-by-matrix loop after a failure cost ~80 us a matrix); the loop
    stays as the fallback where the ufunc is not there."""
    try:
        from numpy.linalg import _umath_linalg
        with np.errstate(all="ignore"):
            L = _umath_linalg.cholesky_lo(A, signature="d->d")
        return L, np.isfinite(np.diagonal(L, axis1=1, axis2=2)).all(axis=1)
    except (ImportError, AttributeError, TypeError):
        pass
    K, p, _ = A.shape
    ok = np.ones(K, bool)
    try:
        return np.linalg.cholesky(A), ok
    except np.linalg.LinAlgError:
        L = np.full(A.shape, np.nan)
        for k in range(K):
            try:
                L[k] = np.linalg.cholesky(A[k])
            except np.linalg.LinAlgError:
                ok[k] = False
        return L, ok


def _cholesky(sigma: np.ndarray):
    """(inverse, log det, positive definite) of a stack of symmetric matrices."""
    L, ok = cholesky_stack(sigma)
    L[~ok] = np.eye(sigma.shape[-1])
    with np.errstate(all="ignore"):
        Linv = _lower_inverse(L)
        inv = Linv.transpose(0, 2, 1) @ Linv
        logdet = 2 * np.log(np.abs(np.diagonal(L, axis1=1, axis2=2))).sum(axis=1)
    ok &= np.isfinite(logdet)
    return inv, logdet, ok


def _lower_inverse(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack of lower triangular matrices by forward substitution, row by row
    over the whole stack (numpy's inv solves each small matrix by LU on its own, at twice
    the time)."""
    K, p, _ = L.shape
    out = np.zeros_like(L)
    scale = 1.0 / np.diagonal(L, axis1=1, axis2=2)
    for i in range(p):
        row = -(L[:, i, None, :i] @ out[:, :i, :])[:, 0] if i else np.zeros((K, p))
        row[:, i] += 1.0
        out[:, i] = row * scale[:, i, None]
    return out


def loss(structure, x, S, logdet_S) -> np.ndarray:
    """F for each of the K data sets: inf where Sigma is not positive definite; a rounding
    error below 0 is 0 (F >= 0 in exact arithmetic)."""
    sigma, _ = implied(structure, x)
    inv, logdet, ok = _cholesky(sigma)
    with np.errstate(all="ignore"):
        F = np.einsum("kij,kji->k", S, inv) - sigma.shape[-1] + logdet - logdet_S
    return np.where(ok & np.isfinite(F), np.maximum(F, 0.0), np.inf)


def loss_and_gradient(structure, x, S, logdet_S):
    """(F, g, Sigma^-1, parts) with the analytic gradient g (K, n_free) of F."""
    sigma, (lam, A, psi, M) = implied(structure, x)
    inv, logdet, ok = _cholesky(sigma)
    with np.errstate(all="ignore"):
        F = np.einsum("kij,kji->k", S, inv) - sigma.shape[-1] + logdet - logdet_S
        W = inv - inv @ S @ inv
        G = lam @ M
        L = lam @ A
        WG = W @ G
        grads = {"lambda": 2 * WG, "beta": 2 * L.transpose(0, 2, 1) @ WG,
                 "psi": L.transpose(0, 2, 1) @ W @ L, "theta": W}
        g = structure.gather(grads)
    F = np.where(ok & np.isfinite(F), np.maximum(F, 0.0), np.inf)
    g[~np.isfinite(F)] = np.nan
    return F, g, inv, (lam, A, psi, M)


def _pairs(structure, parts):
    """dSigma/dx_k = s_k (a_k b_k' + b_k a_k') for every free location pair k, in parameter
    order, with a_k and b_k columns of Z = [I, L, G] (G = Lambda M, L = Lambda A): a loading
    lambda_rc gives a = e_r, b = G_c; a path b_rc gives a = L_r, b = G_c; a Psi entry (r, c)
    (both symmetric locations at once: r <= c) gives a = L_r, b = L_c and a Theta entry
    e_r, e_c, with s = 1/2 on the diagonal (a = b). Returns R = [L, G] (K, p, 2m) and
    ``Pairs`` (the columns; a function of the structure only)."""
    lam, A, psi, M = parts
    return np.concatenate([lam @ A, lam @ M], axis=2), structure.pairs


@dataclass(frozen=True)
class Pairs:
    """Where each pair's a and b sit in Z = [I, L, G] (``_pairs``): flat indices into
    Z'XZ (n x n, n = p + 2m) of A'XA, B'XA and B'XB; the pairs' owner parameters and scales."""

    aa: np.ndarray
    ba: np.ndarray
    bb: np.ndarray
    owner: np.ndarray
    s: np.ndarray


def _pair_columns(structure, p, m) -> Pairs:
    offsets = {"e": 0, "L": p, "G": p + m}
    a_cols, b_cols, scales, owners = [], [], [], []
    for kind, (a, b) in (("lambda", ("e", "G")), ("beta", ("L", "G")), ("psi", ("L", "L")),
                         ("theta", ("e", "e"))):
        idx, r, c = structure.free[kind]
        if kind in ("psi", "theta"):
            upper = r <= c               # the mirrored location (c, r) belongs to the same pair
            idx, r, c = idx[upper], r[upper], c[upper]
        a_cols.append(offsets[a] + r)
        b_cols.append(offsets[b] + c)
        scales.append(np.where(r == c, 0.5, 1.0) if kind in ("psi", "theta") else np.ones(idx.size))
        owners.append(idx)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    a, b = np.concatenate(a_cols)[order], np.concatenate(b_cols)[order]
    n = p + 2 * m

    def flat(rows, cols):
        return (rows[:, None] * n + cols[None, :]).ravel()

    return Pairs(flat(a, a), flat(b, a), flat(b, b), owner[order],
                 np.concatenate(scales)[order])


def information(structure, inv, parts) -> np.ndarray:
    """Expected information of F: I_kl = tr(P D_k P D_l), P = Sigma^-1, (K, n_free, n_free).
    With D_k = s_k (a_k b_k' + b_k a_k') (``_pairs``) and X'PY written XPY:
    I_kl = 2 s_k s_l (BPA_kl BPA_lk + BPB_kl APA_kl), a few (pairs x pairs) products."""
    R, pairs = _pairs(structure, parts)
    APA, BPA, BPB = _products(inv, R, pairs)
    T = BPA * BPA.transpose(0, 2, 1)
    T += BPB * APA
    T *= 2 * np.outer(pairs.s, pairs.s)
    return _pair_sum(T, pairs.owner, pairs.owner, structure.n_free)


def _products(X, R, pairs):
    """A'XA, B'XA, B'XB (K, pairs, pairs), gathered from Z'XZ with Z = [I, R]: the pairs'
    columns repeat few distinct columns of Z (p + 2m of them), so one small product and a
    gather replace three (pairs x pairs) products."""
    K, p, _ = X.shape
    XR = X @ R
    top = np.concatenate([X, XR], axis=2)                       # X Z
    ZXZ = np.concatenate([top, R.transpose(0, 2, 1) @ top], axis=1).reshape(K, -1)
    q = pairs.owner.size
    return tuple(np.take(ZXZ, idx, axis=1, mode="clip").reshape(K, q, q)   # idx is valid
                 for idx in (pairs.aa, pairs.ba, pairs.bb))


def _pair_sum(T, owner_a, owner_b, n_free, out=None) -> np.ndarray:
    """(K, n_free, n_free): T's rows summed by their parameter ``owner_a``, its columns by
    ``owner_b`` (added to ``out`` when given). Owners are mostly distinct (a symmetric Psi
    entry's two locations share one), so the sum is a small product with 0/1 matrices over
    the repeated owners only, then a placement on the flattened last axes (a dense
    (pairs x n_free) product cost most of the Hessian's time)."""
    ua, sum_a = _owners(np.asarray(owner_a, np.intp).tobytes())
    ub, sum_b = _owners(np.asarray(owner_b, np.intp).tobytes())
    if sum_a is not None:
        T = sum_a.T @ T
        owner_a = ua
    if sum_b is not None:
        T = T @ sum_b
        owner_b = ub
    every = np.arange(n_free)
    if out is None and np.array_equal(owner_a, every) and np.array_equal(owner_b, every):
        return T
    if out is None:
        out = np.zeros((len(T), n_free, n_free))
    flat = (owner_a[:, None] * n_free + owner_b[None, :]).ravel()
    out.reshape(len(T), -1)[:, flat] += T.reshape(len(T), -1)
    return out


@lru_cache(maxsize=64)
def _owners(owner: bytes):
    """(distinct owners, the 0/1 matrix summing repeated ones or None): ``_pair_sum``'s
    bookkeeping, a function of the structure only (np.unique each call was ~4% of a
    bootstrap's refits)."""
    owner = np.frombuffer(owner, dtype=np.intp)
    unique, index = np.unique(owner, return_inverse=True)
    unique.flags.writeable = False                 # shared by every call: read only
    if unique.size == owner.size:
        return unique, None
    onehot = np.zeros((owner.size, unique.size))
    onehot[np.arange(owner.size), index] = 1.0
    onehot.flags.writeable = False
    return unique, onehot


def sample_moments(values: np.ndarray, rows_list) -> tuple[np.ndarray, np.ndarray]:
    """(S, log|S|) with divisor n for each row set (K row-position arrays into ``values``)."""
    X = values[np.stack([np.asarray(r) for r in rows_list])]
    X = X - X.mean(axis=1, keepdims=True)
    S = X.transpose(0, 2, 1) @ X / X.shape[1]
    sign, logdet = np.linalg.slogdet(S)
    return S, np.where(sign > 0, logdet, np.nan)


def hessian(structure, S, inv, parts) -> np.ndarray:
    """Exact Hessian of F, (K, n_free, n_free): with P = Sigma^-1, W = P (Sigma - S) P,
    H_kl = tr(P D_k P D_l) - 2 tr(P D_k W D_l) + tr(W d2Sigma/dx_k dx_l). The first term is
    ``information``'s; with D_k = s_k (a_k b_k' + b_k a_k') (``_pairs``) the second is
    s_k s_l (BWA_kl BPA_lk + BWB_kl APA_kl + AWA_kl BPB_kl + BWA_lk BPA_kl); the last is
    nonzero for pairs of loadings, paths and construct (co)variances (Sigma = Lambda M
    Lambda' + Theta, M = A Psi A') and is summed location by location. At S = Sigma it is
    the expected information."""
    lam, A, psi, M = parts
    W = inv - inv @ S @ inv
    R, pairs = _pairs(structure, parts)
    APA, BPA, BPB = _products(inv, R, pairs)
    AWA, BWA, BWB = _products(W, R, pairs)
    s, owner = pairs.s, pairs.owner
    # T = 2 (BPA BPA' + BPB APA) - 2 (BWA BPA' + BWB APA + AWA BPB + BWA' BPA), elementwise,
    # in place: T = 2 (BPA' (BPA - BWA) + APA (BPB - BWB) - AWA BPB - BWA' BPA)
    T = BPA - BWA
    T *= BPA.transpose(0, 2, 1)
    BPB_ = BPB - BWB
    BPB_ *= APA
    T += BPB_
    AWA *= BPB
    T -= AWA
    BPA *= BWA.transpose(0, 2, 1)
    T -= BPA
    T *= 2 * np.outer(s, s)
    Hs = _pair_sum(T, owner, owner, structure.n_free)
    G, L = lam @ M, lam @ A
    WL, WG = W @ L, W @ G
    LWL = L.transpose(0, 2, 1) @ WL               # A' Q A with Q = Lambda' W Lambda
    GWL = G.transpose(0, 2, 1) @ WL               # M Q A
    f = structure.free

    def ix(mat, a, b):
        return mat[:, a[:, None], b[None, :]]

    blocks = []
    li, lr, lc = f["lambda"]
    bi, br, bc = f["beta"]
    si, sr, sc = f["psi"]
    if li.size:
        blocks.append((li, li, 2 * ix(W, lr, lr) * ix(M, lc, lc)))
        if bi.size:
            blocks.append((li, bi, 2 * (ix(WL, lr, br) * ix(M, lc, bc)
                                        + ix(WG, lr, bc) * ix(A, lc, br))))
        if si.size:
            blocks.append((li, si, ix(A, lc, sr) * ix(WL, lr, sc) + ix(WL, lr, sr) * ix(A, lc, sc)))
    if bi.size:
        t1 = ix(GWL, bc, br) * ix(A, bc, br).transpose(0, 2, 1)
        blocks.append((bi, bi, 2 * (t1 + t1.transpose(0, 2, 1) + ix(LWL, br, br) * ix(M, bc, bc))))
        if si.size:
            blocks.append((bi, si, ix(LWL, sc, br).transpose(0, 2, 1) * ix(A, bc, sr)
                           + ix(LWL, br, sr) * ix(A, bc, sc)))
    for a, b, block in blocks:
        _pair_sum(block, a, b, structure.n_free, out=Hs)
        if a is not b:
            _pair_sum(block.transpose(0, 2, 1), b, a, structure.n_free, out=Hs)
    return (Hs + Hs.transpose(0, 2, 1)) / 2
