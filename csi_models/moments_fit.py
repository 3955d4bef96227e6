"""``fit_moments``: PLS or CB-SEM of a survey too large for memory, from one pass over it.

A Dask DataFrame or a Parquet file or folder is read once (``data.streaming``: Parquet batch
by batch, Dask partitions in parallel), checked as ``prepare`` checks a DataFrame
(``data.moments_check``), and fitted from its item moments: PLS from the item correlation
matrix (``engines.pls.estimate_batch``, as every PLS fit), CB-SEM from the covariance matrix
and n (semopy's model loaded with the covariance, minimized by our batched kernel,
``engines.mlfit.minimize``, then the polish, standard errors and solution of
``engines.cbsem``). The numbers equal an in-memory ``csi.fit`` of the same rows to 1e-10
(tests/test_fit_moments.py). Listwise deletion (one pass over the complete rows) or, for PLS,
mean replacement (a first pass for the item means, a second with them in the gaps); no
bootstrap, scores, predict or modification indices (they need respondent-level data: the
result says so when asked).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd

from csi_models.data.moments_check import RESPONDENT_LEVEL, MomentFrame, check_moments
from csi_models.engines.base import Layout, get_engine
from csi_models.errors import (CSIError, CSIWarning, DataError,
                               EstimationError, IndexWarning)
from csi_models.result import FitResult
from csi_models.result_tables import cached_table
from csi_models.spec import load_spec
from csi_models.statistics.kernel import Statistics
from csi_models.versions import package_versions

METHODS = ("pls", "cbsem")


def is_large_source(data) -> bool:
    """A Dask DataFrame or a folder of Parquet files: what ``csi.fit`` hands to fit_moments."""
    if type(data).__module__.startswith("dask") and hasattr(data, "to_delayed"):
        return True
    return isinstance(data, (str, os.PathLike)) and os.path.isdir(data)


def fit_moments(spec, data, method: str = "pls", *, weights: str | None = None,
                missing: str = "listwise", bootstrap: int = 0, batch_size: int = 65536,
                **options) -> FitResult:
    """Fit a CSI model from one pass over ``data``: a Dask DataFrame, or the path of a
    Parquet file or folder (read ``batch_size`` rows at a time). ``method`` 'pls' or 'cbsem'
    with their options (not se='robust', which needs casewise scores); ``weights``: a column
    of respondent weights (PLS). ``missing``: 'listwise' or (PLS) 'mean', which reads the data
    twice. No bootstrap (see module)."""
    engine, options = check_options(method, weights, missing, bootstrap, options)
    spec = load_spec(spec)
    check_columns(spec, data, weights)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CSIWarning)
        moments = _scan(spec, data, weights, batch_size)
        if missing == "mean":   # a second pass with each item's mean answer for its gaps
            if moments.errors or moments.bad:   # bad answers: no second pass
                check_moments(spec, moments)
            fill = moments.answer_sums / np.maximum(moments.answered, 1)
            moments = _scan(spec, data, weights, batch_size, fill)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return fit_scanned(spec, moments, engine, options, weights, missing,
                       f"{moments.n_batches} chunk(s) of {_describe(data)}")


def check_options(method, weights, missing, bootstrap, options):
    """(engine, resolved options) of a fit from moments; a clear error for what it cannot do."""
    engine = get_engine(method)
    if engine.name not in METHODS:
        raise CSIError(f"method={method!r}: fits from moments are available for 'pls' and "
                       "'cbsem'")
    if weights is not None and engine.name == "cbsem":
        raise EstimationError(f"weights={weights!r}: CB-SEM with sampling weights needs each "
                              "respondent's score for its robust standard errors, which a fit "
                              "from moments does not have; fit the data in memory, or use "
                              "method='pls'")
    if weights is not None and not engine.respondent_weights:
        raise EstimationError(f"weights={weights!r}: respondent weights are not implemented for "
                              f"method={engine.name!r} yet; fit without weights, or use "
                              "method='pls'")
    engine.check_missing(missing)
    if missing not in ("listwise", "mean"):
        raise CSIError(f"missing={missing!r}: a fit from moments uses listwise deletion (one pass "
                       "over the complete rows) or, for PLS, mean replacement (two passes); FIML "
                       "needs the rows: fit a sample in memory with csi.fit")
    if bootstrap:
        raise CSIError(RESPONDENT_LEVEL.format(what="the bootstrap") + " (at this size the "
                       "bootstrap's intervals would be negligibly narrow anyway)")
    options = engine.resolve(options)
    if options.get("se") == "robust":
        raise CSIError(RESPONDENT_LEVEL.format(what="se='robust' (casewise scores)"))
    return engine, options


def fit_scanned(spec, moments, engine, options: dict, weights, missing: str,
                source: str) -> "MomentsFitResult":
    """The fit of scanned moments (``data.streaming.ChunkMoments``): checked as ``prepare``
    checks a table (``check_moments``), then the engine; ``source`` says what was read."""
    if moments.failure:
        raise DataError(moments.failure)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CSIWarning)
        survey = check_moments(spec, moments, missing)
        spec = survey.spec
        estimates = (_pls(spec, survey, options) if engine.name == "pls"
                     else _cbsem(spec, survey, options))
        from csi_models.engines.base import Resamples
        from csi_models.statistics.indices import index_notes

        statistics = Statistics(spec, estimates.layout)
        point = statistics.derive(Resamples.of(estimates))
        notes = index_notes(estimates)
        for note in filter(None, notes):
            warnings.warn(note, IndexWarning, stacklevel=2)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    messages = [f"{w.category.__name__}: {w.message}" for w in caught
                if issubclass(w.category, CSIWarning)]
    settings = {"engine": engine.name, "model": spec.name, "n_used": survey.n,
                "n_input": survey.n_input, "missing": missing,
                "rows_dropped": moments.n_dropped, "reverse_coded": list(survey.reversed_items),
                "data_notes": list(survey.notes), "converged": estimates.converged,
                **engine.settings(spec, survey, estimates, options),
                "fitted_from": f"item moments, one pass over {source}",
                "versions": package_versions()}
    if weights is not None:
        settings["respondent_weights"] = f"column {weights!r} (frequency weights)"
    return MomentsFitResult(spec, survey, estimates, options, settings, messages, statistics,
                            point, notes)


def _describe(data) -> str:
    return "a Dask DataFrame" if not isinstance(data, (str, os.PathLike)) else f"{str(data)!r}"


def check_columns(spec, data, weights=None) -> list[str]:
    """The column checks ``prepare`` makes (same messages), on the source's column names;
    returns those names."""
    from csi_models.data import streaming
    from csi_models.data.moments_check import _raise
    from csi_models.data.prepare import _locate

    if isinstance(data, (str, os.PathLike)):
        if not os.path.exists(data):
            raise CSIError(f"{str(data)!r} does not exist: give a Parquet file or folder")
        names = streaming.parquet_columns(data)
    elif is_large_source(data):
        names = [str(c) for c in data.columns]
    else:
        raise CSIError("fit_moments takes a Dask DataFrame or the path of a Parquet file or "
                       f"folder, not {type(data).__name__}; fit a DataFrame with csi.fit")
    _, findings, absent = _locate(spec, pd.DataFrame(columns=names))
    if findings:
        if absent and all("is not in the data" in f.message for f in findings):
            raise DataError(absent)
        _raise(spec, findings)
    if weights is not None and weights not in names:
        raise DataError(f"weights={weights!r} is not a column of the survey data: give the "
                          "name of the column holding each respondent's weight")
    return names


def _scan(spec, data, weights, batch_size, fill=None):
    """The one pass over a source whose columns ``check_columns`` accepted."""
    from csi_models.data import streaming

    if isinstance(data, (str, os.PathLike)):
        return streaming.scan_parquet(spec, data, weights, batch_size, fill)
    return streaming.scan_dask(spec, data, weights, fill)


# --- the engines from moments ----------------------------------------------------------------
def _pls(spec, survey, options):
    """``PLSEngine.fit`` on the moments: the item correlations, means and sds it would compute
    from rows are handed to it as the data check's moments (``SurveyData.moments``)."""
    import dataclasses

    items = list(Layout.from_spec(spec).items)
    frame = survey.values[items]
    moments = (frame.corr().to_numpy()[None], frame.mean().to_numpy()[None],
               frame.std(ddof=1).to_numpy()[None])
    survey = dataclasses.replace(survey, values=frame, moments=(frame, moments))
    return get_engine("pls").fit(spec, survey, options)


def _cbsem(spec, survey, options):
    """``engines.cbsem.fit`` on the moments: its complete-data path takes the covariance
    matrix (divisor n) and n for the rows (``cbsem._load``), so start, optimizer, polish and
    standard errors are those of an in-memory fit."""
    from csi_models.engines import cbsem
    from csi_models.engines.cbsem_engine import with_moments

    return with_moments(cbsem.fit(spec, survey), survey)


class MomentsFitResult(FitResult):
    """A FitResult fitted from moments: every table that moments determine; the respondent-
    level ones (scores, predict, modification indices) refuse with a clear message."""

    @cached_table
    def fit_indices(self) -> pd.Series:
        """As FitResult.fit_indices; CB-SEM's ML measures from the sample covariance and n."""
        if self.method != "cbsem":
            return self._engine.fit_measures(self.data, self.estimates)
        from csi_models.statistics import fit_measures as fm

        est = self.estimates
        S = self.data.values[list(est.layout.items)].cov(ddof=0).to_numpy()
        return fm.ml_measures([fm.Moments(S, est.implied_cov, self.n)], int(est.extras["n_free"]))

    def _refuse(self, what):
        raise CSIError(RESPONDENT_LEVEL.format(what=what))

    scores = property(lambda self: self._refuse("scores"))
    scores_100 = property(lambda self: self._refuse("scores_100"))

    def predict(self, *args, **kwargs):
        self._refuse("predict()")

    def modification_indices(self):
        self._refuse("modification_indices()")


__all__ = ["MomentFrame", "fit_moments", "is_large_source"]
