"""The robust (MLR) test's pieces against their textbook definitions, and their memory: the
scaled test of 120 items without a p^4 Kronecker product or a p* x p* information matrix;
multi-group scores; FIML's stacked objective and gradient against the row-by-row sums."""

import tracemalloc

import numpy as np
import pytest

from csi_models.engines.cbsem_robust import (baseline_scaling, case_scores,
                                             expected_information, scaled_test, vech_scores)
from csi_models.engines.fiml_h1 import covariance_information, h1_pairs


def _data(n, p, seed=0):
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(p, 2))
    return rng.standard_t(5, size=(n, 2)) @ L.T + rng.standard_t(6, size=(n, p))


def test_unrestricted_factor_equals_its_definition_with_and_without_weights():
    """c1 = tr(A1^-1 B1) / p*, A1 the covariance entries' information at S_w and B1 their
    (weighted) scores' cross-products, the way lavaan builds it."""
    X = _data(200, 5)
    for w in (None, np.random.default_rng(1).uniform(0.3, 3.0, len(X))):
        wn = np.ones(len(X)) if w is None else w * len(w) / w.sum()
        mean = wn @ X / wn.sum()
        Z = X - mean
        S = (Z * wn[:, None]).T @ Z / wn.sum()
        P = np.linalg.inv(S)
        s1 = vech_scores(P, Z) * wn[:, None]
        A1, B1 = covariance_information(P), s1.T @ s1 / len(X)
        want = np.trace(np.linalg.solve(A1, B1)) / len(A1)
        got = scaled_test(np.eye(2), np.eye(2), X, w, 10.0, 3)["scaling.factor.h1"]
        assert abs(got - want) < 1e-10 * want
        assert got > 1.1                      # t-distributed items: heavier tails than normal


def test_expected_information_and_scores_equal_the_kronecker_forms(monkeypatch):
    rng = np.random.default_rng(2)
    p, q = 4, 3
    L = rng.normal(size=(p, p))
    sigma = L @ L.T + p * np.eye(p)
    P = np.linalg.inv(sigma)
    D = np.stack([(M + M.T).ravel() for M in rng.normal(size=(q, p, p))], axis=1)
    assert np.allclose(expected_information(D, P), D.T @ np.kron(P, P) @ D / 2, atol=1e-14)
    Z = rng.normal(size=(7, p))
    outer = np.stack([(P @ np.outer(z, z) @ P - P).ravel() for z in Z])
    assert np.allclose(case_scores(D, sigma, Z), outer @ D / 2, atol=1e-13)
    monkeypatch.setattr("csi_models.engines.cbsem_robust.CASES_BYTES", 3 * 8 * 10)
    assert np.allclose(case_scores(D, sigma, Z), outer @ D / 2, atol=1e-13)   # blocks of 3
    assert len(h1_pairs(p)) == vech_scores(P, Z).shape[1] == p * (p + 1) // 2


def test_the_scaled_test_of_120_items_stays_small_in_memory():
    X = _data(400, 120, seed=3)
    tracemalloc.start()
    try:
        c = scaled_test(np.eye(3), 2 * np.eye(3), X, None, 7000.0, 7000)
        base = baseline_scaling(X, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(c["chisq.scaled"]) and np.isfinite(base) and base > 0
    assert peak < 20 * 2 ** 20, peak / 2 ** 20      # P x P: 1.7 GB; A1: 430 MB


def _two_groups(n, p_per=8, J=6, seed=0):
    from csi_models.engines import multigroup as mg
    from csi_models.engines.base import Layout
    from csi_models.spec import spec_from_dict
    from csi_models.statistics.fit_measures import Moments

    spec = spec_from_dict({"name": "big", "scale": {"min": -100, "max": 100}, "paths": [],
                           "constructs": {f"F{j}": {"items": [f"x{j}_{i}" for i in range(p_per)]}
                                          for j in range(J)}})
    rng = np.random.default_rng(seed)
    pattern = np.kron(np.eye(J), np.ones((1, p_per)))
    X = [rng.standard_normal((n, J)) @ pattern + rng.standard_normal((n, J * p_per)) + g
         for g in range(2)]
    moments = [Moments(np.cov(x, rowvar=False, bias=True), None, n, x.mean(0), None) for x in X]
    model = mg.MultiGroupModel(Layout.from_spec(spec), moments, "scalar")
    return model, X, model.start([{} for _ in X]) + 0.3


def test_multigroup_case_scores_sum_to_the_gradient_and_stay_small_in_memory():
    """Each respondent's score, summed, is -1/2 the gradient of the stacked chi-square (at
    any point: F depends on the data through S + dd'); 2 x 2000 respondents of 48 items
    without (n, p, p) arrays."""
    model, X, x = _two_groups(2000)
    tracemalloc.start()
    try:
        scores = model.case_scores(x, X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scores.shape == (4000, model.npar)
    np.testing.assert_allclose(scores.sum(axis=0), -model.grad(x) / 2, rtol=1e-9, atol=1e-8)
    assert peak < 80 * 2 ** 20, peak / 2 ** 20     # one respondent per data set: ~230 MB


def test_fiml_objective_and_gradient_equal_the_pattern_by_pattern_sums_at_any_offset():
    """FIML's objective and gradient (patterns stacked by size, from centred sums) equal the
    textbook sums over the patterns' rows, on answers shifted by 1000 too (no digits lost to
    the offset)."""
    from csi_models.engines.fiml import FIML
    from csi_models.engines.fiml_h1 import FreeMoments, h1_pairs

    rng = np.random.default_rng(4)
    X = _data(150, 6, seed=4)
    X[rng.random(X.shape) < 0.15] = np.nan
    p = X.shape[1]
    L = rng.normal(size=(p, p))
    sigma, mu = L @ L.T / p + np.eye(p), np.nanmean(X, axis=0) + 0.1
    for shift in (0.0, 1000.0):
        Y = X + shift
        model = FreeMoments(p, h1_pairs(p))
        objective = FIML(model, Y)
        x = model.vector(mu + shift, sigma)
        want_f, want_g = 0.0, np.zeros(x.size)
        for row in Y:
            o = np.isfinite(row)
            if not o.any():
                continue
            P = np.linalg.inv(sigma[np.ix_(o, o)])
            r = row[o] - (mu + shift)[o]
            want_f += r @ P @ r + np.linalg.slogdet(sigma[np.ix_(o, o)])[1]
            a = P @ r
            G = np.zeros((p, p))
            G[np.ix_(o, o)] = P - np.outer(a, a)
            h = np.zeros(p)
            h[o] = -2 * a
            want_g += np.concatenate([h, [G[i, j] * (1 if i == j else 2) for i, j in h1_pairs(p)]])
        assert objective.objective(x) == pytest.approx(want_f, rel=1e-12)
        np.testing.assert_allclose(objective.gradient(x), want_g, rtol=1e-9, atol=1e-9)


def test_fiml_objective_is_infinite_where_a_block_has_two_negative_eigenvalues():
    """Sigma = diag(-1, -1, 1): every observed block's determinant is positive, yet none is
    a covariance matrix; f is inf there (the sign test gave -60 and a finite gradient)."""
    from csi_models.engines.fiml import FIML
    from csi_models.engines.fiml_h1 import FreeMoments, h1_pairs
    from csi_models.statistics.likelihood import discrepancy, observed_blocks

    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 3))
    X[:20, 2] = np.nan                              # patterns {0, 1} and {0, 1, 2}
    model = FreeMoments(3, h1_pairs(3))
    objective = FIML(model, X)
    x = model.vector(np.zeros(3), np.diag([-1.0, -1.0, 1.0]))
    assert objective.objective(x) == np.inf
    assert not np.isfinite(objective.gradient(x)).any()
    assert discrepancy(observed_blocks(X), np.diag([-1.0, -1.0, 1.0]), np.zeros(3)) == np.inf
    assert np.isfinite(objective.objective(model.vector(np.zeros(3), np.eye(3))))
