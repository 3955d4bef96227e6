"""Loyalty segments by attitude x behaviour (seeds/001, chapter 6, "根据态度和行为划分客户忠诚").

The course text crosses attitudinal loyalty (intention, preference) with behavioural loyalty
(repeat purchase) into four types:

=================  ==================  ===================  ==========
attitude           behaviour           segment              Chinese
=================  ==================  ===================  ==========
low                low                 non-loyal            非忠诚
high               low                 latent loyalty       潜在忠诚
low                high                inertial loyalty     惯性忠诚
high               high                absolute loyalty     绝对忠诚
=================  ==================  ===================  ==========

A respondent's attitude (behaviour) is the mean of the attitude (behaviour) items they
answered; it is high at or above its cut-off. Each segment's satisfaction index is the mean
0-100 satisfaction score of its members: either given per respondent (e.g. a fit's
``scores_100["Satisfaction"]``) or computed from satisfaction items as
100 * sum_i w_i (x_i - min) / sum_i w_i (max - min), equal weights unless given (the index
formula of ``csi.fit``, per respondent; its mean over everyone is the index).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from csi_models.data.check import rows_text
from csi_models.data.pairs import ratings
from csi_models.errors import DataError

__all__ = ["SEGMENTS", "LoyaltySegments", "loyalty_segments"]

#: segment -> (attitude high?, behaviour high?, Chinese name), in the text's order
SEGMENTS = {"non-loyal": (False, False, "非忠诚"), "latent": (True, False, "潜在忠诚"),
            "inertial": (False, True, "惯性忠诚"), "absolute": (True, True, "绝对忠诚")}


@dataclass(frozen=True)
class LoyaltySegments:
    """``table``: one row per segment (index ``segment``: non-loyal, latent, inertial,
    absolute) with segment_zh, attitude, behaviour ('high'/'low'), n, share (of the
    respondents with both scores) and satisfaction_index (mean 0-100 satisfaction score of the
    segment's members with one; NaN for an empty segment). ``segment``: each respondent's
    segment (NaN without an attitude or behaviour answer), indexed like the data."""

    table: pd.DataFrame
    segment: pd.Series


def _cols(data, value, who):
    cols = [value] if isinstance(value, str) or not pd.api.types.is_list_like(value) \
        else list(value)
    missing = [c for c in cols if c not in data.columns]
    if not cols or missing:
        raise DataError(f"{who}: data has no columns {rows_text(map(repr, missing or cols))}; "
                        f"columns are {rows_text(data.columns, 10)}")
    return cols


def _cut(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value):
        raise DataError(f"{name} is the score at and above which it counts as high, e.g. 7 on a "
                        f"1-10 scale; got {value!r}")
    return float(value)


def _satisfaction(data, satisfaction, scale, weights) -> pd.Series:
    """Per-respondent 0-100 satisfaction score (see module docstring)."""
    if isinstance(satisfaction, pd.Series):
        if not satisfaction.index.equals(data.index):
            raise DataError("a satisfaction score Series must have the data's row index (e.g. "
                            "res.scores_100['Satisfaction'] from a fit on the same rows)")
        return ratings(satisfaction.to_frame(), "satisfaction scores", "column").iloc[:, 0]
    cols = _cols(data, satisfaction, "satisfaction")
    if (not isinstance(scale, (tuple, list)) or len(scale) != 2 or
            not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in scale) or
            not scale[0] < scale[1]):
        raise DataError(f"scale is the (min, max) of the satisfaction items, e.g. (1, 10); "
                        f"got {scale!r}")
    values = ratings(data[cols], "satisfaction answers", "column")
    w = np.ones(len(cols)) if weights is None else np.array(
        [float(dict(weights)[c]) if c in dict(weights) else np.nan for c in cols])
    if np.isnan(w).any() or (w < 0).any() or w.sum() <= 0:
        raise DataError(f"weights must give every satisfaction item {rows_text(cols)} a number "
                        ">= 0, not all 0")
    lo, hi = scale
    outside = values.lt(lo) | values.gt(hi)
    if outside.to_numpy().any():
        raise DataError(f"satisfaction answers outside the scale {lo}..{hi} in rows "
                        f"{rows_text(values.index[outside.any(axis=1)])}")
    x = values.to_numpy()
    score = 100 * (x - lo) @ w / (w.sum() * (hi - lo))  # NaN when any item is missing
    return pd.Series(score, index=data.index)


def loyalty_segments(data, attitude, behaviour, attitude_cut, behaviour_cut,
                     satisfaction=None, scale=None, weights=None) -> LoyaltySegments:
    """Attitude x behaviour loyalty segments with their shares and satisfaction indices.

    ``attitude`` / ``behaviour``: column(s) of attitudinal loyalty (e.g. intention to
    repurchase, to recommend) and behavioural loyalty (e.g. repeat purchases); a respondent
    is high at or above ``attitude_cut`` / ``behaviour_cut`` (their item mean).
    ``satisfaction``: a per-respondent 0-100 score (Series on the data's index) or
    satisfaction item column(s) with their ``scale`` (min, max) and optional ``weights``
    (dict by column; equal by default); without it satisfaction_index is NaN. See the module
    docstring for the four segments (seeds/001) and the formulas.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a DataFrame, one row per respondent; got "
                        f"{type(data).__name__}")
    att = ratings(data[_cols(data, attitude, "attitude")], "attitude answers", "column")
    beh = ratings(data[_cols(data, behaviour, "behaviour")], "behaviour answers", "column")
    att, beh = att.mean(axis=1), beh.mean(axis=1)
    a_cut, b_cut = _cut(attitude_cut, "attitude_cut"), _cut(behaviour_cut, "behaviour_cut")
    score = (_satisfaction(data, satisfaction, scale, weights) if satisfaction is not None
             else pd.Series(np.nan, index=data.index))
    ok = att.notna() & beh.notna()
    if not ok.any():
        raise DataError("no respondent has both an attitude and a behaviour answer")
    segment = pd.Series(np.nan, index=data.index, dtype=object)
    rows = {}
    for name, (a_high, b_high, zh) in SEGMENTS.items():
        member = ok & ((att >= a_cut) == a_high) & ((beh >= b_cut) == b_high)
        segment[member] = name
        rows[name] = {"segment_zh": zh, "attitude": "high" if a_high else "low",
                      "behaviour": "high" if b_high else "low", "n": int(member.sum()),
                      "share": float(member.sum() / ok.sum()),
                      "satisfaction_index": float(score[member].mean()) if member.any()
                      else np.nan}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "segment"
    return LoyaltySegments(table, segment)
