"""CB-SEM bootstrap refits through the batched kernel (engines.resamples.fit_resamples):
the same estimates as separate single fits of the resampled rows, lavaan's chi-square on the
two hard ECSI resamples, failures and improper solutions counted apart."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from conftest import FIXTURES, close
from csi_models.engines import cbsem, multistart
from csi_models.engines.resamples import fit_resamples
from csi_models.errors import EstimationError
from csi_models.inference.bootstrap import resample_rows


@pytest.fixture(scope="module")
def ecsi_fit(mobi):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csi.fit("ecsi", mobi, method="cbsem")


def test_resamples_equal_single_fits_and_hard_ones_reach_lavaan(mobi, ecsi_fit):
    hard = pd.read_csv(FIXTURES / "ecsi_hard_resamples.csv")
    rows = [np.array(r.split(), int) for r in hard["rows"]] + list(resample_rows(250, range(3), 1))
    out = fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows, start=ecsi_fit.estimates.extras["x"])
    assert len(out) == len(rows)
    for k, chisq in enumerate(hard["lavaan_chisq"]):
        est, reason = out[k]
        assert reason is None and est.converged and est.gradient_norm < 1e-6
        assert 250 * est.objective == pytest.approx(chisq, abs=1e-3)
        assert est.extras["improper"]            # every converged ECSI resample is improper
    for (est, reason), r in zip(out[2:], rows[2:]):
        if est is None:
            assert reason.startswith(("did not converge", "runs into an improper region"))
            continue
        assert est.extras["start"] in ("data", "semopy default", "given", "repaired",
                                       "data, quasi-Newton")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            single = cbsem.fit(ecsi_fit.spec, _subset(ecsi_fit.data, r))
        if single.converged:
            close(est.parameters["est"], single.parameters["est"], 1e-6)
            close(est.paths, single.paths, 1e-6)
            close(est.weights, single.weights, 1e-6)


def test_improper_drop_counts_them_as_failures(ecsi_fit):
    hard = pd.read_csv(FIXTURES / "ecsi_hard_resamples.csv")
    rows = [np.array(hard["rows"][0].split(), int)]
    (est, reason), = fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows, improper="drop")
    assert est is None and reason.startswith("improper solution: ")
    with pytest.raises(EstimationError, match="improper='maybe': use 'keep' or 'drop'"):
        fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows, improper="maybe")


def test_singular_resample_is_a_counted_failure(ecsi_fit):
    rows = [np.zeros(250, int)]                 # one respondent 250 times
    (est, reason), = fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows)
    assert est is None and "singular" in reason


def _subset(survey, rows):
    import dataclasses

    return dataclasses.replace(survey, values=survey.values.iloc[rows].reset_index(drop=True))


@pytest.mark.parametrize("improper", ["keep", "drop"])
def test_the_bootstrap_stack_equals_the_estimates_one_by_one(ecsi_fit, improper):
    """resample_stack (all resamples' solutions at once) = fit_resamples' Estimates with the
    item moments of their rows (engine.with_moments), resample by resample; failures with the
    same reasons, improper ones flagged (keep) or failed with the problems named (drop)."""
    from csi_models.engines.cbsem_engine import _rows, with_moments
    from csi_models.engines.resamples import resample_stack

    hard = pd.read_csv(FIXTURES / "ecsi_hard_resamples.csv")
    rows = [np.array(r.split(), int) for r in hard["rows"]] + list(resample_rows(250, range(6), 1))
    rows.append(np.zeros(250, int))                                  # singular
    start = ecsi_fit.estimates.extras["x"]
    one = fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows, start=start, improper=improper)
    stack = resample_stack(ecsi_fit.spec, ecsi_fit.data, rows, start=start, improper=improper)
    assert stack.reasons == tuple(reason or "" for _, reason in one)
    assert stack.ok.tolist() == [est is not None for est, _ in one]
    assert stack.improper.tolist() == [est is not None and bool(est.extras.get("improper"))
                                       for est, _ in one]
    converged = [k for k, r in enumerate(stack.reasons)
                 if not r.startswith(("did not converge", "runs into", "the resample's"))]
    assert len(converged) >= 3 and not stack.ok[-1]        # every one of them improper:
    assert stack.ok[converged].all() == (improper == "keep")   # kept, or dropped as failures
    for k, ((est, _), r) in enumerate(zip(one, rows)):
        if est is None:
            assert np.isnan(stack.paths[k]).all() and np.isnan(stack.item_cor[k]).all()
            continue
        est = with_moments(est, _rows(ecsi_fit.data, r))
        for name in ("paths", "weights", "loadings", "r2", "item_mean", "item_sd", "item_cor"):
            np.testing.assert_allclose(getattr(stack, name)[k], getattr(est, name), rtol=1e-10,
                                       atol=1e-12, err_msg=name)
    if improper == "drop":
        assert all(stack.reasons[k].startswith("improper solution: ") for k in converged)


def test_a_proper_full_sample_solution_is_the_first_start(ecsi_fit):
    """Resamples start from the full sample's estimates when those are proper (a simulated
    CCSI sample), else from their own data-based start (ECSI, improper)."""
    spec = csi.load_spec("ccsi").with_scale(-10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ccsi = csi.fit(spec, csi.simulate(spec, 250, random_state=1), method="cbsem")
    assert not ccsi.estimates.extras.get("improper")
    rows = list(resample_rows(250, range(3), 1))
    out = fit_resamples(ccsi.spec, ccsi.data, rows, start=ccsi.estimates.extras["x"])
    assert [est.extras["start"] for est, _ in out] == ["given"] * 3
    out = fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows[:1], start=ecsi_fit.estimates.extras["x"])
    assert out[0][0].extras["start"] == "data"


def test_a_resample_given_up_says_why(ecsi_fit):
    """ECSI resample 6 (seed 1) converges from no start; its best start (the lowest F) was
    given up after a few dozen Newton steps (mlfit's give_up: F fell too little) and the
    reason says so. Resample 29's best start ended its scoring steps far from an optimum
    (mlfit.HOPELESS_GRADIENT), and its reason says that."""
    rows = list(resample_rows(250, range(30), 1))
    (est, stalled), (far_est, far) = fit_resamples(ecsi_fit.spec, ecsi_fit.data,
                                                    [rows[6], rows[29]],
                                                    start=ecsi_fit.estimates.extras["x"])
    assert est is None and stalled.startswith("did not converge: max |gradient| = ")
    assert "; given up: the fit function fell by less than 0.0001 over 20 Newton steps, " \
           "with the disturbance variance of " in stalled
    assert far_est is None and "; given up: max |gradient| was still above 1 after the " \
           "scoring (or quasi-Newton) steps, with the disturbance variance of Loyalty " \
           "below 0" in far


def test_variance_names_of_items_and_constructs(ecsi_fit):
    """An item's residual variance is named as such whatever its position (an item beyond
    the number of constructs used to index the paths' rows and fail)."""
    from csi_models.engines import mlkernel as mk
    from csi_models.engines.base import Layout
    from csi_models.engines.cbsem import _build
    from csi_models.engines.resamples import variance_name

    layout = Layout.from_spec(ecsi_fit.spec)
    model, frame, names, _ = _build(ecsi_fit.spec, layout, ecsi_fit.data, "listwise")
    structure = mk.Structure.from_semopy(model)
    ti, tr, tc = structure.free["theta"]
    last = ti[(tr == tc) & (tr == len(structure.observed) - 1)][0]
    item = {v: k for k, v in names.items()}.get(structure.observed[-1], structure.observed[-1])
    assert variance_name(structure, names, last) == f"the residual variance of {item}"
    si, sr, sc = structure.free["psi"]
    texts = {variance_name(structure, names, j) for j in si[sr == sc]}
    assert "the variance of Image" in texts
    assert "the disturbance variance of Loyalty" in texts


def test_the_repaired_best_point_is_a_start_of_its_own(ecsi_fit):
    """ECSI resample 48 (seed 1) converges from none of the data-based, semopy's and the
    full-sample start, each running along a ridge into an improper region; from the best
    point they reached, with its negative variances reset to their data-based starts, it
    converges (to an improper optimum, chi-square 788.701; lavaan 0.6-14 does not converge
    there and stops at 788.717)."""
    rows = list(resample_rows(250, range(49), 1))[48:]
    (est, reason), = fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows,
                                   start=ecsi_fit.estimates.extras["x"])
    assert reason is None and est.extras["start"] == "repaired"
    assert est.converged and est.gradient_norm < 1e-6 and est.extras["improper"]
    assert 250 * est.objective == pytest.approx(788.70104, abs=1e-3)


def test_refits_are_identical_for_any_number_of_processes(ecsi_fit):
    """Each chunk runs through every start of its resamples on its own (engines.multistart),
    and every step is each matrix's own arithmetic: one process or two give the same numbers
    bit for bit, also for resamples that converge only from the late starts (once, a late
    start with few resamples left was solved by LU in one process and by substitution in
    the other, and x differed by 1.8e-9)."""
    from csi_models.engines import resamples

    rows = list(resample_rows(250, range(40), 1))
    start = ecsi_fit.estimates.extras["x"]
    one = resamples._solve(ecsi_fit.spec, ecsi_fit.data, rows, start, 1, "keep")
    two = resamples._solve(ecsi_fit.spec, ecsi_fit.data, rows, start, 2, "keep")
    for name in ("x", "F", "gmax", "iters", "falling", "given_up", "labels"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert {"repaired", multistart.QUASI_NEWTON} <= set(one.labels)


def test_chunks_shrink_for_models_with_many_parameters():
    """A chunk keeps stacks of chunk x q x q: ECSI's q = 59 keeps the 500 resamples a chunk
    that were measured fastest, a model with 150 free parameters gets chunks of at most 93
    (16 MB a stack), and every resample falls in exactly one chunk, as many chunks as a
    multiple of the processes."""
    assert multistart.chunk_size(59) == multistart.CHUNK == 500
    assert multistart.chunk_size(150) == 93
    for K, jobs, q in ((1000, 2, 59), (1000, 2, 150), (7, 2, 150), (1000, 1, 2000)):
        parts = multistart.chunks(K, jobs, q)
        covered = np.concatenate([np.arange(K)[c] for c in parts])
        np.testing.assert_array_equal(covered, np.arange(K))
        assert max(c.stop - c.start for c in parts) <= max(multistart.chunk_size(q), 1)
        assert K < jobs or len(parts) % jobs == 0


def test_resamples_in_another_valley_reach_lavaans_optimum(ecsi_fit):
    """On these ECSI resamples lavaan's nlminb converges to a true optimum (polished by
    make_lavaan_refs.R to max |gradient| ~1e-13), which Fisher scoring from the data-based,
    semopy's, the full-sample and the repaired start all miss: they follow another valley,
    towards an improper region. The last start, BFGS steps from the data-based start
    (multistart.QUASI_NEWTON), finds it."""
    valley = pd.read_csv(FIXTURES / "ecsi_valley_resamples.csv")
    lavaan = pd.read_csv(FIXTURES / "lavaan" / "ecsi_valley_resamples.csv")
    assert (lavaan["max_abs_gradient"] < 1e-10).all()
    rows = [np.array(r.split(), int) for r in valley["rows"]]
    out = fit_resamples(ecsi_fit.spec, ecsi_fit.data, rows, start=ecsi_fit.estimates.extras["x"])
    for (est, reason), chisq in zip(out, lavaan["chisq_polished"]):
        assert reason is None and est.gradient_norm < 1e-6
        assert est.extras["start"] == multistart.QUASI_NEWTON
        assert 250 * est.objective == pytest.approx(chisq, abs=1e-3)


def test_a_resample_gets_the_same_moments_whatever_else_is_drawn_with_it(mobi):
    """Each row set's covariances are its own products: resample 845 of 1000 (seed 1), whose
    refit converges or not by the last bits of S, gets the same S alone, among three and
    among all 1000 (one product for the whole stack differed by 8e-15)."""
    from csi_models.engines.resamples import _moments

    values = mobi.to_numpy(float)
    rows = list(resample_rows(len(values), range(1000), 1))
    every = _moments(values, None, rows)[0]
    three = _moments(values, None, [rows[845], rows[20], rows[3]])[0]
    alone = _moments(values, None, [rows[845]])[0]
    np.testing.assert_array_equal(three[0], every[845])
    np.testing.assert_array_equal(alone[0], every[845])
    np.testing.assert_array_equal(three[1:], every[[20, 3]])


def test_row_sets_of_different_lengths_each_get_their_own_covariance():
    """Row sets of different lengths (not a bootstrap's) used to stop numpy's stack with
    'all input arrays must have the same shape'; each set's S is its own product."""
    from csi_models.engines.mlkernel import sample_moments

    values = np.random.default_rng(0).normal(size=(50, 4))
    sets = [np.arange(30), np.arange(50), np.arange(5, 45)]
    S, logdet = sample_moments(values, sets)
    for k, rows in enumerate(sets):
        alone, _ = sample_moments(values, [rows])
        assert np.array_equal(S[k], alone[0])
        np.testing.assert_allclose(S[k], np.cov(values[rows], rowvar=False, bias=True),
                                   rtol=1e-12)
    data = csi.datasets.load_ecsi_mobi()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = csi.fit("ccsi", data, method="cbsem")
        out = fit_resamples(res.spec, res.data, [np.arange(200), np.arange(250)])
    full = out[1][0]
    assert full is not None and abs(full.objective - res.estimates.objective) < 1e-9
