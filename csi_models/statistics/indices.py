"""0-100 indices, per-respondent 0-100 scores, direct/indirect/total effects and impacts.

The ACSI index of a construct (Fornell et al. 1996, Journal of Marketing 60(4), appendix):
standardized outer weights w_i are turned into unstandardized ones, w_i / sd_i, rescaled to
sum to one, applied to the item means on their original scale and mapped to 0-100 with the
*theoretical* scale bounds from the spec:

    index_j = 100 * sum_i w~_i (mean_i - min_i) / sum_i w~_i (max_i - min_i),  w~_i = w_i / sd_i.

This is exactly SmartPLS's / cSEM's IPMA performance (items rescaled to 0-100 first, then
unstandardized weights on the rescaled items, rescaled to sum to one): the two agree for any
mix of item scales. The per-respondent score is the same formula with x_i for mean_i, so its
mean is the index (with complete data). With CB-SEM the unstandardized weights are the raw
own-block factor-score weights r_j = Sigma_jj^-1 lambda_j (model-implied Sigma, unstandardized
loadings; for one factor proportional to Bartlett's Theta_jj^-1 lambda_j), so the index is

    index_j = 100 * sum_i r_i (mu_i - min_i) / sum_i r_i (max_i - min_i)

with mu the model's item means: the sample means with complete data, the FIML estimates
(the ``~1`` rows of ``res.parameters``) with missing='fiml' (``index_moments``). Under FIML a
respondent missing an item of a construct has no 0-100 score for it, so the mean of
``scores_100`` is then a complete-case mean and not the index. An index needs every weight of its construct to be
positive: a negative weight would let a *better* answer lower the index; it is reported as
NaN with a note (``IndexWarning``), as SmartPLS's IPMA refuses such models.

Effects: with P[i, j] the standardized path i -> j of an acyclic model, total = (I - P)^-1 - I
(computed as the finite series P + P^2 + ...), indirect = total - direct. On the 0-100 metric
the standardized score Y_j becomes a_j + c_j Y_j with c_j = 100 / sum_i w~_i (max_i - min_i)
(its standard deviation in index points), so an effect in index points per index point is
effect * c_target / c_source. The ACSI *impact* is 5 x the total effect on that metric: the
change in the target's index when the driver's index rises by 5 points. With CB-SEM the
effects are those of the latent model (standardized) and c_j is the standard deviation of the
factor-score composite's 0-100 score, 100 sqrt(r' C_jj r) / sum_i r_i (max_i - min_i), with C
the sample covariance (complete data) or the model-implied one (FIML). Standard errors and intervals of indices, effects and impacts come from the
bootstrap (``csi.fit(..., bootstrap=B)``, both engines; no delta method), else they are NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from csi_models.errors import IndexWarning

IMPACT_POINTS = 5.0   # ACSI reports the effect of a 5-point rise of the driver's index


# --- array formulas (any leading batch axes; the bootstrap uses the same functions) ----------
def index_values(weights, mean, sd, lo, hi, membership):
    """index (..., J), points-per-sd c (..., J) and a mask of constructs with a negative weight.

    weights, mean, sd: (..., items); lo, hi: (items,) theoretical scale bounds."""
    raw = weights / sd
    # block sums as einsum: no threaded BLAS call for these thin products
    num = np.einsum("...i,ij->...j", raw * (mean - lo), membership)
    den = np.einsum("...i,ij->...j", raw * (hi - lo), membership)
    negative = np.einsum("...i,ij->...j", (weights < 0).astype(float), membership) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(negative, np.nan, 100.0 * num / den)
        scale = np.where(negative, np.nan, 100.0 / den)
    return index, scale, negative


def total_effects(paths: np.ndarray) -> np.ndarray:
    """(I - P)^-1 - I for acyclic P (..., J, J), as P + P^2 + ... (P is nilpotent)."""
    total = paths.copy()
    power = paths
    for _ in range(paths.shape[-1] - 1):
        power = np.matmul(power, paths)
        if not np.any(power):
            break
        total = total + power
    return total


def rescale_effects(effects: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Standardized effects [source, target] -> index points per index point of the source."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return effects * scale[..., None, :] / scale[..., :, None]


def effect_pairs(adjacency: np.ndarray) -> list[tuple[int, int]]:
    """(source, target) pairs joined by at least one directed path, in source-major order."""
    reach = total_effects(np.asarray(adjacency, float)) != 0
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(reach))]


# --- tables of one fit -----------------------------------------------------------------------
def scale_bounds(spec, layout):
    """(lo, hi): each item's theoretical scale bounds from the spec, in layout order."""
    lo = np.array([spec.item(i).scale.min for i in layout.items], float)
    hi = np.array([spec.item(i).scale.max for i in layout.items], float)
    return lo, hi


def sample_moments(values: pd.DataFrame) -> pd.DataFrame:
    """mean and sd (n - 1) of each column over its non-missing rows (``res.item_stats``)."""
    return pd.DataFrame({"mean": values.mean(), "sd": values.std(ddof=1)})


def index_moments(data, estimates) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sd) of the items in layout order: the moments that standardize the scores and
    enter the index. Complete data (listwise, mean replacement): the sample means and sds of
    the rows used. CB-SEM with FIML: the model's estimates, means from the mean structure
    (the ``~1`` rows of the parameter table) and sds from the model-implied covariance
    matrix, the same matrix that scales the factor-score weights (so the index, the weights
    and the 0-100 metric of effects all rest on one set of moments)."""
    items = list(estimates.layout.items)
    if estimates.method == "cbsem" and data.missing == "fiml":
        table = estimates.parameters
        means = table[table.op == "~1"].set_index("lhs")["est"].reindex(items)
        return means.to_numpy(float), np.sqrt(np.diag(estimates.implied_cov))
    weights = getattr(data, "weights", None)
    if weights is not None:     # respondent weights (frequency weights, data.weights)
        X = data.values[items].to_numpy(float)
        mean = (weights @ X) / weights.sum()
        var = (weights @ (X - mean) ** 2) / (weights.sum() - 1)
        return mean, np.sqrt(var)
    stats = sample_moments(data.values[items])
    return stats["mean"].to_numpy(float), stats["sd"].to_numpy(float)


def index_parts(result):
    """(index, scale, negative, unstandardized weights) of a FitResult, unrounded."""
    lay = result.estimates.layout
    mean, sd = index_moments(result.data, result.estimates)
    lo, hi = scale_bounds(result.spec, lay)
    w = result.estimates.weights
    index, scale, negative = index_values(w, mean, sd, lo, hi, lay.membership)
    return index, scale, negative, w / sd


def negative_weight_note(result, j: int) -> str:
    lay = result.estimates.layout
    bad = [lay.items[i] for i in np.flatnonzero(lay.membership[:, j]) if result.estimates.weights[i] < 0]
    return (f"index of {lay.constructs[j]} not defined: negative weight of {', '.join(bad)} "
            "(a better answer would lower the index); likely causes are a reverse-worded item "
            "not declared under `reverse:`, collinear items in a formative block, or an item "
            "that does not measure the construct")


def indices_table(result) -> pd.DataFrame:
    """construct, index (0-100), se, ci_lower, ci_upper, note (why an index is missing); with a
    bootstrap also n_boot (resamples in which the index was defined, used for se and CI)."""
    lay = result.estimates.layout
    index, _, negative, _ = index_parts(result)
    notes = [negative_weight_note(result, j) if negative[j] else "" for j in range(len(lay.constructs))]
    for note in filter(None, notes):
        warnings.warn(note, IndexWarning, stacklevel=4)
    table = pd.DataFrame({"construct": list(lay.constructs), "index": index,
                          "se": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "note": notes})
    return _with_bootstrap(table, result, "indices", ("se", "ci_lower", "ci_upper", "n_boot"))


def scores_100(result) -> pd.DataFrame:
    """Per-respondent 0-100 scores: the index formula with each respondent's answers, i.e.
    index + c_j * score (``res.scores``). With complete data their mean is the index. With
    FIML a respondent missing an item of a construct has no score for it, and the mean over
    the respondents who have one is a complete-case mean, not the index (which uses the
    FIML means of every respondent's answers)."""
    lay = result.estimates.layout
    _, _, negative, raw = index_parts(result)
    lo, hi = scale_bounds(result.spec, lay)
    W = raw[:, None] * lay.membership
    values = result.data.values[list(lay.items)].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = 100.0 * (np.nan_to_num(values - lo) @ W) / ((hi - lo) @ W)
    scores[:, negative] = np.nan
    scores[(np.isnan(values) @ lay.membership) > 0] = np.nan   # FIML: a missing item, no score
    return pd.DataFrame(scores, index=result.data.values.index, columns=list(lay.constructs))


def effects_table(result) -> pd.DataFrame:
    """source, target, direct, indirect, total (standardized) and the same on the 0-100 metric
    (``*_100``: index points of the target per index point of the source), for every pair of
    constructs joined by a directed path. With a bootstrap: indirect_se, indirect_t,
    indirect_p_value, indirect_ci_lower, indirect_ci_upper, the same for total_, and n_boot."""
    lay = result.estimates.layout
    P = result.estimates.paths
    T = total_effects(P)
    _, scale, _, _ = index_parts(result)
    P100, T100 = rescale_effects(P, scale), rescale_effects(T, scale)
    rows = [(lay.constructs[i], lay.constructs[j], P[i, j], T[i, j] - P[i, j], T[i, j],
             P100[i, j], T100[i, j] - P100[i, j], T100[i, j]) for i, j in effect_pairs(lay.adjacency)]
    table = pd.DataFrame(rows, columns=["source", "target", "direct", "indirect", "total",
                                        "direct_100", "indirect_100", "total_100"])
    columns = ("se", "t", "p_value", "ci_lower", "ci_upper")
    table = _with_bootstrap(table, result, "indirect", columns, prefix="indirect_")
    return _with_bootstrap(table, result, "total", (*columns, "n_boot"), prefix="total_",
                           rename={"n_boot": "n_boot"})


def impacts_table(result) -> pd.DataFrame:
    """driver, target, impact: change of the target's index for +5 points of the driver's
    index (ACSI), i.e. 5 x the total effect on the 0-100 metric; se and interval when
    bootstrapped, and n_boot (resamples in which both indices were defined)."""
    effects = effects_table(result)
    table = pd.DataFrame({"driver": effects.source, "target": effects.target,
                          "impact": IMPACT_POINTS * effects.total_100,
                          "se": np.nan, "ci_lower": np.nan, "ci_upper": np.nan})
    return _with_bootstrap(table, result, "impacts", ("se", "ci_lower", "ci_upper", "n_boot"),
                           key_names={"source": "driver"})


def _with_bootstrap(table, result, kind, columns, prefix="", rename=None, key_names=None):
    """The table with bootstrap columns of ``kind``, if the result has a bootstrap."""
    boot = getattr(result, "bootstrap", None)
    if boot is None or kind not in boot.kinds:
        return table
    return boot.attach(table, kind, columns, prefix=prefix, rename=rename, key_names=key_names)


# --- importance-performance map ---------------------------------------------------------------
class IPMA:
    """Importance-performance map of one target construct (Ringle & Sarstedt 2016, Industrial
    Management & Data Systems 116(9); the definitions of SmartPLS and cSEM's ``doIPMA``).

    constructs: construct, importance (unstandardized total effect on the target, 0-100
    metric: index points of the target per index point of the construct), performance (the
    construct's 0-100 index). indicators: construct, indicator, weight (rescaled outer weight:
    unstandardized weight on the 0-100-rescaled item, summing to one per construct),
    importance (weight x the construct's importance), performance (item mean on 0-100)."""

    def __init__(self, target: str, constructs: pd.DataFrame, indicators: pd.DataFrame):
        self.target, self.constructs, self.indicators = target, constructs, indicators

    def __repr__(self) -> str:
        return f"<IPMA of {self.target}: {len(self.constructs)} constructs, {len(self.indicators)} indicators>"

    def plot(self, level: str = "constructs", ax=None):
        """Quadrant plot (importance on x, performance on y) with dashed lines at the means."""
        import matplotlib.pyplot as plt

        table = self.constructs if level == "constructs" else self.indicators
        names = table["construct" if level == "constructs" else "indicator"]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4.5))
        ax.scatter(table.importance, table.performance, color="tab:blue")
        for name, x, y in zip(names, table.importance, table.performance):
            ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.axvline(table.importance.mean(), color="grey", linestyle="--", linewidth=1)
        ax.axhline(table.performance.mean(), color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(f"importance (total effect on {self.target}, index points)")
        ax.set_ylabel("performance (0-100)")
        ax.set_title(f"Importance-performance map: {self.target} ({level})")
        return ax


def ipma(result, target: str) -> IPMA:
    """IPMA of ``target`` for a PLS fit; every weight involved must be positive."""
    from csi_models.errors import CSIError

    if result.method != "pls":
        raise CSIError("IPMA is defined for PLS fits (composite scores); refit with method='pls'")
    lay = result.estimates.layout
    if target not in lay.constructs:
        raise CSIError(f"target {target!r} is not a construct of the model; choose one of "
                       f"{', '.join(lay.constructs)}")
    effects = effects_table(result)
    drivers = effects[effects.target == target]
    if drivers.empty:
        raise CSIError(f"no construct has an effect on {target} (it is exogenous); choose an "
                       "endogenous target such as Satisfaction or Loyalty")
    index, _, negative, raw = index_parts(result)
    involved = [lay.constructs.index(c) for c in [*drivers.source, target]]
    bad = [j for j in involved if negative[j]]
    if bad:
        raise CSIError("IPMA needs positive outer weights: " + "; ".join(
            negative_weight_note(result, j) for j in bad))
    lo, hi = scale_bounds(result.spec, lay)
    mean, _ = index_moments(result.data, result.estimates)
    importance = dict(zip(drivers.source, drivers.total_100))
    constructs = pd.DataFrame({"construct": list(drivers.source),
                               "importance": list(drivers.total_100),
                               "performance": [index[lay.constructs.index(c)] for c in drivers.source]})
    rows = []
    for c in drivers.source:
        items = np.flatnonzero(lay.membership[:, lay.constructs.index(c)])
        v = raw[items] * (hi[items] - lo[items])
        for i, weight in zip(items, v / v.sum()):
            perf = 100 * (mean[i] - lo[i]) / (hi[i] - lo[i])
            rows.append((c, lay.items[i], weight, weight * importance[c], perf))
    indicators = pd.DataFrame(rows, columns=["construct", "indicator", "weight", "importance",
                                             "performance"])
    return IPMA(target, constructs, indicators)
