"""PLS path modelling (Wold; Lohmoeller 1989) in numpy, over item correlation matrices.

With standardized items every PLS quantity is a function of the item correlation matrix S:
construct covariances are W'SW, item-construct covariances SW, outer updates SWE (mode A)
or S_jj^-1 (SWE)_j (mode B). ``estimate_batch`` (``engines.pls_kernel``) therefore runs any
number of correlation matrices (the full sample, or thousands of bootstrap resamples) through
the same iterations at once; a single fit is a batch of one, so bootstrap and single fits
agree exactly.

Algorithm (Tenenhaus et al. 2005, section 2): start from unit weights; repeat
(1) scores Y = XW scaled to unit variance, (2) inner proxies Z = YE with the inner scheme E,
(3) outer weights: mode A w_j = cov(X_j, z_j), mode B w_j = S_jj^-1 cov(X_j, z_j), until the
largest weight change is below ``tol``. Inner schemes: centroid e_jk = sign(r_jk), factorial
e_jk = r_jk for adjacent constructs; path weighting uses r_jk for successors and the
multiple-regression coefficients of j on its predecessors. Matches seminr (PyPI 0.2.1,
estimate_pls) to 1e-10 for paths, weights, loadings and R^2 (tests/test_pls_seminr.py).

Sign rule: each construct is oriented so that the sum of its items' loadings is positive.
"""

from __future__ import annotations

import warnings

import numpy as np

from csi_models.engines.base import (Engine, Estimates, Layout, Option, Resamples, choice,
                                     positive_number, whole_number)
from csi_models.engines.pls_kernel import CHUNK_BYTES, SCHEMES, PLSBatch, estimate_batch
from csi_models.errors import ConvergenceWarning, EstimationError
from csi_models.spec.validation import require_first_order
from csi_models.statistics.moments import BatchMoments, full_moments


def correlation(values: np.ndarray) -> np.ndarray:
    """Item correlation matrix of complete data (n-1 and n divisors give the same)."""
    return full_moments(values)[0][0]


def _resamples(batch: PLSBatch, layout: Layout, S, mean, sd) -> Resamples:
    """A PLSBatch (and the moments it was estimated from) as the engines' common stack."""
    M = layout.membership
    finite = np.isfinite(batch.weights).all(axis=(1, 2))
    reasons = tuple(np.where(batch.ok, "", np.where(
        finite, "not converged", "singular data (e.g. an item constant in the resample)")).tolist())
    return Resamples(paths=batch.paths, weights=(batch.weights * M).sum(axis=2),
                     loadings=(batch.item_cor * M).sum(axis=2), r2=batch.r2, item_mean=mean,
                     item_sd=sd, item_cor=S, ok=batch.ok, reasons=reasons)


def estimates(batch: PLSBatch, layout: Layout, S, mean, sd, k: int) -> Estimates:
    """Member k of a batch (and the moments it was estimated from) as one fit's Estimates."""
    M = layout.membership
    return Estimates(
        method="pls", layout=layout, weights=(batch.weights[k] * M).sum(axis=1),
        loadings=(batch.item_cor[k] * M).sum(axis=1), cross_loadings=batch.item_cor[k],
        paths=batch.paths[k], r2=batch.r2[k], construct_cor=batch.construct_cor[k],
        converged=bool(batch.converged[k]), iterations=int(batch.iterations[k]),
        item_mean=mean[k], item_sd=sd[k], item_cor=S[k])


def _items(survey, layout: Layout) -> np.ndarray:
    """The items' answers (n x p, layout order), without a copy when the survey's columns
    are already in that order (a fit of 10^6 respondents then holds the data once)."""
    frame = survey.values
    if list(frame.columns) != list(layout.items):
        frame = frame[list(layout.items)]
    return frame.to_numpy(float, copy=False)


def f_squared(S: np.ndarray, layout: Layout, r2: np.ndarray, scheme: str, tol: float,
              max_iter: int) -> list[tuple[int, int, float]]:
    """(source, target, f²) with R²_excl from re-estimating PLS without the path, as seminr's
    ``f_squared``: f² = (R²_incl - R²_excl) / (1 - R²_incl) (Cohen 1988)."""
    from csi_models.statistics.quality import without_path

    rows = []
    for j in layout.endogenous:
        pred = layout.predecessors(j)
        for i in pred:
            excluded = 0.0
            if pred.size > 1:
                sub, items, jj = without_path(layout, int(i), j)
                batch = estimate_batch(S[np.ix_(items, items)][None], sub, scheme, tol, max_iter)
                excluded = float(batch.r2[0, jj])
            rows.append((int(i), j, (r2[j] - excluded) / (1 - r2[j])))
    return rows


GROUP_BYTES = 2 ** 26   # size of one chunk's count matrix (64 MB): bounds memory for any B


def _step(n_rows: int) -> int:
    """Copies of an n-row sample whose moments are computed in one product (a multiple of
    256, so a chunk holds whole random-stream blocks)."""
    return max(256, (GROUP_BYTES // (8 * n_rows)) // 256 * 256)


def _bundles(pieces: list, size: int):
    """Consecutive runs of ``pieces`` (sample, S, ...) of at most ``size`` matrices each (a
    longer piece alone)."""
    group, count = [], 0
    for piece in pieces:
        if group and count + len(piece[1]) > size:
            yield group
            group, count = [], 0
        group.append(piece)
        count += len(piece[1])
    if group:
        yield group


class PLSEngine(Engine):
    """PLS path modelling (see the module docstring): every fit, resample, jackknife sample
    and permuted group is a member of a batch of correlation matrices."""

    name, title = "pls", "PLS"
    options = {
        "scheme": Option("path", choice("path", "factorial", "centroid", aliases=SCHEMES),
                         "unknown inner scheme {value!r} (argument {key}): use 'path', 'factorial' "
                         "or 'centroid'", "inner weighting scheme"),
        "tol": Option(1e-7, positive_number, "{key}={value!r}: give a positive number such as 1e-7",
                      "stop when no outer weight changes by more than tol"),
        "max_iter": Option(300, whole_number, "{key}={value!r}: give a whole number of iterations >= 1",
                           "iteration cap"),
    }
    missing_rules = ("listwise", "mean")
    group_test = "permutation"
    long_title = "PLS path modelling"
    fit_keys = ("srmr", "d_uls", "d_g", "srmr_saturated", "d_uls_saturated", "d_g_saturated", "gof")
    fit_rules = (("srmr", ">", 0.08),)   # Henseler et al. (2014)
    ipma = True
    respondent_weights = True
    refused_missing = {"fiml": "missing='fiml' is a CB-SEM method; for PLS use missing='listwise' "
                               "or missing='mean'"}

    def check(self, spec) -> Layout:
        """The spec's layout, or EstimationError when PLS cannot estimate this model at all
        (the same for any data)."""
        require_first_order(spec, "PLS")
        if spec.covariances:
            pairs = ", ".join(f"{a} ~~ {b}" for a, b in spec.covariances)
            raise EstimationError(f"PLS cannot estimate residual covariances ({pairs}): fit with "
                                  "method='cbsem', or drop the spec's 'covariances:'")
        layout = Layout.from_spec(spec)
        isolated = [c for j, c in enumerate(layout.constructs)
                    if not (layout.adjacency[j].any() or layout.adjacency[:, j].any())]
        if isolated:
            raise EstimationError(f"construct(s) {', '.join(isolated)} have no structural path: "
                                  "PLS needs every construct connected to another; add a path")
        return layout

    def fit(self, spec, survey, options) -> Estimates:
        layout = self.check(spec)
        weights = getattr(survey, "weights", None)
        shared = getattr(survey, "moments", None)      # computed by the data check
        if (shared is not None and shared[0] is survey.values and weights is None
                and list(survey.values.columns) == list(layout.items)):
            S, mean, sd = shared[1]
        else:
            S, mean, sd = full_moments(_items(survey, layout), weights)
        batch = estimate_batch(S, layout, options["scheme"], options["tol"], options["max_iter"])
        if not np.isfinite(batch.weights).all() or not np.isfinite(batch.paths).all():
            raise EstimationError(_singular_message(spec, S[0], layout))
        if not batch.converged[0]:
            warnings.warn(f"PLS did not converge in {options['max_iter']} iterations (tolerance "
                          f"{options['tol']:g}); raise max_iter or check the model",
                          ConvergenceWarning, stacklevel=3)
        return estimates(batch, layout, S, mean, sd, 0)

    def from_moments(self, layout, S, mean, sd, options) -> Resamples:
        """Estimates of a stack of correlation matrices with their item means and sds."""
        batch = estimate_batch(S, layout, options["scheme"], options["tol"], options["max_iter"])
        return _resamples(batch, layout, S, mean, sd)

    def _chunks(self, n_rows, layout, options, sums, total, progress):
        """Estimate ``total`` copies of the data chunk by chunk (memory stays bounded):
        ``sums(a, b)`` gives (S, mean, sd) of copies a..b-1."""
        step = _step(n_rows)
        parts = []
        for first in range(0, total, step):
            last = min(total, first + step)
            parts.append(self.from_moments(layout, *sums(first, last), options))
            if progress is not None:
                progress(last - first)
        return Resamples.stack(parts)

    def resample_many(self, values: list, layout, options, rows_list: list) -> list:
        """``resample`` of several samples (the groups of a batch: their items as arrays,
        layout order) at once: each sample's resample moments in the same chunks as
        ``resample``, then ``estimate_batch`` over them a kernel chunk at a time. A member's
        numbers do not depend on its neighbours in a stack, so each sample's stack equals its
        own ``resample`` bit for bit."""
        pieces = []                                    # (sample, S, mean, sd)
        for k, (X, rows) in enumerate(zip(values, rows_list)):
            moments = BatchMoments(X)
            step = _step(moments.n)
            for first in range(0, len(rows), step):
                pieces.append((k, *moments.resamples(rows[first:first + step])))
        out = [[] for _ in values]
        size = CHUNK_BYTES // (8 * len(layout.items) ** 2)
        for group in _bundles(pieces, size):   # a kernel chunk each: no re-joining
            # joined along the copies-last axis of BatchMoments' S: no transposed copy
            joined = np.concatenate([piece[1].transpose(1, 2, 0) for piece in group], axis=2)
            batch = estimate_batch(joined.transpose(2, 0, 1), layout, options["scheme"],
                                   options["tol"], options["max_iter"])
            at = 0
            for k, S, mean, sd in group:
                part = PLSBatch(*(getattr(batch, f)[at:at + len(S)]
                                  for f in PLSBatch.__dataclass_fields__))
                out[k].append(_resamples(part, layout, S, mean, sd))
                at += len(S)
        return [Resamples.stack(parts) for parts in out]

    def resample(self, spec, survey, estimates, options, rows, n_jobs=1, progress=None):
        layout = estimates.layout
        moments = BatchMoments(survey.values[list(layout.items)].to_numpy(float),
                               getattr(survey, "weights", None))
        return self._chunks(moments.n, layout, options, lambda a, b: moments.resamples(rows[a:b]),
                            len(rows), progress)

    def leave_one_out(self, spec, survey, estimates, options, n_jobs=1, progress=None):
        layout = estimates.layout
        moments = BatchMoments(survey.values[list(layout.items)].to_numpy(float),
                               getattr(survey, "weights", None))
        return self._chunks(moments.n, layout, options,
                            lambda a, b: moments.leave_one_out(np.arange(a, b)), moments.n, progress)

    def settings(self, spec, survey, estimates, options) -> dict:
        return {"algorithm": "PLS path modelling (Lohmoeller), our numpy implementation",
                "inner_scheme": options["scheme"],
                "modes": {c.name: ("B" if c.mode == "formative" else "A") for c in spec.constructs},
                "scaling": "items z-scored (sd with n - 1); scores of unit variance",
                "initial_weights": "unit weights", "tolerance": options["tol"],
                "stop_rule": "max |change in any outer weight| < tolerance",
                "max_iter": options["max_iter"], "iterations": estimates.iterations,
                "sign_rule": "each construct oriented so its loadings sum to a positive number"}

    def status(self, estimates, settings) -> str:
        if estimates.converged:
            return f"converged in {estimates.iterations} iterations (tolerance {settings['tolerance']:g})"
        return f"NOT converged after {estimates.iterations} iterations"

    def reliability(self, estimates):
        from csi_models.statistics import quality as q

        lay = estimates.layout
        rho_c, ave = q.rho_c_ave(lay, estimates.loadings)
        return q.rho_a(estimates.item_cor, lay, estimates.weights), rho_c, ave

    def fit_measures(self, survey, estimates):
        from csi_models.statistics.pls_fit_measures import pls_measures

        return pls_measures(estimates.layout, estimates.item_cor, estimates.loadings,
                            estimates.paths, estimates.construct_cor, estimates.r2)

    def f_squared(self, estimates, options):
        return f_squared(estimates.item_cor, estimates.layout, estimates.r2, options["scheme"],
                         options["tol"], options["max_iter"])


ENGINE = PLSEngine()


def fit(spec, survey, scheme: str = "path", tol: float = 1e-7, max_iter: int = 300) -> Estimates:
    """A PLS fit of prepared survey data with these options (for the modules that build on
    PLS: PLSc, higher-order constructs, interactions); ``csi.fit`` is the public entry."""
    return ENGINE.fit(spec, survey, ENGINE.resolve({"scheme": scheme, "tol": tol,
                                                    "max_iter": max_iter}))


def _singular_message(spec, S: np.ndarray, layout: Layout) -> str:
    """Name the block whose items are collinear, if one is; else the constructs."""
    for j, c in enumerate(layout.constructs):
        idx = np.flatnonzero(layout.membership[:, j])
        if idx.size > 1 and np.linalg.matrix_rank(S[np.ix_(idx, idx)], tol=1e-10) < idx.size:
            return (f"the items of construct {c} ({', '.join(layout.items[i] for i in idx)}) are "
                    "perfectly collinear, so PLS cannot estimate it; drop a duplicated item")
    return ("PLS estimation failed: the construct scores are perfectly collinear (singular "
            "regression), e.g. two constructs measured by identical items; check the spec")
