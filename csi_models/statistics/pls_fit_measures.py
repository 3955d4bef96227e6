"""Model fit of a PLS model: SRMR, d_ULS and d_G of the estimated and the saturated model, GoF.

Apart from the CB-SEM measures (``statistics.fit_measures``): a PLS model has no likelihood and
is judged by the item correlations it implies (Dijkstra & Henseler 2015, Henseler et al. 2014).
These are 1 on the diagonal; within a block lambda_a lambda_b (reflective: common factor) or the sample
correlations (formative: composite); between blocks lambda_a lambda_b r_ij, with r_ij the
construct correlations (``*_saturated``) or those implied by the estimated structural model
(estimated model, cSEM's and ADANCO's definition, ``implied_construct_cor``).
srmr = sqrt(mean over i <= j of (s_ij - sigma_ij)^2), d_uls = 1/2 sum_ij (s_ij - sigma_ij)^2,
d_g = 1/2 sum_k log(phi_k)^2 with phi_k the eigenvalues of S^-1 Sigma.
gof = sqrt(mean communality x mean R^2) (Tenenhaus et al. 2005): communalities are the squared
loadings of the items of reflective blocks with more than one item, R^2 over endogenous
constructs. No peer tool with a PLS SRMR was available as an oracle; the tests compute
these by hand and check that a composite population fits exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def implied_construct_cor(layout, paths: np.ndarray, construct_cor: np.ndarray,
                          r2: np.ndarray) -> np.ndarray:
    """Construct correlations implied by an estimated structural model, as cSEM (``fit()``,
    the SRMR of the estimated model) and ADANCO define them.

    Order the constructs exogenous (xi) then endogenous (eta), eta = B eta + Gamma xi + zeta,
    Phi = the estimated correlations of the exogenous constructs, Psi = diag(1 - R^2) with the
    estimated R^2. Then Cov(eta) = (I - B)^-1 (Gamma Phi Gamma' + Psi) (I - B)^-T and
    Cov(eta, xi) = (I - B)^-1 Gamma Phi; finally the diagonal is set to 1. ``paths[i, j]`` is
    the coefficient of construct i in the equation of j. An exogenous construct without
    paths keeps its estimated correlations. The off-diagonal entries are not rescaled: an
    endogenous construct's implied variance differs from 1 when its predecessors' implied
    correlations differ from the estimated ones."""
    J = len(layout.constructs)
    endo = np.array(layout.endogenous, dtype=int)
    exo = np.setdiff1d(np.arange(J), endo)
    B = np.asarray(paths, float)[np.ix_(endo, endo)].T        # B[t, s]: s -> t
    Gamma = np.asarray(paths, float)[np.ix_(exo, endo)].T     # Gamma[t, s]: s -> t
    Phi = np.asarray(construct_cor, float)[np.ix_(exo, exo)]
    Psi = np.diag(1.0 - np.asarray(r2, float)[endo])
    inv = np.linalg.inv(np.eye(endo.size) - B)
    R = np.empty((J, J))
    R[np.ix_(exo, exo)] = Phi
    R[np.ix_(endo, endo)] = inv @ (Gamma @ Phi @ Gamma.T + Psi) @ inv.T
    R[np.ix_(endo, exo)] = inv @ Gamma @ Phi
    R[np.ix_(exo, endo)] = R[np.ix_(endo, exo)].T
    np.fill_diagonal(R, 1.0)
    return R


def pls_implied(layout, S: np.ndarray, loadings: np.ndarray, construct_cor: np.ndarray) -> np.ndarray:
    """Model-implied item correlations of a PLS model for given construct correlations."""
    block = layout.block
    implied = np.outer(loadings, loadings) * construct_cor[np.ix_(block, block)]
    for j in range(len(layout.constructs)):
        idx = np.flatnonzero(layout.membership[:, j])
        if layout.formative[j]:
            implied[np.ix_(idx, idx)] = S[np.ix_(idx, idx)]
    np.fill_diagonal(implied, 1.0)
    return implied


def discrepancies(S: np.ndarray, implied: np.ndarray) -> dict:
    """srmr, d_uls and d_g between two correlation matrices."""
    low = np.tril_indices(len(S))
    resid = S - implied
    try:  # d_G needs both matrices positive definite; otherwise it is undefined (NaN)
        eig = np.linalg.eigvals(np.linalg.solve(S, implied)).real
    except np.linalg.LinAlgError:
        eig = np.array([np.nan])
    d_g = float(0.5 * (np.log(eig) ** 2).sum()) if (eig > 0).all() else np.nan
    return {"srmr": float(np.sqrt(np.mean(resid[low] ** 2))), "d_uls": float(0.5 * (resid ** 2).sum()),
            "d_g": d_g}


def gof(layout, loadings: np.ndarray, r2: np.ndarray) -> float:
    """Tenenhaus et al. (2005) GoF = sqrt(mean communality x mean R^2)."""
    sizes = layout.membership.sum(axis=0)
    keep = [i for i, j in enumerate(layout.block) if sizes[j] > 1 and not layout.formative[j]]
    endo = layout.endogenous
    if not keep or not endo:
        return np.nan
    return float(np.sqrt(np.mean(loadings[keep] ** 2) * np.mean(r2[endo])))


def pls_measures(layout, S: np.ndarray, loadings: np.ndarray, paths: np.ndarray,
                 construct_cor: np.ndarray, r2: np.ndarray) -> pd.Series:
    """srmr, d_uls, d_g (estimated model), the same with suffix _saturated, and gof."""
    estimated = pls_implied(layout, S, loadings, implied_construct_cor(layout, paths, construct_cor, r2))
    saturated = pls_implied(layout, S, loadings, construct_cor)
    out = discrepancies(S, estimated)
    out.update({f"{k}_saturated": v for k, v in discrepancies(S, saturated).items()})
    out["gof"] = gof(layout, loadings, r2)
    return pd.Series(out, name="value", dtype=float)
