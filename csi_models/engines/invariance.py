"""Measurement invariance by multi-group CB-SEM: configural, metric and scalar steps.

Each step is a ``MultiGroupModel`` (``engines.multigroup``) fitted from the groups' own
estimates (``per_group_values``), the previous step's solution where it applies
(``_carry``) and repaired starts (``_feasible``), with lavaan's lavTestLRT difference to the
step before; with robust standard errors or respondent weights also lavaan's scaled test and
Satorra-Bentler differences (``MultiGroupModel.scaling``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.engines.multigroup import STEPS, MultiGroupModel
from csi_models.statistics.fit_measures import Moments, chisq_difference


def per_group_values(parameters: pd.DataFrame, layout, mean: np.ndarray) -> dict:
    """A single-group CB-SEM parameter table as {(matrix, i, j): value} start values."""
    c = {name: k for k, name in enumerate(layout.constructs)}
    it = {name: k for k, name in enumerate(layout.items)}
    out = {}
    for r in parameters.itertuples():
        if r.op == "=~":
            out[("L", it[r.rhs], c[r.lhs])] = r.est
        elif r.op == "~":
            out[("B", c[r.rhs], c[r.lhs])] = r.est
        elif r.op == "~~" and r.lhs in c:
            a, b = sorted((c[r.lhs], c[r.rhs]), reverse=True)
            out[("P", a, b)] = r.est
        elif r.op == "~~":
            a, b = sorted((it[r.lhs], it[r.rhs]), reverse=True)
            out[("T", a, b)] = r.est
    out.update({("n", i, 0): v for i, v in enumerate(mean)})
    return out


INVARIANCE_COLUMNS = ["test", "step", "chisq", "df", "chisq_p_value", "npar", "cfi", "tli", "rmsea",
                      "srmr", "aic", "bic", "logl", "chisq_scaled", "chisq_scaling_factor",
                      "chisq_scaled_p_value", "cfi_robust", "tli_robust", "rmsea_robust",
                      "gradient_norm", "converged", "chisq_diff", "df_diff", "p_value", "groups"]
_FIT_KEYS = {"chisq": "chisq", "df": "df", "chisq_p_value": "pvalue", "npar": "npar", "cfi": "cfi",
             "tli": "tli", "rmsea": "rmsea", "srmr": "srmr", "aic": "aic", "bic": "bic", "logl": "logl",
             "chisq_scaled": "chisq.scaled", "chisq_scaling_factor": "chisq.scaling.factor",
             "chisq_scaled_p_value": "pvalue.scaled", "cfi_robust": "cfi.robust",
             "tli_robust": "tli.robust", "rmsea_robust": "rmsea.robust"}


def invariance(layout, moments: list[Moments], starts: list[dict], labels,
               covariances=(), values: list | None = None,
               weights: list | None = None) -> pd.DataFrame:
    """Configural, metric and scalar fits with chi-square difference tests to the step
    before (lavaan's lavTestLRT for nested ML fits; NaN where either step did not
    converge); ``covariances`` as from ``residual_covariances``. One row per step, columns
    ``INVARIANCE_COLUMNS``: the step's fit (``chisq_p_value`` is its exact-fit test, lavaan's
    ``pvalue``) and the difference test (chisq_diff, df_diff, p_value; NaN for configural).
    With ``values`` (each group's answers, the rows of ``moments``): lavaan's MLR (information
    = "expected", as ``se="robust"``), the Yuan-Bentler scaled test of every step
    (``MultiGroupModel.scaling``) with its ``.scaled`` and ``.robust`` measures, and the
    Satorra-Bentler (2001) scaled differences (``chisq_difference``); else, and for a step
    that did not converge (its information can be near-singular there), those columns are
    NaN. With respondent ``weights`` too (each group's, normalized over all groups to sum
    to N; ``moments`` weighted, their n the groups' summed weights): lavaan's
    ``sampling.weights``, whose scaled test uses the observed information."""
    from csi_models.engines.cbsem_robust import robust_measures

    rows, previous, x_prev = [], None, None
    for step in STEPS:
        model = MultiGroupModel(layout, moments, step, covariances)
        x0 = model.start(starts)
        tries = [x0]
        if x_prev is not None:  # carry over the previous step's solution where it applies
            tries.insert(0, _carry(model, x_prev[0], x_prev[1], x0))
        result = None
        for x0 in _feasible(model, tries, covariances):   # until one converges
            fit, there = model.fit(x0), model.at(x0)
            if not fit.converged and there.converged:
                fit = there         # a converged start the steps left along a ridge
            if result is None or fit.converged or model.fun(fit.x) < model.fun(result.x):
                result = fit
            if fit.converged:
                break
        if result is None:
            result = model.fit(tries[0])
        if np.isfinite(model.fun(result.x)):
            f = result.fit_indices
            if values is not None and result.converged:   # (near-singular where not)
                c = model.scaling(result.x, values, weights)
                f = pd.concat([f, pd.Series(robust_measures(f, c["c"], c["c_base"],
                                                             len(moments)))])
        else:   # no start where every group's Sigma is positive definite
            p = len(layout.items)
            f = pd.Series(np.nan, index=list(_FIT_KEYS.values()))
            f["npar"], f["df"] = model.npar, len(moments) * p * (p + 3) / 2 - model.npar
        row = {"test": "invariance", "step": step,
               **{k: f.get(v, np.nan) for k, v in _FIT_KEYS.items()},
               "gradient_norm": result.gradient_norm, "converged": result.converged}
        if previous is not None:    # a difference to or from an unconverged fit means nothing
            test = chisq_difference(f, previous)
            if not (result.converged and rows[-1]["converged"]):
                test["chisq_diff"] = test["p_value"] = np.nan
            row.update(test)
        rows.append(row)
        previous, x_prev = f, (model, result.x)
    table = pd.DataFrame(rows, columns=INVARIANCE_COLUMNS)
    table["groups"] = ";".join(map(str, labels))
    return table


def _feasible(model: MultiGroupModel, tries: list, covariances) -> list:
    """Of ``tries``, and of each with the residual covariances at 0 and every negative error
    variance at half its item's sample variance (as the data-based start), those where every
    group's Sigma is positive definite, in that order: ``invariance`` fits from one after the
    other until a fit converges. Shared values averaged over the groups, next to a group's
    own improper estimates, can leave its Sigma indefinite: on HS by school with a construct
    of x9 alone and x9 ~~ x7, both starts of the metric step (x8's error variance -3.9 in
    Grant-White); the fit then never moved and compare() failed. There the scalar step
    converges (to lavaan's 113.313) from the repaired start only."""
    fixes, covariances = {}, set(covariances)
    for s in model.slots:
        if (s.matrix, s.i, s.j) in covariances:
            fixes[model.index[s.key]] = 0.0
        elif s.matrix == "T" and s.i == s.j:
            fixes[model.index[s.key]] = model.moments[s.group].S[s.i, s.i] / 2
    out = []
    for x in tries + [_repaired(x, fixes) for x in tries]:
        if not any(np.array_equal(x, y) for y in out) and np.isfinite(model.fun(x)):
            out.append(x)       # each start once: a fit from a repeated one only costs time
    return out


def _repaired(x: np.ndarray, fixes: dict) -> np.ndarray:
    """x with the residual covariances (fixes 0) at 0 and negative error variances fixed."""
    x = x.copy()
    for k, value in fixes.items():
        if value == 0.0 or x[k] < 0:
            x[k] = value
    return x


def _carry(model: MultiGroupModel, old: MultiGroupModel, x_old: np.ndarray, x0: np.ndarray):
    """Start a step from the previous step's solution (shared values averaged)."""
    where = {(s.group, s.matrix, s.i, s.j): model.index[s.key] for s in model.slots}
    sums, counts = np.zeros(model.npar), np.zeros(model.npar)
    for s in old.slots:
        k = where.get((s.group, s.matrix, s.i, s.j))
        if k is not None:
            sums[k] += x_old[old.index[s.key]]
            counts[k] += 1
    return np.where(counts > 0, sums / np.maximum(counts, 1), x0)
