"""The data checks: ``check(spec, data)`` reports them all, ``prepare`` (and so ``fit``) runs
the same functions and stops on the errors. The item checks live in ``csi_models.data.items``,
the checks of the prepared table here.

Per item: its column exists once; answers are numbers (text codes such as 'DK' declared in
``missing_codes`` become missing, numbers stored as text are read); no infinities; missing
codes and SPSS user-missing values applied and counted; the answer scale (the spec's, else the
file's value labels, else the default 1..10, which is flagged; a spec scale the value labels
contradict is an error); answers outside the scale
(error, with rows); share missing; binary (yes/no) items noted. After reverse coding and the
missing-data rule: constant (error) and near-constant items, items identical to another item,
items that correlate negatively with the rest of their construct (likely reverse-worded), and
whether enough rows are left. Each finding has a check name, a severity ('error' stops the
fit, 'warning' does not, 'ok' records a check passed) and the rows concerned. ``check`` also
reports the spec's own advice (``spec_advice``: a construct on no path cannot be fitted by
PLS) as 'spec' warnings; ``prepare`` does not, as CB-SEM fits such specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

SEVERITIES = ("error", "warning", "ok")
FINDING_COLUMNS = ["item", "column", "construct", "check", "severity", "rows", "message"]
NEAR_CONSTANT_SHARE = 0.95  # one answer given by more than this share of respondents
MISSING_SHARE = 0.20        # warn when more answers than this are missing


@dataclass(frozen=True)
class Finding:
    """One result of one check; ``rows`` are labels of the caller's DataFrame index."""

    check: str
    severity: str
    message: str
    item: str | None = None
    column: str | None = None
    construct: str | None = None
    rows: tuple = ()


class CheckReport:
    """The data check of a spec against survey data (``csi.check``).

    ``findings``: tidy DataFrame, one row per finding (item, column, construct, check,
    severity, rows, message); ``items``: one row per item (scale and its source, answers,
    missing, distinct values, min/max/mean after missing codes, worst severity);
    ``errors``/``warnings``: the findings of that severity; ``ok``: no errors (the data can
    be fitted). ``str(report)`` / ``to_text()`` and ``to_html()`` render it (csi_models.report).
    """

    def __init__(self, spec, findings, items: pd.DataFrame, n_rows: int, n_used: int | None,
                 missing: str, data_columns=()):
        self.spec, self.n_rows, self.n_used, self.missing = spec, n_rows, n_used, missing
        self.data_columns = [str(c) for c in data_columns]  # to show when items are not found
        rows = [(f.item, f.column, f.construct, f.check, f.severity, f.rows, f.message)
                for f in findings]
        self.findings = pd.DataFrame(rows, columns=FINDING_COLUMNS)
        self.items = items

    @property
    def errors(self) -> pd.DataFrame:
        return self.findings[self.findings.severity == "error"].reset_index(drop=True)

    @property
    def warnings(self) -> pd.DataFrame:
        return self.findings[self.findings.severity == "warning"].reset_index(drop=True)

    @property
    def ok(self) -> bool:
        return bool((self.findings.severity != "error").all())

    def to_text(self, lang: str = "en") -> str:
        from csi_models.report.checks import check_text
        from csi_models.report.glossary import check_lang

        return check_text(self, check_lang(lang))

    def to_html(self, lang: str = "en") -> str:
        from csi_models.report.checks import check_html
        from csi_models.report.glossary import check_lang

        return check_html(self, check_lang(lang))

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return (f"<CheckReport {self.spec.name}: {self.n_rows} rows, {len(self.errors)} errors, "
                f"{len(self.warnings)} warnings>")


def rows_text(labels, limit: int = 5) -> str:
    """Row labels for a message: 'a, b, c' with at most ``limit`` shown, then
    ' (and N more)'. The one formatter of row lists (public: csi_models.data.rows_text)."""
    labels = list(labels)
    shown = ", ".join(str(r) for r in labels[:limit])
    return shown + (f" (and {len(labels) - limit} more)" if len(labels) > limit else "")


class Tally(NamedTuple):
    """What one item's answers (NaN = missing) look like: how many answers, distinct
    values, the share of the most common one, min, max, mean and the first answer."""

    count: int
    distinct: int
    top: float
    min: float
    max: float
    mean: float
    first: float


def tally(values: np.ndarray) -> Tally:
    """The ``Tally`` of one item. Whole-number answers (every survey scale) are counted in
    one ``bincount``, anything else by ``np.unique``; shares are count / answers, as
    ``value_counts(normalize=True)`` gives them. A few passes over the column in all."""
    total = values.sum()
    seen = values if not np.isnan(total) else values[~np.isnan(values)]
    if seen.size == 0:
        return Tally(0, 0, np.nan, np.nan, np.nan, np.nan, np.nan)
    mean = total / seen.size if seen is values else seen.mean()
    lo, hi = seen.min(), seen.max()
    counts = None
    if -1e6 <= lo and hi <= 1e6:
        codes = seen.astype(np.int64)
        if (codes == seen).all():
            counts = np.bincount(codes - int(lo) if lo else codes)
            counts = counts[counts > 0]
    if counts is None:
        counts = np.unique(seen, return_counts=True)[1]
    return Tally(int(seen.size), int(counts.size), counts.max() / seen.size, lo, hi, mean,
                 seen[0])


def item_table(checks: list, findings: list, tallies: dict | None = None) -> pd.DataFrame:
    """One row per item: what the checks saw (answers after missing codes, before reverse
    coding) and the worst severity of its findings. ``tallies``: item -> ``tally`` of
    ``ic.values`` where already computed."""
    worst = {}
    for f in findings:
        if f.item is not None:
            rank = min(SEVERITIES.index(f.severity), SEVERITIES.index(worst.get(f.item, "ok")))
            worst[f.item] = SEVERITIES[rank]
    rows = []
    for ic in checks:
        v = ic.values if ic.values is not None else np.array([])
        t = (tallies or {}).get(ic.item) or tally(v)
        n = len(v)
        rows.append({
            "item": ic.item, "construct": ic.construct, "column": ic.column, "dtype": ic.dtype,
            "scale_min": getattr(ic.scale, "min", np.nan), "scale_max": getattr(ic.scale, "max", np.nan),
            "scale_source": ic.scale_source if ic.scale is not None else "",
            "n_answers": t.count if n else np.nan,
            "n_missing": int(n - t.count) if n else np.nan,
            "share_missing": (n - t.count) / n if n else np.nan,
            "n_distinct": t.distinct if ic.values is not None else np.nan,
            "min": t.min, "max": t.max, "mean": t.mean, "status": worst.get(ic.item, "ok")})
    columns = ["item", "construct", "column", "dtype", "scale_min", "scale_max", "scale_source",
               "n_answers", "n_missing", "share_missing", "n_distinct", "min", "max", "mean", "status"]
    return pd.DataFrame(rows, columns=columns)


# --- the prepared sample ----------------------------------------------------------------
def sample_findings(spec, frame: pd.DataFrame, columns: dict, dropped: tuple, n_input: int,
                    missing: str, n_answering: int | None = None, tallies: dict | None = None,
                    correlations: np.ndarray | None = None) -> list:
    """Checks of the table the engines will get (after reverse coding and the missing rule).
    ``n_answering``: rows answering at least one item, the rows missing='mean' and 'fiml' keep
    (named in the listwise-deletion warning). ``tallies``: item -> ``tally`` of its answers
    before reverse coding, given when the table has every row and no missing answer (the
    counts are the same after min + max - x); ``correlations``: the item correlations of
    the table (columns in its order), when it has no missing answer."""
    out = []
    if dropped:
        why = ("have missing answers and were dropped (listwise deletion)" if missing == "listwise"
               else "answer no item at all and were dropped")
        alternatives = ""
        if missing == "listwise" and n_answering is not None:
            alternatives = (f". To keep them, fit with missing='mean' (PLS: mean replacement) "
                            f"or missing='fiml' (CB-SEM: full-information ML): each would use "
                            f"{n_answering} of {n_input} rows (every row answering at least one "
                            "item)")
        out.append(Finding("rows", "warning", f"{len(dropped)} of {n_input} rows {why}: rows "
                           f"{rows_text(dropped)}{alternatives}", rows=tuple(dropped)))
    if len(frame) == 0:
        out.append(Finding("rows", "error", "no rows left to fit: every row has a missing answer "
                           "in some item; use missing='mean' (PLS) or missing='fiml' (CB-SEM), or "
                           "check the missing codes"))
        return out
    largest = max([len(spec.predecessors(c)) for c in spec.construct_names] + [1])
    if len(frame) < largest + 2 or len(frame) < 3:
        out.append(Finding("rows", "error", f"only {len(frame)} usable rows: too few to estimate "
                           f"the model (a construct has {largest} predictors)"))
        return out
    owner = {i: c.name for c in spec.constructs for i in c.item_names}
    varies = {}
    for item in frame.columns:
        who = f"item {item} (column {columns[item]!r})"
        t = tallies[item] if tallies else tally(frame[item].to_numpy(float))
        distinct, top = t.distinct, t.top
        varies[item] = distinct > 1
        if distinct <= 1:
            first = frame[item].dropna().iloc[0]
            out.append(Finding("variation", "error", f"{who} is constant (every answer is "
                               f"{first:g}); it carries no information: drop it from the "
                               "spec or check the data", item, columns[item], owner[item]))
        elif top > NEAR_CONSTANT_SHARE:
            out.append(Finding("variation", "warning", f"{who} is nearly constant: "
                               f"{top:.0%} give the same answer", item, columns[item], owner[item]))
        else:
            out.append(Finding("variation", "ok", f"{who}: {distinct} distinct answers",
                               item, columns[item], owner[item]))
    rule_of_ten = 10 * largest
    if len(frame) < rule_of_ten:
        out.append(Finding("rows", "warning", f"{len(frame)} rows is below the 10-times rule of "
                           f"thumb ({rule_of_ten} for a construct with {largest} predictors); "
                           "estimates may be unstable"))
    out += _duplicates(frame, columns, owner, correlations)
    out += _reverse_suspects(spec, frame, columns, varies, correlations)
    return out


def _duplicates(frame: pd.DataFrame, columns: dict, owner: dict,
                correlations: np.ndarray | None = None) -> list:
    """Items whose answers are identical in every row (a column pasted twice). Candidates
    first: items correlating 1 (or undefined) with another item when the correlations are
    at hand, else items sharing a dot product with a fixed random vector; only candidates
    are compared value by value (NaN equal to NaN)."""
    if correlations is not None:
        with np.errstate(invalid="ignore"):
            near = ~(correlations < 1 - 1e-9)
        np.fill_diagonal(near, False)
        shared = dict(zip(frame.columns, near.any(axis=1)))
    else:
        signature = {}
        weights = np.random.default_rng(0).random(len(frame))
        for item in frame.columns:
            product = float(frame[item].to_numpy(float) @ weights)
            signature[item] = "nan" if np.isnan(product) else product
        shared = pd.Series(signature).duplicated(keep=False)
    seen, out = {}, []
    for item in frame.columns:
        if not shared[item]:
            continue
        v = frame[item].to_numpy(float)
        key = np.where(np.isnan(v), np.inf, v).tobytes()
        if key in seen:
            first = seen[key]
            out.append(Finding("duplicate", "warning", f"item {item} (column {columns[item]!r}) "
                               f"has the same answer as item {first} (column {columns[first]!r}) "
                               "in every row: a duplicated column?", item, columns[item], owner[item]))
        else:
            seen[key] = item
    return out


def _reverse_item(spec, construct: str, item: str, columns: dict, mean_r: float) -> Finding:
    fix = ("it is listed under `reverse:`: is it really reverse-worded?" if item in spec.reverse
           else "if it is reverse-worded, list it under `reverse:`")
    return Finding("reverse", "warning", f"item {item} (column {columns[item]!r}) correlates "
                   f"negatively with the other items of {construct} (mean r = {mean_r:.2f}); "
                   f"{fix}", item, columns[item], construct)


def _reverse_pair(spec, construct: str, pair: list, columns: dict, r: float) -> Finding:
    """The warning for a two-item construct whose items correlate negatively: the data
    cannot tell which of the two is reverse-worded, so the finding names both."""
    a, b = pair
    declared = [i for i in pair if i in spec.reverse]
    if not declared:
        fix = "if one of them is reverse-worded, list it under `reverse:`"
    elif len(declared) == 1:
        fix = (f"{declared[0]} is listed under `reverse:`: is it really reverse-worded (and "
               f"{b if declared[0] == a else a} not)?")
    else:
        fix = "both are listed under `reverse:`: is only one of them reverse-worded?"
    return Finding("reverse", "warning", f"items {a} (column {columns[a]!r}) and {b} (column "
                   f"{columns[b]!r}) of {construct} correlate negatively (r = {r:.2f}): one of "
                   f"them is likely reverse-worded; {fix}", construct=construct)


def _reverse_suspects(spec, frame: pd.DataFrame, columns: dict, varies: dict,
                      every: np.ndarray | None = None) -> list:
    """Reflective items whose average correlation with their construct's other items is
    negative: reverse-worded but not declared (or declared but not reverse-worded)."""
    out = []
    position = {item: k for k, item in enumerate(frame.columns)}
    for c in spec.constructs:
        items = [i for i in c.item_names if varies.get(i)]
        if c.mode != "reflective" or len(items) < 2:
            continue
        if every is not None:
            r = every[np.ix_([position[i] for i in items], [position[i] for i in items])].copy()
        else:
            with np.errstate(all="ignore"):
                r = frame[items].corr().to_numpy(copy=True)
        np.fill_diagonal(r, np.nan)
        finite = np.isfinite(r)
        mean_r = np.where(finite, r, 0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
        if len(items) == 2:  # either one may be the odd one out: name both
            found = [_reverse_pair(spec, c.name, items, columns, r[0, 1])] if r[0, 1] < 0 else []
        else:
            found = [_reverse_item(spec, c.name, item, columns, m)
                     for item, m in zip(items, mean_r) if m < 0]
        out += found
        if not found:
            out.append(Finding("reverse", "ok", f"the items of {c.name} correlate positively "
                               "on average", construct=c.name))
    return out
