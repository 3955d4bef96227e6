"""The information and the Hessian of ``engines.mlkernel`` as fixed sums of products.

Every entry (u, v), u <= v, of the expected information and of the exact Hessian of the ML fit
function is a sum, fixed by the model's structure, of products of two numbers taken from a few
per-data-set matrices: Z'PZ, Z'VZ and Z'WZ (Z = [I, L, G], P = Sigma^-1, W = P (Sigma - S) P,
V = P - 2W), M and A (``mlkernel``'s notation). The list of terms is compiled once per
structure (``Terms.compile``; ECSI's Hessian: 4902 terms after merging equal ones); a call is
then one gather, one product and a layered sum over all terms with the data sets along the
last axis (``Terms.evaluate``): a third of the time of (pairs x pairs) arrays, their
placement and symmetrization. Each data set's numbers are its own arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _pairs(structure):
    """dSigma/dx_k = s_k (a_k b_k' + b_k a_k') for every free location pair k, in parameter
    order, with a_k and b_k columns of Z = [I, L, G] (G = Lambda M, L = Lambda A): a loading
    lambda_rc gives a = e_r, b = G_c; a path b_rc gives a = L_r, b = G_c; a Psi entry (r, c)
    (both symmetric locations at once: r <= c) gives a = L_r, b = L_c and a Theta entry
    e_r, e_c, with s = 1/2 on the diagonal (a = b). Returns (a, b, owner, s): a and b as
    column numbers of Z, the pairs' parameters and scales."""
    p, m = len(structure.observed), len(structure.latent)
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
    return (np.concatenate(a_cols)[order], np.concatenate(b_cols)[order], owner[order],
            np.concatenate(scales)[order])


@dataclass(frozen=True)
class Terms:
    """A symmetric (K, n, n) result written as sums of products of two per-data-set numbers:
    its entry (u, v), u <= v, is the sum over its terms of coef * src[f1] * src[f2], ``src``
    holding each data set's matrices flattened (``sources``). The terms are ordered layer by
    layer: layer j holds the j-th term of every entry with more than j terms, the entries
    ordered by their number of terms (most first), so that a layer adds to a leading slice
    of the sums; ``layers`` are their sizes and ``full`` gives, for each of the n * n
    entries, the row of its sum (both triangles read the same number: exactly symmetric)."""

    f1: np.ndarray
    f2: np.ndarray
    coef: np.ndarray
    layers: tuple
    full: np.ndarray
    n: int

    @classmethod
    def compile(cls, u, v, f1, f2, coef, n) -> "Terms":
        """From every term's entry (u, v), in either order, factors and coefficient. Terms of
        one entry with the same two factors merge (a variance's pair has a = b: its four
        terms are two equal ones twice; ECSI's Hessian has 40% fewer terms merged)."""
        size = max(f1.max(), f2.max()) + 1
        key = ((np.minimum(u, v) * n + np.maximum(u, v)) * size
               + np.minimum(f1, f2)) * size + np.maximum(f1, f2)
        key, which = np.unique(key, return_inverse=True)
        coef = np.bincount(which.ravel(), weights=coef, minlength=key.size)
        entry, f1, f2 = key // size ** 2, key // size % size, key % size
        entries, which, counts = np.unique(entry, return_inverse=True, return_counts=True)
        if entries.size != n * (n + 1) // 2:
            raise ValueError("every entry of the upper triangle needs a term")
        rank = np.empty(entries.size, np.intp)          # entries by their number of terms
        rank[np.argsort(-counts, kind="stable")] = np.arange(entries.size)
        row = rank[which.ravel()]
        order = np.argsort(row, kind="stable")
        slot = np.empty(row.size, np.intp)              # a term's number within its entry
        slot[order] = np.arange(row.size) - np.searchsorted(row[order], row[order])
        layout = np.lexsort((row, slot))
        full = np.empty(n * n, np.intp)
        r, c = np.divmod(entries, n)
        full[r * n + c] = full[c * n + r] = rank
        return cls(f1[layout], f2[layout], coef[layout], tuple(np.bincount(slot).tolist()),
                   full, n)

    def evaluate(self, src: np.ndarray) -> np.ndarray:
        """(K, n, n) from ``src`` (n_src, K). Data sets run along the last axis, so that each
        gathered factor is a contiguous row (twice as fast a gather as within rows of K)
        and every operation is the same arithmetic on each data set's column."""
        prod = src.take(self.f1, axis=0, mode="clip")          # indices are valid
        prod *= src.take(self.f2, axis=0, mode="clip")
        prod *= self.coef[:, None]
        total = prod[:self.layers[0]]
        start = self.layers[0]
        for size in self.layers[1:]:
            total[:size] += prod[start:start + size]
            start += size
        return total.T.take(self.full, axis=1, mode="clip").reshape(-1, self.n, self.n)


def _same_owner_weight(i, j, owner_i, owner_j, same_kind):
    """Weights turning terms over location or pair indices (i, j) into terms of the
    parameters' upper triangle: for a symmetric block (``same_kind``) only i <= j are listed
    and an i < j term stands for (j, i) as well; the other blocks' terms count on both sides
    of the diagonal; either way a term whose two owners are one parameter counts twice."""
    twice = (owner_i == owner_j) & ((i != j) | ~same_kind)
    return np.where(twice, 2.0, 1.0)


def _zxz_index(r, c, p, m):
    """Flat index of Z'XZ[r, c] (Z = [I, R], X symmetric) in a block laid out as X (p x p),
    XR (p x 2m), R'XR (2m x 2m) (``sources``): the lower triangle is read in the upper one
    (its mirror; only the upper triangles of X and R'XR are ever read)."""
    r, c = np.minimum(r, c), np.maximum(r, c)
    return np.where(c < p, r * p + c,
                    np.where(r < p, p * p + r * 2 * m + c - p,
                             p * p + 2 * m * p + (r - p) * 2 * m + c - p))


def information_terms(structure) -> Terms:
    """I_kl = 2 s_k s_l (BPA_kl BPA_lk + BPB_kl APA_kl) over pairs k <= l (``mlkernel.information``),
    with XPY_kl = x_k' P y_l an entry of Z'PZ."""
    a, b, owner, s = _pairs(structure)
    p, m = len(structure.observed), len(structure.latent)
    k, l = np.triu_indices(owner.size)
    w = 2 * s[k] * s[l] * _same_owner_weight(k, l, owner[k], owner[l], True)
    f1 = _zxz_index(np.r_[b[k], a[k]], np.r_[a[l], a[l]], p, m)
    f2 = _zxz_index(np.r_[b[l], b[k]], np.r_[a[k], b[l]], p, m)
    return Terms.compile(np.tile(owner[k], 2), np.tile(owner[l], 2), f1, f2, np.tile(w, 2),
                         structure.n_free)


def hessian_terms(structure) -> Terms:
    """The terms of ``mlkernel.hessian`` over ``sources``' [Z'PZ, Z'VZ, Z'WZ, M, A] (V = P - 2W):
    tr(P D_k P D_l) - 2 tr(P D_k W D_l) = tr(P D_k V D_l) = s_k s_l (BPA_lk BVA_kl +
    APB_lk AVB_kl + APA_kl BVB_kl + BPB_kl AVA_kl) for pairs k <= l, and the second
    derivatives of Sigma (``mlkernel.hessian``) location by location, from entries of W, M, A and of
    Lambda'W Lambda-type matrices (all in Z'WZ: W = e'We, WL = e'WL, LWL = L'WL, ...)."""
    a, b, owner, s = _pairs(structure)
    p, m = len(structure.observed), len(structure.latent)
    size = p * p + 2 * m * p + 4 * m * m            # one Z'XZ block
    P, V, Wz, Mo, Ao = 0, size, 2 * size, 3 * size, 3 * size + m * m

    def Z(offset, r, c): return offset + _zxz_index(r, c, p, m)
    k, l = np.triu_indices(owner.size)
    w = s[k] * s[l] * _same_owner_weight(k, l, owner[k], owner[l], True)
    us, vs, coefs = [np.tile(owner[k], 4)], [np.tile(owner[l], 4)], [np.tile(w, 4)]
    f1s = [Z(P, np.r_[b[l], a[l], a[k], b[k]], np.r_[a[k], b[k], a[l], b[l]])]
    f2s = [Z(V, np.r_[b[k], a[k], b[k], a[k]], np.r_[a[l], b[l], b[l], a[l]])]

    def W(r, c): return Z(Wz, r, c)
    def WL(r, c): return Z(Wz, r, p + c)
    def WG(r, c): return Z(Wz, r, p + m + c)
    def LWL(r, c): return Z(Wz, p + r, p + c)
    def GWL(r, c): return Z(Wz, p + m + r, p + c)
    def M(r, c): return Mo + np.minimum(r, c) * m + np.maximum(r, c)
    def A(r, c): return Ao + r * m + c

    f = structure.free

    def block(first, second, factors):
        """Terms of the location pairs (i of kind ``first``, j of ``second``): ``factors``
        maps the locations' rows and columns to [(coef, f1, f2), ...]."""
        (ia, ra, ca), (ib, rb, cb) = f[first], f[second]
        if not (ia.size and ib.size):
            return
        same = first == second
        i, j = np.triu_indices(ia.size) if same else \
            [x.ravel() for x in np.indices((ia.size, ib.size))]
        w = _same_owner_weight(i, j, ia[i], ib[j], same)
        for c, f1, f2 in factors(ra[i], ca[i], rb[j], cb[j]):
            us.append(ia[i]), vs.append(ib[j]), f1s.append(f1), f2s.append(f2)
            coefs.append(c * w)

    block("lambda", "lambda", lambda lr, lc, lr2, lc2: [(2, W(lr, lr2), M(lc, lc2))])
    block("lambda", "beta", lambda lr, lc, br, bc: [(2, WL(lr, br), M(lc, bc)),
                                                    (2, WG(lr, bc), A(lc, br))])
    block("lambda", "psi", lambda lr, lc, sr, sc: [(1, A(lc, sr), WL(lr, sc)),
                                                   (1, WL(lr, sr), A(lc, sc))])
    block("beta", "beta", lambda br, bc, br2, bc2: [(2, GWL(bc, br2), A(bc2, br)),
                                                    (2, GWL(bc2, br), A(bc, br2)),
                                                    (2, LWL(br, br2), M(bc, bc2))])
    block("beta", "psi", lambda br, bc, sr, sc: [(1, LWL(sc, br), A(bc, sr)),
                                                 (1, LWL(br, sr), A(bc, sc))])
    return Terms.compile(*(np.concatenate(x) for x in (us, vs, f1s, f2s, coefs)),
                         structure.n_free)


def _zxz(X, R, out):
    """Z'XZ (Z = [I, R], X symmetric) into ``out`` ((n_block, K), data sets along the last
    axis) as X, XR and R'XR: its lower left block is XR's transpose."""
    K, p, _ = X.shape
    XR = X @ R
    out[:p * p] = X.reshape(K, -1).T
    out[p * p:p * p + XR[0].size] = XR.reshape(K, -1).T
    out[p * p + XR[0].size:] = (R.transpose(0, 2, 1) @ XR).reshape(K, -1).T


def sources(inv, W, parts) -> np.ndarray:
    """(n_src, K): each data set's Z'PZ, Z'VZ (V = P - 2W), Z'WZ (``_zxz``), M and A as a
    column (the factors of ``hessian_terms``); with ``W`` None, Z'PZ only (``information``)."""
    lam, A, psi, M = parts
    K, p, _ = inv.shape
    m = A.shape[1]
    R = np.concatenate([lam @ A, lam @ M], axis=2)
    size = p * p + 2 * m * p + 4 * m * m
    src = np.empty((size if W is None else 3 * size + 2 * m * m, K))
    _zxz(inv, R, src[:size])
    if W is not None:
        _zxz(W, R, src[2 * size:3 * size])
        np.multiply(src[2 * size:3 * size], -2.0, out=src[size:2 * size])
        src[size:2 * size] += src[:size]
        src[3 * size:3 * size + m * m] = M.reshape(K, -1).T
        src[3 * size + m * m:] = A.reshape(K, -1).T
    return src
