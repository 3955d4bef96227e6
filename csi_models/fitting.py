"""``fit``: spec + survey data -> FitResult, by any registered engine.

The one entry point the engines share: it resolves the engine and its options, loads the spec,
checks the data, runs the engine, derives every statistic with the kernel, bootstraps when
asked, and assembles the settings and the warnings before it builds the result (once).
"""

from __future__ import annotations

import math
import numbers
import warnings

from csi_models.data import as_frame, prepare
from csi_models.engines.base import Resamples, get_engine
from csi_models.errors import BootstrapWarning, CSIError, CSIWarning, EstimationError, IndexWarning
from csi_models.inference.random import check_seed
from csi_models.result import FitResult
from csi_models.spec import load_spec
from csi_models.statistics.indices import index_notes
from csi_models.statistics.kernel import Statistics
from csi_models.versions import package_versions

INTERVALS = ("percentile", "bca")
IMPROPER = ("keep", "drop")


def _whole(value) -> bool:
    """A whole number: an int (not a bool) or a float with no fractional part."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()


def check_bootstrap(bootstrap, random_state, ci, interval, n_jobs, improper) -> int:
    """The bootstrap options; returns the number of resamples (0 = no bootstrap)."""
    from csi_models.spec.validation import is_number

    if bootstrap is None or bootstrap is False:
        n_boot = 0
    elif not _whole(bootstrap) or bootstrap < 0:
        raise CSIError(f"bootstrap={bootstrap!r}: give the number of resamples as a whole number, "
                       "e.g. bootstrap=5000 (0 for none)")
    else:
        n_boot = int(bootstrap)
    if n_boot == 1:
        raise CSIError(f"bootstrap={bootstrap!r}: ask for at least 2 resamples (5000 is usual)")
    check_seed(random_state)
    if not is_number(ci) or not 0 < ci < 1:
        raise CSIError(f"ci={ci!r}: the interval level must be a number between 0 and 1, e.g. 0.95")
    if not isinstance(interval, str) or interval not in INTERVALS:
        raise CSIError(f"interval={interval!r}: use 'percentile' or 'bca'")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
                               or n_jobs == 0):
        raise CSIError(f"n_jobs={n_jobs!r}: give the number of parallel processes (1, 2, ...) or "
                       "-1 for all cores (-2 for all but one)")
    if not isinstance(improper, str) or improper not in IMPROPER:
        raise CSIError(f"improper={improper!r}: use 'keep' (as lavaan) or 'drop'")
    return n_boot


def fit(spec, data, method: str = "pls", *, missing: str = "listwise", bootstrap: int = 0,
        random_state=None, ci: float = 0.95, interval: str = "percentile", n_jobs: int = -1,
        progress=None, improper: str = "keep", weights: str | None = None, **options) -> FitResult:
    """Fit a CSI model.

    spec: a shipped name ('acsi', 'ecsi', 'ccsi'), a YAML path, a dict or a ModelSpec.
    data: a DataFrame (never modified) or a survey file path.
    method: 'pls' (PLS path modelling), 'plsc' (consistent PLS) or 'cbsem' (covariance-based
        ML SEM: semopy's model, our batched ML kernel).
    missing: 'listwise' (default), 'mean' (PLS only) or 'fiml' (CB-SEM only).
    options of the engine: PLS ``scheme`` ('path', 'factorial', 'centroid'), ``tol`` (1e-7),
        ``max_iter`` (300); CB-SEM ``se`` ('standard' or 'robust').
    bootstrap: number of bootstrap resamples (0 = none): PLS and PLSc estimate them all at
        once; CB-SEM minimizes them together in the batched ML kernel (FIML: full refits in
        parallel processes, ``n_jobs``). ``random_state`` seeds
        them; ``ci`` is the interval level and ``interval`` 'percentile' or 'bca';
        ``improper``: CB-SEM resamples with an improper solution are kept ('keep', as lavaan)
        or left out ('drop'), and counted either way.
    progress: a progress bar (tqdm) with an ETA: None shows it for work that runs over about
        2 s, True always, False never.
    weights: the column of respondent weights (data.weights): PLS takes them as frequency
        weights, CB-SEM as lavaan's sampling.weights (engines.cbsem_weights).
    A Dask DataFrame or a folder of Parquet files is fitted from its item moments in one pass
    (``csi_models.moments_fit.fit_moments``: listwise, no bootstrap).
    """
    from csi_models.moments_fit import fit_moments, is_large_source

    if is_large_source(data):
        return fit_moments(spec, data, method, weights=weights, missing=missing,
                           bootstrap=bootstrap, **options)
    engine = get_engine(method)
    if weights is not None and not engine.respondent_weights:
        raise EstimationError(f"weights={weights!r}: respondent weights are not implemented for "
                              f"method={engine.name!r} yet; fit without weights, or use "
                              "method='pls'")
    options = engine.resolve(options)
    engine.check_missing(missing)
    n_boot = check_bootstrap(bootstrap, random_state, ci, interval, n_jobs, improper)
    spec = load_spec(spec)
    data = as_frame(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CSIWarning)
        survey = prepare(spec, data, missing=missing, weights=weights)
        spec = survey.spec  # with the scales the data check settled (value labels)
        estimates = engine.fit(spec, survey, options)
        statistics = Statistics(spec, estimates.layout)
        point = statistics.derive(Resamples.of(estimates))
        notes = index_notes(estimates)
        for note in filter(None, notes):
            warnings.warn(note, IndexWarning, stacklevel=2)
    for w in caught:  # hand them on to the caller, and keep ours for summary()
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    messages = [f"{w.category.__name__}: {w.message}" for w in caught
                if issubclass(w.category, CSIWarning)]
    boot = None
    if n_boot:
        from csi_models.inference.bootstrap import bootstrap as run_bootstrap

        boot = run_bootstrap(engine, spec, survey, estimates, options, statistics, point, n_boot,
                             random_state, ci, interval, n_jobs, progress, improper)
        for message in boot.messages():
            warnings.warn(message, BootstrapWarning, stacklevel=2)
            messages.append(f"BootstrapWarning: {message}")
    settings = {"engine": engine.name, "model": spec.name, "n_used": survey.n,
                "n_input": survey.n_input, "missing": survey.missing,
                "rows_dropped": len(survey.dropped_rows),
                "reverse_coded": list(survey.reversed_items), "data_notes": list(survey.notes),
                "converged": estimates.converged,
                **engine.settings(spec, survey, estimates, options),
                **(boot.settings() if boot is not None else {}), "versions": package_versions()}
    if weights is not None:
        how = settings.get("respondent_weights", "frequency weights")   # the engine's, if any
        settings["respondent_weights"] = f"column {weights!r} ({how})"
    return FitResult(spec, survey, estimates, options, settings, messages, statistics, point,
                     notes, bootstrap=boot)


def fit_options() -> list[str]:
    """Every keyword ``fit`` takes besides spec, data and method (its own and the engines')."""
    import inspect

    from csi_models.engines.base import all_options

    own = [k for k, p in inspect.signature(fit).parameters.items()
           if p.kind == p.KEYWORD_ONLY]
    return own + sorted(all_options())


__all__ = ["fit", "fit_options"]
