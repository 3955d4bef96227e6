"""BFGS steps for a stack of data sets (engines.quasi_newton): the update, the steps, the
give-up schedule; the resamples that need them are in test_resamples and test_mlkernel."""

import warnings

import numpy as np
import pytest
import semopy

import csi_models as csi
from csi_models.engines import cbsem, mlfit, quasi_newton
from csi_models.engines import mlkernel as mk
from csi_models.engines.base import Layout
from csi_models.engines.start import data_start
from csi_models.inference.bootstrap import resample_rows
from csi_models.spec.lavaan import to_lavaan


@pytest.fixture(scope="module")
def ecsi(mobi):
    spec = csi.load_spec("ecsi")
    names = cbsem._names(Layout.from_spec(spec))
    model = semopy.Model(to_lavaan(spec, rename=names))
    frame = mobi.rename(columns=names)
    model.load(frame)
    structure = mk.Structure.from_semopy(model)
    return structure, frame[list(structure.observed)].to_numpy(float)


def test_update_meets_the_secant_condition_and_skips_negative_curvature():
    """After the update H y = s (the secant condition) and H stays symmetric; where s'y <= 0
    (or s = 0, a refused step) H is left as it was."""
    rng = np.random.default_rng(3)
    K, n = 5, 7
    A = rng.normal(size=(K, n, n))
    H = A @ A.transpose(0, 2, 1) + n * np.eye(n)
    s, y = rng.normal(size=(2, K, n))
    y[:3] = s[:3] + 0.1 * y[:3]                # s'y > 0
    y[3] = -s[3]                               # s'y < 0
    s[4] = 0.0                                 # refused
    before = H.copy()
    quasi_newton._update(H, s, y)
    for k in range(3):
        np.testing.assert_allclose(H[k] @ y[k], s[k], atol=1e-10)
        np.testing.assert_allclose(H[k], H[k].T, atol=1e-12)
    np.testing.assert_array_equal(H[3:], before[3:])


def test_steps_reach_the_optimum_of_the_full_sample(ecsi):
    """From the data-based start, BFGS steps on the ECSI survey get below max |g| 1e-4 and
    Newton steps from there land on the optimum the usual fit reaches."""
    structure, values = ecsi
    S, logdet = mk.sample_moments(values, [np.arange(len(values))])
    x0 = data_start(structure, S)
    with np.errstate(all="ignore"):
        x, iterations = quasi_newton.bfgs(structure, x0, S, logdet, 400, 1e-4)
        _, g, _, _ = mk.loss_and_gradient(structure, x, S, logdet)
        assert np.abs(g).max() < 1e-4 and 0 < iterations[0] < 400
        ours, *_ = mlfit.minimize(structure, x, S, logdet, polish=cbsem.POLISHED,
                                  scoring_steps=0)
        usual, *_ = mlfit.minimize(structure, x0, S, logdet, polish=cbsem.POLISHED)
    np.testing.assert_allclose(ours, usual, atol=1e-6)


def test_each_data_set_gets_the_same_steps_alone_or_in_a_stack(ecsi):
    """The steps are each data set's own arithmetic, also where some data sets stop early
    (give-up, refused steps): 12 ECSI resamples alone and together, bit for bit."""
    structure, values = ecsi
    S, logdet = mk.sample_moments(values, list(resample_rows(len(values), range(12), 1)))
    x0 = data_start(structure, S)
    with np.errstate(all="ignore"):
        x, iterations = quasi_newton.bfgs(structure, x0, S, logdet, 250, 1e-4, give_up=True)
        assert len(set(iterations)) > 3          # they stop at different steps
        for k in range(len(S)):
            one = slice(k, k + 1)
            xk, ik = quasi_newton.bfgs(structure, x0[one], S[one], logdet[one], 250, 1e-4,
                                       give_up=True)
            np.testing.assert_array_equal(xk[0], x[k])
            assert ik[0] == iterations[k]


def test_give_up_schedule():
    """After 100, 200 and 300 evaluations a data set is given up when max |g| is above 2, 1
    and 0.5; between the checks, never."""
    gmax = np.array([0.3, 0.7, 1.5, 3.0])
    assert quasi_newton._hopeless(gmax, 100).tolist() == [False, False, False, True]
    assert quasi_newton._hopeless(gmax, 200).tolist() == [False, False, True, True]
    assert quasi_newton._hopeless(gmax, 300).tolist() == [False, True, True, True]
    assert not quasi_newton._hopeless(gmax, 150).any()


def test_a_start_where_sigma_is_not_positive_definite_takes_no_step(ecsi):
    """F is inf at such a start: the data set is not stepped (Newton's phase reports it)."""
    structure, values = ecsi
    S, logdet = mk.sample_moments(values, [np.arange(len(values))])
    x0 = -np.abs(data_start(structure, S))          # negative variances everywhere
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        F, *_ = mk.loss_and_gradient(structure, x0, S, logdet)
        x, iterations = quasi_newton.bfgs(structure, x0, S, logdet, 50, 1e-4)
    assert np.isinf(F[0])
    assert iterations[0] == 0 and np.array_equal(x, x0)
