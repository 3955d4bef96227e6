"""The customer-experience ledger: experience net value and the cost of negative experiences.

Both tools come from the customer-experience-management text of the source material
(``seeds/003``, "客户体验管理的方法与应用").

**Experience net value** (客户体验净值 = 客户正面体验 - 客户负面体验): per touchpoint or
experience type, the share of respondents whose experience was positive minus the share whose
experience was negative, from -1 (all negative) to +1 (all positive). The text lists six
experience types (客户体验主要类型): product, service, relationship, price, convenience and
brand image (:data:`EXPERIENCE_TYPES`); any other touchpoint names work the same way. A
respondent's experience of a type is the mean of the columns named for it; it is positive at
or above ``positive_min`` and negative at or below ``negative_max`` (between the two: neutral).

**The cost of negative experiences** (负面客户体验的成本). The text's worked example: annual
revenue 50 million dollars; 22 % of customer experiences are negative; of those customers 2 %
complain and 98 % stay silent; of the complainers 28 % are lost and 34 % remain at risk after
the complaint is handled (38 % are won back); of the silent customers 45 % are lost and 55 %
at risk. It reports $61,600 lost from complainers and "almost five million" (about 10 % of
revenue) from silent customers. The one reading that gives these numbers: revenue is spread
evenly over customers, so a group's revenue is its share of customers times the revenue, and
every share is a share *of the group before it* (complainers are 2 % of the 22 %, not 2 % of
all customers):

    customers_share(complainers) = negative_share * complain_share          = 0.22 * 0.02 = 0.0044
    customers_share(silent)      = negative_share * (1 - complain_share)    = 0.22 * 0.98 = 0.2156
    revenue_lost(group)          = revenue * customers_share(group) * lost_share(group)
    revenue_at_risk(group)       = revenue * customers_share(group) * at_risk_share(group)

    complainers: 50e6 * 0.0044 * 0.28 = 61,600 lost,    50e6 * 0.0044 * 0.34 = 74,800 at risk
    silent:      50e6 * 0.2156 * 0.45 = 4,851,000 lost, 50e6 * 0.2156 * 0.55 = 5,929,000 at risk

(4,851,000 is 9.70 % of revenue: the text's "almost five million, about 10 %".)
:func:`experience_shares` takes these shares from a survey instead.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from csi_models.data.check import rows_text
from csi_models.data.pairs import ratings
from csi_models.errors import DataError

__all__ = ["EXPERIENCE_TYPES", "experience_net_value", "negative_experience_cost",
           "experience_shares"]

#: The experience types of seeds/003 (客户体验主要类型), English -> Chinese.
EXPERIENCE_TYPES = {"product": "产品", "service": "服务", "relationship": "关系",
                    "price": "价格", "convenience": "便利性", "brand image": "品牌形象"}


def _frame(data) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame (one row per respondent), got "
                        f"{type(data).__name__}")
    if data.columns.duplicated().any():
        raise DataError(f"data has duplicated columns "
                        f"{rows_text(data.columns[data.columns.duplicated()].unique())}; rename them")
    return data


def _columns(data, value, who: str) -> list:
    cols = [value] if isinstance(value, str) or not pd.api.types.is_list_like(value) \
        else list(value)
    if not cols:
        raise DataError(f"{who} names no column; give a column name or a list of them")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"{who}: data has no columns {rows_text(map(repr, missing))} (columns: "
                        f"{rows_text(data.columns, 10)})")
    return cols


def _number(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value):
        raise DataError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _respondent_means(data, cols, who: str) -> pd.Series:
    values = ratings(data[cols], f"the answers of {who}", "column")
    return values.mean(axis=1)  # NaN when every column is missing


def experience_net_value(data, types, positive_min, negative_max) -> pd.DataFrame:
    """Experience net value per experience type: share positive minus share negative.

    ``types`` maps each experience type or touchpoint (e.g. the six of
    :data:`EXPERIENCE_TYPES`) to the survey column(s) rating it; with several columns a
    respondent's rating is their mean. A rating >= ``positive_min`` is a positive experience,
    <= ``negative_max`` a negative one, in between neutral; respondents without a rating of the
    type are left out of it (``n_missing``). Returns one row per type (index ``type``): n,
    n_missing, share_positive, share_neutral, share_negative, net_value = share_positive -
    share_negative (seeds/003: 客户体验净值 = 正面体验 - 负面体验), sorted as given.
    Hand-checked in tests/test_experience.py.
    """
    data = _frame(data)
    if not isinstance(types, Mapping) or not types:
        raise DataError("types must be a dict {experience type: column or [columns]}, e.g. "
                        "{'service': ['q3', 'q4'], 'price': 'q7'}")
    hi, lo = _number(positive_min, "positive_min"), _number(negative_max, "negative_max")
    if not lo < hi:
        raise DataError(f"negative_max ({lo:g}) must be below positive_min ({hi:g}): a rating "
                        "cannot be both a negative and a positive experience")
    rows = {}
    for kind, value in types.items():
        cols = _columns(data, value, f"experience type {kind!r}")
        score = _respondent_means(data, cols, f"experience type {kind!r}")
        ok = score.notna()
        n = int(ok.sum())
        pos = float((score[ok] >= hi).mean()) if n else np.nan
        neg = float((score[ok] <= lo).mean()) if n else np.nan
        rows[kind] = {"n": n, "n_missing": int((~ok).sum()), "share_positive": pos,
                      "share_neutral": 1 - pos - neg if n else np.nan, "share_negative": neg,
                      "net_value": pos - neg if n else np.nan}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "type"
    return table


def _share(value, name: str) -> float:
    if isinstance(value, float) and np.isnan(value):
        raise DataError(f"{name} is NaN: a share of a group without respondents (e.g. "
                        "experience_shares found no complainers); give the share to assume")
    value = _number(value, name)
    if not 0 <= value <= 1:
        raise DataError(f"{name} is a share between 0 and 1 (22 % is 0.22), got {value:g}")
    return value


def negative_experience_cost(revenue, negative_share, complain_share, complainers_lost,
                             complainers_at_risk, silent_lost, silent_at_risk) -> pd.DataFrame:
    """Revenue lost and at risk through negative experiences (seeds/003's worked example).

    ``negative_share``: share of customers with a negative experience; ``complain_share``:
    share of those who complain (the rest are silent); ``complainers_lost`` /
    ``complainers_at_risk``: shares of the complainers lost / still at risk after their
    complaint was handled; ``silent_lost`` / ``silent_at_risk`` the same for the silent.
    Revenue is taken as spread evenly over customers (see the module docstring for the
    formulas). Returns a table indexed by group (complainers, silent, total) with
    customers_share (share of all customers), lost_share, at_risk_share (shares of the group),
    revenue_lost and revenue_at_risk. With 003's numbers (50e6, 0.22, 0.02, 0.28, 0.34, 0.45,
    0.55) the complainers lose 61,600 and the silent 4,851,000, as the text says.
    """
    revenue = _number(revenue, "revenue")
    if revenue < 0:
        raise DataError(f"revenue must be >= 0, got {revenue:g}")
    neg = _share(negative_share, "negative_share")
    complain = _share(complain_share, "complain_share")
    groups = {"complainers": (neg * complain, _share(complainers_lost, "complainers_lost"),
                              _share(complainers_at_risk, "complainers_at_risk")),
              "silent": (neg * (1 - complain), _share(silent_lost, "silent_lost"),
                         _share(silent_at_risk, "silent_at_risk"))}
    for group, (_, lost, risk) in groups.items():
        if lost + risk > 1 + 1e-12:
            raise DataError(f"of the {group}, the shares lost ({lost:g}) and at risk ({risk:g}) "
                            "add up to more than 1; a customer is either lost, at risk or kept")
    rows = {g: {"customers_share": share, "lost_share": lost, "at_risk_share": risk,
                "revenue_lost": revenue * share * lost, "revenue_at_risk": revenue * share * risk}
            for g, (share, lost, risk) in groups.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    total = table.loc[["complainers", "silent"]].sum()
    share = total["customers_share"]
    total["lost_share"] = total["revenue_lost"] / (revenue * share) if revenue * share else np.nan
    total["at_risk_share"] = (total["revenue_at_risk"] / (revenue * share)
                              if revenue * share else np.nan)
    table.loc["total"] = total
    table.index.name = "group"
    return table


def experience_shares(data, experience, complained, loyalty, negative_max, lost_max,
                      at_risk_max) -> dict:
    """The six shares of :func:`negative_experience_cost` measured in a survey.

    ``experience``: column(s) rating the experience (mean per respondent); a negative
    experience is a rating <= ``negative_max``. ``complained``: a yes/no column (1/True = has
    complained, 0/False = has not). ``loyalty``: column(s) of loyalty intentions (repurchase,
    recommend; mean per respondent): lost at or below ``lost_max``, at risk above it up to
    ``at_risk_max``, kept above that. Only respondents with every answer count. Returns
    ``{negative_share, complain_share, complainers_lost, complainers_at_risk, silent_lost,
    silent_at_risk}`` (a share of a group with no respondents is NaN), so that
    ``negative_experience_cost(revenue=..., **experience_shares(...))`` prices a survey.
    """
    data = _frame(data)
    exp = _respondent_means(data, _columns(data, experience, "experience"), "experience")
    loy = _respondent_means(data, _columns(data, loyalty, "loyalty"), "loyalty")
    col = _columns(data, complained, "complained")
    if len(col) != 1:
        raise DataError("complained is one yes/no column (1 = has complained, 0 = has not)")
    comp = ratings(data[col], "the complaint answers", "column").iloc[:, 0]
    odd = comp.notna() & ~comp.isin([0, 1])
    if odd.any():
        raise DataError(f"complaint column {col[0]!r} must be 1 (has complained) or 0 (has not); "
                        f"rows {rows_text(comp.index[odd])} hold {rows_text(comp[odd].unique())}")
    neg_max, lost, risk = (_number(v, n) for v, n in ((negative_max, "negative_max"),
                                                       (lost_max, "lost_max"),
                                                       (at_risk_max, "at_risk_max")))
    if not lost < risk:
        raise DataError(f"lost_max ({lost:g}) must be below at_risk_max ({risk:g})")
    ok = exp.notna() & loy.notna() & comp.notna()
    if not ok.any():
        raise DataError("no respondent answered the experience, complaint and loyalty questions")
    negative = ok & (exp <= neg_max)

    def share(part, whole):
        return float(part.sum() / whole.sum()) if whole.sum() else np.nan

    complainers, silent = negative & (comp == 1), negative & (comp == 0)
    is_lost, at_risk = loy <= lost, (loy > lost) & (loy <= risk)
    return {"negative_share": share(negative, ok),
            "complain_share": share(complainers, negative),
            "complainers_lost": share(complainers & is_lost, complainers),
            "complainers_at_risk": share(complainers & at_risk, complainers),
            "silent_lost": share(silent & is_lost, silent),
            "silent_at_risk": share(silent & at_risk, silent)}
