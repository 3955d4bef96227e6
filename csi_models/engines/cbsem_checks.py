"""What a CB-SEM fit (``engines.cbsem``) refuses before it starts, each with an error that says
what to change: arguments it cannot take, a model that the counting rule finds not identified,
a singular item covariance matrix, start values that do not fit the model."""

from __future__ import annotations

import numpy as np

from csi_models.errors import EstimationError
from csi_models.spec.validation import require_first_order


def check_arguments(spec, data, se: str) -> None:
    """A first-order spec of common factors, and a missing-data rule, ``se`` and respondent
    weights that ``cbsem.fit`` takes."""
    require_first_order(spec, "CB-SEM")
    formative = [c.name for c in spec.constructs if c.mode == "formative"]
    if formative:
        raise EstimationError(f"CB-SEM models every construct as a common factor, but "
                              f"{', '.join(formative)} is formative (mode B): fit with "
                              "method='pls', or set its mode to reflective")
    if data.missing == "mean":
        raise EstimationError("missing='mean' is for PLS; for CB-SEM use missing='listwise' or "
                              "missing='fiml' (full-information ML)")
    if se not in ("standard", "robust", "none"):     # "none": no SEs (bootstrap refits)
        raise EstimationError(f"se={se!r}: use 'standard' or 'robust'")
    if getattr(data, "weights", None) is not None and data.missing != "fiml":
        raise EstimationError("cbsem.fit takes respondent weights with missing='fiml' only; "
                              "complete weighted data go through engines.cbsem_weights.fit")


def check_identified(spec, model, p: int, fiml: bool) -> None:
    """Counting rule (Bollen 1989, t-rule): no more free parameters than the p(p+1)/2 item
    variances and covariances (+ p means with FIML's mean structure), i.e. df >= 0; as
    lavaan's npar and df. A reflective construct with 2 items is identified only through its
    correlation or path to another construct, so those are named as the usual cause."""
    npar = sum(param.active for param in model.parameters.values())
    moments = p * (p + 1) // 2 + (p if fiml else 0)
    if npar <= moments:
        return
    two = [f"{c.name} ({len(c.items)} items)" for c in spec.constructs if len(c.items) == 2]
    cause = (f"constructs with fewer than 3 items carry too little information of their own: "
             f"{', '.join(two)}. Add items to them (3 or more each), link them by paths to other "
             "constructs, or fit with method='pls'" if two else
             "remove structural paths, or fit with method='pls'")
    what = "variances, covariances and means" if fiml else "variances and covariances"
    raise EstimationError(f"the CB-SEM model is not identified: it has {npar} free parameters but "
                          f"its {p} items give only {moments} {what} (df = {moments - npar}); "
                          f"{cause}")


def check_covariance(data, layout) -> None:
    """A positive-definite (pairwise, for FIML) item covariance matrix of the rows the fit
    sees (with respondent weights: those with a positive weight), or a clear error."""
    values, who = data.values, "respondents"
    if getattr(data, "weights", None) is not None:
        values, who = values[np.asarray(data.weights) > 0], "respondents with a positive weight"
    if data.missing != "fiml" and len(values) <= len(layout.items):
        raise EstimationError(f"CB-SEM needs more rows ({len(values)}) than items "
                              f"({len(layout.items)}) for a positive-definite covariance matrix")
    cov = values.cov()
    apart = np.argwhere(np.isnan(cov.to_numpy(float)))
    if apart.size:                       # FIML: a pair no two respondents answered together
        i, j = apart[0]
        raise EstimationError(f"items {cov.index[i]!r} and {cov.columns[j]!r} are answered "
                              f"together by fewer than two {who}: their covariance cannot be "
                              "estimated (FIML needs every pair observed together); drop one "
                              "of them or collect both from the same respondents")
    eig = np.linalg.eigvalsh(cov.to_numpy(float))
    if data.missing == "fiml" and eig[0] <= 1e-10 * max(eig[-1], 1e-300):
        # pairwise covariances of planned-missing data (a three-form design) can be
        # indefinite where the data are fine: judge FIML's own (EM) estimate instead
        from csi_models.statistics.fit_measures import em_moments

        try:
            eig = np.linalg.eigvalsh(em_moments(values.to_numpy(float))[1])
        except np.linalg.LinAlgError:                   # singular there too
            eig = np.array([np.nan])
    if not np.isfinite(eig).all() or eig[0] <= 1e-10 * max(eig[-1], 1e-300):
        raise EstimationError(f"the items' covariance matrix is singular: some items are exact "
                              f"linear combinations of others (duplicated or summed columns) or "
                              f"there are fewer {who} ({len(values)}) than items "
                              f"({len(layout.items)}); drop the redundant items")


def checked_start(start, model) -> np.ndarray | None:
    """``start`` as a float vector of the model's free parameters, or a clear error."""
    if start is None:
        return None
    k = sum(param.active for param in model.parameters.values())
    try:
        x = np.array(start, dtype=float).ravel()
    except (TypeError, ValueError):
        x = np.array([np.nan])
    if x.size != k or not np.isfinite(x).all():
        raise EstimationError(f"start: give the {k} finite free-parameter values of this model in "
                              "semopy's order (Estimates.extras['x'] of a fit of the same spec "
                              f"and missing-data rule); got {np.size(start)} value(s)")
    return x
