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


def _cholesky(sigma: np.ndarray):
    """(inverse, log det, positive definite) of a stack of symmetric matrices."""
    K, p, _ = sigma.shape
    ok = np.ones(K, bool)
    try:
        L = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        L = np.repeat(np.eye(p)[None], K, axis=0)
        for k in range(K):
            try:
                L[k] = np.linalg.cholesky(sigma[k])
            except np.linalg.LinAlgError:
                ok[k] = False
    with np.errstate(all="ignore"):
        Linv = np.linalg.inv(L)
        inv = Linv.transpose(0, 2, 1) @ Linv
        logdet = 2 * np.log(np.abs(np.diagonal(L, axis1=1, axis2=2))).sum(axis=1)
    ok &= np.isfinite(logdet)
    return inv, logdet, ok


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


def _terms(structure, parts):
    """dSigma/dx_k = sum over terms t of parameter k of u_t v_t'. Returns U, V (K, p, T) and
    the owner parameter of each term (T,): a loading lambda_rc gives e_r G_c' and G_c e_r', a
    path b_rc gives L_r G_c' and G_c L_r', a location (r, c) of Psi gives L_r L_c' and of
    Theta e_r e_c' (a symmetric off-diagonal entry has both locations)."""
    lam, A, psi, M = parts
    K, p, _ = lam.shape
    G = lam @ M
    L = lam @ A
    eye = np.broadcast_to(np.eye(p)[None], (K, p, p))
    us, vs, owners = [], [], []
    for kind in KINDS:
        idx, r, c = structure.free[kind]
        if not idx.size:
            continue
        if kind == "lambda":
            pairs = [(eye[:, :, r], G[:, :, c]), (G[:, :, c], eye[:, :, r])]
        elif kind == "beta":
            pairs = [(L[:, :, r], G[:, :, c]), (G[:, :, c], L[:, :, r])]
        elif kind == "psi":
            pairs = [(L[:, :, r], L[:, :, c])]
        else:
            pairs = [(eye[:, :, r], eye[:, :, c])]
        for u, v in pairs:
            us.append(u)
            vs.append(v)
            owners.append(idx)
    return np.concatenate(us, axis=2), np.concatenate(vs, axis=2), np.concatenate(owners)


def information(structure, inv, parts) -> np.ndarray:
    """Expected information of F: I_kl = tr(Sigma^-1 D_k Sigma^-1 D_l), (K, n_free, n_free),
    with D_k = sum_t u_t v_t' (``_terms``): tr(P u_t v_t' P u_s v_s') = (v_t' P u_s)(v_s' P u_t),
    P = Sigma^-1, summed over the terms of k and of l."""
    U, V, owner = _terms(structure, parts)
    C = V.transpose(0, 2, 1) @ (inv @ U)           # C[t, s] = v_t' P u_s
    T = C * C.transpose(0, 2, 1)
    O = _owners(owner, structure.n_free)
    return O.T @ T @ O


def _owners(owner, n_free) -> np.ndarray:
    """(terms, n_free) 0/1 matrix summing terms (or locations) into their parameters."""
    O = np.zeros((owner.size, n_free))
    O[np.arange(owner.size), owner] = 1.0
    return O


def sample_moments(values: np.ndarray, rows_list) -> tuple[np.ndarray, np.ndarray]:
    """(S, log|S|) with divisor n for each row set (K row-position arrays into ``values``)."""
    X = values[np.stack([np.asarray(r) for r in rows_list])]
    X = X - X.mean(axis=1, keepdims=True)
    S = X.transpose(0, 2, 1) @ X / X.shape[1]
    sign, logdet = np.linalg.slogdet(S)
    return S, np.where(sign > 0, logdet, np.nan)


def hessian(structure, S, inv, parts) -> np.ndarray:
    """Exact Hessian of F, (K, n_free, n_free): with P = Sigma^-1, W = P (Sigma - S) P,
    H_kl = tr(P D_k P D_l) - 2 tr(P D_k W D_l) + tr(W d2Sigma/dx_k dx_l). The first two terms
    come from ``_terms`` as in ``information``; the last is nonzero for pairs of loadings,
    paths and construct (co)variances (Sigma = Lambda M Lambda' + Theta, M = A Psi A') and is
    summed location by location. At S = Sigma it is the expected information."""
    lam, A, psi, M = parts
    W = inv - inv @ S @ inv
    U, V, owner = _terms(structure, parts)
    PU, WU = inv @ U, W @ U
    Vt = V.transpose(0, 2, 1)
    CP, CW = Vt @ PU, Vt @ WU
    T = CP * CP.transpose(0, 2, 1) - 2 * CW * CP.transpose(0, 2, 1)
    O = _owners(owner, structure.n_free)
    Hs = O.T @ T @ O
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
        Oa, Ob = _owners(a, structure.n_free), _owners(b, structure.n_free)
        part = Oa.T @ block @ Ob
        Hs += part if a is b else part + part.transpose(0, 2, 1)
    return (Hs + Hs.transpose(0, 2, 1)) / 2
