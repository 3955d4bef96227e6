"""Expectation-experience gap analysis (SERVQUAL style).

When a survey asks how good a service *should* be (expectation) and how good
it *was* (experience/perception) on the same attributes, the gap
experience - expectation locates the shortfalls: negative gaps are attributes
that disappoint. Items can be grouped into dimensions (SERVQUAL's tangibles,
reliability, responsiveness, assurance, empathy, or any list) and weighted by
importance, so the largest *important* shortfall comes first.

Beside the mean gap, the shares of respondents whose experience exceeds, meets and falls
short of their own expectation (``share_exceeds``, ``share_meets``, ``share_falls_short``):
exceeding expectations is what surprises customers (seeds/004, "超越顾客期望"), and a mean gap
of 0 can hide half the customers delighted and half let down.

Reference: Parasuraman, A., Zeithaml, V. A. & Berry, L. L. (1988) SERVQUAL: a
multiple-item scale for measuring consumer perceptions of service quality,
Journal of Retailing 64(1), 12-40; weighted scores as in Parasuraman, Berry &
Zeithaml (1991) Refinement and reassessment of the SERVQUAL scale, Journal of
Retailing 67(4), 420-450.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from csi_models.data.check import rows_text
from csi_models.data.pairs import check_pair, importance_values, ratings
from csi_models.errors import DataError, DataWarning

__all__ = ["GapResult", "gaps", "plot_gaps"]

_COLUMNS = ["expectation", "experience", "gap", "gap_sd", "share_exceeds", "share_meets",
            "share_falls_short", "n", "n_missing", "statistic", "p_value", "importance",
            "weight", "weighted_gap"]
#: |experience - expectation| below this counts as "meets" (dimension means are averages)
MEETS_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GapResult:
    """Gap tables and scores.

    ``items`` (and ``dimensions`` when dimensions were given) have the columns
    expectation, experience, gap, gap_sd, share_exceeds, share_meets,
    share_falls_short, n, n_missing, statistic (paired t), p_value, importance,
    weight (importance normalised to sum 1 over the rows that have a gap; 0 for a
    row without any complete pair), weighted_gap = importance x gap and rank (1 =
    largest weighted shortfall), sorted by rank. ``score`` is the unweighted
    SERVQUAL score (mean item gap over items with a gap), ``weighted_score`` the
    weight-averaged item gap (equal to ``score`` without importance).
    """

    items: pd.DataFrame
    dimensions: pd.DataFrame | None
    score: float
    weighted_score: float

    def _repr_html_(self) -> str:
        """Jupyter: the scores, then the dimension and item tables (3 decimals)."""
        fmt = {"float_format": lambda v: f"{v:.3f}", "border": 0}
        dims = "" if self.dimensions is None else (
            f"<h5>Dimensions</h5>{self.dimensions.to_html(**fmt)}")
        return (f"<div><h4>Expectation gaps</h4><p>SERVQUAL score {self.score:.3f}, weighted "
                f"{self.weighted_score:.3f}</p>{dims}<h5>Items</h5>{self.items.to_html(**fmt)}</div>")


def _check_dimensions(dimensions, items) -> dict:
    if not isinstance(dimensions, Mapping):
        raise DataError("dimensions must be a dict {dimension: [items]}, e.g. {'tangibles': "
                        f"['q1', 'q2']}}, got {type(dimensions).__name__}")
    out, seen, known = {}, {}, set(items)
    for dim, members in dimensions.items():
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (str, numbers.Integral)):
            raise DataError(f"dimension names must be text, got {dim!r}")
        one = isinstance(members, str) or not pd.api.types.is_list_like(members)
        members = [members] if one else list(members)
        if not members:
            raise DataError(f"dimension {dim!r} has no items; list its item columns")
        try:
            unknown = [m for m in members if m not in known]
        except TypeError:  # an unhashable member cannot be a column name
            unknown = [m for m in members if not isinstance(m, (str, numbers.Number))]
        if unknown:
            raise DataError(f"dimension {dim!r} lists items {rows_text(map(repr, unknown))} that "
                            f"are not columns of the data (columns: {rows_text(items, 10)})")
        for m in members:
            if m in seen and seen[m] != dim:
                raise DataError(f"item {m!r} is in two dimensions: {seen[m]!r} and {dim!r}")
            seen[m] = dim
        out[dim] = list(dict.fromkeys(members))
    return out


def _positive_sum(values: pd.Series, what: str) -> pd.Series:
    if values.sum() <= 0:
        raise DataError(f"importance of the {what} sums to 0; at least one must be positive")
    return values


def _importance(importance, items, dims):
    """(item importance, dimension importance or None); see :func:`gaps` for the rules."""
    if importance is None:
        return pd.Series(1.0 / len(items), index=items), None
    if isinstance(importance, pd.DataFrame):
        return _positive_sum(importance_values(importance, items, "item"), "items"), None
    if isinstance(importance, Mapping):
        importance = pd.Series(dict(importance), dtype=object)
    if not isinstance(importance, pd.Series):
        raise DataError("importance must be per-item or per-dimension weights (dict/Series) or"
                        f" a DataFrame of importance ratings, got {type(importance).__name__}")
    keys = set(importance.index) if importance.index.is_unique else set()
    if dims and keys == set(dims) and not keys >= set(items):
        dim_w = _positive_sum(importance_values(importance, list(dims), "dimension"),
                              "dimensions")
        dim_w = dim_w / dim_w.sum()
        loose = [i for i in items if not any(i in m for m in dims.values())]
        if loose:
            raise DataError(f"importance is given per dimension but items {rows_text(loose)} "
                            "belong to no dimension, so they have no weight; add them to a "
                            "dimension or give importance per item")
        item_imp = pd.Series({i: dim_w[d] / len(m) for d, m in dims.items() for i in m})
        return item_imp.reindex(items), dim_w
    if dims and not keys >= set(items) and not keys & set(items):
        raise DataError(f"importance must name every item or every dimension; dimensions: "
                        f"{rows_text(dims)}; keys given: {rows_text(importance.index)}")
    return _positive_sum(importance_values(importance, items, "item"), "items"), None


def _row(exp: pd.Series, per: pd.Series) -> dict:
    """Means, gap, SD, exceed/meet/fall-short shares and paired t-test on the complete
    pairs of one item/dimension."""
    ok = exp.notna() & per.notna()
    diff = (per[ok] - exp[ok]).to_numpy()
    n = int(ok.sum())
    gap = diff.mean() if n else np.nan
    meets = np.abs(diff) <= MEETS_TOLERANCE
    shares = {"share_exceeds": float(np.mean((diff > 0) & ~meets)) if n else np.nan,
              "share_meets": float(np.mean(meets)) if n else np.nan,
              "share_falls_short": float(np.mean((diff < 0) & ~meets)) if n else np.nan}
    sd = diff.std(ddof=1) if n > 1 else np.nan
    t = p = np.nan
    if n > 1 and sd > 0:
        t = gap / (sd / np.sqrt(n))
        p = 2 * stats.t.sf(abs(t), n - 1)
    elif n > 1 and gap != 0:
        t, p = np.copysign(np.inf, gap), 0.0
    return {"expectation": exp[ok].mean(), "experience": per[ok].mean(), "gap": gap,
            "gap_sd": sd, **shares, "n": n, "n_missing": int((~ok).sum()), "statistic": t,
            "p_value": p}


def _weights(table: pd.DataFrame, what: str) -> pd.Series:
    """Importance normalised to sum 1 over the rows with a gap; rows without any complete
    pair get weight 0 and a DataWarning (they would otherwise dilute the weighted score)."""
    empty = table.index[table["n"] == 0]
    if len(empty):
        warnings.warn(f"{what} {rows_text(map(repr, empty))} have no respondent with both an "
                      "expectation and an experience answer: their gap is missing and they get "
                      "no weight (the other weights are rescaled to sum 1)", DataWarning,
                      stacklevel=3)
    imp = table["importance"].where(table["n"] > 0, 0.0)
    total = imp.sum()
    return imp / total if total > 0 else imp * np.nan


def _rank(table: pd.DataFrame) -> pd.DataFrame:
    table = table.sort_values("weighted_gap", kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def gaps(expectation, experience, dimensions=None, importance=None) -> GapResult:
    """Per-item (and per-dimension) gaps experience - expectation with paired t-tests.

    Gaps are means of per-respondent differences over complete pairs, tested
    with the paired t statistic t = mean(d) / (sd(d) / sqrt(n)), df = n - 1.
    A dimension's score per respondent is the mean of its items with complete
    pairs. ``importance`` may be per-item weights (dict/Series), a DataFrame of
    importance ratings (column means used) or per-dimension weights such as
    SERVQUAL's 100-point allocation, normalised to sum 1 and split equally over
    the dimension's items. Dimension importance is the mean of its items'
    importance (or the given dimension weight). weighted_gap = importance x gap;
    the weighted score is sum(weight x gap) with weights normalised to sum 1 over
    the items that have a gap (an item without any complete pair has gap NaN,
    weight 0 and a DataWarning). share_exceeds / share_meets / share_falls_short
    are the shares of complete pairs with experience above, equal to and below
    expectation (for a dimension: the respondent's item means).
    Ratings follow the survey-data rule of ``csi.check``: numbers (also as
    text), blank = missing, True/False = 1/0; importance must be >= 0.
    """
    per = check_pair(expectation, experience, ("expectation", "experience"))
    items = list(expectation.columns)
    exp = ratings(expectation, "expectation ratings")
    per = ratings(per, "experience ratings").set_axis(exp.index)  # rows paired by check_pair
    dims = _check_dimensions(dimensions, items) if dimensions is not None else None
    item_imp, dim_imp = _importance(importance, items, dims)

    table = pd.DataFrame.from_dict({i: _row(exp[i], per[i]) for i in items}, orient="index")
    table["importance"] = item_imp.to_numpy()
    table["weight"] = _weights(table, "items")
    table["weighted_gap"] = table["importance"] * table["gap"]
    if dims:
        member = {i: d for d, m in dims.items() for i in m}
        table.insert(0, "dimension", [member.get(i) for i in items])
    table.index.name = "item"
    score = float(table["gap"].mean())  # over the items with a gap
    has_gap = table["n"] > 0
    weighted_score = (float((table["weight"] * table["gap"])[has_gap].sum()) if has_gap.any()
                      else np.nan)

    dim_table = None
    if dims:
        rows = {}
        for d, m in dims.items():
            complete = exp[m].notna() & per[m].notna()
            rows[d] = _row(exp[m].where(complete).mean(axis=1),
                           per[m].where(complete).mean(axis=1))
            rows[d]["n_items"] = len(m)
        dim_table = pd.DataFrame.from_dict(rows, orient="index")
        if dim_imp is None:
            dim_imp = pd.Series({d: item_imp[m].mean() for d, m in dims.items()})
        dim_table["importance"] = dim_imp.reindex(list(dims)).to_numpy()
        dim_table["weight"] = _weights(dim_table, "dimensions")
        dim_table["weighted_gap"] = dim_table["importance"] * dim_table["gap"]
        dim_table.index.name = "dimension"
        dim_table = _rank(dim_table[_COLUMNS + ["n_items"]])
    return GapResult(_rank(table), dim_table, score, weighted_score)


def plot_gaps(table, ax=None, labels=None):
    """Dumbbell plot of mean expectation (open) vs experience (filled) per row.

    ``table`` is a :class:`GapResult` (its item table is drawn) or one of its
    tables; rows are drawn in table order from the top. Shortfalls are red,
    met or exceeded expectations green. When the table has the shares of
    respondents exceeding / meeting / falling short of their expectation, a panel
    to the right stacks them per row (green / grey / red). Chinese names use an
    installed CJK font.
    """
    from matplotlib.lines import Line2D

    from csi_models.report.fonts import apply_cjk_font
    from csi_models.report.labels import plot_axes, point_labels

    if isinstance(table, GapResult):
        table = table.items
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"plot_gaps needs a GapResult or one of its tables, got "
                        f"{type(table).__name__}")
    missing = [c for c in ("expectation", "experience") if c not in table.columns]
    if missing:
        raise DataError(f"plot_gaps needs a table from gaps(); columns {rows_text(missing)} "
                        "are missing")
    if table.columns.duplicated().any():
        raise DataError("plot_gaps: the table has duplicated columns "
                        f"{rows_text(table.columns[table.columns.duplicated()].unique())}")
    means = ratings(table[["expectation", "experience"]], "the columns given to plot_gaps",
                    "column")
    names = point_labels(table.index, labels, "rows")
    ax = plot_axes(ax, figsize=(7, 0.45 * len(table) + 1.6))

    y = np.arange(len(table))[::-1]
    e, p = means["expectation"].to_numpy(), means["experience"].to_numpy()
    colours = np.where(p < e, "tab:red", "tab:green")
    ax.hlines(y, np.fmin(e, p), np.fmax(e, p), colors=colours, lw=2.5, alpha=0.7)
    ax.scatter(p, y, s=50, c=colours, zorder=3)
    ax.scatter(e, y, s=50, facecolors="none", edgecolors="0.2", zorder=4)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_ylim(-0.6, len(table) - 0.4)
    ax.set_xlabel("mean rating")
    ax.set_title("Expectation vs experience")
    handles = [Line2D([], [], ls="", marker="o", mfc="none", mec="0.2", label="expectation")]
    for colour, text in (("tab:red", "experience below"), ("tab:green", "experience at/above")):
        if (colours == colour).any():
            handles.append(Line2D([], [], ls="", marker="o", color=colour, label=text))
    ax.legend(handles=handles, loc="best", frameon=False, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    if all(c in table.columns for c in _SHARES):
        _share_panel(ax, ratings(table[list(_SHARES)], "the share columns given to plot_gaps",
                                 "column"), y)
    apply_cjk_font(ax, stacklevel=3)
    return ax


_SHARES = {"share_exceeds": ("tab:green", "exceeds"), "share_meets": ("0.7", "meets"),
           "share_falls_short": ("tab:red", "falls short")}


def _share_panel(ax, shares: pd.DataFrame, y) -> None:
    """Stacked bars of the exceed / meet / fall-short shares beside the dumbbells."""
    panel = ax.inset_axes([1.04, 0, 0.4, 1], sharey=ax)
    left = np.zeros(len(shares))
    for col, (colour, label) in _SHARES.items():
        width = np.nan_to_num(shares[col].to_numpy())
        panel.barh(y, width, left=left, color=colour, height=0.6, label=label)
        for yi, lo, w in zip(y, left, width):
            if w >= 0.12:
                panel.text(lo + w / 2, yi, f"{w:.0%}", ha="center", va="center", fontsize=7)
        left = left + width
    panel.set_xlim(0, 1)
    panel.tick_params(labelleft=False)
    panel.set_xlabel("share of respondents")
    panel.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False,
                 fontsize=7)
