"""The shared ML optimizer: scoring stops creeping toward a boundary where no optimum exists."""

import numpy as np

from csi_models.engines.optimize import RIDGE_STEPS, fisher_scoring, newton


def creeping_problem():
    """f = -x decreases forever, but any move longer than 1e-4 hits a wall (f = inf): every
    scoring step is cut to 2**-14 < 1e-3, as on an ECSI resample heading for a latent
    correlation of 1. Counts gradient calls (one per iteration)."""
    state = {"x": 0.0, "calls": 0}

    def grad(x):
        state["x"], state["calls"] = x[0], state["calls"] + 1
        return np.array([-1.0])

    def fun(x):
        return -x[0] if x[0] - state["x"] <= 1e-4 else np.inf

    return fun, grad, (lambda x: np.eye(1)), state


def test_scoring_gives_up_after_a_run_of_short_steps():
    fun, grad, info, state = creeping_problem()
    fisher_scoring(fun, grad, info, np.zeros(1), stall=150, ridge=10_000)
    assert state["calls"] == 150
    fun, grad, info, state = creeping_problem()
    fisher_scoring(fun, grad, info, np.zeros(1), stall=10_000, max_iter=500, ridge=10_000)
    assert state["calls"] == 500


def test_scoring_gives_up_on_a_ridge_where_short_steps_do_not_lower_the_gradient():
    """30 steps in a row cut below 1/100 with max |g| no lower than when they began end it
    (optimize.RIDGE_STEPS; FIML on ECSI resamples ran 200-300 such steps, 7-17 s a fit)."""
    fun, grad, info, state = creeping_problem()
    fisher_scoring(fun, grad, info, np.zeros(1))
    assert state["calls"] == RIDGE_STEPS + 1


def test_short_steps_that_lower_the_gradient_go_on():
    """A slow but real descent (steps cut to 2**-14 while |g| shrinks) is no ridge: only the
    stall bound (150 steps below 1/1000) ends it."""
    state = {"x": 0.0, "calls": 0}

    def grad(x):
        state["x"], state["calls"] = x[0], state["calls"] + 1
        return np.array([-np.exp(-x[0])])

    def fun(x):
        return np.exp(-x[0]) if x[0] - state["x"] <= 1e-4 else np.inf

    fisher_scoring(fun, grad, lambda x: np.eye(1), np.zeros(1), stall=150)
    assert state["calls"] == 150


def test_scoring_and_newton_reach_a_quadratic_minimum():
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    b = np.array([1.0, 2.0])
    fun = lambda x: 0.5 * x @ A @ x - b @ x  # noqa: E731
    grad = lambda x: A @ x - b  # noqa: E731
    x = fisher_scoring(fun, grad, lambda x: A, np.zeros(2))
    x, steps = newton(grad, x)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), atol=1e-12)


def test_newton_stops_at_a_noise_floor_without_recomputing_the_same_hessian():
    """Below the gradient's rounding floor no step helps: Newton stops after one fresh
    Hessian fails there, instead of recomputing the same one until max_steps (each a
    differenced Hessian: 2q gradients)."""
    H0 = np.array([[3.0, 1.0], [1.0, 2.0]])
    calls = {"h": 0}

    def grad(x):
        return H0 @ (x - 1.0) + (x - 1.0) ** 3 + 1e-8 * np.sin(1e9 * x)   # a floor ~1e-8

    def hess(x):
        calls["h"] += 1
        return H0 + np.diag(3 * (x - 1.0) ** 2)

    x, steps = newton(grad, np.array([1.5, 0.3]), hessian=hess, tol=1e-14, max_steps=20)
    assert np.abs(x - 1.0).max() < 1e-7 and 3 <= steps < 20
    assert calls["h"] <= steps + 1
