"""The checks of the prepared table, made from one pass's sums (``data.streaming``), and the
stand-in for the item table that a fit from moments carries.

``check_moments`` turns a ``ChunkMoments`` into the ``SurveyData`` the engines take, raising
the DataError (and issuing the DataWarnings) that ``prepare`` would: the item checks ran on
every chunk (``inspect_item``); here the whole-data ones: items never answered, shares
missing, listwise deletion (or rows answering nothing, with mean replacement), rows left, constant and near-constant items, duplicated items (two
items with equal means and var(x_i - x_j) = 0 are identical in every row), items correlating
negatively with their construct (``check``'s own function, on the correlation matrix). Not
made from moments: the "answers only in the lower half of the scale" hint.

``MomentFrame`` answers what the engines ask of ``SurveyData.values`` that moments can answer
(len, columns, mean, std, cov, corr, a subset of columns) and refuses everything respondent-
level (``to_numpy``, ``iloc``, ...) with a CSIError saying so: scores, predict, the bootstrap
and modification indices of a fit from moments stop with that message.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from csi_models.data.check import MISSING_SHARE, NEAR_CONSTANT_SHARE, Finding, rows_text
from csi_models.errors import CSIError, DataError, DataWarning

RESPONDENT_LEVEL = ("fitted from moments (csi.fit_moments: a Dask DataFrame or a Parquet "
                    "folder); {what} needs respondent-level data: fit an in-memory DataFrame "
                    "(a sample of it) with csi.fit for that")


class MomentFrame:
    """The complete rows' item moments in the shape of a DataFrame of items (see module)."""

    def __init__(self, items, n, weight, mean, sscp):
        self.items, self.n, self.weight = list(items), int(n), float(weight)
        self._mean = pd.Series(np.asarray(mean, float), index=self.items)
        self._sscp = np.asarray(sscp, float)     # centred (weighted) sums of cross-products

    def __len__(self):
        return self.n

    @property
    def columns(self):
        return pd.Index(self.items)

    @property
    def shape(self):
        return (self.n, len(self.items))

    def __getitem__(self, key):
        keys = [key] if isinstance(key, str) else list(key)
        at = [self.items.index(k) for k in keys]
        return MomentFrame(keys, self.n, self.weight, self._mean.iloc[at],
                           self._sscp[np.ix_(at, at)])

    def rename(self, columns=None, **_):
        return MomentFrame([columns.get(c, c) for c in self.items], self.n, self.weight,
                           self._mean, self._sscp)

    def reset_index(self, drop=True):
        return self

    def mean(self):
        return self._mean.copy()

    def cov(self, ddof: int = 1) -> pd.DataFrame:
        return pd.DataFrame(self._sscp / (self.weight - ddof), index=self.items, columns=self.items)

    def std(self, ddof: int = 1) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._sscp) / (self.weight - ddof)), index=self.items)

    def corr(self) -> pd.DataFrame:
        with np.errstate(invalid="ignore", divide="ignore"):
            root = np.sqrt(np.diag(self._sscp))
            return pd.DataFrame(self._sscp / np.outer(root, root), index=self.items,
                                columns=self.items)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise CSIError(RESPONDENT_LEVEL.format(what=f"this ({name})"))

    def __array__(self, *args, **kwargs):
        raise CSIError(RESPONDENT_LEVEL.format(what="this"))


def _rows(first: list, count: int) -> str:
    """rows_text of ``count`` labels of which the first few are known."""
    return rows_text(first[:5]) + (f" (and {count - 5} more)" if count > 5 else "")


def _merged_notes(notes: list) -> list:
    """Per-chunk notes 'item: N what' added up over the chunks, in first-seen order."""
    totals, order = {}, []
    for note in notes:
        m = re.match(r"^(\S+): (\d+) (.*)$", note)
        key = (m.group(1), m.group(3)) if m else (note, None)
        if key not in totals:
            order.append(key)
            totals[key] = 0
        totals[key] += int(m.group(2)) if m else 0
    return [f"{a}: {totals[(a, b)]} {b}" if b is not None else a for a, b in order]


def _sample_findings(spec, cm, columns: dict, frame: MomentFrame, missing: str) -> list:
    """``check.sample_findings``' checks from the sums (same messages)."""
    from csi_models.data.check import _reverse_suspects

    out, items = [], list(spec.item_names)
    owner = {i: c.name for c in spec.constructs for i in c.item_names}
    if cm.n_dropped:
        why = ("have missing answers and were dropped (listwise deletion)" if missing == "listwise"
               else "answer no item at all and were dropped")
        alternatives = ""
        if missing == "listwise":
            alternatives = (f". To keep them, fit with missing='mean' (PLS: mean replacement) "
                            f"or missing='fiml' (CB-SEM: full-information ML): each would use "
                            f"{cm.n_answering} of {cm.n_input} rows (every row answering at least "
                            "one item)")
        out.append(Finding("rows", "warning", f"{cm.n_dropped} of {cm.n_input} rows {why}: rows "
                           f"{_rows(cm.dropped, cm.n_dropped)}{alternatives}"))
    n = cm.n_complete
    if n == 0:
        return out + [Finding("rows", "error", "no rows left to fit: every row has a missing "
                              "answer in some item; use missing='mean' (PLS) or missing='fiml' "
                              "(CB-SEM), or check the missing codes")]
    largest = max([len(spec.predecessors(c)) for c in spec.construct_names] + [1])
    if n < largest + 2 or n < 3:
        return out + [Finding("rows", "error", f"only {n} usable rows: too few to estimate the "
                              f"model (a construct has {largest} predictors)")]
    varies = {}
    for k, item in enumerate(items):
        who = f"item {item} (column {columns[item]!r})"
        counts = cm.counts[k]
        varies[item] = cm.chigh[k] > cm.clow[k]
        top = max(counts.values()) / n if counts else 0.0
        if not varies[item]:
            out.append(Finding("variation", "error", f"{who} is constant (every answer is "
                               f"{cm.clow[k]:g}); it carries no information: drop it from the "
                               "spec or check the data", item, columns[item], owner[item]))
        elif top > NEAR_CONSTANT_SHARE:
            out.append(Finding("variation", "warning", f"{who} is nearly constant: {top:.0%} give "
                               "the same answer", item, columns[item], owner[item]))
        else:
            distinct = len(counts) if counts is not None else "many"
            out.append(Finding("variation", "ok", f"{who}: {distinct} distinct answers",
                               item, columns[item], owner[item]))
    if n < 10 * largest:
        out.append(Finding("rows", "warning", f"{n} rows is below the 10-times rule of thumb "
                           f"({10 * largest} for a construct with {largest} predictors); "
                           "estimates may be unstable"))
    C, mean = frame._sscp, frame.mean().to_numpy()
    for b, item in enumerate(items):   # identical columns: equal means, var(x_a - x_b) = 0
        for a in range(b):
            gap = C[a, a] + C[b, b] - 2 * C[a, b]
            if abs(mean[a] - mean[b]) < 1e-12 and gap <= 1e-12 * max(C[a, a], 1e-300):
                first = items[a]
                out.append(Finding("duplicate", "warning", f"item {item} (column "
                                   f"{columns[item]!r}) has the same answer as item {first} "
                                   f"(column {columns[first]!r}) in every row: a duplicated "
                                   "column?", item, columns[item], owner[item]))
                break
    return out + _reverse_suspects(spec, frame, columns, varies)


def check_moments(spec, cm, missing: str = "listwise"):
    """SurveyData with a MomentFrame from one pass's sums, raising the DataError of
    ``prepare`` for bad data and issuing its DataWarnings (see module docstring). ``missing``:
    'listwise', or 'mean' for the second pass of mean replacement (``streaming``'s fill)."""
    from csi_models.data.prepare import SurveyData, _with_scales

    items = list(spec.item_names)
    if cm.errors or cm.bad:
        _raise(spec, _item_errors(spec, cm))
    owner = {i: c.name for c in spec.constructs for i in c.item_names}
    columns = {i: spec.column_of(i) for i in items}
    findings = []
    for f in cm.findings:
        if f.check == "scale_default" and cm.answered[items.index(f.item)]:
            k = items.index(f.item)
            f = Finding(f.check, f.severity, re.sub(
                r"the answers range \S+\.\.\S+;", f"the answers range {cm.low[k]:g}.."
                f"{cm.high[k]:g};", f.message), f.item, f.column, f.construct)
        findings.append(f)
    for k, item in enumerate(items):
        who = f"item {item} (column {columns[item]!r})"
        unanswered = cm.n_input - int(cm.answered[k])
        if unanswered == cm.n_input and cm.n_input:
            findings.append(Finding("missing", "error", f"{who} is empty: no respondent answered "
                                    "it", item, columns[item], owner[item]))
            continue
        share = unanswered / cm.n_input if cm.n_input else 0.0
        findings.append(Finding("missing", "warning" if share > MISSING_SHARE else "ok",
                                f"{who}: {unanswered} of {cm.n_input} answers missing "
                                f"({share:.0%})",
                                item, columns[item], owner[item]))
    if not cm.n_input:
        findings.append(Finding("rows", "error", "the survey data has no rows"))
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        _raise(spec, errors)
    lo_hi = np.array([(cm.scales[i].min + cm.scales[i].max) / 2 for i in items])
    W = cm.weight
    mean = lo_hi + cm.sums / W if W > 0 else np.full(len(items), np.nan)
    sscp = cm.cross - np.outer(cm.sums, cm.sums) / W if W > 0 else np.full_like(cm.cross, np.nan)
    frame = MomentFrame(items, cm.n_complete, W, mean, sscp)
    findings += _sample_findings(spec, cm, columns, frame, missing)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        _raise(spec, errors)
    _warn(findings)
    notes = _merged_notes(cm.notes)
    reversed_items = tuple(r for r in spec.reverse if r in items)
    if reversed_items:
        notes.append(f"reverse-coded on their scales: {', '.join(reversed_items)}")
    if cm.n_dropped:
        rule = "listwise deletion" if missing == "listwise" else "rows without any answer"
        notes.append(f"{rule}: dropped {cm.n_dropped} of {cm.n_input} rows")
    replaced = cm.n_complete * len(items) - int(cm.answered.sum())
    if missing == "mean" and replaced:
        notes.append(f"{replaced} missing answers replaced by their item means")
    survey = SurveyData(values=frame, spec=_with_scales(spec, cm.scales), missing=missing,
                        n_input=cm.n_input, reversed_items=reversed_items, notes=tuple(notes))
    return survey


def _item_errors(spec, cm) -> list:
    """The item checks' errors as for the whole table: each item's rejected cells (from every
    chunk) checked together by ``inspect_item``, in spec order."""
    from csi_models.data.items import ItemCheck, inspect_item

    owner = {i: c.name for c in spec.constructs for i in c.item_names}
    out = []
    for item in spec.item_names:
        out += [f for f in cm.errors if f.item == item]
        if item in cm.bad:
            cells = cm.bad[item]
            ic = ItemCheck(item, spec.column_of(item), owner[item])
            inspect_item(ic, cells, cells.index, spec.item(item), {}, reverse=item in spec.reverse)
            kept, total = len(cells), cm.n_bad.get(item, len(cells))
            for f in ic.findings:
                if f.severity == "error" and total > kept:   # more than MAX_BAD cells: the count
                    f = replace(f, message=f.message.replace(
                        f"has {kept} answer(s)", f"has {total} answer(s)").replace(
                        f"and {kept - 5} more", f"and {total - 5} more"))
                out += [f] if f.severity == "error" else []
    return out + [f for f in cm.errors if f.item is None]


def _raise(spec, errors: list):
    """The DataError ``prepare`` raises for these errors (one, or a list of them)."""
    if len(errors) == 1:
        raise DataError(errors[0].message)
    raise DataError(f"{len(errors)} problems in the survey data for model {spec.name!r}:\n  - " +
                    "\n  - ".join(f.message for f in errors[:10]) +
                    (f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else "") +
                    "\nrun csi.check(spec, data) for the full report")


def _warn(findings: list):
    from csi_models.spec.model import DEFAULT_SCALE

    defaults = [f for f in findings if f.check == "scale_default"]
    for f in findings:
        if f.severity == "warning" and not (f.check == "scale_default" and len(defaults) > 1):
            warnings.warn(f.message, DataWarning, stacklevel=4)
    if len(defaults) > 1:
        warnings.warn(f"{len(defaults)} items have no declared scale and were assumed "
                      f"{DEFAULT_SCALE.min:g}..{DEFAULT_SCALE.max:g}: "
                      f"{rows_text([f.item for f in defaults], 8)}; declare `scale:` in the spec "
                      "(the 0-100 indices and reverse coding use it)", DataWarning, stacklevel=4)
