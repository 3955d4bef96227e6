"""Kano analysis of functional / dysfunctional question pairs.

Each feature is asked twice: "how do you feel if it has X?" (functional) and
"... if it does not have X?" (dysfunctional), both answered with the five Kano
options 1 like, 2 must-be (expect it), 3 neutral, 4 live-with, 5 dislike. The
pair is classified with the Kano evaluation table (Berger et al. 1993;
Matzler & Hinterhuber 1998) as Attractive, One-dimensional, Must-be,
Indifferent, Reverse or Questionable, and the customer-satisfaction
coefficients are Better = (A+O)/(A+O+M+I) and Worse = -(O+M)/(A+O+M+I).

References: Berger, C. et al. (1993) Kano's methods for understanding
customer-defined quality, Center for Quality Management Journal 2(4), 3-36;
Matzler, K. & Hinterhuber, H. H. (1998) How to make product development
projects more successful by integrating Kano's model of customer satisfaction
into quality function deployment, Technovation 18(1), 25-38.
"""

from __future__ import annotations

import numbers
import re
import warnings

import numpy as np
import pandas as pd

from csi_models.data.check import rows_text
from csi_models.data.pairs import (check_pair, importance_values, is_number_dtype, ratings,
                                     values_text)
from csi_models.errors import DataError, KanoWarning

__all__ = ["KanoWarning", "CATEGORIES", "EVALUATION_TABLE", "Q_SHARE_THRESHOLD", "kano",
           "kano_priority", "kano_continuous", "plot_kano"]

CATEGORIES = ("A", "O", "M", "I", "R", "Q")
CATEGORY_NAMES = {"A": "attractive", "O": "one-dimensional", "M": "must-be",
                  "I": "indifferent", "R": "reverse", "Q": "questionable"}
#: Rows: functional answer 1-5, columns: dysfunctional answer 1-5.
EVALUATION_TABLE = pd.DataFrame(
    [list("QAAAO"), list("RIIIM"), list("RIIIM"), list("RIIIM"), list("RRRRQ")],
    index=["like", "must-be", "neutral", "live-with", "dislike"],
    columns=["like", "must-be", "neutral", "live-with", "dislike"])
_TABLE_IDX = np.vectorize(CATEGORIES.index)(EVALUATION_TABLE.to_numpy())
#: Tie order for the category (and the priority order): must-be first.
_TIE_ORDER = ("M", "O", "A", "I", "R")
#: Questionable pairs contradict themselves (like both having and lacking the
#: feature); above this share the question was probably misunderstood. 10 % is
#: a practical rule of thumb, not a published cut-off.
Q_SHARE_THRESHOLD = 0.10
#: Berger et al. (1993) asymmetric scale for the continuous analysis.
FUNCTIONAL_SCORES = {1: 4.0, 2: 2.0, 3: 0.0, 4: -1.0, 5: -2.0}
DYSFUNCTIONAL_SCORES = {1: -2.0, 2: -1.0, 3: 0.0, 4: 2.0, 5: 4.0}

_LABELS = {
    1: ["like", "like it", "i like it", "i like it that way", "i would like it", "i'd like it",
        "喜欢", "我喜欢", "很喜欢", "非常喜欢"],
    2: ["must-be", "must be", "expect", "expect it", "i expect it", "i expect it that way",
        "expected", "it must be that way", "must be that way",
        "理所当然", "必须的", "应该的", "理应如此"],
    3: ["neutral", "i am neutral", "i'm neutral", "i feel neutral", "indifferent",
        "i don't care", "don't care", "无所谓", "中立", "没感觉"],
    4: ["live-with", "live with", "live with it", "can live with it", "i can live with it",
        "i can live with it that way", "tolerate", "i can tolerate it",
        "能忍受", "可以忍受", "勉强接受"],
    5: ["dislike", "dislike it", "i dislike it", "i dislike it that way", "i don't like it",
        "i don't like it that way", "不喜欢", "我不喜欢", "很不喜欢"],
}


def _norm(label: str) -> str:
    """Case, spaces, hyphens, apostrophes and end punctuation do not matter."""
    return re.sub(r"[\s\-_'’`]+", "", label.lower()).strip(".!。！")


_LABEL_CODES = {_norm(lab): code for code, labs in _LABELS.items() for lab in labs}
_LABEL_CODES.update({str(c): c for c in range(1, 6)})


def _code_value(value):
    """Answer code 1-5, NaN for a missing answer, or None when unrecognised."""
    if isinstance(value, str):
        return _LABEL_CODES.get(_norm(value)) if value.strip() else np.nan
    if not pd.api.types.is_scalar(value) or isinstance(value, (bool, np.bool_)):
        return None  # True/False are not one of the five answers
    if pd.isna(value):
        return np.nan
    if isinstance(value, numbers.Real) and value in (1, 2, 3, 4, 5):
        return int(value)
    return None


def _code_frame(frame: pd.DataFrame, role: str, problems: list) -> pd.DataFrame:
    """Answers as float codes 1-5 (NaN = missing); unknown answers go to ``problems``."""
    coded = {}
    for feature in frame.columns:
        col = frame[feature]
        if is_number_dtype(col.dtype):
            codes = col.to_numpy(dtype=float, na_value=np.nan)
            bad = ~np.isnan(codes) & ~np.isin(codes, [1, 2, 3, 4, 5])
            codes = np.where(bad, np.nan, codes)
        else:
            codes, bad, cache = np.full(len(col), np.nan), np.zeros(len(col), bool), {}
            for i, value in enumerate(col.to_numpy(dtype=object)):
                try:
                    code = cache[(type(value), value)]
                except KeyError:
                    code = cache[(type(value), value)] = _code_value(value)
                except TypeError:  # unhashable cell
                    code = _code_value(value)
                if code is None:
                    bad[i] = True
                else:
                    codes[i] = code
        if bad.any():
            problems.append(f"feature {feature!r} ({role}): values {values_text(col[bad])} "
                            f"in rows {rows_text(col.index[bad])}")
            if any(isinstance(v, (bool, np.bool_)) for v in col[bad]):
                problems[-1] += " (True/False are not Kano answers)"
        coded[feature] = codes
    return pd.DataFrame(coded, index=frame.index)


def _prepare(functional, dysfunctional):
    dysfunctional = check_pair(functional, dysfunctional)
    problems: list[str] = []
    f = _code_frame(functional, "functional", problems)
    d = _code_frame(dysfunctional, "dysfunctional", problems)
    if problems:
        raise DataError("Kano answers must be codes 1-5 or the labels like / must-be / neutral"
                        " / live-with / dislike (English or Chinese); recode or blank the "
                        "unrecognised answers of " + "; ".join(problems))
    return f, d


def _share(q_threshold) -> float:
    if (isinstance(q_threshold, (bool, np.bool_)) or not isinstance(q_threshold, numbers.Real)
            or not 0 <= q_threshold <= 1):
        raise DataError(f"q_threshold is the share of questionable pairs above which a feature "
                        f"is flagged: give a number between 0 and 1 (default "
                        f"{Q_SHARE_THRESHOLD}), got {q_threshold!r}")
    return float(q_threshold)


def kano(functional, dysfunctional, importance=None, q_threshold=Q_SHARE_THRESHOLD):
    """Kano category counts, shares, category, Better/Worse and priority per feature.

    Answers are codes 1-5 (numbers or text) or the English/Chinese labels;
    anything else, True/False included, is a DataError naming feature, values
    and rows. Pairs with a missing answer are skipped for that feature (``n_missing``).
    ``category`` is the most frequent of A, O, M, I, R (Q is reported but never
    the category; ties go M > O > A > I > R; NaN without any such pair).
    ``better`` = (A+O)/(A+O+M+I), ``worse`` = -(O+M)/(A+O+M+I) (Berger et al.
    1993, p. 28); ``priority`` follows :func:`kano_priority`. ``importance``:
    ratings (DataFrame, column means) or weights (dict/Series), >= 0. A
    :class:`KanoWarning` flags features whose questionable share exceeds
    ``q_threshold`` and features without valid pairs.
    """
    q_threshold = _share(q_threshold)
    f, d = _prepare(functional, dysfunctional)
    features = list(f.columns)
    imp = importance_values(importance, features) if importance is not None else None
    rows = []
    for feature in features:
        fc, dc = f[feature].to_numpy(), d[feature].to_numpy()
        ok = ~(np.isnan(fc) | np.isnan(dc))
        cats = _TABLE_IDX[fc[ok].astype(int) - 1, dc[ok].astype(int) - 1]
        counts = dict(zip(CATEGORIES, np.bincount(cats, minlength=6).tolist()))
        rows.append({**counts, "n": int(ok.sum()), "n_missing": int((~ok).sum())})
    table = pd.DataFrame(rows, index=pd.Index(features, name="feature"),
                         columns=[*CATEGORIES, "n", "n_missing"])
    return classify_counts(table, imp, q_threshold, stacklevel=3)


def classify_counts(table: pd.DataFrame, imp, q_threshold, stacklevel: int = 2) -> pd.DataFrame:
    """The kano table from counts: ``table`` has the columns A, O, M, I, R, Q, n, n_missing
    (one row per feature); adds shares, category, Better/Worse, importance and priority, and
    issues the KanoWarnings. Shared by :func:`kano` and ``kano_from_counts``."""
    table = table.copy()
    n = table["n"].where(table["n"] > 0)
    for c in CATEGORIES:
        table[f"share_{c}"] = table[c] / n
    top = table[list(_TIE_ORDER)].idxmax(axis=1)  # first maximum in tie order
    table["category"] = top.where(table[list(_TIE_ORDER)].sum(axis=1) > 0)
    base = table[["A", "O", "M", "I"]].sum(axis=1)
    base = base.where(base > 0).astype(float)
    table["better"] = (table["A"] + table["O"]) / base
    table["worse"] = -(table["O"] + table["M"]) / base
    if imp is not None:
        table["importance"] = imp.to_numpy()
    empty = table.index[table["n"] == 0]
    if len(empty):
        warnings.warn(f"features {rows_text(empty)} have no respondent with both answers; their "
                      "category and Better/Worse are missing", KanoWarning, stacklevel=stacklevel)
    no_coef = table.index[(table["n"] > 0) & base.isna()]
    if len(no_coef):
        warnings.warn(f"features {rows_text(no_coef)} have no A, O, M or I answer (only reverse "
                      "or questionable pairs), so Better and Worse are undefined (NaN)",
                      KanoWarning, stacklevel=stacklevel)
    high_q = table["share_Q"] > q_threshold
    if high_q.any():
        detail = ", ".join(f"{k!r} {v:.0%}" for k, v in table.loc[high_q, "share_Q"].items())
        warnings.warn(f"questionable (contradictory) answer share above {q_threshold:.0%} for "
                      f"features {detail}; check the wording of their questions",
                      KanoWarning, stacklevel=stacklevel)
    table["priority"] = np.argsort(_priority_order(table)) + 1
    return table


def _kano_table(table, who: str, required=("category", "better", "worse")) -> pd.DataFrame:
    """The numeric columns (better, worse, importance) of a :func:`kano` table, checked."""
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{who} needs the table returned by kano(), got {type(table).__name__}")
    missing = [c for c in required if c not in table.columns]
    dup = [c for c in (*CATEGORIES, "category", "better", "worse", "importance")
           if (table.columns == c).sum() > 1]
    if missing or dup:
        raise DataError(f"{who} needs the table returned by kano(); columns missing: "
                        f"{rows_text(missing) or 'none'}, duplicated: {rows_text(dup) or 'none'}")
    numeric = [c for c in ("better", "worse", "importance") if c in table.columns]
    return ratings(table[numeric], f"the columns of the table given to {who}", "column")


def _categories(table) -> pd.Series:
    cats = table["category"] if "category" in table.columns else pd.Series(None, table.index)
    return cats.map(lambda c: c if isinstance(c, str) else None).astype(object)


def _priority_order(table) -> np.ndarray:
    """Positions of the rows of a kano table in priority order (see kano_priority)."""
    coef = _kano_table(table, "kano_priority")
    cats = _categories(table)
    rank = {c: i for i, c in enumerate(_TIE_ORDER)}
    cat_rank = cats.map(lambda c: rank.get(c, len(rank))).to_numpy(float)
    better, abs_worse = coef["better"].to_numpy(), -coef["worse"].to_numpy()
    impact = np.select([cats == "M", cats == "A"], [abs_worse, better], better + abs_worse)
    return np.lexsort((np.arange(len(table)), -np.nan_to_num(impact, nan=-9), cat_rank))


def kano_priority(table: pd.DataFrame) -> pd.DataFrame:
    """Copy of a :func:`kano` table sorted by development priority, with ``priority`` 1..k.

    Rule (Matzler & Hinterhuber 1998, after Berger et al. 1993): fulfil every
    must-be requirement, be competitive on one-dimensional ones, then add
    attractive ones; indifferent and reverse come last, uncategorised after
    them. Within a category the coefficient that matters for it decides:
    must-be by |Worse| (dissatisfaction prevented), attractive by Better, the
    others by Better + |Worse|; remaining ties keep the input order.
    """
    order = _priority_order(table)
    out = table.iloc[order].copy()
    out["priority"] = np.arange(1, len(out) + 1)
    return out


def kano_continuous(functional, dysfunctional, importance=None):
    """Mean and SD of the functional and dysfunctional scores per feature.

    Answers are scored on Berger et al.'s (1993) asymmetric scale, functional
    like 4, must-be 2, neutral 0, live-with -1, dislike -2 and dysfunctional
    like -2, must-be -1, neutral 0, live-with 2, dislike 4, so satisfaction from
    having the feature weighs more than mild tolerance. Only complete pairs
    count; SDs use ddof=1. ``importance`` as in :func:`kano`.
    """
    f, d = _prepare(functional, dysfunctional)
    imp = importance_values(importance, f.columns) if importance is not None else None
    rows = []
    for feature in f.columns:
        ok = (f[feature].notna() & d[feature].notna()).to_numpy()
        fs = pd.Series(f[feature].to_numpy()[ok]).map(FUNCTIONAL_SCORES)
        ds = pd.Series(d[feature].to_numpy()[ok]).map(DYSFUNCTIONAL_SCORES)
        rows.append({"functional_mean": fs.mean(), "functional_sd": fs.std(ddof=1),
                     "dysfunctional_mean": ds.mean(), "dysfunctional_sd": ds.std(ddof=1),
                     "n": int(ok.sum()), "n_missing": int((~ok).sum())})
    table = pd.DataFrame(rows, index=pd.Index(f.columns, name="feature"),
                         columns=["functional_mean", "functional_sd", "dysfunctional_mean",
                                  "dysfunctional_sd", "n", "n_missing"])
    if imp is not None:
        table["importance"] = imp.to_numpy()
    return table


_COLOURS = {"A": "tab:green", "O": "tab:blue", "M": "tab:red", "I": "tab:gray",
            "R": "tab:purple"}


def plot_kano(table: pd.DataFrame, ax=None, labels=None):
    """Better-Worse diagram: |Worse| on x, Better on y, quadrant lines at 0.5.

    Both coefficients run from 0 to 1, and 0.5 (half of the classified answers)
    splits the plane into attractive (top left), one-dimensional (top right),
    must-be (bottom right) and indifferent (bottom left), as in Berger et al.
    (1993). ``labels`` maps features to display names (dict/Series, or a
    sequence in table order); Chinese names are drawn with an installed CJK font.
    """
    from csi_models.report.fonts import apply_cjk_font
    from csi_models.report.labels import plot_axes, point_labels

    coef = _kano_table(table, "plot_kano", required=("better", "worse"))
    names = point_labels(table.index, labels, "features")
    ax = plot_axes(ax, figsize=(7.5, 6))
    x, y = -coef["worse"].to_numpy(), coef["better"].to_numpy()
    cats = _categories(table)
    sizes = np.full(len(table), 60.0)
    if "importance" in coef.columns and np.isfinite(coef["importance"]).any():
        imp = coef["importance"].to_numpy()
        span = np.nanmax(imp) - np.nanmin(imp)
        sizes = 40 + 160 * ((imp - np.nanmin(imp)) / span if span > 0 else 0.5 + 0 * imp)
        sizes = np.where(np.isfinite(sizes), sizes, 60.0)
    for i, name in enumerate(names):
        if not (np.isfinite(x[i]) and np.isfinite(y[i])):
            continue
        ax.scatter(x[i], y[i], s=sizes[i], color=_COLOURS.get(cats.iloc[i], "black"),
                   alpha=0.8, zorder=3)
        ax.annotate(name, (x[i], y[i]), xytext=(5, 5), textcoords="offset points", fontsize=9)
    ax.axhline(0.5, color="0.5", lw=0.8, ls="--")
    ax.axvline(0.5, color="0.5", lw=0.8, ls="--")
    for tx, ty, text in ((0.02, 0.98, "attractive"), (0.98, 0.98, "one-dimensional"),
                         (0.98, 0.02, "must-be"), (0.02, 0.02, "indifferent")):
        ax.text(tx, ty, text, transform=ax.transAxes, ha="left" if tx < 0.5 else "right",
                va="top" if ty > 0.5 else "bottom", color="0.4", style="italic")
    present = [c for c in _COLOURS if (cats == c).any()]
    if present:
        from matplotlib.lines import Line2D
        ax.legend(handles=[Line2D([], [], ls="", marker="o", color=_COLOURS[c],
                                  label=f"{c} {CATEGORY_NAMES[c]}") for c in present],
                  title="category", loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False, fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("|Worse|: dissatisfaction when absent")
    ax.set_ylabel("Better: satisfaction when present")
    ax.set_title("Kano Better-Worse diagram")
    apply_cjk_font(ax, stacklevel=3)
    return ax
