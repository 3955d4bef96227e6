"""PLSc (engines/plsc.py) against seminr's PLSc (PyPI seminr 0.2.1, ``reflective()``
constructs: a test-time oracle only), against known truth on factor populations, and against
CB-SEM on data simulated from a factor model (both estimators are consistent there)."""

import warnings

import numpy as np
import pytest

import csi_models as csi
from csi_models.data.prepare import prepare
from csi_models.engines import cbsem, pls, plsc
from csi_models.engines.base import Layout
from csi_models.errors import ImproperSolutionWarning
from csi_models.simulation import population, simulate

seminr = pytest.importorskip("seminr")

ECSI = csi.load_spec("ecsi")
SCHEMES = {"path": seminr.path_weighting, "factorial": seminr.path_factorial}


def seminr_plsc(spec, data, scheme):
    mm = seminr.constructs(*[
        seminr.composite(c.name, c.item_names, weights=seminr.mode_B) if c.mode == "formative"
        else seminr.reflective(c.name, c.item_names) for c in spec.constructs])
    sm = seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in spec.paths])
    return seminr.estimate_pls(data, mm, sm, inner_weights=SCHEMES[scheme], stop_criterion=14,
                               max_it=1000)


def fit_quietly(spec, data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImproperSolutionWarning)
        return plsc.fit(spec, prepare(spec, data), **options)


@pytest.mark.parametrize("scheme", ["path", "factorial"])
@pytest.mark.parametrize("formative", [(), ("Image", "Value")])
def test_matches_seminr_plsc(mobi, scheme, formative):
    spec = ECSI
    for name in formative:
        spec = spec.with_mode(name, "formative")
    est = fit_quietly(spec, mobi, scheme=scheme, tol=1e-12, max_iter=1000)
    model = seminr_plsc(spec, mobi, scheme)
    lay = est.layout
    names = lay.constructs
    assert est.method == "plsc"
    for i, j in zip(*np.nonzero(lay.adjacency)):
        assert est.paths[i, j] == pytest.approx(model.path_coef.get(names[i], names[j]), abs=1e-6)
    for k, item in enumerate(lay.items):
        assert est.loadings[k] == pytest.approx(
            model.outer_loadings.get(item, names[lay.block[k]]), abs=1e-6)
        assert est.weights[k] == pytest.approx(
            model.outer_weights.get(item, names[lay.block[k]]), abs=1e-6)
    for j in lay.endogenous:
        assert est.r2[j] == pytest.approx(model.r_squared.get("Rsq", names[j]), abs=1e-6)


def test_population_factor_model_is_recovered_exactly():
    """On the population correlations of a common-factor model PLSc returns the population
    loadings, construct correlations, paths and R^2 (Dijkstra & Henseler 2015, consistency);
    plain PLS does not."""
    items = [i for c in ECSI.constructs if len(c.items) > 1 for i in c.item_names]
    loadings = dict(zip(items, np.tile([0.9, 0.8, 0.7, 0.6], 6)))
    pop = population(ECSI, loadings=loadings, path_value=0.25, exogenous_cor=0.3)
    layout = Layout.from_spec(ECSI)
    S = pop.item_cov.to_numpy()[None]
    got = plsc.estimate_batch(S, layout, tol=1e-13, max_iter=1000)
    truth_lam = np.array([pop.loadings[i] for i in layout.items])
    np.testing.assert_allclose(got.loadings[0], truth_lam, atol=1e-8)
    np.testing.assert_allclose(got.construct_cor[0], pop.construct_cor.to_numpy(), atol=1e-8)
    for (source, target), value in pop.paths.items():
        assert got.paths[0, layout.constructs.index(source), layout.constructs.index(target)] \
            == pytest.approx(value, abs=1e-8)
    r2 = pop.r2
    for name, value in r2.items():
        assert got.r2[0, layout.constructs.index(name)] == pytest.approx(value, abs=1e-8)
    assert not got.improper[0] and got.ok[0]
    plain = pls.estimate_batch(S, layout, tol=1e-13, max_iter=1000)
    assert np.abs((plain.item_cor[0] * layout.membership).sum(axis=1) - truth_lam).max() > 0.05


def test_agrees_with_cbsem_on_factor_data():
    """Both PLSc and ML CB-SEM are consistent for a factor model: on n = 3000 simulated
    respondents their standardized paths agree with each other and with the truth."""
    pop = population(ECSI, path_value=0.3, loading_value=0.75, exogenous_cor=0.3)
    data = simulate(ECSI, 3000, pop=pop, random_state=11)
    spec = ECSI.with_scale(-10, 10)
    survey = prepare(spec, data)
    ours = plsc.fit(spec, survey)
    ml = cbsem.fit(spec, survey)
    lay = ours.layout
    for i, j in zip(*np.nonzero(lay.adjacency)):
        truth = pop.paths[(lay.constructs[i], lay.constructs[j])]
        assert ours.paths[i, j] == pytest.approx(truth, abs=0.06)
        assert ours.paths[i, j] == pytest.approx(ml.paths[i, j], abs=0.03)
    truth = np.array([pop.loadings[i] for i in lay.items])
    np.testing.assert_allclose(ours.loadings, truth, atol=0.05)
    np.testing.assert_allclose(ours.loadings, ml.loadings, atol=0.05)


def test_batch_equals_single_fits(mobi):
    spec = ECSI.with_mode("Value", "formative")
    layout = Layout.from_spec(spec)
    rng = np.random.default_rng(3)
    X = prepare(spec, mobi).values.to_numpy(float)
    rows = [rng.integers(0, len(X), len(X)) for _ in range(3)]
    S = np.stack([pls.correlation(X[r]) for r in rows])
    batch = plsc.estimate_batch(S, layout, tol=1e-12, max_iter=1000)
    for b, r in enumerate(rows):
        frame = mobi.iloc[r].reset_index(drop=True)
        one = fit_quietly(spec, frame, tol=1e-12, max_iter=1000)
        np.testing.assert_allclose(batch.paths[b], one.paths, atol=1e-10)
        np.testing.assert_allclose(batch.loadings[b], one.loadings, atol=1e-10)
        np.testing.assert_allclose(batch.construct_cor[b], one.construct_cor, atol=1e-10)
        assert batch.improper[b] == bool(one.extras["improper"])


def test_improper_solution_is_warned_and_listed(mobi):
    """On the ECSI data the consistent construct correlations are not positive definite
    (smallest eigenvalue about -0.003; Image, Quality and Satisfaction correlate > 0.9)."""
    with pytest.warns(ImproperSolutionWarning, match="not positive definite"):
        est = plsc.fit(ECSI, prepare(ECSI, mobi))
    assert any("positive definite" in p for p in est.extras["improper"])
    assert np.linalg.eigvalsh(est.construct_cor)[0] < 0


def test_admissibility_names_each_problem():
    lay = Layout.from_spec(ECSI)
    J = len(lay.constructs)
    lam = np.full(len(lay.items), 0.8)
    lam[0] = 1.05
    R = np.eye(J)
    R[0, 1] = R[1, 0] = 1.02
    r2 = np.full(J, 0.5)
    r2[lay.endogenous[0]] = 1.1
    rho = np.full(J, 0.8)
    problems = plsc.admissibility(lay, lam, R, r2, rho)
    text = " | ".join(problems)
    assert "IMAG1" in text and "negative error variance" in text
    assert "Image and Expectation" in text and "R^2 of" in text
    assert plsc.admissibility(lay, np.full(len(lay.items), 0.8), np.eye(J), np.full(J, 0.5),
                              rho) == []
