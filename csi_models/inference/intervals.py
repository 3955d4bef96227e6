"""Bootstrap summaries and confidence intervals: percentile and BCa.

Every function takes draws as an array (resamples, parameters) and works column-wise; NaN
draws (a statistic undefined in some resample, e.g. an index whose weight turned negative)
are left out of that column only, and ``n_boot`` says how many draws each column used. A
statistic undefined in the full sample (NaN estimate) has no bootstrap summary: its mean,
se, t, p_value and bounds are NaN and its n_boot is 0, whatever the resamples say.

* percentile: the alpha/2 and 1 - alpha/2 quantiles of the draws (linear interpolation,
  numpy's default 'linear' method, as scipy.stats.bootstrap).
* BCa (Efron 1987; Efron & Tibshirani 1993, ch. 14.3, eq. 14.14-14.15): bias correction
  z0 = Phi^-1(share of draws below the estimate, ties counted half), acceleration
  a = sum U_i^3 / (6 (sum U_i^2)^1.5) with U_i = mean(theta_(.)) - theta_(i) from the
  jackknife (leave-one-out) estimates, and quantiles at
  Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q))). Matches scipy.stats.bootstrap(method='BCa')
  on the same resamples to 1e-12 (tests/test_bootstrap.py).
* se: standard deviation of the draws (n - 1 divisor); t = estimate / se; p_value two-sided
  from the t distribution with n_obs - 1 degrees of freedom.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri, stdtr

INTERVALS = ("percentile", "bca")


def _usable(estimate: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The draws with every column whose estimate is undefined set to NaN."""
    return np.where(np.isfinite(estimate), draws, np.nan)


def _sorted(draws: np.ndarray):
    """Columns sorted with NaNs last, and the count of non-NaN draws per column."""
    return np.sort(draws, axis=0), np.isfinite(draws).sum(axis=0)


def quantile(ordered: np.ndarray, counts: np.ndarray, q) -> np.ndarray:
    """Linear-interpolation quantile q (scalar or per column) of columns sorted with their
    NaNs last, of which ``counts`` are finite; NaN where a column has no finite value."""
    q = np.broadcast_to(np.asarray(q, float), counts.shape)
    if ordered.shape[0] == 0:          # every resample failed
        return np.full(counts.shape, np.nan)
    valid = (counts > 0) & np.isfinite(q)
    h = np.where(valid, np.clip(q, 0, 1) * (np.maximum(counts, 1) - 1), 0.0)
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, np.maximum(counts - 1, 0))
    cols = np.arange(ordered.shape[1])
    a, b = ordered[lo, cols], ordered[hi, cols]
    frac = h - lo
    value = np.where(frac >= 0.5, b - (b - a) * (1 - frac), a + (b - a) * frac)
    return np.where(valid, value, np.nan)


def _column_sums(values: np.ndarray) -> np.ndarray:
    """Sums of the columns without their NaNs, each column summed pairwise as one contiguous
    row: the same rounding whatever the draws' memory layout and however many columns are
    summarized side by side (``batch.fast`` summarizes many groups at once)."""
    return np.nansum(np.ascontiguousarray(values.T), axis=1)


def summarize(estimate: np.ndarray, draws: np.ndarray, n_obs, level: float) -> dict:
    """mean, se, t, p_value, percentile bounds and n_boot per column (``n_obs``: the sample
    size, or one per column)."""
    draws = _usable(estimate, draws)
    ordered, counts = _sorted(draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _column_sums(draws) / counts
        se = np.sqrt(_column_sums((draws - mean) ** 2) / (counts - 1))
        # a statistic fixed by construction (the loading of a single-item construct) has an
        # se of rounding noise: report 0, and no t
        se = np.where(se <= 1e-12 * np.maximum(1.0, np.abs(estimate)), 0.0, se)
        se = np.where(counts > 1, se, np.nan)
        t = np.where(se > 0, estimate / se, np.nan)
    # the t distribution's two tails
    p = 2 * stdtr(np.maximum(np.asarray(n_obs) - 1, 1), -np.abs(t))
    alpha = (1 - level) / 2
    return {"mean": mean, "se": se, "t": t, "p_value": p,
            "pct_lower": quantile(ordered, counts, alpha),
            "pct_upper": quantile(ordered, counts, 1 - alpha), "n_boot": counts}


def acceleration(jackknife: np.ndarray) -> np.ndarray:
    """BCa acceleration from leave-one-out estimates (n, parameters), over the finite ones;
    0 where they are all equal or none is finite."""
    finite = np.isfinite(jackknife)
    k = finite.sum(axis=0)
    values = np.where(finite, jackknife, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dot = values.sum(axis=0) / k
    u = np.where(finite, dot - values, 0.0)
    num = (u ** 3).sum(axis=0)
    den = 6.0 * (u ** 2).sum(axis=0) ** 1.5
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, 0.0)


def bca(estimate: np.ndarray, draws: np.ndarray, jackknife: np.ndarray, level: float):
    """(lower, upper) BCa bounds per column."""
    draws = _usable(estimate, draws)
    ordered, counts = _sorted(draws)
    below = (draws < estimate).sum(axis=0) + (draws <= estimate).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = ndtri(below / (2.0 * counts))
    a = acceleration(jackknife)
    alpha = (1 - level) / 2
    bounds = []
    for q in (alpha, 1 - alpha):
        zq = z0 + ndtri(q)
        with np.errstate(invalid="ignore", divide="ignore"):
            adjusted = ndtr(z0 + zq / (1 - a * zq))
        bounds.append(quantile(ordered, counts, adjusted))
    return bounds[0], bounds[1]
