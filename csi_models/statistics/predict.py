"""Out-of-sample prediction of a PLS model: PLSpredict (Shmueli et al. 2016, 2019) and CVPAT
(Liengaard et al. 2021, Decision Sciences 52(2)).

Cross-validation plan: in each of ``repetitions`` runs the rows are shuffled (one numpy
Generator seeded by ``random_state``) and cut into ``folds`` contiguous blocks of the shuffled
order with R's ``cut(seq_len(n), breaks = folds)`` (position x goes to the first fold j with
x <= 1 + j (n - 1) / folds), the folds of seminr's ``predict_pls``.

For every fold PLS is re-estimated on the other rows (all training sets in one batch of
``engines.pls.estimate_batch``). The held-out items are standardized with the training means
and standard deviations (n - 1), scored with the training weights, and each endogenous
construct is predicted from the scores of its direct antecedents (``technique="direct"``,
seminr's ``predict_DA``) or from the exogenous constructs through the structural model
(``"earliest"``, ``predict_EA``); item predictions are loading x predicted score, rescaled to
the item's training mean and sd. Benchmarks: ``lm``, an OLS regression (with intercept) of each
endogenous item on the items of the constructs the prediction starts from, fitted on the
training rows; ``ia`` (indicator average), the item's training mean.

Per endogenous item, pooled over all repetitions and rows (e = y - prediction):
rmse = sqrt(mean e^2), mae = mean |e|, q2_predict = 1 - sum e_pls^2 / sum e_ia^2.
With one repetition rmse, mae, lm_rmse and lm_mae match seminr 0.2.1's ``predict_pls`` on the
same folds to 1e-10 (tests/test_predict.py).

CVPAT: per row i the loss L_i is the mean squared prediction error over the endogenous items
(of one construct, or of all: ``construct = "overall"``) and over repetitions; D_i = L_pls,i -
L_benchmark,i; statistic = mean(D) / (sd(D) / sqrt(n)) with a two-sided p_value from t(n - 1).
A negative difference means PLS predicts better than the benchmark.

Respondent weights (a model fitted with ``weights=``) count everywhere, as in the fit: each
training fold's PLS from its weighted moments (``statistics.moments.full_moments``: sds with
the divisor sum w - 1), the lm benchmark by weighted least squares, the ia benchmark the
weighted training mean; rmse, mae, q2_predict and the CVPAT losses are weighted means over
the rows, and the CVPAT statistic divides the weighted mean of D by its linearization se,
sqrt(m / (m - 1) sum w_i^2 (D_i - mean)^2) / sum w_i with m the rows of positive weight
(R survey's ``svymean`` for independent rows), on t(m - 1). Equal weights give the
unweighted numbers; a row of weight 0 counts for nothing.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi_models.engines import pls
from csi_models.engines.base import Layout
from csi_models.errors import CSIError, ConvergenceWarning, DataError, EstimationError
from csi_models.statistics.moments import full_moments

TECHNIQUES = ("direct", "earliest")


@dataclass(frozen=True)
class Prediction:
    """PLSpredict and CVPAT tables of one cross-validation run.

    ``items``: construct, item, q2_predict, rmse, mae, lm_rmse, lm_mae (one row per
    endogenous item). ``cvpat``: construct (or "overall"), benchmark ("lm" | "ia"), loss,
    benchmark_loss, difference, statistic, p_value. ``folds``: (repetitions, n) fold number
    (1-based) of every row in every repetition."""

    items: pd.DataFrame
    cvpat: pd.DataFrame
    folds: np.ndarray
    settings: dict = field(default_factory=dict)


def fold_assignment(n: int, folds: int, repetitions: int = 1, random_state=1) -> np.ndarray:
    """(repetitions, n) fold number (1..folds) of every row: a shuffle per repetition, then
    R's ``cut(seq_len(n), breaks=folds)`` over the shuffled positions."""
    rng = np.random.default_rng(random_state)
    x = np.arange(n)                                            # position - 1
    cut = np.maximum(-((-x * folds) // max(n - 1, 1)), 1)      # ceil(x k / (n - 1)), >= 1
    out = np.empty((repetitions, n), int)
    for r in range(repetitions):
        out[r, rng.permutation(n)] = cut
    return out


def _check(n, folds, repetitions, technique, random_state) -> None:
    whole = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)  # noqa: E731
    if not whole(folds) or not 2 <= folds <= n:
        raise DataError(f"folds={folds!r}: give a whole number from 2 to the number of rows ({n})")
    if not whole(repetitions) or repetitions < 1:
        raise CSIError(f"repetitions={repetitions!r}: give a whole number >= 1")
    if technique not in TECHNIQUES:
        raise CSIError(f"technique={technique!r}: use 'direct' (direct antecedents) or "
                       "'earliest' (earliest antecedents)")
    if not (random_state is None or isinstance(random_state, (np.random.Generator,
                                                              np.random.SeedSequence))
            or (whole(random_state) and random_state >= 0)):
        raise CSIError(f"random_state={random_state!r}: give the seed as a whole number >= 0")


def _sources(layout: Layout, j: int, technique: str) -> np.ndarray:
    """Constructs an endogenous construct is predicted from: its direct antecedents, or every
    exogenous construct (the start of the earliest-antecedents chain)."""
    if technique == "direct":
        return layout.predecessors(j)
    J = len(layout.constructs)
    return np.array([k for k in range(J) if not layout.adjacency[:, k].any()], int)


def _predicted_scores(scores: np.ndarray, paths: np.ndarray, layout: Layout, technique: str):
    """Predicted construct scores (rows, J) of the endogenous constructs."""
    if technique == "direct":
        return scores @ paths
    out = scores.copy()
    endo = layout.endogenous
    out[:, endo] = 0.0
    for _ in endo:               # a recursive model settles after as many passes as it is deep
        out[:, endo] = (out @ paths)[:, endo]
    return out


def _ols(Xtr, ytr, Xte, w=None) -> np.ndarray:
    """Predictions for Xte of the least-squares regression (with intercept) of ytr on Xtr,
    weighted by the training rows' weights ``w`` when given."""
    A = np.column_stack([np.ones(len(Xtr)), Xtr])
    Aw = A if w is None else A * w[:, None]
    beta = np.linalg.solve(Aw.T @ A, Aw.T @ ytr)
    return np.column_stack([np.ones(len(Xte)), Xte]) @ beta


def _sum_rows(values: np.ndarray, w) -> np.ndarray:
    """Sum over repetitions and rows (axes 0 and 1) of (repetitions, n, items) values, the
    rows weighted by ``w`` when given (a mean is this over the runs' total weight, as
    numpy's mean divides its sum)."""
    return values.sum(axis=(0, 1)) if w is None else (values * w[None, :, None]).sum(axis=(0, 1))


def predict(spec, survey, folds: int = 10, repetitions: int = 10, random_state=1,
            technique: str = "direct", scheme: str = "path", tol: float = 1e-7,
            max_iter: int = 300) -> Prediction:
    """PLSpredict and CVPAT for ``spec`` on prepared survey data (see the module docstring)."""
    layout = Layout.from_spec(spec)
    X = survey.values[list(layout.items)].to_numpy(float)
    n = len(X)
    _check(n, folds, repetitions, technique, random_state)
    if pls.SCHEMES.get(scheme) is None:
        raise EstimationError(f"unknown inner scheme {scheme!r}; use 'path', 'factorial' or "
                              "'centroid'")
    endo = layout.endogenous
    if not endo:
        raise EstimationError("the model has no endogenous construct: there is nothing to predict")
    w = getattr(survey, "weights", None)
    plan = fold_assignment(n, folds, repetitions, random_state)
    members = [(r, k) for r in range(repetitions) for k in range(1, folds + 1)]
    train = [plan[r] != k for r, k in members]
    if w is None:
        moments = [(X[t].mean(axis=0), X[t].std(axis=0, ddof=1)) for t in train]
        S = np.stack([pls.correlation(X[t]) for t in train])
    else:
        w = np.asarray(w, float)
        if min(w[t].sum() for t in train) <= 1:
            raise DataError("the respondent weights of a training fold sum to 1 or less, so "
                            "its items cannot be standardized: use fewer folds")
        fold_moments = [full_moments(X[t], w[t]) for t in train]
        moments = [(mean[0], sd[0]) for _, mean, sd in fold_moments]
        S = np.concatenate([cor for cor, _, _ in fold_moments])
    if not all((sd > 0).all() for _, sd in moments):
        raise DataError("an item is constant in a training fold, so it cannot be standardized: "
                        "use fewer folds or drop the item")
    batch = pls.estimate_batch(S, layout, scheme, tol, max_iter)
    if not batch.ok.all():
        failed = int((~batch.ok).sum())
        if not (np.isfinite(batch.paths).all() and np.isfinite(batch.weights).all()):
            raise EstimationError(f"PLS failed on {failed} training fold(s) (singular data); use "
                                  "fewer folds")
        warnings.warn(f"PLS did not converge in {failed} of {len(members)} training folds "
                      f"(max_iter={max_iter})", ConvergenceWarning, stacklevel=2)
    M = layout.membership
    endo_items = np.flatnonzero(np.isin(layout.block, endo))
    shape = (repetitions, n, endo_items.size)
    pred = {k: np.empty(shape) for k in ("pls", "lm", "ia")}
    for b, ((r, k), t) in enumerate(zip(members, train)):
        test = ~t
        mean, sd = moments[b]
        W = batch.weights[b]
        loadings = batch.item_cor[b] * M
        scores = (X[test] - mean) / sd @ W
        predicted = _predicted_scores(scores, batch.paths[b], layout, technique)
        items = predicted @ loadings.T * sd + mean
        pred["pls"][r, test] = items[:, endo_items]
        pred["ia"][r, test] = mean[endo_items]
        for j in endo:
            dep = np.flatnonzero(layout.block[endo_items] == j)
            src = np.flatnonzero(np.isin(layout.block, _sources(layout, j, technique)))
            pred["lm"][r, np.flatnonzero(test)[:, None], dep[None, :]] = _ols(
                X[t][:, src], X[t][:, endo_items[dep]], X[test][:, src],
                None if w is None else w[t])
    y = X[:, endo_items][None]
    err = {k: y - v for k, v in pred.items()}
    count = repetitions * (n if w is None else w.sum())     # the rows' weight, every run
    names = np.array(layout.items)[endo_items]
    table = pd.DataFrame({
        "construct": [layout.constructs[layout.block[i]] for i in endo_items], "item": names,
        "q2_predict": 1 - _sum_rows(err["pls"] ** 2, w) / _sum_rows(err["ia"] ** 2, w),
        "rmse": np.sqrt(_sum_rows(err["pls"] ** 2, w) / count),
        "mae": _sum_rows(np.abs(err["pls"]), w) / count,
        "lm_rmse": np.sqrt(_sum_rows(err["lm"] ** 2, w) / count),
        "lm_mae": _sum_rows(np.abs(err["lm"]), w) / count})
    groups = [(layout.constructs[j], layout.block[endo_items] == j) for j in endo]
    groups.append(("overall", np.ones(endo_items.size, bool)))
    cvpat = pd.DataFrame([_cvpat(name, bench, err, cols, w) for name, cols in groups
                          for bench in ("lm", "ia")])
    settings = {"folds": folds, "repetitions": repetitions, "random_state": random_state,
                "technique": technique, "scheme": pls.SCHEMES[scheme], "tol": tol,
                "max_iter": max_iter, "n": n, "weighted": w is not None}
    return Prediction(items=table, cvpat=cvpat, folds=plan, settings=settings)


def _cvpat(name: str, bench: str, err: dict, cols: np.ndarray, w=None) -> dict:
    """One CVPAT row: loss differences per row, their (weighted) mean, and the paired t-test
    (with weights: the mean's linearization se, module docstring)."""
    from scipy.stats import t as student

    loss = (err["pls"][:, :, cols] ** 2).mean(axis=(0, 2))
    other = (err[bench][:, :, cols] ** 2).mean(axis=(0, 2))
    d = loss - other
    if w is None:
        n, mean = d.size, d.mean()
        se = d.std(ddof=1) / np.sqrt(n)
        loss_mean, other_mean = loss.mean(), other.mean()
    else:
        n, total = int((w > 0).sum()), w.sum()
        mean = (w * d).sum() / total
        se = np.sqrt(n / (n - 1) * (w ** 2 * (d - mean) ** 2).sum()) / total if n > 1 else 0.0
        loss_mean, other_mean = (w * loss).sum() / total, (w * other).sum() / total
    stat = mean / se if se > 0 else np.nan
    return {"construct": name, "benchmark": bench, "loss": loss_mean,
            "benchmark_loss": other_mean, "difference": mean, "statistic": stat,
            "p_value": 2 * student.sf(abs(stat), n - 1) if np.isfinite(stat) else np.nan}
