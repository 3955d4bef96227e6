"""Means, sds and correlation matrices of many weighted copies of one data set, at once.

A bootstrap resample, a leave-one-out (jackknife) sample and a permuted group are all the
data with a count per row (how often the row is used). With the centred items Xc and their
pairwise products stacked as G = [Xc, Xc_i * Xc_j (i <= j)] (n x (p + p(p+1)/2)), every
copy's first and second moments are one row of F G, for counts F (copies x n): one matrix
product gives the means, sds (n - 1 divisor) and item correlation matrices of thousands of
copies. Used by the PLS bootstrap (``inference.bootstrap``) and the permutation MGA
(``groups``); each copy's correlation matrix equals ``np.corrcoef`` of its rows to ~1e-15.
"""

from __future__ import annotations

import numpy as np


def counts(rows: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` respondents appears in each row set, (sets, n) as floats;
    ``rows`` is (sets, size) of row numbers (e.g. ``bootstrap.resample_rows``)."""
    offsets = rows + n * np.arange(rows.shape[0])[:, None]
    return np.bincount(offsets.ravel(), minlength=rows.shape[0] * n).reshape(
        rows.shape[0], n).astype(float)


class BatchMoments:
    """Means, sds and correlations of weighted copies of the complete data ``X`` (n x p),
    optionally with respondent ``weights`` (frequency weights, see ``data.weights``).

    ``from_sums(F @ G, count)`` -> (S, mean, sd): correlation matrices (copies, p, p; a view
    of copies-last memory), item means and sds (n - 1 divisor) (copies, p). A variance below
    1e-12 of the full data's is treated as zero: that item's sd and correlations are NaN (a
    constant item)."""

    def __init__(self, X: np.ndarray, weights: np.ndarray | None = None):
        # column-major, as pandas hands out a survey's items: numpy's column means and
        # variances round differently by memory layout, so every caller gets the same bits
        X = np.asfortranarray(X, dtype=float)
        self.n, self.p = X.shape
        # respondent weights: row r of G carries w_r, and a copy's count is F @ w (a
        # resampled respondent brings its weight along; integer weights = repeated rows)
        self.w = np.ones(self.n) if weights is None else np.asarray(weights, float)
        self.center = (self.w @ X) / self.w.sum() if weights is not None else X.mean(axis=0)
        Xc = X - self.center
        self.iu = np.triu_indices(self.p)
        self.G = np.concatenate([Xc, Xc[:, self.iu[0]] * Xc[:, self.iu[1]]], axis=1)
        if weights is not None:
            self.G *= self.w[:, None]
        full = np.zeros((self.p, self.p), int)
        full[self.iu] = np.arange(self.iu[0].size)
        self.unpack = np.maximum(full, full.T).ravel()     # (i, j) -> packed column
        self.diag = full[np.arange(self.p), np.arange(self.p)]
        self.floor = 1e-12 * Xc.var(axis=0)                  # variance treated as zero

    def from_sums(self, sums: np.ndarray, count):
        """(S, mean, sd) from column sums of G over each copy with ``count`` rows. S is a
        (copies, p, p) view of an array with the copies last, the layout the PLS kernel
        iterates on (no transposed copy there); the arithmetic runs on rows of that layout."""
        p = self.p
        i, j = self.iu
        count = np.asarray(count, float).reshape(1, -1)
        sums = np.ascontiguousarray(np.reshape(sums, (-1, self.G.shape[1])).T)   # copies last
        m1 = sums[:p] / count
        cov = sums[p:] / count - m1[i] * m1[j]                     # packed upper triangle
        var = cov[self.diag]
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.where(var > self.floor[:, None], var, np.nan))
            inv = 1.0 / sd
            cor = cov * inv[i] * inv[j]
        S = cor[self.unpack].reshape(p, p, -1).transpose(2, 0, 1)
        return (S, np.ascontiguousarray((self.center[:, None] + m1).T),
                np.ascontiguousarray((sd * np.sqrt(count / (count - 1))).T))

    def full(self):
        """(S, mean, sd) of the data itself (a batch of one)."""
        return self.from_sums(self.G.sum(axis=0)[None], self.w.sum())

    def resamples(self, rows: np.ndarray):
        """(S, mean, sd) of the row sets ``rows`` (sets, size), e.g. bootstrap resamples."""
        F = counts(rows, self.n)
        return self.from_sums(F @ self.G, F @ self.w)

    def leave_one_out(self, rows: np.ndarray):
        """(S, mean, sd) of the data without row r, for each r in ``rows`` (the jackknife)."""
        total = self.G.sum(axis=0)
        return self.from_sums(total - self.G[rows], self.w.sum() - self.w[rows])


BLOCK_ROWS = 2 ** 16   # rows per block of full_moments (a centred copy of ~10 MB for 19 items)


def full_moments(values: np.ndarray, weights: np.ndarray | None = None):
    """(S, mean, sd) of the data itself as a batch of one, as ``BatchMoments.full()`` gives
    them (sd with the n - 1 divisor, or sum w - 1 with respondent weights; NaN for a constant
    item) in one pass over blocks of rows, not from the n x p(p+3)/2 matrix of pairwise
    products a bootstrap needs: a fit of 10^6 respondents holds one centred block, not a
    copy of the data. Rows are centred on the first row c and corrected at the end,
    cov = sum w (x - c)(x - c)' - W d d' with d = mean - c (c is a respondent, so d is of
    the order of an sd and nothing cancels; with weights, the first row of positive weight).
    Blocks are column-ordered copies, so the sums
    run in the same order whatever the caller's memory layout."""
    n, p = values.shape
    w = None if weights is None else np.asarray(weights, float)
    total = n if w is None else w.sum()
    # a respondent of positive weight: an item constant over those rows is then exactly 0
    # after centring (a row of weight 0 as the centre left its variance a rounding error
    # above 0, ~1e-8 for the sd, instead of 0)
    first = 0 if w is None or not (w > 0).any() else int(np.argmax(w > 0))
    center = np.array(values[first], dtype=float)
    sums, cov = np.zeros(p), np.zeros((p, p))
    for a in range(0, n, BLOCK_ROWS):
        block = np.subtract(values[a:a + BLOCK_ROWS], center, order="F", dtype=float)
        weighted = block if w is None else block * w[a:a + len(block), None]
        sums += weighted.sum(axis=0)
        cov += weighted.T @ block
    shift = sums / total
    cov -= total * np.outer(shift, shift)
    mean = center + shift
    var = np.diag(cov).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(np.where(var > 0, var, np.nan))
        S = cov / np.outer(root, root)
        sd = root / np.sqrt(total - 1)
    return S[None], mean[None], sd[None]


def pairwise_correlations(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlations of the columns of X, each pair over the rows where both
    are observed (pandas' pairwise ``corr`` when every weight is 1), from five products."""
    observed = np.isfinite(X).astype(float)
    X0 = np.where(observed > 0, X, 0.0)
    w = np.asarray(weights, float)[:, None]
    n = (observed * w).T @ observed                  # n[i, j]: weight of rows with both
    sx = (X0 * w).T @ observed                       # sum of x_i over those rows
    sxx = (X0 * X0 * w).T @ observed
    with np.errstate(invalid="ignore", divide="ignore"):
        mi, mj = sx / n, sx.T / n
        cov = (X0 * w).T @ X0 / n - mi * mj
        var_i, var_j = sxx / n - mi ** 2, sxx.T / n - mj ** 2
        return cov / np.sqrt(var_i * var_j)
