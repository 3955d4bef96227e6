"""Respondent (sampling or frequency) weights: the checked weight column of a survey.

``weights="w"`` names a column of the survey; it must be numeric, finite, >= 0 and sum to
more than 1 over the rows used (the sample size of frequency weights; shares summing to 1 are
refused with a message asking to rescale them). The weights follow the rows the missing-data rule keeps. For the estimates they are
frequency weights: a respondent with weight 3 counts as three identical respondents, so
integer weights give exactly the estimates of the repeated rows (means sum w x / sum w,
covariances with the sum w - 1 divisor), and scaling all weights by a constant changes no
estimate or index. CB-SEM's standard errors and test treat them as lavaan's sampling weights
(normalized to sum to the number of rows; ``engines.cbsem_weights``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.data.check import rows_text
from csi_models.errors import DataError


def usable_weights(data: pd.DataFrame, column) -> tuple[np.ndarray, np.ndarray]:
    """(weights, unusable) of ``data``'s rows: a weight is usable when numeric, finite and
    >= 0 (the one rule, for a table in memory and for each chunk of a large source)."""
    if not isinstance(column, str) or column not in data.columns:
        raise DataError(f"weights={column!r} is not a column of the survey data: give the name "
                        "of the column holding each respondent's weight")
    values = pd.to_numeric(data[column], errors="coerce").to_numpy(float)
    return values, ~np.isfinite(values) | (values < 0)


def unusable_message(column: str, n_bad: int, first_rows: list) -> str:
    """The error for ``n_bad`` rows with unusable weights, of which ``first_rows`` (at most
    five labels) are named."""
    more = f" (and {n_bad - len(first_rows)} more)" if n_bad > len(first_rows) else ""
    return (f"weight column {column!r}: {n_bad} rows have no usable weight (missing, not a "
            f"number, or negative): rows {rows_text(first_rows)}{more}; weights must be "
            "numbers >= 0")


def weight_column(data: pd.DataFrame, column, kept_rows: pd.Index) -> np.ndarray:
    """The checked weights of the rows ``kept_rows`` (labels of the rows used)."""
    values, bad = usable_weights(data, column)
    if bad.any():
        raise DataError(unusable_message(column, int(bad.sum()), list(data.index[bad][:5])))
    keep = data.index.isin(kept_rows)
    if keep.sum() != len(kept_rows):
        raise DataError(f"weights={column!r} with rows dropped needs a unique row index: "
                        "reset it (data.reset_index(drop=True))")
    values = values[keep]
    if not values.sum() > 0:
        raise DataError(f"weight column {column!r}: every weight of the rows used is 0; give "
                        "positive weights")
    if not values.sum() > 1:
        raise DataError(f"weight column {column!r}: the weights of the rows used sum to "
                        f"{values.sum():.4g}; as frequency weights their sum is the sample size "
                        "(item sds divide by sum w - 1): rescale them, e.g. to sum to the "
                        f"number of respondents ({len(values)})")
    return values


def normalized(weights: np.ndarray) -> np.ndarray:
    """Weights rescaled to sum to the number of rows (lavaan's "total" normalization of
    sampling.weights; CB-SEM with weights, FIML included)."""
    w = np.asarray(weights, float)
    return w * (w.size / w.sum())


def weighted_cov(values: np.ndarray, weights: np.ndarray):
    """(weighted mean, weighted covariance with divisor sum w): lavaan's S_w."""
    w = np.asarray(weights, float)
    mean = (w @ values) / w.sum()
    z = values - mean
    return mean, (z * w[:, None]).T @ z / w.sum()
