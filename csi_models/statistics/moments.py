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
    """Means, sds and correlations of weighted copies of the complete data ``X`` (n x p).

    ``from_sums(F @ G, count)`` -> (S, mean, sd): correlation matrices (copies, p, p), item
    means and sds (n - 1 divisor) (copies, p). A variance below 1e-12 of the full data's is
    treated as zero: that item's sd and correlations are NaN (a constant item)."""

    def __init__(self, X: np.ndarray):
        self.n, self.p = X.shape
        self.center = X.mean(axis=0)
        Xc = X - self.center
        self.iu = np.triu_indices(self.p)
        self.G = np.concatenate([Xc, Xc[:, self.iu[0]] * Xc[:, self.iu[1]]], axis=1)
        full = np.zeros((self.p, self.p), int)
        full[self.iu] = np.arange(self.iu[0].size)
        self.unpack = np.maximum(full, full.T).ravel()     # (i, j) -> packed column
        self.diag = full[np.arange(self.p), np.arange(self.p)]
        self.floor = 1e-12 * Xc.var(axis=0)                  # variance treated as zero

    def from_sums(self, sums: np.ndarray, count):
        """(S, mean, sd) from column sums of G over each copy with ``count`` rows."""
        p = self.p
        count = np.asarray(count, float).reshape(-1, 1)
        m1 = sums[:, :p] / count
        i, j = self.iu
        cov = sums[:, p:] / count - m1[:, i] * m1[:, j]           # packed upper triangle
        var = cov[:, self.diag]
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.where(var > self.floor, var, np.nan))
            inv = 1.0 / sd
            cor = cov * inv[:, i] * inv[:, j]
        S = np.take(cor, self.unpack, axis=1).reshape(-1, p, p)
        return S, self.center + m1, sd * np.sqrt(count / (count - 1))

    def full(self):
        """(S, mean, sd) of the data itself (a batch of one)."""
        return self.from_sums(self.G.sum(axis=0)[None], self.n)

    def resamples(self, rows: np.ndarray):
        """(S, mean, sd) of the row sets ``rows`` (sets, size), e.g. bootstrap resamples."""
        return self.from_sums(counts(rows, self.n) @ self.G, rows.shape[1])

    def leave_one_out(self, rows: np.ndarray):
        """(S, mean, sd) of the data without row r, for each r in ``rows`` (the jackknife)."""
        total = self.G.sum(axis=0)
        return self.from_sums(total - self.G[rows], self.n - 1)
