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
   those of ``csi.fit(spec, rows, random_state=seed)``, but for the whole chunk at once:
   every group's point estimate in one ``estimate_batch``, every group's resamples in a
   few (the kernel's members do not depend on their neighbours in a stack);
3. the summaries (``inference.intervals.summarize``) of the four batch kinds only, all the
   chunk's groups side by side (it works column by column), and one DataFrame per table
   for the whole chunk.

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
        try:
            self.engine.check(spec)
            self.fits = True
        except Exception:  # noqa: BLE001 - every group then runs csi.fit, which says why
            self.fits = False

    def values(self, rows: pd.DataFrame) -> np.ndarray | None:
        """The group's answers as floats (items in spec order), as ``data.items`` reads
        them, or None when a column is missing, repeated or not plainly numeric."""
        if rows.attrs or len(set(self.columns)) < len(self.columns):
            return None
        names = [str(c) for c in rows.columns]
        if any(names.count(c) != 1 for c in self.columns):
            return None
        block = rows.take([names.index(c) for c in self.columns], axis=1)
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


def _points(model: _Model, arrays: dict) -> dict:
    """key -> (estimates, derived statistics, index notes) of the clean groups (``arrays``:
    their reverse-coded answers) that ``csi.fit`` would fit without a word: the steps of
    ``PLSEngine.fit`` with all the groups' correlation matrices in one ``estimate_batch``
    (a member's numbers do not depend on the stack). A group left out goes the full path."""
    from csi_models.engines.base import Resamples
    from csi_models.engines.pls import estimates
    from csi_models.engines.pls_kernel import estimate_batch
    from csi_models.statistics.indices import index_notes
    from csi_models.statistics.moments import full_moments

    keys = list(arrays)
    if not keys or not model.fits:
        return {}
    S, mean, sd = (np.concatenate(m) for m in zip(*(full_moments(arrays[k]) for k in keys)))
    opt = model.options
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = estimate_batch(S, model.layout, opt["scheme"], opt["tol"], opt["max_iter"])
    if caught:          # not attributable to a group: let csi.fit speak for each
        return {}
    out = {}
    for k, key in enumerate(keys):   # ok: converged and finite, as PLSEngine.fit requires
        if batch.ok[k] and model.correlated(S[k]):
            est = estimates(batch, model.layout, S, mean, sd, k)
            out[key] = (est, model.statistics.derive(Resamples.of(est)), index_notes(est))
    return out


def _bootstraps(model: _Model, arrays: dict, fitted: dict, seeds: dict, n_boot: int,
                level: float, improper: str) -> dict:
    """key -> (index draws, summaries (``_summaries``), BootstrapWarning messages) of every
    fitted group: all the groups' resamples estimated in one stack
    (``PLSEngine.resample_many``), their statistics derived as
    ``inference.bootstrap.summarized`` derives them and summarized side by side as
    ``BootstrapResult.table`` summarizes them; a group whose bootstrap would warn gets its
    ``BootstrapResult`` to word the messages."""
    from csi_models.data.prepare import SurveyData
    from csi_models.inference.bootstrap import resample_rows, summarized
    from csi_models.inference.random import seed_entropy

    keys = list(fitted)
    entropy = {key: seed_entropy(seeds[key]) for key in keys}
    rows = [resample_rows(len(arrays[key]), np.arange(n_boot), entropy[key]) for key in keys]
    stacks = model.engine.resample_many([arrays[key] for key in keys], model.layout,
                                        model.options, rows)
    draws, messages = {}, {}
    for key, stack in zip(keys, stacks):
        est, point, _ = fitted[key]
        use = stack.ok          # PLS has no improper resamples: ``summarized``'s rule
        draws[key] = model.statistics.derive(stack if use.all() else stack.select(use))
        if not _complete(use, point, draws[key]):
            survey = SurveyData(values=pd.DataFrame(arrays[key], columns=model.items),
                                spec=model.spec, missing=model.missing, n_input=len(arrays[key]))
            boot = summarized(model.engine, model.spec, survey, est, model.options,
                              model.statistics, point, stack, entropy[key], level, "percentile",
                              1, improper, time.perf_counter())
            messages[key] = [f"BootstrapWarning: {m}" for m in boot.messages()]
    sizes = {key: len(arrays[key]) for key in keys}
    summaries = _summaries({key: fitted[key][1] for key in keys}, draws, sizes, level)
    return {key: (draws[key]["indices"], summaries[key], messages.get(key, []))
            for key in keys}


def _complete(ok: np.ndarray, point: dict, draws: dict) -> bool:
    """Whether ``BootstrapResult.messages()`` is empty, computed on the arrays: no failed
    resample, and every statistic defined in the full sample is defined in every resample
    (``BootstrapResult.incomplete``)."""
    if not ok.all():
        return False
    for kind in ("indices", "paths", "weights", "loadings", "r2", "indirect", "total", "htmt"):
        finite = np.isfinite(point[kind][0])
        if not np.isfinite(draws[kind][:, finite]).all():
            return False
    return True


def _summaries(points: dict, draws: dict, sizes: dict, level: float) -> dict:
    """key -> {table: (estimate, se, statistic, p_value, ci_lower, ci_upper, n_boot)}, as
    ``BootstrapResult.table`` computes them; the groups with the same number of draws are
    summarized side by side in one call per table (``intervals.summarize`` works column by
    column, with the same rounding for any number of columns)."""
    from csi_models.inference import intervals

    out = {key: {} for key in points}
    batches = {}
    for key in points:
        batches.setdefault(len(draws[key]["indices"]), []).append(key)
    for keys in batches.values():
        n = np.array([sizes[key] for key in keys])
        for name, kind in KINDS.items():
            width = points[keys[0]][kind].shape[1]
            est = np.concatenate([points[key][kind][0] for key in keys])
            s = intervals.summarize(est, np.concatenate([draws[key][kind] for key in keys], axis=1),
                                    np.repeat(n, width), level)
            columns = (est, s["se"], s["t"], s["p_value"], s["pct_lower"], s["pct_upper"],
                       s["n_boot"])
            for g, key in enumerate(keys):
                out[key][name] = tuple(c[g * width:(g + 1) * width] for c in columns)
    return out


def _frame(model: _Model, by: list, keys: list, name: str, parts: list, ns: list,
           notes: list) -> pd.DataFrame:
    """One batch table for the groups ``keys`` from their summaries, with the columns and
    types of ``FitResult``'s table of that name (``worker._tables``), built in one go."""
    base = model.keys[name]
    k, g = len(base), len(keys)
    rows = np.tile(np.arange(k), g)
    columns = {column: _repeated([key[pos] for key in keys], k) for pos, column in enumerate(by)}
    columns.update({column: base[column].take(rows).reset_index(drop=True) for column in base})
    est = np.concatenate([p[0] for p in parts]) if g else np.array([])
    columns["estimate"] = est
    if name == "r2":
        size = np.repeat(np.asarray(ns, float), k)
        kk = np.tile(model.k_r2, g)
        columns["r2_adjusted"] = 1 - (1 - est) * (size - 1) / (size - kk - 1)
    if parts and len(parts[0]) == 7:
        inference = [np.concatenate([p[i] for p in parts]) for i in range(1, 7)]
    else:
        inference = [np.full(est.shape, np.nan)] * 6
    columns.update(zip(INFERENCE, inference))
    if name in ("indices", "r2"):
        columns["statistic"] = columns["p_value"] = np.full(est.shape, np.nan)
    if name == "indices":
        columns["note"] = [note for group in notes for note in group]
    return pd.DataFrame(columns)


def _repeated(values: list, size) -> pd.Series:
    """``values`` each repeated ``size`` times (a number, or one per value), typed by pandas
    as a list of them would be, without a Python object per row."""
    return pd.Series(values).take(np.repeat(np.arange(len(values)), size)).reset_index(drop=True)


def fit_chunk(tasks, by: list) -> dict:
    """Fit a chunk of groups (``fit_many``'s task tuples); returns the keyed tables of the
    whole chunk (status, warnings, draws, indices, paths, r2, impacts), rows in task order."""
    _, _, spec, _, options, _, min_n = tasks[0]
    model = _Model(spec, options)
    n_boot = int(options.get("bootstrap") or 0)
    level = options.get("ci", 0.95)
    improper = options.get("improper", "keep")
    arrays, seeds, slow = {}, {}, {}
    with threadpool_limits(1):          # as fit_group: the same rounding everywhere
        start = time.perf_counter()
        for key, rows, _, _, _, seed, _ in tasks:
            X = model.values(rows) if len(rows) >= min_n else None
            if X is not None and model.clean(X):    # reverse coding, as data.prepare
                arrays[key] = np.where(model.reverse, model.lo + model.hi - X, X)
                seeds[key] = seed
        fitted = _points(model, arrays)
        boots = _bootstraps(model, arrays, fitted, seeds, n_boot, level, improper) \
            if n_boot and fitted else {}
        seconds = (time.perf_counter() - start) / max(len(fitted), 1)   # shared alike
        done = {}
        for key in fitted:
            _, point, notes = fitted[key]
            draws, summaries, said = boots.get(key, (None, None, []))
            result = summaries or {name: (point[kind][0],) for name, kind in KINDS.items()}
            result.update(draws=draws, notes=notes,
                          warnings=[f"IndexWarning: {note}" for note in notes if note] + said)
            done[key] = (result, len(arrays[key]), seeds[key], seconds)
        for key, rows, _, _, _, seed, _ in tasks:
            if key not in done:
                slow[key] = fit_group(key, rows, spec, "pls", options, seed, min_n)
    return _assemble(model, by, [t[0] for t in tasks], done, slow)


def _keyed(frame: pd.DataFrame, by: list, keys: list, size) -> pd.DataFrame:
    """``frame`` (``size`` rows per group of ``keys``: a number, or one per group) with the
    key columns first."""
    for pos, column in enumerate(by):
        frame.insert(pos, column, _repeated([key[pos] for key in keys], size))
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
        sizes["warnings"] = np.array([len(done[k][0]["warnings"]) for k in fast])
        tables["warnings"] = _keyed(pd.DataFrame({"warning": [m for _, m in said]}, dtype=object),
                                    by, fast, sizes["warnings"])
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
        construct = np.tile(np.arange(len(names)), int(m.sum()))
        frame = pd.DataFrame({"draw": np.concatenate([np.repeat(np.arange(b), len(names)) for b in m]),
                              "construct": pd.Series(names).take(construct).reset_index(drop=True),
                              "estimate": np.concatenate([d.ravel() for d in draws])})
        tables["draws"], sizes["draws"] = _keyed(frame, by, fast, m * len(names)), m * len(names)
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
