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
from collections.abc import Mapping

import numpy as np
import pandas as pd

from csi_models.errors import DataError, DataWarning

__all__ = ["KanoWarning", "CATEGORIES", "EVALUATION_TABLE", "Q_SHARE_THRESHOLD", "kano",
           "kano_priority", "kano_continuous", "split_kano", "plot_kano"]


class KanoWarning(DataWarning):
    """Kano answers are usable but suspicious (many questionable pairs, no valid pairs)."""


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


def _rows(labels, limit=5) -> str:
    labels = list(labels)
    shown = ", ".join(repr(x) for x in labels[:limit])
    more = f" (first {limit} of {len(labels)})" if len(labels) > limit else ""
    return f"[{shown}]{more}"


def _code_value(value):
    """Answer code 1-5, NaN for a missing answer, or None when unrecognised."""
    if isinstance(value, str):
        return _LABEL_CODES.get(_norm(value)) if value.strip() else np.nan
    if not pd.api.types.is_scalar(value) or isinstance(value, (bool, np.bool_)):
        return None
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
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
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
            values = list(dict.fromkeys(map(repr, col[bad].tolist())))
            problems.append(f"feature {feature!r} ({role}): [{', '.join(values[:5])}]"
                            f" in rows {_rows(col.index[bad])}")
        coded[feature] = codes
    return pd.DataFrame(coded, index=frame.index)


def _check_pair(functional, dysfunctional, names=("functional", "dysfunctional")):
    """Validate the two answer frames; return dysfunctional aligned to functional."""
    for name, frame in zip(names, (functional, dysfunctional)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name} must be a pandas DataFrame (one column per item, one "
                            f"row per respondent), got {type(frame).__name__}")
        if frame.shape[1] == 0:
            raise DataError(f"{name} has no columns; expected one column per item")
        dup = frame.columns[frame.columns.duplicated()].unique()
        if len(dup):
            raise DataError(f"{name} has duplicated columns {_rows(dup)}")
    a, b = list(functional.columns), list(dysfunctional.columns)
    if set(a) != set(b):
        only_a = [c for c in a if c not in set(b)]
        only_b = [c for c in b if c not in set(a)]
        raise DataError(f"{names[0]} and {names[1]} must have the same columns: only in "
                        f"{names[0]}: {_rows(only_a)}; only in {names[1]}: {_rows(only_b)}")
    dysfunctional = dysfunctional[a]
    if functional.index.equals(dysfunctional.index):
        return dysfunctional
    fi, di = functional.index, dysfunctional.index
    if len(fi) == len(di) and fi.is_unique and di.is_unique and set(fi) == set(di):
        return dysfunctional.loc[fi]
    if len(fi) != len(di):
        detail = f"{names[0]} has {len(fi)} rows, {names[1]} has {len(di)}"
    else:
        detail = "row labels differ"
    only_a = [r for r in fi if r not in set(di)]
    only_b = [r for r in di if r not in set(fi)]
    raise DataError(f"{names[0]} and {names[1]} must have the same rows (respondents): "
                    f"{detail}; rows only in {names[0]}: {_rows(only_a)}; rows only in "
                    f"{names[1]}: {_rows(only_b)}")


def _mean_importance(importance, features) -> pd.Series:
    """Per-feature importance: a Series/dict as given, or the column means of ratings."""
    if isinstance(importance, Mapping):
        importance = pd.Series(dict(importance), dtype=object)
    if isinstance(importance, pd.Series):
        missing = [f for f in features if f not in importance.index]
        if missing:
            raise DataError(f"importance has no value for features {_rows(missing)}")
        values = pd.to_numeric(importance.reindex(features), errors="coerce")
        bad = [f for f in features if not np.isfinite(values[f])]
        if bad:
            raise DataError(f"importance of features {_rows(bad)} is not a finite number: "
                            f"{_rows(importance.reindex(bad).tolist())}")
        return values.astype(float)
    if not isinstance(importance, pd.DataFrame):
        raise DataError("importance must be a DataFrame of ratings (one column per feature) "
                        f"or per-feature weights (Series/dict), got {type(importance).__name__}")
    missing = [f for f in features if f not in importance.columns]
    if missing:
        raise DataError(f"importance has no column for features {_rows(missing)}")
    out = {}
    for f in features:
        col = importance[f]
        num = pd.to_numeric(col, errors="coerce")
        bad = (num.isna() & col.notna()) | np.isinf(num.astype(float))
        if bad.any():
            raise DataError(f"importance of feature {f!r} is not numeric: values "
                            f"{_rows(col[bad].unique())} in rows {_rows(col.index[bad])}")
        out[f] = float(num.mean()) if num.notna().any() else np.nan
    return pd.Series(out, dtype=float)


def _prepare(functional, dysfunctional):
    dysfunctional = _check_pair(functional, dysfunctional)
    problems: list[str] = []
    f = _code_frame(functional, "functional", problems)
    d = _code_frame(dysfunctional, "dysfunctional", problems)
    if problems:
        raise DataError("Kano answers must be codes 1-5 or the labels like / must-be / neutral"
                        " / live-with / dislike (English or Chinese); unrecognised answers in "
                        + "; ".join(problems))
    return f, d


def kano(functional, dysfunctional, importance=None, q_threshold=Q_SHARE_THRESHOLD):
    """Kano category counts, shares, category, Better/Worse and priority per feature.

    Pairs with a missing answer are skipped for that feature (``n_missing``).
    ``category`` is the most frequent of A, O, M, I, R (Q is reported but never
    the category; ties go M > O > A > I > R; NaN without any such pair).
    ``better`` = (A+O)/(A+O+M+I), ``worse`` = -(O+M)/(A+O+M+I); ``priority``
    follows :func:`kano_priority`. A :class:`KanoWarning` flags features whose
    questionable share exceeds ``q_threshold`` and features without valid pairs.
    """
    f, d = _prepare(functional, dysfunctional)
    features = list(f.columns)
    rows = []
    for feature in features:
        fc, dc = f[feature].to_numpy(), d[feature].to_numpy()
        ok = ~(np.isnan(fc) | np.isnan(dc))
        cats = _TABLE_IDX[fc[ok].astype(int) - 1, dc[ok].astype(int) - 1]
        counts = dict(zip(CATEGORIES, np.bincount(cats, minlength=6).tolist()))
        rows.append({**counts, "n": int(ok.sum()), "n_missing": int((~ok).sum())})
    table = pd.DataFrame(rows, index=pd.Index(features, name="feature"))
    n = table["n"].where(table["n"] > 0)
    for c in CATEGORIES:
        table[f"share_{c}"] = table[c] / n
    top = table[list(_TIE_ORDER)].idxmax(axis=1)  # first maximum in tie order
    table["category"] = top.where(table[list(_TIE_ORDER)].sum(axis=1) > 0)
    base = table[["A", "O", "M", "I"]].sum(axis=1)
    base = base.where(base > 0).astype(float)
    table["better"] = (table["A"] + table["O"]) / base
    table["worse"] = -(table["O"] + table["M"]) / base
    if importance is not None:
        table["importance"] = _mean_importance(importance, features).to_numpy()
    empty = table.index[table["n"] == 0].tolist()
    if empty:
        warnings.warn(f"features {_rows(empty)} have no respondent with both answers; their "
                      "category and Better/Worse are missing", KanoWarning, stacklevel=2)
    no_coef = table.index[(table["n"] > 0) & base.isna()].tolist()
    if no_coef:
        warnings.warn(f"features {_rows(no_coef)} have no A, O, M or I answer (only reverse or "
                      "questionable pairs), so Better and Worse are undefined (NaN)",
                      KanoWarning, stacklevel=2)
    high_q = table["share_Q"] > q_threshold
    if high_q.any():
        detail = ", ".join(f"{k!r} {v:.0%}" for k, v in table.loc[high_q, "share_Q"].items())
        warnings.warn(f"questionable (contradictory) answer share above {q_threshold:.0%} for "
                      f"features {detail}; check the wording of their questions",
                      KanoWarning, stacklevel=2)
    order = kano_priority(table)["priority"]
    table["priority"] = order.reindex(table.index).astype(int)
    return table


def kano_priority(table: pd.DataFrame) -> pd.DataFrame:
    """Copy of a :func:`kano` table sorted by development priority, with ``priority`` 1..k.

    Rule (Matzler & Hinterhuber 1998, after Berger et al. 1993): fulfil every
    must-be requirement, be competitive on one-dimensional ones, then add
    attractive ones; indifferent and reverse come last, uncategorised after
    them. Within a category the coefficient that matters for it decides:
    must-be by |Worse| (dissatisfaction prevented), attractive by Better, the
    others by Better + |Worse|; remaining ties keep the input order.
    """
    missing = [c for c in ("category", "better", "worse") if c not in table.columns]
    if missing:
        raise DataError(f"kano_priority needs a table from kano(); columns {missing} missing")
    rank = {c: i for i, c in enumerate(_TIE_ORDER)}
    cat_rank = table["category"].map(rank).fillna(len(rank)).astype(float)
    better, abs_worse = table["better"].astype(float), -table["worse"].astype(float)
    impact = np.select([table["category"] == "M", table["category"] == "A"],
                       [abs_worse, better], better + abs_worse)
    keys = pd.DataFrame({"cat": cat_rank.to_numpy(), "impact": -np.nan_to_num(impact, nan=-9),
                         "pos": np.arange(len(table))})
    out = table.iloc[keys.sort_values(["cat", "impact", "pos"]).index].copy()
    out["priority"] = np.arange(1, len(out) + 1)
    return out


def kano_continuous(functional, dysfunctional, importance=None):
    """Mean and SD of the functional and dysfunctional scores per feature.

    Answers are scored on Berger et al.'s (1993) asymmetric scale, functional
    like 4, must-be 2, neutral 0, live-with -1, dislike -2 and dysfunctional
    like -2, must-be -1, neutral 0, live-with 2, dislike 4, so satisfaction from
    having the feature weighs more than mild tolerance. Only complete pairs
    count; SDs use ddof=1.
    """
    f, d = _prepare(functional, dysfunctional)
    rows = {}
    for feature in f.columns:
        ok = f[feature].notna() & d[feature].notna()
        fs = f.loc[ok, feature].map(FUNCTIONAL_SCORES)
        ds = d.loc[ok, feature].map(DYSFUNCTIONAL_SCORES)
        rows[feature] = {"functional_mean": fs.mean(), "functional_sd": fs.std(ddof=1),
                         "dysfunctional_mean": ds.mean(), "dysfunctional_sd": ds.std(ddof=1),
                         "n": int(ok.sum()), "n_missing": int((~ok).sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "feature"
    if importance is not None:
        table["importance"] = _mean_importance(importance, list(f.columns)).to_numpy()
    return table


def split_kano(data: pd.DataFrame, features, functional="{}_f", dysfunctional="{}_d"):
    """(functional, dysfunctional) frames from one survey table with paired columns.

    ``functional``/``dysfunctional`` are name templates: with the defaults the
    feature "speed" is read from the columns "speed_f" and "speed_d".
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    features = [features] if isinstance(features, str) else list(features)
    cols = {r: [t.format(x) for x in features] for r, t in
            (("functional", functional), ("dysfunctional", dysfunctional))}
    missing = [c for cs in cols.values() for c in cs if c not in data.columns]
    if missing:
        raise DataError(f"data has no columns {_rows(missing, 10)} for the Kano features "
                        f"{_rows(features, 10)}")
    return tuple(data[cs].set_axis(features, axis=1) for cs in cols.values())


_COLOURS = {"A": "tab:green", "O": "tab:blue", "M": "tab:red", "I": "tab:gray",
            "R": "tab:purple"}


def plot_kano(table: pd.DataFrame, ax=None, labels=None):
    """Better-Worse diagram: |Worse| on x, Better on y, quadrant lines at 0.5.

    Both coefficients run from 0 to 1, and 0.5 (half of the classified answers)
    splits the plane into attractive (top left), one-dimensional (top right),
    must-be (bottom right) and indifferent (bottom left), as in Berger et al.
    (1993). ``labels`` maps features to display names (dict, or a sequence in
    table order); Chinese names are drawn with an installed CJK font.
    """
    import matplotlib.pyplot as plt

    from csi_models.report.fonts import apply_cjk_font, point_labels

    for col in ("better", "worse"):
        if col not in table.columns:
            raise DataError(f"plot_kano needs a table from kano(); column {col!r} missing")
    names = point_labels(table.index, labels, "features")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 6), layout="constrained")
    x, y = -table["worse"].to_numpy(float), table["better"].to_numpy(float)
    cats = table["category"] if "category" in table.columns else pd.Series(None, table.index)
    sizes = np.full(len(table), 60.0)
    if "importance" in table.columns and np.isfinite(table["importance"]).any():
        imp = table["importance"].to_numpy(float)
        span = np.nanmax(imp) - np.nanmin(imp)
        sizes = 40 + 160 * ((imp - np.nanmin(imp)) / span if span > 0 else 0.5)
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
