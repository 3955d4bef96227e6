"""Standard errors of a CB-SEM fit (``engines.cbsem``) at its optimum, as lavaan computes them:
expected or observed information, or the Huber-White sandwich, for complete data and FIML."""

from __future__ import annotations

import numpy as np

from csi_models.engines.cbsem_robust import expected_sandwich
from csi_models.engines.fiml import sandwich
from csi_models.engines.mlkernel import Structure
from csi_models.engines.optimize import numeric_hessian


def no_standard_errors(q: int):
    """What ``standard_errors`` gives where none are wanted (bootstrap refits): NaN, NaN, None."""
    return np.full((q, q), np.nan), np.full(q, np.nan), None


def _pinv(A: np.ndarray) -> np.ndarray:
    """The pseudo-inverse, NaN where A is not finite or has no SVD (an unconverged fit that
    ran off to parameters of 1e11: NaN standard errors beside its warning, not an error)."""
    if np.isfinite(A).all():
        try:
            return np.linalg.pinv(A)
        except np.linalg.LinAlgError:
            pass
    return np.full(A.shape, np.nan)


def standard_errors(model, grad, x, fiml: bool, robust: bool):
    """(covariance matrix of the free parameters, their standard errors, and with ``robust``
    the sandwich's (A, B) for the scaled test, else None).

    Complete data: the inverse expected information (lavaan's default; a variance a rounding
    error below 0 read as 1e-12 as semopy does), with ``robust`` the Huber-White sandwich on
    the expected information and the casewise scores (``cbsem_robust.expected_sandwich``:
    lavaan's MLR with information = "expected", semopy's ``calc_se(robust=True)``). FIML: the inverse of half
    the Hessian of -2 log L (observed information, lavaan's default with missing='ml'),
    differenced from the analytic gradient; with ``robust`` the sandwich J^-1 B J^-1 with B
    the outer products of the respondents' scores (half their ``FIML.scores``), as lavaan's
    se='robust.huber.white' (estimator 'MLR') with missing='ml'."""
    if fiml:
        if not robust:
            vcov = _pinv(numeric_hessian(grad, x) / 2)
            return vcov, np.sqrt(np.where(np.diag(vcov) > 0, np.diag(vcov), np.nan)), None
        A, B = sandwich(grad.__self__, x)          # grad: the FIML objective's gradient
        bread = _pinv(A)
        vcov = bread @ B @ bread
        return vcov, np.sqrt(np.where(np.diag(vcov) > 0, np.diag(vcov), np.nan)), (A, B)
    if robust:
        A, B = expected_sandwich(Structure.from_semopy(model), x, model.mx_data)
        bread = _pinv(A)
        vcov = bread @ B @ bread / len(model.mx_data)
        return vcov, np.sqrt(np.where(np.diag(vcov) > 0, np.diag(vcov), np.nan)), (A, B)
    model.update_matrices(x)
    vcov = model.calc_fim(inverse=True)[1]
    variances = vcov.diagonal().copy()
    variances[(variances < 0) & (variances > -1e-1)] = 1e-12
    return vcov, np.sqrt(np.where(variances >= 0, variances, np.nan)), None
