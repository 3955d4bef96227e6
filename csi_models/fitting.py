"""``fit``: spec + survey data -> FitResult, by PLS or CB-SEM.

The one entry point both engines share: it loads the spec, checks the data, runs the
engine, records the settings that made the numbers and the warnings raised on the way.
"""

from __future__ import annotations

import math
import numbers
import platform
import warnings

import numpy as np
import pandas as pd

from csi_models.data import as_frame, prepare
from csi_models.engines import cbsem, pls
from csi_models.errors import BootstrapWarning, CSIError, CSIWarning, EstimationError
from csi_models.result import FitResult
from csi_models.spec import load_spec

METHODS = ("pls", "cbsem")


def _versions() -> dict:
    import numpy
    import semopy

    from csi_models import __version__

    return {"csi_models": __version__, "numpy": numpy.__version__, "pandas": pd.__version__,
            "semopy": semopy.__version__, "python": platform.python_version()}


def _settings(method, spec, survey, estimates, options) -> dict:
    common = {
        "engine": method, "model": spec.name, "n_used": survey.n, "n_input": survey.n_input,
        "missing": survey.missing, "rows_dropped": len(survey.dropped_rows),
        "reverse_coded": list(survey.reversed_items), "data_notes": list(survey.notes),
        "converged": estimates.converged, "versions": _versions(),
    }
    if method == "pls":
        return {**common,
                "algorithm": "PLS path modelling (Lohmoeller), our numpy implementation",
                "inner_scheme": pls.SCHEMES[options["scheme"]],
                "modes": {c.name: ("B" if c.mode == "formative" else "A") for c in spec.constructs},
                "scaling": "items z-scored (sd with n - 1); scores of unit variance",
                "initial_weights": "unit weights", "tolerance": options["tol"],
                "stop_rule": "max |change in any outer weight| < tolerance",
                "max_iter": options["max_iter"], "iterations": estimates.iterations,
                "sign_rule": "each construct oriented so its loadings sum to a positive number"}
    return {**common,
            "algorithm": "maximum likelihood via semopy, polished by Fisher scoring and Newton steps",
            "estimator": "FIML (casewise ML with mean structure)" if survey.missing == "fiml" else "ML (Wishart)",
            "covariance_divisor": "n (maximum likelihood)",
            "standard_errors": ("robust (Huber-White sandwich)" if options["se"] == "robust"
                                else "expected information"),
            "scaling": "first loading of each construct fixed to 1; standardized = lavaan std.all",
            "variance_bounds": "none (negative variances reported, as in lavaan)",
            "gradient_norm": estimates.gradient_norm, "gradient_tolerance": cbsem.GRADIENT_TOLERANCE,
            "newton_steps": estimates.iterations,
            "weights": "own-block factor-score weights, proportional to Sigma_jj^-1 lambda_j",
            "index_moments": ("the model's: FIML means (mean structure) and the implied covariance"
                              if survey.missing == "fiml" else
                              "sample means and covariance of the rows used")}


_DEFAULTS = {"scheme": "path", "tol": 1e-7, "max_iter": 300, "se": "standard"}


def _whole(value) -> bool:
    """A whole number: an int (not a bool) or a float with no fractional part."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()


def _check_options(method, scheme, tol, max_iter, se) -> None:
    """Estimation options: valid values, and no option of the other engine (it would be
    silently ignored)."""
    from csi_models.spec.validation import is_number

    if not is_number(tol) or tol <= 0:
        raise EstimationError(f"tol={tol!r}: give a positive number such as 1e-7")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise EstimationError(f"max_iter={max_iter!r}: give a whole number of iterations >= 1")
    if not isinstance(scheme, str) or scheme not in pls.SCHEMES:
        raise EstimationError(f"unknown inner scheme {scheme!r} (argument scheme): use 'path', "
                              "'factorial' or 'centroid'")
    if not isinstance(se, str) or se not in ("standard", "robust"):
        raise EstimationError(f"se={se!r}: use 'standard' or 'robust'")
    given = {"scheme": pls.SCHEMES[scheme], "tol": tol, "max_iter": max_iter, "se": se}
    other = ("se",) if method == "pls" else ("scheme", "tol", "max_iter")
    for name in other:
        if given[name] != _DEFAULTS[name]:
            hint = ("PLS standard errors come from the bootstrap (bootstrap=5000)" if name == "se"
                    else "CB-SEM has no inner scheme and its own convergence rule")
            engine = "CB-SEM" if name == "se" else "PLS"
            raise CSIError(f"{name}={given[name]!r} is a {engine} option and is not used with "
                           f"method={method!r} ({hint}): leave it out, or use method="
                           f"{'cbsem' if name == 'se' else 'pls'!r}")


def check_method(method) -> str:
    """The engine name in fit's spelling ('pls' or 'cbsem'; case and '-' do not matter)."""
    name = str(method).lower().replace("-", "")
    if name not in METHODS:
        raise CSIError(f"method={method!r}: use 'pls' or 'cbsem'")
    return name


def check_seed(random_state) -> None:
    """A seed every random step can take: a whole number >= 0, a numpy Generator or
    SeedSequence, or None (a fresh seed)."""
    if not (random_state is None or isinstance(random_state, (np.random.Generator, np.random.SeedSequence))
            or (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
                and random_state >= 0)):
        raise CSIError(f"random_state={random_state!r}: give the seed as a whole number >= 0 "
                       "(e.g. random_state=1), a numpy Generator, or None for a fresh seed")


def _check_bootstrap(bootstrap, random_state, ci, interval, n_jobs) -> int:
    """The bootstrap options; returns the number of resamples (0 = no bootstrap)."""
    from csi_models.inference.intervals import INTERVALS
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
    return n_boot


def fit(spec, data, method: str = "pls", *, missing: str = "listwise", scheme: str = "path",
        tol: float = 1e-7, max_iter: int = 300, se: str = "standard", bootstrap: int = 0,
        random_state=None, ci: float = 0.95, interval: str = "percentile", n_jobs: int = -1,
        progress=None, weights: str | None = None) -> FitResult:
    """Fit a CSI model.

    spec: a shipped name ('acsi', 'ecsi', 'ccsi'), a YAML path, a dict or a ModelSpec.
    data: a DataFrame (never modified) or a survey file path.
    method: 'pls' (PLS path modelling) or 'cbsem' (covariance-based ML SEM via semopy).
    missing: 'listwise' (default), 'mean' (PLS only) or 'fiml' (CB-SEM only).
    scheme, tol, max_iter: PLS inner scheme ('path', 'factorial', 'centroid') and stop rule.
    se: CB-SEM standard errors, 'standard' or 'robust'.
    bootstrap: number of bootstrap resamples (0 = none): PLS estimates them all at once,
        CB-SEM refits each in parallel processes (``n_jobs``, joblib). ``random_state`` seeds
        them; ``ci`` is the interval level and ``interval`` 'percentile' or 'bca'.
    progress: show a progress bar on stderr (default: when stderr is a terminal).
    weights: the column of respondent weights (PLS; frequency weights, see data.weights).
    """
    method = check_method(method)
    _check_options(method, scheme, tol, max_iter, se)
    n_boot = _check_bootstrap(bootstrap, random_state, ci, interval, n_jobs)
    spec = load_spec(spec)
    data = as_frame(data)
    options = {"scheme": scheme, "tol": tol, "max_iter": max_iter, "se": se}
    if weights is not None and method != "pls":
        raise EstimationError(f"weights={weights!r}: respondent weights are implemented for "
                              "method='pls' only so far; fit without weights, or use PLS")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CSIWarning)
        survey = prepare(spec, data, missing=missing, weights=weights)
        spec = survey.spec  # with the scales the data check settled (value labels)
        if method == "pls":
            estimates = pls.fit(spec, survey, scheme=scheme, tol=tol, max_iter=max_iter)
        else:
            estimates = cbsem.fit(spec, survey, se=se)
    for w in caught:  # hand them on to the caller, and keep ours for summary()
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    messages = [f"{w.category.__name__}: {w.message}" for w in caught
                if issubclass(w.category, CSIWarning)]
    settings = _settings(method, spec, survey, estimates, options)
    if weights is not None:
        settings["respondent_weights"] = f"column {weights!r} (frequency weights)"
    boot = None
    if n_boot:
        boot = _bootstrap(method, spec, survey, estimates, options, n_boot, random_state,
                          ci, interval, n_jobs, progress)
        settings.update(boot.settings())
        for message in _bootstrap_messages(boot):
            warnings.warn(message, BootstrapWarning, stacklevel=2)
            messages.append(f"BootstrapWarning: {message}")
    return FitResult(spec, survey, estimates, settings, messages, bootstrap=boot)


def _bootstrap_messages(boot) -> list[str]:
    """What the bootstrap left out: failed resamples, and statistics undefined in some of the
    resamples that did not fail (each summary then uses fewer draws: its n_boot)."""
    out = []
    if boot.n_failed:
        out.append(f"{boot.n_failed} of {boot.n_requested} bootstrap resamples failed "
                   f"({', '.join(sorted(set(r.split(' (')[0] for r in boot.failed.reason)))}) and "
                   "are left out of the standard errors and intervals; see res.bootstrap.failed")
    for row in boot.incomplete("indices").itertuples():
        out.append(f"the index of {row.construct} is undefined (a negative weight) in "
                   f"{row.n_undefined} of {boot.n_ok} bootstrap resamples; its se and interval, "
                   f"and those of the impacts involving {row.construct}, use the other "
                   f"{row.n_boot} or fewer (column n_boot of res.indices and res.impacts)")
    for kind in ("paths", "weights", "loadings", "r2", "indirect", "total", "htmt"):
        short = boot.incomplete(kind)
        if len(short):
            keys = ["/".join(map(str, k)) for k in short.iloc[:, :-2].itertuples(index=False)]
            out.append(f"{kind}: {', '.join(keys)} undefined in {short.n_undefined.max()} or fewer "
                       f"of {boot.n_ok} bootstrap resamples, left out of their se and intervals "
                       f"(res.bootstrap.table({kind!r}).n_boot)")
    return out


def _bootstrap(method, spec, survey, estimates, options, n_boot, random_state, ci, interval,
               n_jobs, progress):
    from csi_models.inference import bootstrap as boot

    if method == "pls":
        return boot.bootstrap_pls(spec, survey, options, n_boot, random_state, ci, interval, progress)
    return boot.bootstrap_cbsem(spec, survey, estimates, n_boot, random_state, ci, interval,
                                n_jobs, progress)
