"""The mean structure on top of the batched ML kernel (``engines.mlkernel``): item intercepts
nu and latent means alpha, for a stack of data sets (multi-group fits: the groups).

    mu = nu + Lambda A alpha,   A = (I - B)^-1,
    F  = tr(S Sigma^-1) - p + log|Sigma| - log|S| + d' Sigma^-1 d,   d = m - mu

(lavaan's ML with ``meanstructure = TRUE``; m the sample means). A parameter vector holds the
kernel's covariance parameters first (``Structure``), then nu (p), then alpha (constructs).
Since tr((S + dd') Sigma^-1) = tr(S Sigma^-1) + d' Sigma^-1 d, F is the kernel's fit function
at S + dd', and so is its gradient through Sigma (d held fixed); the mean structure adds the
gradient through mu, with gm = dF/dmu = -2 Sigma^-1 d:

    dF/dnu = gm,  dF/dalpha = (Lambda A)' gm,  dF/dLambda = gm (A alpha)',
    dF/dB = (Lambda A)' gm (A alpha)'

and the expected information adds 2 J' Sigma^-1 J, J = dmu/dx (Bollen 1989, ch. 8; lavaan's
expected information for the mean structure). Matches lavaan's multi-group chi-squares
(tests/test_compare.py) and a finite-difference gradient (tests/test_mlmeans.py).
"""

from __future__ import annotations

import numpy as np

from csi_models.engines import mlkernel as mk


class MeanStructure:
    """The kernel's ``Structure`` (covariance parameters 0..q-1) plus nu and alpha."""

    def __init__(self, structure: mk.Structure):
        self.structure = structure
        self.q = structure.n_free
        self.p, self.m = len(structure.observed), len(structure.latent)
        self.n_free = self.q + self.p + self.m

    def split(self, x: np.ndarray):
        """(covariance parameters, nu, alpha) of parameter vectors x (K, n_free)."""
        x = np.atleast_2d(x)
        return x[:, :self.q], x[:, self.q:self.q + self.p], x[:, self.q + self.p:]

    def implied(self, x: np.ndarray):
        """(Sigma (K, p, p), mu (K, p), parts, A alpha (K, m)); parts as ``mlkernel.implied``."""
        xc, nu, alpha = self.split(x)
        sigma, parts = mk.implied(self.structure, xc)
        lam, A = parts[0], parts[1]
        a_alpha = (A @ alpha[:, :, None])[:, :, 0]
        mu = nu + (lam @ a_alpha[:, :, None])[:, :, 0]
        return sigma, mu, parts, a_alpha

    def loss(self, x, S, logdet_S, m) -> np.ndarray:
        """F for each data set (inf where Sigma is not positive definite)."""
        _, mu, _, _ = self.implied(x)
        d = m - mu
        return mk.loss(self.structure, self.split(x)[0], S + d[:, :, None] * d[:, None, :],
                       logdet_S)

    def loss_and_gradient(self, x, S, logdet_S, m):
        """(F, g (K, n_free), Sigma^-1, parts, A alpha)."""
        xc, _, _ = self.split(x)
        _, mu, _, _ = self.implied(x)
        d = m - mu
        F, g_cov, inv, parts = mk.loss_and_gradient(self.structure, xc,
                                                    S + d[:, :, None] * d[:, None, :], logdet_S)
        lam, A = parts[0], parts[1]
        a_alpha = (A @ self.split(x)[2][:, :, None])[:, :, 0]
        with np.errstate(all="ignore"):
            gm = -2 * (inv @ d[:, :, None])[:, :, 0]                  # dF/dmu
            la_gm = ((lam @ A).transpose(0, 2, 1) @ gm[:, :, None])[:, :, 0]
            through_mu = self.structure.gather({
                "lambda": gm[:, :, None] * a_alpha[:, None, :],
                "beta": la_gm[:, :, None] * a_alpha[:, None, :]})
        g = np.concatenate([g_cov + through_mu, gm, la_gm], axis=1)
        g[~np.isfinite(F)] = np.nan
        return F, g, inv, parts, a_alpha

    def mean_jacobian(self, parts, a_alpha) -> np.ndarray:
        """J = dmu/dx (K, p, n_free)."""
        lam, A = parts[0], parts[1]
        K = len(lam)
        LA = lam @ A
        J = np.zeros((K, self.p, self.n_free))
        for kind, rows in (("lambda", None), ("beta", LA)):
            k, r, c = self.structure.free[kind]
            for col, row, con in zip(k, r, c):
                u = np.eye(self.p)[row][None] if rows is None else rows[:, :, row]
                J[:, :, col] += u * a_alpha[:, con][:, None]
        J[:, :, self.q:self.q + self.p] = np.eye(self.p)
        J[:, :, self.q + self.p:] = LA
        return J

    def information(self, inv, parts, a_alpha) -> np.ndarray:
        """Expected information of F (K, n_free, n_free): the kernel's for the covariance
        parameters plus 2 J' Sigma^-1 J."""
        J = self.mean_jacobian(parts, a_alpha)
        info = 2 * J.transpose(0, 2, 1) @ inv @ J
        info[:, :self.q, :self.q] += mk.information(self.structure, inv, parts)
        return info
