"""Survey data simulated from a spec with known population values.

Two population models, both standardized (every construct and item has variance 1):

* ``"factor"`` (common factors, what CB-SEM estimates): x = lambda * eta + e.
* ``"composite"`` (what PLS mode B estimates consistently): each construct is an exact
  weighted sum of its items, eta_j = w_j' x_j, with items inside a block correlated
  ``item_cor``; between blocks Cov(x_i, x_j) = S_ii w_i r_ij w_j' S_jj (Dijkstra 2017).

Constructs follow the spec's recursive structural model eta = B' eta + zeta with the given
standardized paths; exogenous constructs correlate ``exogenous_cor``. Use ``discrete=True``
to round the items onto their spec scales (e.g. 1..10), as real survey answers are;
otherwise items are continuous z-values (fit them with ``spec.with_scale(-10, 10)``).
Single-item constructs get loading 1, matching the spec's zero error for a single item.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from csi_models.spec.layout import Layout
from csi_models.errors import DataError, SpecError
from csi_models.spec import load_spec
from csi_models.spec.validation import is_number


@dataclass(frozen=True)
class Population:
    """Known population values: paths[(source, target)], loadings/weights per item, the
    construct correlation matrix and the items' covariance matrix (all standardized)."""

    spec: object
    paths: dict
    loadings: dict
    weights: dict
    construct_cor: pd.DataFrame
    item_cov: pd.DataFrame
    kind: str

    @property
    def r2(self) -> pd.Series:
        """Population R^2 of each endogenous construct."""
        R = self.construct_cor
        out = {}
        for target in self.spec.endogenous:
            pred = self.spec.predecessors(target)
            beta = np.array([self.paths[(p, target)] for p in pred])
            out[target] = float(beta @ R.loc[pred, pred].to_numpy() @ beta)
        return pd.Series(out, name="r2")


def structural_correlations(layout, paths: np.ndarray, construct_cor: np.ndarray) -> np.ndarray:
    """Population construct correlations of a recursive structural model whose constructs all
    have variance 1 by construction (``simulate``): exogenous constructs keep their
    correlations, each endogenous construct is sum beta * predecessors plus a disturbance
    uncorrelated with everything before it, with the variance that makes its own variance 1.
    For the implied correlations of an *estimated* PLS model use
    ``statistics.pls_fit_measures.implied_construct_cor``."""
    J = len(layout.constructs)
    R = np.eye(J)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(J))
    graph.add_edges_from(zip(*np.nonzero(layout.adjacency)))
    exo = [j for j in range(J) if not layout.adjacency[:, j].any()]
    R[np.ix_(exo, exo)] = construct_cor[np.ix_(exo, exo)]
    placed = list(exo)
    for j in nx.topological_sort(graph):
        pred = layout.predecessors(j)
        if pred.size == 0:
            continue
        beta = paths[pred, j]
        for k in placed:
            R[j, k] = R[k, j] = beta @ R[pred, k]
        placed.append(j)
    return R


def _construct_cor(spec, paths: dict, exogenous_cor: float) -> np.ndarray:
    """Construct correlations implied by the structural model (``structural_correlations``),
    exogenous constructs correlated ``exogenous_cor``; every endogenous R^2 must stay below 1."""
    layout = Layout.from_spec(spec)
    J = len(layout.constructs)
    B = np.zeros((J, J))
    for (source, target), value in paths.items():
        B[layout.constructs.index(source), layout.constructs.index(target)] = value
    exo = np.full((J, J), float(exogenous_cor))
    np.fill_diagonal(exo, 1.0)
    R = structural_correlations(layout, B, exo)
    for target in nx.topological_sort(spec.graph):
        pred = layout.predecessors(layout.constructs.index(target))
        if pred.size:
            beta = B[pred, layout.constructs.index(target)]
            explained = beta @ R[np.ix_(pred, pred)] @ beta
            if not explained < 1:
                raise SpecError(f"the paths into {target} explain {explained:.2f} of its variance "
                                "(must be below 1): choose smaller path values")
    return R


def _check_values(spec, paths, loadings, weights, **scalars) -> None:
    """Population values are numbers, keyed by the spec's paths (source, target) and items."""
    for name, value in scalars.items():
        if not is_number(value):
            raise SpecError(f"{name}={value!r}: give a finite number")
    for name, given, known in (("paths", paths, set(spec.paths)),
                               ("loadings", loadings, set(spec.item_names)),
                               ("weights", weights, set(spec.item_names))):
        if given is None:
            continue
        if not isinstance(given, dict):
            raise SpecError(f"{name} must be a dict, got {type(given).__name__}")
        unknown = [k for k in given if k not in known]
        if unknown:
            what = "(source, target) paths" if name == "paths" else "items"
            raise SpecError(f"{name}: {', '.join(map(repr, unknown))} are not {what} of model "
                            f"{spec.name!r}")
        bad = {k: v for k, v in given.items() if not is_number(v)}
        if bad:
            raise SpecError(f"{name}: the values of {', '.join(map(repr, bad))} are not finite numbers")


def population(spec, paths: dict | None = None, loadings: dict | None = None,
               weights: dict | None = None, kind: str = "factor", path_value: float = 0.3,
               loading_value: float = 0.8, item_cor: float = 0.5,
               exogenous_cor: float = 0.3) -> Population:
    """Population values for ``spec``; unspecified paths get ``path_value``, unspecified
    loadings ``loading_value``, unspecified composite weights are equal."""
    spec = load_spec(spec)
    if kind not in ("factor", "composite"):
        raise SpecError(f"kind={kind!r}: use 'factor' or 'composite'")
    _check_values(spec, paths, loadings, weights, path_value=path_value,
                  loading_value=loading_value, item_cor=item_cor, exogenous_cor=exogenous_cor)
    paths = {p: (paths or {}).get(p, path_value) for p in spec.paths}
    R = _construct_cor(spec, paths, exogenous_cor)
    items = spec.item_names
    block = {i: spec.construct_names.index(c.name) for c in spec.constructs for i in c.item_names}
    p = len(items)
    Sigma = np.zeros((p, p))
    lam, w = {}, {}
    if kind == "factor":
        # a single-item construct is its item (the spec fixes that item's error at zero)
        lam = {i: (loadings or {}).get(i, 1.0 if len(spec.construct(spec.construct_names[block[i]]).items) == 1
                                       else loading_value) for i in items}
        L = np.zeros((p, len(spec.construct_names)))
        for k, i in enumerate(items):
            L[k, block[i]] = lam[i]
        Sigma = L @ R @ L.T
        np.fill_diagonal(Sigma, 1.0)
    else:
        S_blocks, W = {}, {}
        for j, c in enumerate(spec.constructs):
            k = len(c.items)
            S = np.full((k, k), item_cor)
            np.fill_diagonal(S, 1.0)
            raw = np.array([(weights or {}).get(i, 1.0) for i in c.item_names], float)
            raw = raw / np.sqrt(raw @ S @ raw)
            S_blocks[j], W[j] = S, raw
            w.update(dict(zip(c.item_names, raw)))
            lam.update(dict(zip(c.item_names, S @ raw)))
        offsets = np.cumsum([0] + [len(c.items) for c in spec.constructs])
        for a in range(len(spec.constructs)):
            for b in range(len(spec.constructs)):
                sa, sb = slice(offsets[a], offsets[a + 1]), slice(offsets[b], offsets[b + 1])
                Sigma[sa, sb] = (S_blocks[a] if a == b else
                                 np.outer(S_blocks[a] @ W[a], S_blocks[b] @ W[b]) * R[a, b])
    if not np.isfinite(Sigma).all() or np.linalg.eigvalsh(Sigma)[0] <= 0:
        raise SpecError("these population values give no valid covariance matrix (not positive "
                        "definite): lower the loadings, paths or correlations")
    names = spec.construct_names
    return Population(spec=spec, paths=paths, loadings=lam, weights=w,
                      construct_cor=pd.DataFrame(R, index=names, columns=names),
                      item_cov=pd.DataFrame(Sigma, index=items, columns=items), kind=kind)


def simulate(spec, n: int, *, random_state=None, discrete: bool = False,
             pop: Population | None = None, groups: int | None = None, path_spread: float = 0.1,
             shift_sd: float = 0.25, **population_args) -> pd.DataFrame:
    """``n`` multivariate-normal respondents from the population of ``spec`` (see
    ``population`` for the arguments). ``discrete=True`` maps each item onto its scale:
    round(mid + z * (max - min) / 6), clipped to the bounds.

    ``groups=K``: K groups of ``n`` respondents each (column ``group``: 'G01', 'G02', ...)
    with differing true values: group g's paths are the population's plus u ~ U(-path_spread,
    path_spread) per path, and every item of group g is shifted by s_g ~ N(0, shift_sd) (in
    item standard deviations), so the groups' indices differ. The truth is in
    ``pd.DataFrame(frame.attrs["truth"])`` (group, source, target, path, shift)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise DataError(f"n={n!r}: give the number of respondents as a whole number >= 0")
    if pop is not None and not isinstance(pop, Population):
        raise SpecError(f"pop must be a Population (csi_models.simulation.population), got "
                        f"{type(pop).__name__}")
    try:
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:
        raise DataError(f"random_state={random_state!r}: give an integer seed or a numpy "
                        f"Generator ({exc})") from None
    if groups is not None:
        return _simulate_groups(spec, n, groups, rng, discrete, pop, path_spread, shift_sd,
                                population_args)
    pop = pop or population(spec, **population_args)
    return _draw(pop, n, rng, discrete)


def _simulate_groups(spec, n, groups, rng, discrete, pop, path_spread, shift_sd, population_args):
    """K groups with their own paths and item shift (see ``simulate``)."""
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise DataError(f"groups={groups!r}: give the number of groups as a whole number >= 1")
    for name, value in (("path_spread", path_spread), ("shift_sd", shift_sd)):
        if not is_number(value) or value < 0:
            raise SpecError(f"{name}={value!r}: give a finite number >= 0")
    base = pop or population(spec, **population_args)
    args = dict(population_args)
    args.pop("paths", None)
    if pop is not None:
        args.update(loadings=pop.loadings if pop.kind == "factor" else None,
                    weights=pop.weights if pop.kind == "composite" else None, kind=pop.kind)
    frames, truth = [], []
    width = len(str(groups))
    for g in range(int(groups)):
        name = f"G{g + 1:0{max(2, width)}d}"
        paths = {p: v + rng.uniform(-path_spread, path_spread) for p, v in base.paths.items()}
        shift = float(rng.normal(0.0, shift_sd))
        group_pop = population(base.spec, paths=paths, **args)
        frame = _draw(group_pop, n, rng, discrete, shift)
        frame.insert(0, "group", name)
        frames.append(frame)
        truth += [(name, s, t, v, shift) for (s, t), v in paths.items()]
    out = pd.concat(frames, ignore_index=True)
    out.attrs["truth"] = [dict(zip(("group", "source", "target", "path", "shift"), row)) for row in truth]
    return out


def _draw(pop, n, rng, discrete, shift: float = 0.0) -> pd.DataFrame:
    """``n`` respondents of population ``pop``, every item shifted by ``shift`` sds."""
    Sigma = pop.item_cov.to_numpy()
    values = rng.multivariate_normal(np.zeros(len(Sigma)), Sigma, size=int(n), method="cholesky")
    values = values + shift
    names = pop.item_cov.columns
    if discrete:    # all items at once: one pandas clip per item took ~60 ms a group
        scale = {item.name: item.scale for item in pop.spec.items}
        lo = np.array([scale[i].min for i in names], float)
        hi = np.array([scale[i].max for i in names], float)
        values = np.clip(np.round((lo + hi) / 2 + values * (hi - lo) / 6), lo, hi)
    return pd.DataFrame(values, columns=[pop.spec.column_of(i) for i in names])
