"""Parameter recovery: data simulated from known population values, fitted by both engines."""

import numpy as np
import pytest

import csi_models as csi
from csi_models.errors import SpecError
from csi_models.simulation import population, simulate

WIDE = csi.load_spec("ecsi").with_scale(-10, 10)  # simulated items are continuous z-values
PATHS = {("Image", "Expectation"): 0.5, ("Expectation", "Quality"): 0.4,
         ("Quality", "Satisfaction"): 0.45, ("Value", "Satisfaction"): 0.2,
         ("Satisfaction", "Loyalty"): 0.5, ("Satisfaction", "Complaints"): -0.3}


def truth(pop, res):
    return np.array([pop.paths[(s, t)] for s, t in zip(res.paths.source, res.paths.target)])


def test_population_values_are_consistent():
    pop = population(WIDE, paths=PATHS)
    R = pop.construct_cor.to_numpy()
    assert np.allclose(np.diag(R), 1) and np.linalg.eigvalsh(R)[0] > 0
    # a construct with one predecessor correlates with it by the path value
    assert pop.construct_cor.loc["Image", "Expectation"] == pytest.approx(0.5)
    assert np.allclose(np.diag(pop.item_cov), 1)
    assert 0 < pop.r2["Satisfaction"] < 1


def test_cbsem_recovers_factor_model_parameters():
    """n = 5000 from a common-factor population: ML estimates are consistent, so every
    standardized path and loading lies within 0.05 (about 4 standard errors) of the truth."""
    pop = population(WIDE, paths=PATHS, loading_value=0.75)
    data = simulate(WIDE, 5000, random_state=11, pop=pop)
    res = csi.fit(WIDE, data, method="cbsem")
    assert res.converged
    np.testing.assert_allclose(res.paths.estimate, truth(pop, res), atol=0.05)
    expected = [pop.loadings[i] for i in res.loadings.item]
    np.testing.assert_allclose(res.loadings.estimate, expected, atol=0.05)
    np.testing.assert_allclose(res.r2[pop.r2.index], pop.r2, atol=0.05)


def test_pls_mode_b_recovers_composite_model_parameters():
    """PLS mode B is consistent for composite populations (Dijkstra 2017): paths and weights
    of an n = 5000 sample lie near the truth, with unequal weights recovered as unequal."""
    spec = WIDE
    for c in spec.constructs:
        if len(c.items) > 1:
            spec = spec.with_mode(c.name, "formative")
    weights = {"IMAG1": 3, "IMAG2": 1, "IMAG3": 0.5, "PERQ1": 2, "CUSL3": 2}
    pop = population(spec, paths=PATHS, kind="composite", weights=weights, item_cor=0.4)
    res = csi.fit(spec, simulate(spec, 5000, random_state=5, pop=pop), method="pls")
    np.testing.assert_allclose(res.paths.estimate, truth(pop, res), atol=0.05)
    expected = [pop.weights[i] for i in res.weights.item]
    np.testing.assert_allclose(res.weights.estimate, expected, atol=0.08)
    w = res.weights.set_index("item").estimate
    assert w["IMAG1"] > 2 * w["IMAG2"] > 2 * w["IMAG3"]


def test_discrete_answers_sit_on_the_spec_scale():
    data = simulate("acsi", 400, random_state=2, discrete=True)
    assert data.min().min() >= 1 and data.max().max() <= 10
    assert (data == data.round()).all().all()
    res = csi.fit("acsi", data, method="pls")
    assert res.converged and (res.paths.estimate > 0).all()


def test_simulation_is_reproducible_and_checks_values():
    a = simulate("ecsi", 50, random_state=4)
    b = simulate("ecsi", 50, random_state=4)
    assert a.equals(b)
    with pytest.raises(SpecError, match="explain .* of its variance"):
        population("ecsi", path_value=0.9)
    with pytest.raises(SpecError, match="kind='mixed'"):
        population("ecsi", kind="mixed")


def test_construct_correlations_solve_the_structural_equations():
    """Two correlated exogenous constructs: R must equal (I - B')^-1 Psi (I - B')^-T with the
    disturbance variances that give every construct unit variance (found here by a fixed
    point, a different route from the code's topological recursion)."""
    from csi_models.spec.loading import spec_from_dict

    items = lambda c: {"items": {f"{c}{k}": {} for k in range(1, 4)}}  # noqa: E731
    spec = spec_from_dict({"name": "two_exo", "scale": {"min": 1, "max": 10},
                           "constructs": {c: items(c) for c in "ABCD"},
                           "paths": ["A -> C", "B -> C", "C -> D", "A -> D"]})
    paths = {("A", "C"): 0.4, ("B", "C"): 0.3, ("C", "D"): 0.5, ("A", "D"): -0.2}
    R = population(spec, paths=paths, exogenous_cor=0.35).construct_cor.loc[list("ABCD"), list("ABCD")]
    B = np.zeros((4, 4))
    for (s, t), v in paths.items():
        B["ABCD".index(s), "ABCD".index(t)] = v
    inv = np.linalg.inv(np.eye(4) - B.T)
    psi = np.diag([1.0, 1.0, 0.0, 0.0])
    psi[0, 1] = psi[1, 0] = 0.35
    for _ in range(200):
        implied = inv @ psi @ inv.T
        psi[[2, 3], [2, 3]] += 1 - np.diag(implied)[[2, 3]]
    np.testing.assert_allclose(R.to_numpy(), inv @ psi @ inv.T, atol=1e-12)
    assert R.loc["A", "B"] == pytest.approx(0.35)
