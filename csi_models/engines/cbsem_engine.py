"""The CB-SEM engine object: ``engines.cbsem`` (one ML fit through semopy and our kernel)
behind the engine protocol, with its resampling (every resample through the batched ML kernel,
``engines.resamples``; FIML resamples by full refits in parallel processes), its settings,
reliability, fit measures and f²."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from csi_models.engines import cbsem_robust, cbsem_weights
from csi_models.engines.base import Engine, Estimates, Option, Resamples, choice
from csi_models.errors import CSIError

# engines.cbsem (and engines.resamples, which imports it) load semopy and sympy (~2 s): they
# are imported where a CB-SEM fit runs, not with this engine object, which resolving any
# fit's options loads (``base.all_options``)


def chunks(n_tasks: int, n_jobs) -> list[np.ndarray]:
    """Task numbers split into about four chunks per worker that ``n_jobs`` gives
    (``joblib.effective_n_jobs``: -1 = every core), so that workers stay busy and the
    progress bar moves. Results do not depend on the chunking."""
    from joblib import effective_n_jobs

    workers = max(1, effective_n_jobs(n_jobs))
    parts = np.array_split(np.arange(n_tasks), max(1, min(n_tasks, 4 * workers)))
    return [c for c in parts if c.size]


def _refit(spec, survey, rows, se, start):
    """One refit of ``survey`` restricted to ``rows``: (Estimates with the sample's moments,
    None) or (None, the reason it failed)."""
    from csi_models.engines import cbsem

    sample = _rows(survey, rows)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = (cbsem.fit(spec, sample, se=se) if start is None
                   else cbsem.fit(spec, sample, se=se, start=start))
    except Exception as exc:  # noqa: BLE001 - a resample never stops the bootstrap
        kind = "" if isinstance(exc, CSIError) else f"{type(exc).__name__}: "
        return None, f"failed: {kind}{(str(exc).splitlines() or [''])[0][:120]}"
    if not est.converged:
        return None, f"not converged (max |gradient| {est.gradient_norm:.1e})"
    return with_moments(est, sample), None


def _rows(survey, rows):
    """The survey restricted to row positions ``rows`` (a resample), each respondent with
    its weight."""
    weights = getattr(survey, "weights", None)
    weights = None if weights is None else weights[rows]
    return replace(survey, values=survey.values.iloc[rows].reset_index(drop=True), weights=weights)


def _refit_many(spec, survey, rows_list, se, start):
    return [_refit(spec, survey, rows, se, start) for rows in rows_list]


def refit_each(spec, survey, rows_list, start=None, n_jobs=1, se="standard", progress=None):
    """Refit every row set of ``rows_list`` (row positions into ``survey.values``) by a full
    ``cbsem.fit`` (what FIML resamples need): one (Estimates, None) or (None, reason) per set,
    in order, in parallel processes (joblib, ``n_jobs``), each started from ``start`` (the
    full-sample solution vector)."""
    from joblib import Parallel, delayed

    jobs = (delayed(_refit_many)(spec, survey, [rows_list[i] for i in c], se, start)
            for c in chunks(len(rows_list), n_jobs))
    results = []
    for part in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
        results += part
        if progress is not None:
            progress(len(part))
    return results


def with_moments(est: Estimates, survey) -> Estimates:
    """The estimates with the item moments that standardize scores and enter the index:
    sample means and sds (n - 1) of the rows used, or with FIML the model's means (the
    ``~1`` rows) and implied sds; and the sample item correlations (pairwise with FIML).
    With respondent weights the sample moments are weighted, as for PLS
    (``moments.full_moments``: integer weights give the moments of the repeated rows);
    with FIML and weights the model's means and sds come from the weighted fit and the
    pairwise correlations are weighted."""
    items = list(est.layout.items)
    values = survey.values[items]
    weights = getattr(survey, "weights", None)
    if survey.missing == "fiml":
        table = est.parameters
        mean = table[table.op == "~1"].set_index("lhs")["est"].reindex(items).to_numpy(float)
        sd = np.sqrt(np.diag(est.implied_cov))
        if weights is None:
            cor = values.corr()
        else:
            from csi_models.statistics.moments import pairwise_correlations

            cor = pairwise_correlations(values.to_numpy(float), weights)
        return replace(est, item_mean=mean, item_sd=sd, item_cor=np.asarray(cor, float))
    if weights is not None:
        from csi_models.statistics.moments import full_moments

        cor, mean, sd = full_moments(values.to_numpy(float), weights)
        return replace(est, item_mean=mean[0], item_sd=sd[0], item_cor=cor[0])
    mean, sd = values.mean().to_numpy(float), values.std(ddof=1).to_numpy(float)
    return replace(est, item_mean=mean, item_sd=sd, item_cor=values.corr().to_numpy(float))


_WEIGHTED_ML = ("lavaan's sampling.weights: normalized to sum to N; ML on the weighted covariance "
                "(divisor N); robust SEs; Yuan-Bentler scaled test in fit_indices (chisq.scaled) "
                "and the .scaled and .robust measures")
_WEIGHTED_FIML = ("lavaan's sampling.weights with missing='ml': normalized to sum to N; each "
                  "row's log-likelihood counted w times; robust SEs; fit measures on the "
                  "weighted log-likelihoods; Yuan-Bentler scaled test in fit_indices "
                  "(chisq.scaled) and FIML-corrected .robust measures")


class CBSEMEngine(Engine):
    """Covariance-based SEM by ML (see the module docstring)."""

    name, title = "cbsem", "CB-SEM"
    options = {"se": Option("standard", choice("standard", "robust"),
                            "{key}={value!r}: use 'standard' or 'robust'",
                            "standard errors: expected information or Huber-White sandwich")}
    missing_rules = ("listwise", "fiml")
    group_test = "invariance"
    long_title = "CB-SEM (maximum likelihood)"
    # the scaled test and .robust indices (se="robust", weights; .robust also every FIML fit)
    fit_keys = ("npar", "chisq", "df", "pvalue", "chisq.scaled", "pvalue.scaled", "cfi", "tli",
                "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "cfi.robust",
                "tli.robust", "rmsea.robust", "srmr", "logl", "aic", "bic", "bic2")
    fit_rules = (("cfi", "<", 0.95), ("tli", "<", 0.95), ("rmsea", ">", 0.06),
                 ("srmr", ">", 0.08))   # Hu & Bentler (1999)
    refused_missing = {"mean": "missing='mean' is for PLS; for CB-SEM use missing='listwise' or "
                               "missing='fiml' (full-information ML)"}
    respondent_weights = True   # as lavaan's sampling.weights (engines.cbsem_weights)

    def fit(self, spec, survey, options) -> Estimates:
        from csi_models.engines import cbsem

        if getattr(survey, "weights", None) is not None:
            return with_moments(cbsem_weights.fit(spec, survey), survey)
        return with_moments(cbsem.fit(spec, survey, se=options["se"]), survey)

    def _stack(self, results, layout) -> Resamples:
        p, J = len(layout.items), len(layout.constructs)
        empty = {"paths": np.full((J, J), np.nan), "weights": np.full(p, np.nan),
                 "loadings": np.full(p, np.nan), "r2": np.full(J, np.nan),
                 "item_mean": np.full(p, np.nan), "item_sd": np.full(p, np.nan),
                 "item_cor": np.full((p, p), np.nan)}
        arrays = {k: np.stack([v if est is None else getattr(est, k) for est, _ in results])
                  for k, v in empty.items()} if results else \
            {k: np.empty((0, *v.shape)) for k, v in empty.items()}
        return Resamples(**arrays, ok=np.array([est is not None for est, _ in results], bool),
                         reasons=tuple(reason or "" for _, reason in results),
                         improper=np.array([est is not None and bool(est.extras.get("improper"))
                                            for est, _ in results], bool))

    def _refits(self, spec, survey, estimates, options, rows, n_jobs, progress):
        """Complete data: every row set through the batched ML kernel at once
        (``engines.resamples``); FIML: a full refit of each, without standard errors (the
        bootstrap does not read them), from the full-sample estimates where they are a
        proper solution, else from each resample's own start (its pairwise covariances'
        ML fit): on ECSI (improper) a resample took 22 s from the full-sample estimates
        (they did not converge, then the other start did) and 4 s from its own."""
        start = estimates.extras.get("x")
        if survey.missing == "fiml":
            start = None if estimates.extras.get("improper") else start
            return self._stack(refit_each(spec, survey, rows, start, n_jobs, "none", progress),
                               estimates.layout)
        from csi_models.engines.resamples import resample_stack

        stack = resample_stack(spec, survey, rows, start, 1 if n_jobs is None else n_jobs)
        if progress is not None:
            progress(len(rows))
        return stack

    def resample(self, spec, survey, estimates, options, rows, n_jobs=1, progress=None):
        return self._refits(spec, survey, estimates, options, list(rows), n_jobs, progress)

    def leave_one_out(self, spec, survey, estimates, options, n_jobs=1, progress=None):
        n = len(survey.values)
        rows = [np.delete(np.arange(n), i) for i in range(n)]
        return self._refits(spec, survey, estimates, options, rows, n_jobs, progress)

    def settings(self, spec, survey, estimates, options) -> dict:
        from csi_models.engines.cbsem import GRADIENT_TOLERANCE

        fiml = survey.missing == "fiml"
        weighted = getattr(survey, "weights", None) is not None
        se = ("robust (Huber-White sandwich on weighted casewise scores, observed information: "
              "lavaan's default with sampling.weights)" if weighted else
              "robust (Huber-White sandwich on the observed information, lavaan's MLR; "
              "Yuan-Bentler scaled test in fit_indices)" if options["se"] == "robust" and fiml else
              "robust (Huber-White sandwich on the expected information, lavaan's MLR with "
              "information='expected'; Yuan-Bentler scaled test in fit_indices)"
              if options["se"] == "robust" else
              "observed information (lavaan's default with missing='ml')" if fiml else
              "expected information")
        return {
            "algorithm": ("maximum likelihood: semopy's objective and Newton steps (FIML)" if fiml
                          else "maximum likelihood: damped Fisher scoring, then Newton steps on the "
                               "exact Hessian (our batched kernel; semopy parses the model)"),
            "start": estimates.extras.get("start"),
            "estimator": "FIML (casewise ML with mean structure)" if fiml else "ML (Wishart)",
            "covariance_divisor": "n (maximum likelihood)",
            "standard_errors": se + " of the unstandardized estimates; delta method for the "
                                   "standardized ones",
            "scaling": "first loading of each construct fixed to 1; standardized = lavaan std.all",
            "variance_bounds": "none (negative variances reported, as in lavaan)",
            "gradient_norm": estimates.gradient_norm, "gradient_tolerance": GRADIENT_TOLERANCE,
            "newton_steps": estimates.iterations,
            "weights": "own-block factor-score weights, proportional to Sigma_jj^-1 lambda_j",
            "index_moments": ("the model's: FIML means (mean structure) and the implied covariance"
                              if fiml else "weighted sample means and covariance of the rows used"
                              if weighted else "sample means and covariance of the rows used"),
            **({"respondent_weights": _WEIGHTED_FIML if fiml else _WEIGHTED_ML} if weighted else {})}

    def status(self, estimates, settings) -> str:
        state = "converged" if estimates.converged else "NOT converged"
        return f"{state}: max |gradient| {estimates.gradient_norm:.1e}"

    def reliability(self, estimates):
        from csi_models.statistics.quality import factor_reliability

        return factor_reliability(estimates.layout, estimates)

    def fit_measures(self, survey, estimates):
        from csi_models.statistics import fit_measures as fm

        if getattr(survey, "weights", None) is not None:
            return cbsem_weights.fit_measures(survey, estimates)
        npar = int(estimates.extras["n_free"])
        values = survey.values[list(estimates.layout.items)].to_numpy(float)
        if survey.missing == "fiml":
            return cbsem_robust.fiml_fit_measures(values, estimates)
        S = np.cov(values, rowvar=False, bias=True)
        out = fm.ml_measures([fm.Moments(S, estimates.implied_cov, len(values))], npar)
        if "sandwich" in estimates.extras:        # se="robust": lavaan's MLR, its scaled test
            return cbsem_robust.with_scaled_test(out, values, estimates.extras["sandwich"], None)
        return out

    def f_squared(self, estimates, options):
        from csi_models.statistics.quality import f_squared_latent

        return f_squared_latent(estimates.construct_cor, estimates.layout, estimates.paths,
                                estimates.r2)


ENGINE = CBSEMEngine()
