"""Second-order constructs in PLS by spec and data transforms (Becker, Klein & Wetzels 2012;
Sarstedt, Hair, Cheah, Becker & Ringle 2019, Australasian Marketing Journal 27(3)).

A higher-order construct (HOC) is declared with ``dimensions:`` (first-order constructs, the
lower-order constructs or LOCs); its mode says whether the LOCs form it ('formative') or it
is reflected in them ('reflective'). Three estimation methods, each a transform of the spec
and the data followed by ordinary PLS runs (``engines.pls``):

* ``repeated`` (repeated indicators): one model in which the HOC is measured by copies of all
  its LOCs' items (named ``item@HOC``, mode as declared) and linked to its LOCs by paths
  LOC -> HOC (formative) or HOC -> LOC (reflective), plus the spec's own paths.
* ``embedded`` two-stage: stage 1 is the repeated-indicators model; stage 2 replaces the LOCs
  by their stage-1 scores, which become the HOC's items.
* ``disjoint`` two-stage (seminr's ``higher_composite(..., method = two_stage)``): stage 1
  drops the HOC and links its LOCs directly to the HOC's antecedents and outcomes; stage 2
  as above. Matches seminr 0.2.1 to 1e-10 (tests/test_higher_order.py).

Stage-2 items are the LOCs' per-respondent 0-100 scores, 100 sum_i u_i (x_i - min_i) /
sum_i u_i (max_i - min_i) with u_i = w_i / sd_i (the ACSI index formula on one respondent):
an increasing affine map of the standardized PLS score, so every PLS estimate is the same
as with standardized scores (what seminr uses), and the HOC's 0-100 index is the usual index
formula with the LOC scores as items on a 0-100 scale. Both levels get indices: the LOCs
from stage 1, the HOC from stage 2 (repeated: from its repeated items).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from csi_models.data.prepare import SurveyData, prepare
from csi_models.engines import pls
from csi_models.engines.base import Estimates
from csi_models.errors import EstimationError, SpecError
from csi_models.spec import load_spec
from csi_models.spec.model import Item, Scale
from csi_models.statistics.indices import index_values, scale_bounds

METHODS = ("repeated", "embedded", "disjoint")


@dataclass(frozen=True)
class HigherOrderFit:
    """A model with higher-order constructs, estimated by ``method``.

    ``paths`` (source, target, estimate) and ``r2`` are the final model's (stage 2, or the
    single repeated-indicators model, including its LOC-HOC paths); ``weights`` and
    ``loadings`` (construct, item, estimate, level 'first' | 'second') hold both levels (a
    HOC's second-level rows have the dimension as item); ``indices`` (construct, estimate,
    level). ``stages`` are the (spec, SurveyData, Estimates) of each PLS run."""

    method: str
    paths: pd.DataFrame
    r2: pd.Series
    weights: pd.DataFrame
    loadings: pd.DataFrame
    indices: pd.DataFrame
    stages: tuple


def copy_name(item: str, hoc: str) -> str:
    """The name of the repeated copy of ``item`` in higher-order construct ``hoc``."""
    return f"{item}@{hoc}"


def _plain(spec, constructs, paths):
    return spec.replace(constructs=tuple(constructs), paths=tuple(paths), columns={}, reverse=())


def repeated_spec(spec):
    """The repeated-indicators model (see the module docstring)."""
    constructs, links = [], []
    for c in spec.constructs:
        if not c.dimensions:
            constructs.append(c)
            continue
        items = tuple(dataclasses.replace(i, name=copy_name(i.name, c.name))
                      for d in c.dimensions for i in spec.construct(d).items)
        constructs.append(dataclasses.replace(c, items=items, dimensions=()))
        links += [(d, c.name) if c.mode == "formative" else (c.name, d) for d in c.dimensions]
    return _plain(spec, constructs, list(spec.paths) + links)


def disjoint_spec(spec):
    """Stage 1 of the disjoint two-stage approach: every HOC replaced by its dimensions, each
    linked to the HOC's antecedents and outcomes."""
    hocs = {c.name: c for c in spec.higher_order}
    paths = []
    for source, target in spec.paths:
        sources = hocs[source].dimensions if source in hocs else (source,)
        targets = hocs[target].dimensions if target in hocs else (target,)
        paths += [(s, t) for s in sources for t in targets]
    constructs = [c for c in spec.constructs if c.name not in hocs]
    return _plain(spec, constructs, paths)


def second_stage_spec(spec):
    """Stage 2: the dimensions leave the model and become their HOC's items (0-100 scores)."""
    dims = {d for c in spec.higher_order for d in c.dimensions}
    constructs = []
    for c in spec.constructs:
        if c.name in dims:
            continue
        if c.dimensions:
            items = tuple(Item(name=d, label=dict(spec.construct(d).label), scale=Scale(0, 100))
                          for d in c.dimensions)
            c = dataclasses.replace(c, items=items, dimensions=())
        constructs.append(c)
    return _plain(spec, constructs, spec.paths)


def _survey(spec, values: pd.DataFrame, like: SurveyData) -> SurveyData:
    """Already-checked values for a transformed spec (no second data check or recoding)."""
    return dataclasses.replace(like, values=values, spec=spec)


def scores_100(spec, survey: SurveyData, est: Estimates) -> pd.DataFrame:
    """Per-respondent 0-100 scores of every construct of a fit (rows as ``survey.values``)."""
    lay = est.layout
    X = survey.values[list(lay.items)].to_numpy(float)
    sd = X.std(axis=0, ddof=1)
    lo, hi = scale_bounds(spec, lay)
    u = est.weights / sd
    M = lay.membership
    num = (u * (X - lo)) @ M
    den = (u * (hi - lo)) @ M
    if (den <= 0).any():
        bad = [lay.constructs[j] for j in np.flatnonzero(den <= 0)]
        raise EstimationError(f"the 0-100 score of {', '.join(bad)} is undefined (its weights "
                              "are mostly negative); check reverse-worded items")
    return pd.DataFrame(100 * num / den, columns=list(lay.constructs), index=survey.values.index)


def _indices(spec, survey, est, names) -> dict:
    lay = est.layout
    X = survey.values[list(lay.items)].to_numpy(float)
    lo, hi = scale_bounds(spec, lay)
    index, _, _ = index_values(est.weights, X.mean(axis=0), X.std(axis=0, ddof=1), lo, hi,
                               lay.membership)
    return {c: float(index[lay.constructs.index(c)]) for c in names}


def _outer(est, constructs, level, rename=lambda item: item):
    lay = est.layout
    rows = {"weights": [], "loadings": []}
    for k, item in enumerate(lay.items):
        construct = lay.constructs[lay.block[k]]
        if construct in constructs:
            for key, values in (("weights", est.weights), ("loadings", est.loadings)):
                rows[key].append({"construct": construct, "item": rename(item),
                                  "estimate": float(values[k]), "level": level})
    return rows


def fit(spec, data, method: str = "disjoint", missing: str = "listwise", scheme: str = "path",
        tol: float = 1e-7, max_iter: int = 300) -> HigherOrderFit:
    """Estimate a spec with higher-order constructs by PLS (see the module docstring).
    ``data``: a survey DataFrame (never modified) or prepared ``SurveyData``."""
    spec = load_spec(spec)
    if method not in METHODS:
        raise SpecError(f"method={method!r}: use 'disjoint' or 'embedded' (two-stage) or "
                        "'repeated' (repeated indicators)")
    if not spec.higher_order:
        raise SpecError(f"model {spec.name!r} has no higher-order construct (no 'dimensions:'); "
                        "fit it with csi.fit")
    if spec.interactions:
        raise SpecError("a model with both higher-order constructs and interaction terms is not "
                        "supported: estimate the moderation on the two-stage scores instead")
    survey = data if isinstance(data, SurveyData) else prepare(spec, data, missing=missing)
    options = {"scheme": scheme, "tol": tol, "max_iter": max_iter}
    hocs = [c.name for c in spec.higher_order]
    dims = [d for c in spec.higher_order for d in c.dimensions]
    first = [c.name for c in spec.constructs if not c.dimensions]
    if method == "repeated" or method == "embedded":
        spec1 = repeated_spec(spec)
        values = survey.values.copy()
        for c in spec.higher_order:
            for d in c.dimensions:
                for i in spec.construct(d).item_names:
                    values[copy_name(i, c.name)] = survey.values[i]
        values = values[spec1.item_names]
    else:
        spec1 = disjoint_spec(spec)
        values = survey.values[spec1.item_names]
    survey1 = _survey(spec1, values, survey)
    est1 = pls.fit(spec1, survey1, **options)
    owner = {copy_name(i, c.name): i for c in spec.higher_order for d in c.dimensions
             for i in spec.construct(d).item_names}
    if method == "repeated":
        return _repeated_result(spec, spec1, survey1, est1, hocs, owner)
    spec2 = second_stage_spec(spec)
    scores = scores_100(spec1, survey1, est1)[dims]
    values2 = pd.concat([survey.values, scores], axis=1)[spec2.item_names]
    survey2 = _survey(spec2, values2, survey)
    est2 = pls.fit(spec2, survey2, **options)
    rows1 = _outer(est1, dims, "first")
    rows2 = _outer(est2, [c for c in first if c not in dims], "first")
    rows_hoc = _outer(est2, hocs, "second")
    indices = [{"construct": c, "estimate": v, "level": "first"}
               for c, v in {**_indices(spec1, survey1, est1, dims),
                            **_indices(spec2, survey2, est2, [c for c in first if c not in dims])
                            }.items()]
    indices += [{"construct": c, "estimate": v, "level": "second"}
                for c, v in _indices(spec2, survey2, est2, hocs).items()]
    return HigherOrderFit(
        method=method, paths=_paths(est2), r2=_r2(est2),
        weights=pd.DataFrame(rows1["weights"] + rows2["weights"] + rows_hoc["weights"]),
        loadings=pd.DataFrame(rows1["loadings"] + rows2["loadings"] + rows_hoc["loadings"]),
        indices=_order(pd.DataFrame(indices), spec), stages=((spec1, survey1, est1),
                                                             (spec2, survey2, est2)))


def _paths(est) -> pd.DataFrame:
    lay = est.layout
    src, tgt = np.nonzero(lay.adjacency)
    return pd.DataFrame({"source": [lay.constructs[s] for s in src],
                         "target": [lay.constructs[t] for t in tgt],
                         "estimate": est.paths[src, tgt]})


def _r2(est) -> pd.Series:
    lay = est.layout
    return pd.Series({lay.constructs[j]: float(est.r2[j]) for j in lay.endogenous}, name="r2")


def _order(table: pd.DataFrame, spec) -> pd.DataFrame:
    rank = {c: k for k, c in enumerate(spec.construct_names)}
    return table.sort_values("construct", key=lambda s: s.map(rank), kind="stable").reset_index(
        drop=True)


def _repeated_result(spec, spec1, survey1, est1, hocs, owner) -> HigherOrderFit:
    """The repeated-indicators model: the LOC-HOC links are paths of the one model; they are
    also reported as the HOC's second-level weights (formative) or loadings (reflective)."""
    paths = _paths(est1)
    lower = [c.name for c in spec.constructs if not c.dimensions]
    rows = _outer(est1, lower, "first")
    rows_hoc = _outer(est1, hocs, "first", rename=lambda item: owner.get(item, item))
    second = {"weights": [], "loadings": []}
    for c in spec.higher_order:
        for d in c.dimensions:
            link = paths[((paths.source == d) & (paths.target == c.name))
                         | ((paths.source == c.name) & (paths.target == d))]
            key = "weights" if c.mode == "formative" else "loadings"
            second[key].append({"construct": c.name, "item": d,
                                "estimate": float(link.estimate.iloc[0]), "level": "second"})
    indices = [{"construct": c, "estimate": v, "level": "second" if c in hocs else "first"}
               for c, v in _indices(spec1, survey1, est1, spec.construct_names).items()]
    return HigherOrderFit(
        method="repeated", paths=paths, r2=_r2(est1),
        weights=pd.DataFrame(rows["weights"] + rows_hoc["weights"] + second["weights"]),
        loadings=pd.DataFrame(rows["loadings"] + rows_hoc["loadings"] + second["loadings"]),
        indices=_order(pd.DataFrame(indices), spec), stages=((spec1, survey1, est1),))


def bootstrap(spec, data, method: str = "disjoint", n_boot: int = 500, random_state=None,
              level: float = 0.95, missing: str = "listwise", scheme: str = "path",
              tol: float = 1e-7, max_iter: int = 300) -> pd.DataFrame:
    """Percentile bootstrap of the final model's paths and the HOCs' second-level weights,
    every stage re-estimated in each resample (resamples as ``inference.bootstrap.
    resample_rows`` draws them; each stage runs as one PLS batch). Returns kind ('path' |
    'weight'), source, target, estimate, se, statistic, p_value, ci_lower, ci_upper, n_boot
    (resamples on which every stage converged); for a weight, source is the dimension and
    target the HOC. With ``repeated`` the second-level weights are the LOC-HOC paths."""
    from csi_models.inference.bootstrap import resample_rows, seed_entropy
    from csi_models.inference.intervals import summarize

    spec = load_spec(spec)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise SpecError(f"n_boot={n_boot!r}: give a whole number of resamples >= 2")
    survey = data if isinstance(data, SurveyData) else prepare(spec, data, missing=missing)
    full = fit(spec, survey, method, scheme=scheme, tol=tol, max_iter=max_iter)
    (spec1, survey1, est1), *rest = full.stages
    rows = resample_rows(survey.n, np.arange(n_boot), seed_entropy(random_state))
    X1 = survey1.values[list(est1.layout.items)].to_numpy(float)
    S1 = np.stack([pls.correlation(X1[r]) for r in rows])
    batch1 = pls.estimate_batch(S1, est1.layout, scheme, tol, max_iter)
    ok = batch1.ok.copy()
    final_layout, batch = est1.layout, batch1
    if rest:
        (spec2, survey2, est2), = rest
        lay1 = est1.layout
        lo, hi = scale_bounds(spec1, lay1)
        dims = [d for c in spec.higher_order for d in c.dimensions]
        cols = [lay1.constructs.index(d) for d in dims]
        X2_fixed = survey2.values[list(est2.layout.items)]
        S2 = []
        for b, r in enumerate(rows):
            X = X1[r]
            w = (batch1.weights[b] * lay1.membership).sum(axis=1)
            u = w / X.std(axis=0, ddof=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                scores = 100 * ((u * (X - lo)) @ lay1.membership) / ((u * (hi - lo)) @ lay1.membership)
            values = X2_fixed.iloc[r].copy()
            values[dims] = scores[:, cols]
            with np.errstate(invalid="ignore", divide="ignore"):
                S2.append(pls.correlation(values.to_numpy(float)))
        batch = pls.estimate_batch(np.stack(S2), est2.layout, scheme, tol, max_iter)
        ok &= batch.ok
        final_layout = est2.layout
    final = rest[0][2] if rest else est1
    src, tgt = np.nonzero(final_layout.adjacency)
    names = [("path", final_layout.constructs[s], final_layout.constructs[t]) for s, t in zip(src, tgt)]
    estimate = list(final.paths[src, tgt])
    draws = [batch.paths[:, src, tgt]]
    if rest:
        weights = (batch.weights * final_layout.membership).sum(axis=2)      # (B, items)
        for c in spec.higher_order:
            for d in c.dimensions:
                k = final_layout.items.index(d)
                names.append(("weight", d, c.name))
                estimate.append(final.weights[k])
                draws.append(weights[:, [k]])
    draws = np.concatenate(draws, axis=1)
    draws[~ok] = np.nan
    stats = summarize(np.array(estimate), draws, survey.n, level)
    return pd.DataFrame({"kind": [n[0] for n in names], "source": [n[1] for n in names],
                         "target": [n[2] for n in names], "estimate": estimate,
                         "se": stats["se"], "statistic": stats["t"], "p_value": stats["p_value"],
                         "ci_lower": stats["pct_lower"], "ci_upper": stats["pct_upper"],
                         "n_boot": stats["n_boot"]})
