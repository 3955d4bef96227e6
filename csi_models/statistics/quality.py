"""Measurement quality: reliability, convergent and discriminant validity, collinearity, f².

Every function works on plain arrays indexed like an engine ``Layout``, so the same code
serves both engines (and, for HTMT, any stack of resampled correlation matrices).

PLS definitions follow seminr / SmartPLS and match seminr (PyPI 0.2.1) to 1e-10 on the
bundled ECSI data (tests/test_quality.py):

* Cronbach's alpha (standardized): ``k/(k-1) * (1 - k / sum(R_jj))`` on the items'
  correlation matrix; 1 for a single item.
* rho_A (Dijkstra & Henseler 2015, eq. 13): with weights w scaled so the composite has unit
  variance, ``rho_A = (w'w)^2 * w'(S - diag S)w / w'(ww' - diag ww')w``; 1 for a single item
  and for mode B (as seminr reports it).
* rho_C (composite reliability, Joreskog 1971): ``(sum l)^2 / ((sum l)^2 + sum(1 - l^2))``.
* AVE (Fornell & Larcker 1981): ``mean(l^2)``; rho_C = AVE = 1 for a single item.
* HTMT (Henseler, Ringle & Sarstedt 2015) on absolute item correlations: mean heterotrait
  correlation over the geometric mean of the two mean monotrait correlations.
* Fornell-Larcker table: sqrt(AVE) on the diagonal, construct correlations below it.
* Item VIF: diag((R_jj)^-1) per block; inner VIF: diag((R_pred)^-1) of each endogenous
  construct's predecessors (NaN with a single predecessor, as seminr).
* f² (Cohen 1988): ``(R²_incl - R²_excl) / (1 - R²_incl)``; for PLS R²_excl comes from
  re-estimating the model without the path (seminr's ``f_squared``; ``engines.pls.f_squared``).

CB-SEM analogues (from the standardized solution; data-only statistics are shared):
alpha, HTMT and item VIFs use the sample item correlations exactly as for PLS.
rho_C = ``(sum l)^2 / ((sum l)^2 + sum theta)`` and AVE = ``sum l^2 / (sum l^2 + sum theta)``
with standardized loadings l and standardized residual variances theta (lavaan std.all;
Fornell & Larcker 1981). rho_A is the reliability of the construct score we report (own-block
factor-score weights w ~ Sigma_jj^-1 lambda_j): ``(w'lambda)^2 phi / w'Sigma_jj w``, which
equals Hancock & Mueller's (2001) maximal reliability H = 1 / (1 + 1/sum(l^2/theta)).
Fornell-Larcker and inner VIFs use the model-implied latent correlations; f² uses the drop
in R² from leaving a predictor out of the regression in those correlations (no refit):
beta² / VIF (``f_squared_latent``). ``factor_reliability`` computes rho_A, rho_C and AVE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.spec.layout import Layout

#: Thresholds from the literature, used by the report to flag values (never in decisions).
THRESHOLDS = {
    "alpha": 0.7, "rho_a": 0.7, "rho_c": 0.7, "ave": 0.5,          # Hair et al. (2017)
    "htmt": (0.85, 0.90),                                           # Henseler et al. (2015)
    "vif_formative": (3.3, 5.0),                                    # Diamantopoulos & Siguaw (2006); Hair et al.
    "vif_inner": 5.0,                                               # Hair et al. (2017)
    "f2": (0.02, 0.15, 0.35),                                       # Cohen (1988): small, medium, large
}


def blocks(layout: Layout) -> list[np.ndarray]:
    """Item indices of each construct's block, in construct order."""
    return [np.flatnonzero(layout.membership[:, j]) for j in range(len(layout.constructs))]


def cronbach_alpha(S: np.ndarray, layout: Layout) -> np.ndarray:
    """Standardized Cronbach's alpha per construct from the item correlation matrix ``S``."""
    out = np.ones(len(layout.constructs))
    for j, idx in enumerate(blocks(layout)):
        k = idx.size
        if k > 1:
            block = S[np.ix_(idx, idx)]
            out[j] = k / (k - 1) * (1 - np.trace(block) / block.sum())
    return out


def rho_a(S: np.ndarray, layout: Layout, weights: np.ndarray) -> np.ndarray:
    """Dijkstra-Henseler rho_A per construct (weights: standardized, one per item)."""
    out = np.ones(len(layout.constructs))
    for j, idx in enumerate(blocks(layout)):
        if idx.size < 2 or layout.formative[j]:
            continue
        w = weights[idx]
        off = S[np.ix_(idx, idx)] - np.diag(np.diag(S[np.ix_(idx, idx)]))
        ww = np.outer(w, w)
        out[j] = (w @ w) ** 2 * (w @ off @ w) / (w @ (ww - np.diag(np.diag(ww))) @ w)
    return out


def rho_c_ave(layout: Layout, loadings: np.ndarray, residuals: np.ndarray | None = None):
    """(rho_C, AVE) per construct from standardized loadings; ``residuals`` are the
    standardized residual variances (default 1 - l^2, the PLS convention)."""
    theta = 1 - loadings ** 2 if residuals is None else residuals
    rho_c = np.ones(len(layout.constructs))
    ave = np.ones(len(layout.constructs))
    for j, idx in enumerate(blocks(layout)):
        if idx.size < 2:
            continue
        lam, th = loadings[idx], theta[idx]
        rho_c[j] = lam.sum() ** 2 / (lam.sum() ** 2 + th.sum())
        ave[j] = (lam ** 2).sum() / ((lam ** 2).sum() + th.sum())
    return rho_c, ave


def htmt(S: np.ndarray, layout: Layout) -> np.ndarray:
    """HTMT matrix (..., J, J) for one or a stack of item correlation matrices (..., p, p).

    Written over stacks so that bootstrap resamples of S give the HTMT distribution in one
    call. The diagonal is NaN; a single-item block has mean monotrait correlation 1.
    """
    A = np.abs(np.asarray(S, float))
    M = layout.membership
    k = M.sum(axis=0)
    T = np.swapaxes(M, 0, 1) @ A @ M                              # sums of |r| between blocks
    diag_sum = np.diagonal(A, axis1=-2, axis2=-1) @ M             # sum of |r_ii| in each block
    pairs = k * (k - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mono = np.where(k > 1, (np.diagonal(T, axis1=-2, axis2=-1) - diag_sum) / np.where(pairs > 0, pairs, 1), 1.0)
        out = T / np.outer(k, k) / np.sqrt(mono[..., :, None] * mono[..., None, :])
    J = len(k)
    out[..., np.arange(J), np.arange(J)] = np.nan
    return out


def item_vif(S: np.ndarray, layout: Layout) -> np.ndarray:
    """VIF of each item on the other items of its block: diag of the block's inverse
    correlation matrix; 1 for a single item."""
    out = np.ones(len(layout.items))
    for idx in blocks(layout):
        if idx.size > 1:
            try:
                out[idx] = np.diag(np.linalg.inv(S[np.ix_(idx, idx)]))
            except np.linalg.LinAlgError:  # perfectly collinear items: infinite VIF
                out[idx] = np.inf
    return out


def inner_vif(R: np.ndarray, layout: Layout) -> list[tuple[int, int, float]]:
    """(source, target, VIF) for every path, from the construct correlation matrix ``R``."""
    rows = []
    for j in layout.endogenous:
        pred = layout.predecessors(j)
        try:
            vif = (np.full(1, np.nan) if pred.size == 1
                   else np.diag(np.linalg.inv(R[np.ix_(pred, pred)])))
        except np.linalg.LinAlgError:  # perfectly collinear predictors
            vif = np.full(pred.size, np.inf)
        rows += [(int(i), j, float(v)) for i, v in zip(pred, vif)]
    return rows


def f_squared_latent(R: np.ndarray, layout: Layout, paths: np.ndarray,
                     r2: np.ndarray) -> list[tuple[int, int, float]]:
    """(source, target, f²) of a latent model, from the engine's standardized paths and R²
    (no re-estimation): dropping predictor i of j lowers R² by beta_ij² / VIF_i, the squared
    semipartial correlation (VIF_i of i among j's predictors in the latent correlations R;
    1 for a single predictor), so f² = beta_ij² / (VIF_i (1 - R²_j)). Exact for the
    regression of j on its predictors, which the standardized paths of a recursive model
    with uncorrelated disturbances are."""
    vif = {(i, j): (1.0 if np.isnan(v) else v) for i, j, v in inner_vif(R, layout)}
    return [(i, j, paths[i, j] ** 2 / (vif[i, j] * (1 - r2[j]))) for i, j in vif]


def without_path(layout: Layout, i: int, j: int) -> tuple[Layout, np.ndarray, int]:
    """The layout with path i -> j removed and any construct left unconnected dropped;
    returns (layout, kept item indices, new index of j)."""
    A = layout.adjacency.copy()
    A[i, j] = 0
    keep = np.flatnonzero(A.any(axis=0) | A.any(axis=1))
    items = np.flatnonzero(layout.membership[:, keep].any(axis=1))
    sub = Layout(tuple(layout.constructs[c] for c in keep), tuple(layout.items[t] for t in items),
                 layout.membership[np.ix_(items, keep)], layout.formative[keep], A[np.ix_(keep, keep)])
    return sub, items, int(np.flatnonzero(keep == j)[0])


def fornell_larcker(ave: np.ndarray, R: np.ndarray, names) -> pd.DataFrame:
    """sqrt(AVE) on the diagonal, construct correlations below it, NaN above (as seminr)."""
    J = len(names)
    table = np.where(np.tri(J, k=-1, dtype=bool), R, np.nan)
    table[np.arange(J), np.arange(J)] = np.sqrt(ave)
    return pd.DataFrame(table, index=list(names), columns=list(names))


def htmt_table(values: np.ndarray, names) -> pd.DataFrame:
    """Long HTMT table, one row per construct pair (spec order): construct_1, construct_2,
    htmt (bootstrap intervals are added by ``BootstrapResult.attach(table, 'htmt', ...)``)."""
    J = len(names)
    a, b = np.triu_indices(J, k=1)
    return pd.DataFrame({"construct_1": [names[i] for i in a], "construct_2": [names[i] for i in b],
                         "htmt": values[a, b]})


# --- CB-SEM: reliability of the common-factor model ------------------------------------------
def residual_variances(parameters: pd.DataFrame, items) -> np.ndarray:
    """Each item's residual variance (theta, unstandardized) from a lavaan-style table."""
    rows = parameters[(parameters.op == "~~") & (parameters.lhs == parameters.rhs)].set_index("lhs")["est"]
    return rows.reindex(list(items)).to_numpy(float)


def factor_reliability(layout: Layout, estimates):
    """(rho_A, rho_C, AVE) per construct of a CB-SEM fit (see the module docstring).

    theta: standardized residual variances (theta / implied item variance); rho_A: the
    reliability of the factor-score composite, l' R^-1 l over the block's implied
    correlations R (= Hancock & Mueller's H), 1 for a single item."""
    implied = estimates.implied_cov
    sd = np.sqrt(np.diag(implied))
    theta = residual_variances(estimates.parameters, layout.items) / sd ** 2
    rho_c, ave = rho_c_ave(layout, estimates.loadings, theta)
    R = implied / np.outer(sd, sd)
    lam = estimates.loadings
    rho_a = np.array([1.0 if idx.size == 1 else lam[idx] @ np.linalg.solve(R[np.ix_(idx, idx)], lam[idx])
                      for idx in blocks(layout)])
    return rho_a, rho_c, ave
