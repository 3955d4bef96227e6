"""The engine protocol: what every estimator declares, takes and returns.

An engine (PLS, CB-SEM; PLSc next) is one object registered in ``ENGINES``. It declares its
options (defaults and allowed values in one table, validated here), the missing-data rules it
supports, and implements ``fit(spec, survey, options) -> Estimates`` and
``resample(spec, survey, estimates, options, rows, ...) -> Resamples`` (bootstrap resamples,
jackknife samples, permuted groups: any stack of row sets). It also owns the statistics that
differ by estimator: reliability (rho_A, rho_C, AVE), fit measures and f². Everything derived
from the estimates in the same way for every engine (R², effects, impacts, indices, HTMT) is
computed by ``statistics.kernel.derive``; ``csi.fit`` resolves the engine, prepares the data,
runs it and builds the result, and no other module branches on the method.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass, field
from importlib import import_module
from typing import Callable

import numpy as np
import pandas as pd

from csi_models.errors import CSIError, EstimationError
from csi_models.spec.layout import Layout  # noqa: F401 - engines' index arrays, re-exported


@dataclass(frozen=True)
class Estimates:
    """An engine's numbers for one fit; every matrix is indexed like ``layout``.

    ``weights`` are standardized: applied to items z-scored with ``item_mean`` and ``item_sd``
    they give scores of unit variance in the sample (CB-SEM with FIML: under the model).
    ``item_mean``/``item_sd`` are the moments that standardize the scores and enter the 0-100
    index (sample moments; CB-SEM with FIML: the model's means and implied sds). ``item_cor``
    is the sample item correlation matrix (pairwise-complete with FIML data) used by HTMT,
    alpha and the item VIFs. ``paths[i, j]`` is the standardized coefficient of construct i
    on j. Built once by the engine and never changed afterwards.
    """

    method: str
    layout: Layout
    weights: np.ndarray          # (items,)
    loadings: np.ndarray         # (items,) standardized loading on the item's own construct
    cross_loadings: np.ndarray   # (items, constructs) correlations of items with constructs
    paths: np.ndarray            # (constructs, constructs)
    r2: np.ndarray               # (constructs,), NaN for exogenous constructs
    construct_cor: np.ndarray    # (constructs, constructs)
    converged: bool
    iterations: int
    item_mean: np.ndarray | None = None   # (items,)
    item_sd: np.ndarray | None = None     # (items,)
    item_cor: np.ndarray | None = None    # (items, items)
    # CB-SEM extras (None for PLS)
    parameters: pd.DataFrame | None = None   # lavaan-style table: lhs, op, rhs, est, se, ...
    implied_cov: np.ndarray | None = None
    sample_cov: np.ndarray | None = None
    objective: float | None = None           # fit-function value at the estimates
    gradient_norm: float | None = None       # max |gradient| at the estimates
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Resamples:
    """Estimates of a stack of row sets (bootstrap resamples, jackknife samples, permuted
    groups), each array with the stack as its first axis; ``ok`` marks the members that were
    estimated (converged, every number finite), ``reasons`` says why the others failed,
    ``improper`` marks admissible-looking failures of CB-SEM (negative variances, ...)."""

    paths: np.ndarray        # (B, J, J)
    weights: np.ndarray      # (B, p)
    loadings: np.ndarray     # (B, p)
    r2: np.ndarray           # (B, J)
    item_mean: np.ndarray    # (B, p)
    item_sd: np.ndarray      # (B, p)
    item_cor: np.ndarray     # (B, p, p)
    ok: np.ndarray           # (B,) bool
    reasons: tuple = ()      # (B,) '' for the members that are ok
    improper: np.ndarray | None = None   # (B,) bool

    @classmethod
    def of(cls, est: Estimates) -> "Resamples":
        """One fit as a stack of one (what the kernel takes)."""
        return cls(est.paths[None], est.weights[None], est.loadings[None], est.r2[None],
                   est.item_mean[None], est.item_sd[None], est.item_cor[None],
                   np.ones(1, bool), ("",), np.zeros(1, bool))

    @classmethod
    def stack(cls, parts: list["Resamples"]) -> "Resamples":
        if len(parts) == 1:
            return parts[0]
        arrays = {name: np.concatenate([getattr(p, name) for p in parts])
                  for name in ("paths", "weights", "loadings", "r2", "item_mean", "item_sd",
                               "item_cor", "ok")}
        improper = np.concatenate([p.improper if p.improper is not None else np.zeros(len(p.ok), bool)
                                   for p in parts])
        return cls(**arrays, reasons=tuple(r for p in parts for r in p.reasons), improper=improper)

    def select(self, keep: np.ndarray) -> "Resamples":
        """The members where ``keep`` is True."""
        keep = np.asarray(keep, bool)
        return Resamples(self.paths[keep], self.weights[keep], self.loadings[keep], self.r2[keep],
                         self.item_mean[keep], self.item_sd[keep], self.item_cor[keep],
                         self.ok[keep], tuple(r for r, k in zip(self.reasons, keep) if k),
                         None if self.improper is None else self.improper[keep])


# --- options: one table per engine, validated in one place -----------------------------------
@dataclass(frozen=True)
class Option:
    """An engine option: its default, a checker returning the normalized value (or raising
    ValueError, answered by ``hint``, a format string of ``key`` and ``value``), and a
    one-line description."""

    default: object
    check: Callable
    hint: str
    doc: str


def choice(*values, aliases=None):
    """A checker accepting ``values`` (and ``aliases``: {alias: value})."""
    table = {v: v for v in values} | (aliases or {})

    def check(value):
        if isinstance(value, str) and value in table:
            return table[value]
        raise ValueError
    return check


def positive_number(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError
    return float(value)


def whole_number(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError
    return int(value)


class Engine:
    """Base class of the estimators (see the module docstring). Subclasses set ``name``,
    ``title``, ``options`` and ``missing_rules`` and implement the methods below."""

    name: str = ""
    title: str = ""
    options: dict[str, Option] = {}
    missing_rules: tuple[str, ...] = ("listwise",)
    refused_missing: dict[str, str] = {}   # rule -> why not here and what to use instead
    group_test: str = ""   # how compare(by=...) tests group differences: 'permutation' | 'invariance'
    long_title: str = ""   # how reports name the method
    fit_keys: tuple[str, ...] = ()   # fit measures shown in summaries and comparisons
    fit_rules: tuple = ()  # (key, '<' or '>', threshold): fit values the summary flags
    ipma: bool = False     # the importance-performance map is defined for its scores

    def resolve(self, given: dict) -> dict:
        """Every option of this engine with its validated value (defaults filled in). An
        option of another engine, or an unknown one, is an error naming it."""
        out = {}
        for key, value in given.items():
            option = self.options.get(key)
            if option is None:
                if _is_foreign_default(key, value):
                    continue   # another engine's option at its default changes nothing
                raise CSIError(_foreign_option(self, key, value))
            try:
                out[key] = option.check(value)
            except (ValueError, TypeError):
                raise EstimationError(option.hint.format(key=key, value=value)) from None
        return {k: out.get(k, o.default) for k, o in self.options.items()} | out

    def check_missing(self, missing: str) -> None:
        if missing in self.refused_missing:
            raise EstimationError(self.refused_missing[missing])

    # --- to implement ------------------------------------------------------------------
    def fit(self, spec, survey, options: dict) -> Estimates:
        raise NotImplementedError

    def resample(self, spec, survey, estimates: Estimates, options: dict, rows: np.ndarray,
                 n_jobs=1, progress=None) -> Resamples:
        """Estimates of the row sets ``rows`` (sets, size) of ``survey.values``."""
        raise NotImplementedError

    def leave_one_out(self, spec, survey, estimates: Estimates, options: dict, n_jobs=1,
                      progress=None) -> Resamples:
        """Estimates without each respondent in turn (the jackknife for BCa intervals)."""
        raise NotImplementedError

    def settings(self, spec, survey, estimates: Estimates, options: dict) -> dict:
        """What made the numbers, for ``res.settings`` (human-readable)."""
        raise NotImplementedError

    def status(self, estimates: Estimates, settings: dict) -> str:
        """One line: converged or not, and by which criterion."""
        raise NotImplementedError

    def reliability(self, estimates: Estimates):
        """(rho_A, rho_C, AVE) per construct."""
        raise NotImplementedError

    def fit_measures(self, survey, estimates: Estimates) -> pd.Series:
        raise NotImplementedError

    def f_squared(self, estimates: Estimates, options: dict) -> list[tuple[int, int, float]]:
        raise NotImplementedError


ENGINES = {"pls": "csi_models.engines.pls", "plsc": "csi_models.engines.plsc",
           "cbsem": "csi_models.engines.cbsem_engine"}
ALIASES = {"cb-sem": "cbsem", "cb_sem": "cbsem", "sem": "cbsem"}


def engine_name(method) -> str:
    """The engine name in fit's spelling ('pls' or 'cbsem'; case and '-' do not matter)."""
    name = str(method).lower()
    name = ALIASES.get(name, name.replace("-", ""))
    if name not in ENGINES:
        raise CSIError(f"method={method!r}: use {' or '.join(repr(e) for e in ENGINES)}")
    return name


def get_engine(method) -> Engine:
    """The engine object registered under ``method`` (its module is imported on first use:
    PLS users never load semopy)."""
    return import_module(ENGINES[engine_name(method)]).ENGINE


def all_options() -> dict[str, list[str]]:
    """option name -> the engines that take it."""
    out: dict[str, list[str]] = {}
    for name in ENGINES:
        for key in get_engine(name).options:
            out.setdefault(key, []).append(name)
    return out


def _is_foreign_default(key: str, value) -> bool:
    """``value`` is the default of option ``key`` of the engine that owns it (so passing it
    to another engine, as scripts that set every option do, changes nothing)."""
    owners = all_options().get(key, [])
    for name in owners:
        option = get_engine(name).options[key]
        try:
            if option.check(value) == option.default:
                return True
        except (ValueError, TypeError):
            pass
    return False


def _foreign_option(engine: Engine, key: str, value) -> str:
    owners = all_options().get(key)
    if owners:
        owner = get_engine(owners[0])
        return (f"{key}={value!r} is a {owner.title} option and is not used with "
                f"method={engine.name!r}: leave it out, or use method={owners[0]!r}"
                + (" (PLS standard errors come from the bootstrap: bootstrap=5000)"
                   if key == "se" else ""))
    known = sorted(all_options())
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"fit() got an unknown option {key!r}{hint}; engine options are "
            f"{', '.join(known)}")
