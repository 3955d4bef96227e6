"""Moderation in PLS: interaction terms by spec and data transforms, simple slopes, and a
bootstrap that rebuilds the interaction in every resample.

An interaction term is a construct declared ``interaction: [Construct, Moderator]`` with paths
to the constructs it moderates (each also reached by both main effects). Three ways to measure
it (Henseler & Chin 2010; Becker, Ringle & Sarstedt 2018, Journal of Applied Structural
Equation Modeling 2(2)), as seminr's ``interaction_term``:

* ``product_indicator``: the products z_a z_b of every pair of the two constructs' items, each
  z-scored (n - 1), named ``a*b``; the term is measured by them in its own mode (default
  reflective = mode A).
* ``orthogonal`` (Little, Bovaird & Widaman 2006): those products replaced by their OLS
  residuals on all items of both constructs (with intercept, on the raw items).
* ``two_stage``: stage 1 estimates the main-effects model (the spec without its interaction
  terms); the term's single item is the product of the two constructs' standardized stage-1
  scores (named ``Construct*Moderator``).

Then the transformed model is estimated by ordinary PLS. ``estimate`` is the standardized
path (the term's score scaled to unit variance, as every construct). A product of standardized
variables does not have unit variance, so the path in the metric of that product
(``slope_metric``: the change in the standardized target per unit of z_construct x
z_moderator) is estimate / a with a = sum_i |l_i| sd(p_i) / sum_i |l_i| over the term's items
p_i with loadings l_i (Henseler & Chin 2010's adjustment, seminr's ``adjust_interaction``; for
``two_stage`` a is the sd of the score product); for every other path slope_metric = estimate.
slope_metric matches seminr 0.2.1's path coefficients to 1e-6 for all three methods
(tests/test_interactions.py). Simple slopes: the effect of the construct on the target at
moderator level m (in standard deviations) is b_construct + c_term m with c_term the term's
slope_metric, the predicted target b_moderator m + (b_construct + c_term m) x. The interaction
term has no 0-100 index.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from csi_models.data.prepare import SurveyData, prepare
from csi_models.engines import pls
from csi_models.engines.base import Estimates, Layout
from csi_models.errors import CSIError, ConvergenceWarning, EstimationError, SpecError
from csi_models.spec import load_spec
from csi_models.spec.model import Item, Scale

METHODS = ("product_indicator", "orthogonal", "two_stage")
PRODUCT_SCALE = Scale(-1e6, 1e6)   # a product item has no answer scale (and no index)


@dataclass(frozen=True)
class InteractionFit:
    """A moderation model estimated by ``method``: ``paths`` (source, target, estimate), ``r2``,
    ``weights``/``loadings`` (construct, item, estimate), and the transformed ``spec``,
    ``survey`` and PLS ``estimates`` (plus the stage-1 estimates of ``two_stage``)."""

    method: str
    paths: pd.DataFrame
    r2: pd.Series
    weights: pd.DataFrame
    loadings: pd.DataFrame
    spec: object
    survey: SurveyData
    estimates: Estimates
    first_stage: Estimates | None = None


def main_effects_spec(spec):
    """The spec without its interaction terms (and their paths)."""
    terms = {c.name for c in spec.interactions}
    return spec.replace(constructs=tuple(c for c in spec.constructs if c.name not in terms),
                        paths=tuple(p for p in spec.paths if p[0] not in terms))


def _z(X: np.ndarray) -> np.ndarray:
    return (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)


def term_columns(spec, values: pd.DataFrame, method: str, stage1: Estimates | None = None):
    """{term: DataFrame of its items} for every interaction term, from item ``values``."""
    out = {}
    for c in spec.interactions:
        a, b = (spec.construct(n).item_names for n in c.interaction)
        if method == "two_stage":
            lay = stage1.layout
            Z = _z(values[list(lay.items)].to_numpy(float))
            scores = Z @ (stage1.weights[:, None] * lay.membership)
            ia, ib = (lay.constructs.index(n) for n in c.interaction)
            out[c.name] = pd.DataFrame({"*".join(c.interaction): scores[:, ia] * scores[:, ib]},
                                       index=values.index)
            continue
        za, zb = _z(values[a].to_numpy(float)), _z(values[b].to_numpy(float))
        prod = (za[:, :, None] * zb[:, None, :]).reshape(len(values), -1)
        if method == "orthogonal":
            design = np.column_stack([np.ones(len(values)), values[a + b].to_numpy(float)])
            beta, *_ = np.linalg.lstsq(design, prod, rcond=None)
            prod = prod - design @ beta
        out[c.name] = pd.DataFrame(prod, columns=[f"{i}*{j}" for i in a for j in b],
                                   index=values.index)
    return out


def transformed_spec(spec, columns: dict):
    """The spec with each interaction term measured by its generated items."""
    constructs = []
    for c in spec.constructs:
        if c.interaction:
            items = tuple(Item(name=n, scale=PRODUCT_SCALE) for n in columns[c.name].columns)
            c = dataclasses.replace(c, items=items, interaction=())
        constructs.append(c)
    return spec.replace(constructs=tuple(constructs), columns={}, reverse=())


def product_scale(est: Estimates, values: pd.DataFrame, terms) -> dict:
    """{term: a}, the loading-weighted mean sd of each interaction term's items (see the
    module docstring)."""
    lay = est.layout
    out = {}
    for term in terms:
        j = lay.constructs.index(term)
        idx = np.flatnonzero(lay.membership[:, j])
        sd = values[[lay.items[i] for i in idx]].to_numpy(float).std(axis=0, ddof=1)
        lam = np.abs(est.loadings[idx])
        out[term] = float(lam @ sd / lam.sum())
    return out


def _check(spec, method):
    if method not in METHODS:
        raise SpecError(f"method={method!r}: use 'product_indicator', 'orthogonal' or "
                        "'two_stage'")
    if not spec.interactions:
        raise SpecError(f"model {spec.name!r} has no interaction term ('interaction: [A, B]'); "
                        "fit it with csi.fit")
    if spec.higher_order:
        raise SpecError("a model with both interaction terms and higher-order constructs is "
                        "not supported")


def _survey(spec, values, like: SurveyData) -> SurveyData:
    return dataclasses.replace(like, values=values, spec=spec)


def _transform(spec, survey, method, options):
    """(transformed spec, its SurveyData, stage-1 estimates or None) for one data set."""
    stage1 = None
    if method == "two_stage":
        main = main_effects_spec(spec)
        stage1 = pls.fit(main, _survey(main, survey.values[main.item_names], survey), **options)
    columns = term_columns(spec, survey.values, method, stage1)
    spec2 = transformed_spec(spec, columns)
    values = pd.concat([survey.values, *columns.values()], axis=1)[spec2.item_names]
    return spec2, _survey(spec2, values, survey), stage1


def fit(spec, data, method: str = "product_indicator", missing: str = "listwise",
        scheme: str = "path", tol: float = 1e-7, max_iter: int = 300) -> InteractionFit:
    """Estimate a moderation model (see the module docstring). ``data``: a survey DataFrame
    (never modified) or prepared ``SurveyData``."""
    spec = load_spec(spec)
    _check(spec, method)
    survey = data if isinstance(data, SurveyData) else prepare(spec, data, missing=missing)
    options = {"scheme": scheme, "tol": tol, "max_iter": max_iter}
    spec2, survey2, stage1 = _transform(spec, survey, method, options)
    est = pls.fit(spec2, survey2, **options)
    lay = est.layout
    src, tgt = np.nonzero(lay.adjacency)
    outer = {key: pd.DataFrame({"construct": [lay.constructs[j] for j in lay.block],
                                "item": list(lay.items), "estimate": values})
             for key, values in (("weights", est.weights), ("loadings", est.loadings))}
    scale = product_scale(est, survey2.values, [c.name for c in spec.interactions])
    sources = [lay.constructs[s] for s in src]
    divisor = np.array([scale.get(name, 1.0) for name in sources])
    return InteractionFit(
        method=method,
        paths=pd.DataFrame({"source": sources, "target": [lay.constructs[t] for t in tgt],
                            "estimate": est.paths[src, tgt],
                            "slope_metric": est.paths[src, tgt] / divisor}),
        r2=pd.Series({lay.constructs[j]: float(est.r2[j]) for j in lay.endogenous}, name="r2"),
        weights=outer["weights"], loadings=outer["loadings"], spec=spec2, survey=survey2,
        estimates=est, first_stage=stage1)


def simple_slopes(spec, paths: pd.DataFrame, levels=(-1.0, 0.0, 1.0)) -> pd.DataFrame:
    """Simple slopes of every interaction: source, moderator, target, moderator_level (in
    standard deviations), estimate (the slope b_source + c_term m) and intercept (b_moderator
    m); ``paths`` a table with source, target, slope_metric (``InteractionFit.paths``)."""
    spec = load_spec(spec)
    b = paths.set_index(["source", "target"])["slope_metric"]
    rows = []
    for c in spec.interactions:
        source, moderator = c.interaction
        for target in [t for s, t in spec.paths if s == c.name]:
            for m in levels:
                rows.append({"source": source, "moderator": moderator, "target": target,
                             "moderator_level": float(m),
                             "estimate": b[(source, target)] + b[(c.name, target)] * m,
                             "intercept": b[(moderator, target)] * m})
    return pd.DataFrame(rows)


def plot_simple_slopes(slopes: pd.DataFrame, ax=None, span: float = 2.0):
    """Lines of the predicted (standardized) target over the source from -span to +span SD,
    one per moderator level, for the first source -> target pair of ``slopes``; returns the
    matplotlib Axes."""
    import matplotlib.pyplot as plt

    if slopes.empty:
        raise CSIError("no simple slopes to plot: the model has no interaction term")
    first = slopes.iloc[0]
    part = slopes[(slopes.source == first.source) & (slopes.target == first.target)
                  & (slopes.moderator == first.moderator)]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    x = np.array([-span, span])
    for row in part.itertuples():
        ax.plot(x, row.intercept + row.estimate * x,
                label=f"{row.moderator} {row.moderator_level:+g} SD (slope {row.estimate:.3f})")
    ax.set_xlabel(f"{first.source} (SD)")
    ax.set_ylabel(f"{first.target} (SD)")
    ax.legend(frameon=False, fontsize="small")
    return ax


def bootstrap(spec, data, method: str = "product_indicator", n_boot: int = 500,
              random_state=None, level: float = 0.95, missing: str = "listwise",
              scheme: str = "path", tol: float = 1e-7, max_iter: int = 300) -> pd.DataFrame:
    """Percentile bootstrap of every path with the interaction rebuilt in each resample (the
    products re-standardized, re-orthogonalized, or the stage-1 model re-estimated), the
    resamples drawn as ``inference.bootstrap.resample_rows`` draws them. Returns source,
    target, estimate, se, statistic, p_value, ci_lower, ci_upper, n_boot (resamples on which
    PLS converged), slope_metric and slope_metric_se."""
    from csi_models.inference.bootstrap import resample_rows, seed_entropy
    from csi_models.inference.intervals import summarize

    spec = load_spec(spec)
    _check(spec, method)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise CSIError(f"n_boot={n_boot!r}: give a whole number of resamples >= 2")
    survey = data if isinstance(data, SurveyData) else prepare(spec, data, missing=missing)
    options = {"scheme": scheme, "tol": tol, "max_iter": max_iter}
    full = fit(spec, survey, method, **options)
    lay = full.estimates.layout
    src, tgt = np.nonzero(lay.adjacency)
    rows = resample_rows(survey.n, np.arange(n_boot), seed_entropy(random_state))
    draws = np.full((n_boot, src.size), np.nan)
    terms = [c.name for c in spec.interactions]
    S, item_sd = [], []
    for r in rows:
        part = _survey(spec, survey.values.iloc[r].reset_index(drop=True), survey)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                _, s2, stage1 = _transform(spec, part, method, options)
            if stage1 is not None and not stage1.converged:
                raise EstimationError("stage 1 did not converge")
            X = s2.values[list(lay.items)].to_numpy(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                S.append(pls.correlation(X))
            item_sd.append(X.std(axis=0, ddof=1))
        except (EstimationError, np.linalg.LinAlgError):   # counted out (n_boot), never a crash
            S.append(np.full((len(lay.items),) * 2, np.nan))
            item_sd.append(np.full(len(lay.items), np.nan))
    batch = pls.estimate_batch(np.stack(S), Layout.from_spec(full.spec), **options)
    good = batch.ok
    draws[good] = batch.paths[good][:, src, tgt]
    # slope metric of each resample: divide the term's paths by its loading-weighted item sd
    lam = np.abs((batch.item_cor * lay.membership).sum(axis=2))        # (B, items)
    divisor = np.ones((n_boot, src.size))
    for term in terms:
        m = lay.membership[:, lay.constructs.index(term)]
        a = (lam * np.stack(item_sd) * m).sum(axis=1) / (lam * m).sum(axis=1)
        divisor[:, [lay.constructs[s] == term for s in src]] = a[:, None]
    stats = summarize(full.estimates.paths[src, tgt], draws, survey.n, level)
    metric = summarize(full.paths.slope_metric.to_numpy(), draws / divisor, survey.n, level)
    return pd.DataFrame({"source": [lay.constructs[s] for s in src],
                         "target": [lay.constructs[t] for t in tgt],
                         "estimate": full.estimates.paths[src, tgt], "se": stats["se"],
                         "statistic": stats["t"], "p_value": stats["p_value"],
                         "ci_lower": stats["pct_lower"], "ci_upper": stats["pct_upper"],
                         "n_boot": stats["n_boot"], "slope_metric": full.paths.slope_metric,
                         "slope_metric_se": metric["se"]})
