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
(the ``~1`` rows of ``res.parameters``) with missing='fiml' (``Estimates.item_mean``). Under FIML a
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
the sample covariance (complete data) or the model-implied one (FIML). Every formula here works on arrays with any leading batch axes: ``statistics.kernel.derive``
applies them to one fit, B bootstrap resamples, P permutations or G groups alike.
"""

from __future__ import annotations

import numpy as np

IMPACT_POINTS = 5.0   # ACSI reports the effect of a 5-point rise of the driver's index


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


def respondent_scores_100(values, weights, sd, lo, hi, membership, negative):
    """Per-respondent 0-100 scores (n, J): the index formula with each respondent's answers
    ``values`` (n, items) for the item means. A construct with a negative weight has none;
    a respondent missing an item of a construct has none for it (FIML data). With positive
    weights a score is a weighted mean of answers within their scales, so it lies in 0..100;
    the two matrix products can round 1e-14 past a bound, which is clipped."""
    W = (weights / sd)[:, None] * membership
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.clip(100.0 * (np.nan_to_num(values - lo) @ W) / ((hi - lo) @ W), 0.0, 100.0)
    scores[:, negative] = np.nan
    scores[(np.isnan(values) @ membership) > 0] = np.nan
    return scores


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


def scale_bounds(spec, layout):
    """(lo, hi): each item's theoretical scale bounds from the spec, in layout order."""
    lo = np.array([spec.item(i).scale.min for i in layout.items], float)
    hi = np.array([spec.item(i).scale.max for i in layout.items], float)
    return lo, hi


def negative_weight_note(layout, weights, j: int) -> str:
    """Why construct j has no index: the items whose weight is negative, and the likely causes."""
    bad = [layout.items[i] for i in np.flatnonzero(layout.membership[:, j]) if weights[i] < 0]
    return (f"index of {layout.constructs[j]} not defined: negative weight of {', '.join(bad)} "
            "(a better answer would lower the index); likely causes are a reverse-worded item "
            "not declared under `reverse:`, collinear items in a formative block, or an item "
            "that does not measure the construct")


def index_notes(estimates) -> list[str]:
    """Why each construct's index is undefined ('' where it is defined)."""
    lay = estimates.layout
    negative = (estimates.weights < 0) @ lay.membership > 0
    return [negative_weight_note(lay, estimates.weights, j) if negative[j] else ""
            for j in range(len(lay.constructs))]
