"""The delta method: standard errors of smooth functions of the free parameters.

For a function g of the free parameters x with estimated covariance V (the inverse expected
information, observed information with FIML, or the sandwich with robust SEs),

    Var g(x) ~= J V J',   J = dg/dx' at the estimate,

(Rao 1973, 6a.2; lavaan's ``standardizedSolution()`` and ``:=`` defined parameters use the
same first-order rule). J is differenced numerically here: central differences with step
h max(1, |x_j|), whose truncation error O(h^2) ~ 1e-12 is far below the 1e-4 at which the
standard errors are compared with lavaan 0.6-14 (tests/test_delta.py, fixture column
``std.all.se`` of tests/fixtures/lavaan/*_params.csv).

Pure functions of numbers: the CB-SEM engine passes its standardization as ``fun``, the result
layer may pass indices, impacts or specific indirect effects.
"""

from __future__ import annotations

import numpy as np

STEP = 1e-6  # relative central-difference step on the free parameters


def jacobian(fun, x: np.ndarray, h: float = STEP, batched: bool = False) -> np.ndarray:
    """(outputs, parameters) Jacobian of the vector function ``fun`` at ``x`` by central
    differences with step h max(1, |x_j|). A difference within rounding of the two values
    (64 machine epsilons of their size) is taken as 0, so that a quantity which does not
    depend on x (a one-item construct's index) gets se 0, as in lavaan, not 1e-8.
    ``batched``: ``fun`` maps a stack of parameter vectors (n, parameters) to (n, outputs),
    and all 2 x parameters points go in one call."""
    x = np.asarray(x, float)
    if not x.size:
        return np.zeros((np.size(fun(x[None] if batched else x)), 0))
    steps = h * np.maximum(1.0, np.abs(x))
    E = np.diag(steps)
    if batched:
        out = np.asarray(fun(np.concatenate([x + E, x - E])), float)
        up, down = out[:x.size], out[x.size:]
    else:
        up = np.array([np.asarray(fun(x + e), float) for e in E])
        down = np.array([np.asarray(fun(x - e), float) for e in E])
    diff = up - down
    with np.errstate(invalid="ignore"):
        diff[np.abs(diff) <= 64 * np.finfo(float).eps * np.fmax(np.abs(up), np.abs(down))] = 0.0
    return (diff / (2 * steps[:, None])).T


def delta_method(fun, x: np.ndarray, vcov: np.ndarray, h: float = STEP, batched: bool = False):
    """(values, se, covariance) of ``fun(x)`` by the delta method, Var = J vcov J'.

    ``fun`` maps the free-parameter vector to a vector of quantities (standardized estimates,
    indices, impacts, an indirect effect a*b*c, ...); ``vcov`` is the covariance matrix of
    the free parameters in the same order (``batched``: as in ``jacobian``). A quantity that does not depend on x gets se 0
    (as lavaan's fixed standardized variances of exogenous constructs); a value that is not
    finite at x (a negative variance under a square root) gets se NaN."""
    values = np.asarray(fun(np.asarray(x, float)), float)
    values = values.ravel() if batched else values
    J = jacobian(fun, x, h, batched)
    cov = J @ np.asarray(vcov, float) @ J.T
    var = np.diag(cov).copy()
    var[(var < 0) & (var > -1e-12)] = 0.0  # rounding below zero on a constant quantity
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.where(var >= 0, var, np.nan))
    se[~np.isfinite(values) | ~np.isfinite(J).all(axis=1)] = np.nan
    return values, se, cov


Z_95 = 1.959963984540054   # the standard normal's 97.5% quantile


def wald(estimate, se, z: float = Z_95) -> dict:
    """Wald columns of estimates with delta-method standard errors: statistic = estimate / se
    (NaN where se is 0 or NaN: a quantity that does not vary), two-sided normal p_value, and
    the interval estimate -+ z se (lavaan's ``standardizedSolution()`` and ``:=`` rows)."""
    from scipy.special import ndtr

    estimate, se = np.asarray(estimate, float), np.asarray(se, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.where(se > 0, estimate / se, np.nan)
    return {"se": se, "statistic": statistic, "p_value": 2 * ndtr(-np.abs(statistic)),
            "ci_lower": estimate - z * se, "ci_upper": estimate + z * se}
