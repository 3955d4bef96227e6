"""The mean structure on the batched ML kernel (``engines.mlmeans``) and the multi-group model
built on it (``engines.multigroup``): analytic gradients against finite differences of the
fit function, and the expected information against the Hessian where the model fits exactly
(there the two are equal). The chi-squares against lavaan are in tests/test_compare.py."""

import numpy as np
import pytest

from csi_models.engines import multigroup
from csi_models.spec import load_spec
from csi_models.spec.layout import Layout
from csi_models.statistics.fit_measures import Moments


@pytest.fixture(scope="module")
def ecsi_groups(mobi):
    """ECSI (paths, a one-item construct) on two halves of the bundled data."""
    spec = load_spec("ecsi")
    layout = Layout.from_spec(spec)
    X = mobi[list(layout.items)].to_numpy(float)
    moments = [Moments(np.cov(X[k::2], rowvar=False, bias=True), None, len(X[k::2]),
                       X[k::2].mean(axis=0), None) for k in (0, 1)]
    return layout, moments


def _point(model, seed=0):
    """An admissible point with non-zero latent means: loadings near 1, paths near 0.3."""
    rng = np.random.default_rng(seed)
    x = np.zeros(model.npar)
    for s in model.slots:
        k = model.index[s.key]
        x[k] = {"L": 0.9, "B": 0.3, "P": 1.0 if s.i == s.j else 0.2, "T": 0.5,
                "n": 6.0, "a": 0.4}[s.matrix] + 0.05 * rng.standard_normal()
    return x


@pytest.mark.parametrize("step", multigroup.STEPS)
def test_multigroup_gradient_equals_finite_differences(ecsi_groups, step):
    model = multigroup.MultiGroupModel(*ecsi_groups, step)
    x = _point(model)
    assert np.isfinite(model.fun(x))
    h = 1e-6
    numeric = np.array([(model.fun(x + e) - model.fun(x - e)) / (2 * h)
                        for e in np.eye(model.npar) * h])
    analytic = model.grad(x)
    assert np.abs(analytic).max() > 1
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-4 * np.abs(analytic).max())


def test_expected_information_is_the_hessian_at_an_exact_fit(ecsi_groups):
    """With S = Sigma(x) and m = mu(x) the Hessian of F is exactly the expected information,
    covariance and mean parts alike (latent means non-zero, paths present)."""
    layout, moments = ecsi_groups
    model = multigroup.MultiGroupModel(layout, moments, "scalar")
    x = _point(model, seed=1)
    sigma, mu = model.implied(x)
    exact = [Moments(sigma[g], None, mom.n, mu[g], None) for g, mom in enumerate(moments)]
    model = multigroup.MultiGroupModel(layout, exact, "scalar")
    assert model.fun(x) == pytest.approx(0, abs=1e-8)
    np.testing.assert_allclose(model.information(x), model.hessian(x), rtol=1e-5,
                               atol=1e-5 * np.abs(model.information(x)).max())
