"""The fast path of ``fit_many`` for PLS: many small groups without per-group overhead.

A batch of 200 companies x 250 respondents spends most of its time not on arithmetic but on
what ``csi.fit`` does around it for one sample: the full data check with its report, and the
``FitResult`` tables built in pandas. Here a chunk of groups is fitted with

1. one vectorized check per group (``clean``): numeric answers inside declared scales,
   whole numbers, nothing missing, no constant, nearly constant or duplicated item, enough
   rows, no construct whose items correlate negatively, i.e. every condition under which
   ``csi.fit``'s data check would find nothing to say;
2. the same numerical steps as ``csi.fit`` (``PLSEngine.fit``, ``Statistics.derive``,
   ``inference.bootstrap.bootstrap``) on the same arrays, so the numbers are bit for bit
   those of ``csi.fit(spec, rows, random_state=seed)``;
3. the summaries (``inference.intervals.summarize``) of the four batch kinds only, and one
   DataFrame per table for the whole chunk.

A group that is not clean, warns in any way (convergence, an undefined index, a failed or
incomplete resample) or fails goes through ``worker.fit_group`` (the full ``csi.fit``), so
its status, messages and warnings are exactly those of a single fit. Used when the method is
PLS, without respondent weights and with percentile intervals.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from csi_models.batch.worker import fit_group, frames
from csi_models.data.check import NEAR_CONSTANT_SHARE   # csi.fit warns above this share
from csi_models.statistics.kernel import INFERENCE

#: the kinds of derived statistic that become batch tables
KINDS = {"indices": "indices", "paths": "paths", "r2": "r2", "impacts": "impacts"}


def eligible(spec, method: str, options: dict) -> bool:
    """Whether the fast path can serve this batch at all (else every group runs fit_group)."""
    scales = [spec.item(i) for i in spec.item_names]
    return (method == "pls" and options.get("weights") is None
            and options.get("interval", "percentile") == "percentile"
            and options.get("missing", "listwise") in ("listwise", "mean")
            and all(i.scale.explicit and not i.missing_codes for i in scales))


class _Model:
    """What every group of a chunk shares: the spec's items, scales and the kernel."""

    def __init__(self, spec, options: dict):
        self.missing = options.get("missing", "listwise")
        from csi_models.engines.base import Layout, get_engine
        from csi_models.statistics.kernel import Statistics

        self.spec = spec
        self.engine = get_engine("pls")
        self.options = self.engine.resolve({k: v for k, v in options.items()
                                            if k in self.engine.options})
        self.items = list(spec.item_names)
        self.columns = [spec.column_of(i) for i in self.items]
        meta = [spec.item(i) for i in self.items]
        self.lo = np.array([m.scale.min for m in meta], float)
        self.hi = np.array([m.scale.max for m in meta], float)
        self.reverse = np.array([i in spec.reverse for i in self.items])
        self.layout = Layout.from_spec(spec)
        self.statistics = Statistics(spec, self.layout)
        self.largest = max([len(spec.predecessors(c)) for c in spec.construct_names] + [1])
        self.reflective = [[self.items.index(i) for i in c.item_names]
                           for c in spec.constructs if c.mode == "reflective"]
        self.keys = {name: self.statistics.keys(kind) for name, kind in KINDS.items()}
        self.k_r2 = np.array([len(spec.predecessors(c)) for c in self.keys["r2"].construct])

    def values(self, rows: pd.DataFrame) -> np.ndarray | None:
        """The group's answers as floats (items in spec order), as ``data.items`` reads
        them, or None when a column is missing, repeated or not plainly numeric."""
        if rows.attrs or len(set(self.columns)) < len(self.columns):
            return None
        names = [str(c) for c in rows.columns]
        if any(names.count(c) != 1 for c in self.columns):
            return None
        block = rows.iloc[:, [names.index(c) for c in self.columns]]
        if not all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
                   and not pd.api.types.is_complex_dtype(t) for t in block.dtypes):
            return None
        return block.to_numpy(dtype=float, na_value=np.nan)

    def clean(self, X: np.ndarray) -> bool:
        """True only where ``csi.fit``'s data check would raise and warn nothing (see the
        module docstring); anything doubtful is left to the full check."""
        n, p = X.shape
        if n < 10 * self.largest or n < self.largest + 2 or n < 3:
            return False
        if not np.isfinite(X).all() or ((X < self.lo) | (X > self.hi)).any():
            return False
        if not (X == np.round(X)).all():
            return False
        # answers that never pass the scale's midpoint: csi.fit warns (data.items._scale)
        wide = (self.hi - self.lo >= 4) & (X.max(axis=0) <= self.lo + (self.hi - self.lo) / 2)
        if wide.any():
            return False
        codes = (X - self.lo).astype(np.int64)
        span = int((self.hi - self.lo).max()) + 1
        tally = np.bincount((codes + span * np.arange(p)).ravel(), minlength=span * p)
        tally = tally.reshape(p, span)
        if ((tally > 0).sum(axis=1) < 2).any() or (tally.max(axis=1) / n > NEAR_CONSTANT_SHARE).any():
            return False
        if len({X[:, j].tobytes() for j in range(p)}) < p:   # a duplicated column
            return False
        return True

    def correlated(self, S: np.ndarray) -> bool:
        """No reflective construct has an item with a negative mean correlation with the
        others (with a margin: near zero, the full check decides)."""
        order = {item: k for k, item in enumerate(self.layout.items)}
        pos = [order[i] for i in self.items]
        for block in self.reflective:
            if len(block) < 2:
                continue
            idx = [pos[j] for j in block]
            r = S[np.ix_(idx, idx)].copy()
            np.fill_diagonal(r, 0.0)
            if (r.sum(axis=1) / (len(idx) - 1) < 1e-8).any():
                return False
        return True


def _point(model: _Model, X: np.ndarray):
    """(survey, estimates, derived statistics, index notes) of one clean group, or None to
    send it to the full path: the steps of ``csi.fit`` on the same arrays."""
    from csi_models.data.prepare import SurveyData
    from csi_models.engines.base import Resamples
    from csi_models.statistics.indices import index_notes

    X = np.where(model.reverse, model.lo + model.hi - X, X)   # reverse coding, as prepare
    survey = SurveyData(values=pd.DataFrame(X, columns=model.items), spec=model.spec,
                        missing=model.missing, n_input=len(X))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est = model.engine.fit(model.spec, survey, model.options)
        except Exception:  # noqa: BLE001 - the full path names the problem
            return None
    if caught or not est.converged or not model.correlated(est.item_cor):
        return None
    return survey, est, model.statistics.derive(Resamples.of(est)), index_notes(est)


def _bootstraps(model: _Model, fitted: dict, seeds: dict, n_boot: int, level: float,
                improper: str) -> dict:
    """key -> BootstrapResult of every fitted group, as ``inference.bootstrap.bootstrap``
    makes it, with all the groups' resamples estimated in one stack
    (``PLSEngine.resample_many``)."""
    from csi_models.inference.bootstrap import resample_rows, summarized
    from csi_models.inference.random import seed_entropy

    keys = list(fitted)
    entropy = {key: seed_entropy(seeds[key]) for key in keys}
    rows = [resample_rows(fitted[key][0].n, np.arange(n_boot), entropy[key]) for key in keys]
    start = time.perf_counter()
    stacks = model.engine.resample_many([fitted[key][0] for key in keys], model.layout,
                                        model.options, rows)
    out = {}
    for key, stack in zip(keys, stacks):
        survey, est, point, _ = fitted[key]
        out[key] = summarized(model.engine, model.spec, survey, est, model.options,
                              model.statistics, point, stack, entropy[key], level, "percentile",
                              1, improper, start)
    return out


def _result(model: _Model, fitted, boot, level: float) -> dict:
    """One group's summaries, index notes and warnings (worded as ``csi.fit`` words them)."""
    survey, _, point, notes = fitted
    messages = [f"IndexWarning: {note}" for note in notes if note]
    if boot is not None and not _complete(boot):
        messages += [f"BootstrapWarning: {m}" for m in boot.messages()]
    out = _summaries(model, point, boot, survey.n, level)
    out.update(notes=notes, warnings=messages)
    return out


def _complete(boot) -> bool:
    """Whether ``boot.messages()`` is empty (no BootstrapWarning), computed on the arrays:
    no failed or improper resample, and every statistic defined in the full sample is
    defined in every resample (``BootstrapResult.incomplete``)."""
    if boot.n_failed or boot.n_improper:
        return False
    for kind in ("indices", "paths", "weights", "loadings", "r2", "indirect", "total", "htmt"):
        finite = np.isfinite(boot.estimate[kind][0])
        if not np.isfinite(boot.draws[kind][:, finite]).all():
            return False
    return True


def _summaries(model: _Model, point: dict, boot, n: int, level: float) -> dict:
    """table -> (estimate, se, statistic, p_value, ci_lower, ci_upper, n_boot) arrays (just
    the estimate without a bootstrap) and the index draws, as ``BootstrapResult.table``
    computes them."""
    from csi_models.inference import intervals

    out = {}
    for name, kind in KINDS.items():
        est = point[kind][0]
        if boot is None:
            out[name] = (est,)
            continue
        s = intervals.summarize(est, boot.draws[kind], n, level)
        out[name] = (est, s["se"], s["t"], s["p_value"], s["pct_lower"], s["pct_upper"],
                     s["n_boot"])
    out["draws"] = None if boot is None else np.asarray(boot.draws["indices"])
    return out


def _frame(model: _Model, by: list, keys: list, name: str, parts: list, ns: list,
           notes: list) -> pd.DataFrame:
    """One batch table for the groups ``keys`` from their summaries, with the columns and
    types of ``FitResult``'s table of that name (``worker._tables``)."""
    base = model.keys[name]
    k, g = len(base), len(keys)
    table = pd.concat([base] * g, ignore_index=True) if g else base.iloc[:0]
    for pos, column in enumerate(by):
        table.insert(pos, column, [key[pos] for key in keys for _ in range(k)])
    est = np.concatenate([p[0] for p in parts]) if g else np.array([])
    table["estimate"] = est
    if parts and len(parts[0]) == 7:
        se, t, pv, lo, hi, nb = (np.concatenate([p[i] for p in parts]) for i in range(1, 7))
    else:
        se = t = pv = lo = hi = nb = np.full(est.shape, np.nan)
    for column, values in zip(INFERENCE, (se, t, pv, lo, hi, nb)):
        table[column] = values
    if name in ("indices", "r2"):
        table["statistic"], table["p_value"] = np.nan, np.nan
    if name == "indices":
        table["note"] = [note for group in notes for note in group]
    if name == "r2":
        size = np.repeat(np.asarray(ns, float), k)
        kk = np.tile(model.k_r2, g)
        table.insert(len(by) + 2, "r2_adjusted", 1 - (1 - est) * (size - 1) / (size - kk - 1))
    return table


def fit_chunk(tasks, by: list) -> dict:
    """Fit a chunk of groups (``fit_many``'s task tuples); returns the keyed tables of the
    whole chunk (status, warnings, draws, indices, paths, r2, impacts), rows in task order."""
    _, _, spec, _, options, _, min_n = tasks[0]
    model = _Model(spec, options)
    n_boot = int(options.get("bootstrap") or 0)
    level = options.get("ci", 0.95)
    improper = options.get("improper", "keep")
    fitted, slow, spent, seeds = {}, {}, {}, {}
    with threadpool_limits(1):          # as fit_group: the same rounding everywhere
        for key, rows, _, _, _, seed, _ in tasks:
            start = time.perf_counter()
            X = model.values(rows) if len(rows) >= min_n else None
            point = _point(model, X) if X is not None and model.clean(X) else None
            if point is None:
                slow[key] = fit_group(key, rows, spec, "pls", options, seed, min_n)
            else:
                fitted[key], seeds[key] = point, seed
                spent[key] = time.perf_counter() - start
        start = time.perf_counter()
        boots = _bootstraps(model, fitted, seeds, n_boot, level, improper) if n_boot and fitted else {}
        shared = (time.perf_counter() - start) / max(len(fitted), 1)
        done = {}
        for key in fitted:
            start = time.perf_counter()
            result = _result(model, fitted[key], boots.get(key), level)
            seconds = spent[key] + shared + time.perf_counter() - start
            done[key] = (result, fitted[key][0].n, seeds[key], seconds)
    return _assemble(model, by, [t[0] for t in tasks], done, slow)


def _keyed(frame: pd.DataFrame, by: list, keys: list, size: int) -> pd.DataFrame:
    """``frame`` (``size`` rows per group of ``keys``) with the key columns first."""
    for pos, column in enumerate(by):
        frame.insert(pos, column, [key[pos] for key in keys for _ in range(size)])
    return frame


def _assemble(model: _Model, by: list, keys: list, done: dict, slow: dict) -> dict:
    """The chunk's tables: the fast groups' built at once, the others' from their outcomes
    (``run.frames``), put in task order."""

    fast = [k for k in keys if k in done]
    sizes = {name: np.full(len(fast), len(model.keys[name])) for name in KINDS}
    tables = {name: _frame(model, by, fast, name, [done[k][0][name] for k in fast],
                           [done[k][1] for k in fast], [done[k][0]["notes"] for k in fast])
              for name in KINDS}
    said = [(k, m) for k in fast for m in done[k][0]["warnings"]]
    if said:
        tables["warnings"] = _keyed(pd.DataFrame({"warning": [m for _, m in said]}, dtype=object),
                                    by, [k for k, _ in said], 1)
        sizes["warnings"] = np.array([len(done[k][0]["warnings"]) for k in fast])
    status = pd.DataFrame({"n": [done[k][1] for k in fast], "status": "ok", "converged": True,
                           "message": "",
                           "n_warnings": [len(done[k][0]["warnings"]) for k in fast],
                           "seconds": [done[k][3] for k in fast],
                           "seed": [done[k][2] for k in fast]},
                          columns=["n", "status", "converged", "message", "n_warnings",
                                   "seconds", "seed"])
    tables["status"] = _keyed(status, by, fast, 1)
    names = list(model.keys["indices"].construct)
    draws = [done[k][0]["draws"] for k in fast]
    sizes["status"] = np.ones(len(fast), int)
    if fast and draws[0] is not None:
        m = np.array([d.shape[0] for d in draws])
        frame = pd.DataFrame({"draw": np.concatenate([np.repeat(np.arange(b), len(names)) for b in m]),
                              "construct": np.concatenate([np.tile(names, b) for b in m]).tolist(),
                              "estimate": np.concatenate([d.ravel() for d in draws])})
        for pos, column in enumerate(by):
            frame.insert(pos, column, np.repeat(np.array([k[pos] for k in fast], dtype=object),
                                                m * len(names)).tolist())
        tables["draws"], sizes["draws"] = frame, m * len(names)
    if not slow:
        return tables
    rank = {key: i for i, key in enumerate(keys)}
    slow = {key: frames(outcome, by) for key, outcome in slow.items()}
    out = {}
    for name in ("status", "warnings", "draws", *KINDS):
        parts, ranks = [], []
        if fast and tables.get(name) is not None and name in sizes:
            parts.append(tables[name])
            ranks.append(np.repeat([rank[k] for k in fast], sizes[name]))
        for key in (k for k in keys if k in slow):
            frame = slow[key][name]
            if frame is not None and len(frame):
                parts.append(frame)
                ranks.append(np.full(len(frame), rank[key]))
        if parts:
            joined = pd.concat(parts, ignore_index=True)
            order = np.argsort(np.concatenate(ranks), kind="stable")
            out[name] = joined.take(order).reset_index(drop=True)
        else:
            out[name] = None
    return out
