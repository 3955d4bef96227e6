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
from functools import cached_property

import numpy as np

from csi_models.engines import mlterms

KINDS = ("beta", "lambda", "psi", "theta")
BLOCK = 64   # data sets per evaluation of the information's or Hessian's terms (``_in_blocks``)


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
    def information_terms(self) -> "mlterms.Terms":
        """``information``'s terms (a function of the structure only: worked out once)."""
        return mlterms.information_terms(self)

    @cached_property
    def hessian_terms(self) -> "mlterms.Terms":
        """``hessian``'s terms (a function of the structure only: worked out once)."""
        return mlterms.hessian_terms(self)

    @cached_property
    def _owners(self) -> dict:
        """kind -> (locations x n_free) 0/1 matrix: which parameter each free location is;
        None for a kind where a parameter has more than two locations (an equality label),
        whose sum a matrix product would order differently for one data set (BLAS gemv) than
        for a stack (gemm): a sum of one or two numbers is the same in any order."""
        out = {}
        for kind, (p, _, _) in self.free.items():
            if p.size:
                if np.bincount(p).max() > 2:
                    out[kind] = None
                else:
                    out[kind] = np.zeros((p.size, self.n_free))
                    out[kind][np.arange(p.size), p] = 1.0
        return out

    def gather(self, grads: dict) -> np.ndarray:
        """Sum matrix-shaped derivatives over each parameter's locations -> (K, n_free), as
        a product with the 0/1 ``_owners`` matrices (np.add.at took ~4-5% of a refit)."""
        K = len(next(iter(grads.values())))
        g = np.zeros((K, self.n_free))
        for kind, mats in grads.items():
            p, r, c = self.free[kind]
            if not p.size:
                continue
            owners = self._owners[kind]
            if owners is None:
                np.add.at(g.T, p, mats[:, r, c].T)
            else:
                g += mats[:, r, c] @ owners
        return g


def implied(structure: Structure, x: np.ndarray):
    """(Sigma, parts) for parameter vectors x (K, n_free); parts = (Lambda, A, Psi, M)."""
    mats = structure.matrices(np.atleast_2d(x))
    A = _inverse_stack(np.eye(mats["beta"].shape[-1]) - mats["beta"])
    M = A @ mats["psi"] @ A.transpose(0, 2, 1)
    lam = mats["lambda"]
    sigma = lam @ M @ lam.transpose(0, 2, 1) + mats["theta"]
    return sigma, (lam, A, mats["psi"], M)


def _inverse_stack(B: np.ndarray) -> np.ndarray:
    """Inverses of a stack of matrices, NaN for one that has none (a trial step of huge
    paths: numpy's stacked inverse raises for the whole stack when one matrix is singular)."""
    try:
        return np.linalg.inv(B)
    except np.linalg.LinAlgError:
        out = np.full(B.shape, np.nan)
        for k, b in enumerate(B):
            try:
                out[k] = np.linalg.inv(b)
            except np.linalg.LinAlgError:
                pass
        return out


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


def sample_moments(values: np.ndarray, rows_list) -> tuple[np.ndarray, np.ndarray]:
    """(S, log|S|) with divisor n for each row set (K row-position arrays into ``values``),
    set by set: the sets may differ in length, and each S is its own product."""
    S = np.empty((len(rows_list), values.shape[1], values.shape[1]))
    for k, rows in enumerate(rows_list):
        X = values[np.asarray(rows)]
        X = X - X.mean(axis=0)
        S[k] = X.T @ X / len(X)
    sign, logdet = np.linalg.slogdet(S)
    return S, np.where(sign > 0, logdet, np.nan)


def information(structure, inv, parts) -> np.ndarray:
    """Expected information of F: I_kl = tr(P D_k P D_l), P = Sigma^-1, (K, n_free, n_free).
    With D_k = s_k (a_k b_k' + b_k a_k') (``mlterms._pairs``) and X'PY written XPY:
    I_kl = 2 s_k s_l (BPA_kl BPA_lk + BPB_kl APA_kl), products of entries of Z'PZ over the
    upper triangle (``mlterms``)."""
    def block(rows):
        return structure.information_terms.evaluate(
            mlterms.sources(inv[rows], None, tuple(p[rows] for p in parts)))
    return _in_blocks(len(inv), structure.n_free, block)


def hessian(structure, S, inv, parts) -> np.ndarray:
    """Exact Hessian of F, (K, n_free, n_free): with P = Sigma^-1, W = P (Sigma - S) P,
    H_kl = tr(P D_k P D_l) - 2 tr(P D_k W D_l) + tr(W d2Sigma/dx_k dx_l). With D_k =
    s_k (a_k b_k' + b_k a_k') (``mlterms._pairs``) the first two are tr(P D_k V D_l), V = P - 2W:
    s_k s_l (BPA_lk BVA_kl + APB_lk AVB_kl + APA_kl BVB_kl + BPB_kl AVA_kl) with X'PY written
    XPY; the last is nonzero for pairs of loadings, paths and construct (co)variances (Sigma
    = Lambda M Lambda' + Theta, M = A Psi A') and is summed location by location. Each entry
    of the upper triangle is a fixed sum of products of two numbers of Z'PZ, Z'VZ, Z'WZ, M
    and A (``mlterms.hessian_terms``), worked out as one gather and product over all terms
    (a third of the time of (pairs x pairs) arrays, their placement and symmetrization). At
    S = Sigma it is the expected information. S is (K, p, p), or (1, p, p) shared by every
    data set (broadcast, also block by block)."""
    S = np.broadcast_to(S, inv.shape)

    def block(rows):
        P = inv[rows]
        return structure.hessian_terms.evaluate(
            mlterms.sources(P, P - P @ S[rows] @ P, tuple(p[rows] for p in parts)))
    return _in_blocks(len(inv), structure.n_free, block)


def _in_blocks(K: int, n: int, compute) -> np.ndarray:
    """(K, n, n) from ``compute(rows)`` over slices of ``BLOCK`` data sets: the gathered terms
    of a block stay in cache (ECSI's Hessian for 500 data sets: 124 us a data set in one
    piece, 54-60 in blocks of 64). Each data set's numbers are its own arithmetic, so the
    blocks change none."""
    if K <= BLOCK:
        return compute(slice(None))
    out = np.empty((K, n, n))
    for a in range(0, K, BLOCK):
        out[a:a + BLOCK] = compute(slice(a, a + BLOCK))
    return out
