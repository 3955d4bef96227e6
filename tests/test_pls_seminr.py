"""PLS-PM against seminr (PyPI seminr 0.2.1, a test-time oracle only) on the bundled ECSI data.

seminr has the path-weighting and factorial schemes; for the centroid scheme we hand seminr an
inner-weighting function (sign of the construct correlations between adjacent constructs, the
textbook centroid scheme) and let seminr's own outer loop do the rest.
"""

import numpy as np
import pytest

import csi_models as csi

seminr = pytest.importorskip("seminr")
from seminr.math.named_matrix import NamedMatrix  # noqa: E402


def centroid(sm_matrix, construct_scores, dependant, paths_matrix):
    names = paths_matrix.rows
    cors = np.corrcoef(construct_scores.values, rowvar=False)
    mask = paths_matrix.values + paths_matrix.values.T
    return NamedMatrix(names, names, np.ascontiguousarray(np.sign(cors) * mask))


SCHEMES = {"path": seminr.path_weighting, "factorial": seminr.path_factorial, "centroid": centroid}


def seminr_fit(spec, data, scheme):
    mm = seminr.constructs(*[
        seminr.composite(c.name, c.item_names,
                         weights=seminr.mode_B if c.mode == "formative" else seminr.mode_A)
        for c in spec.constructs])
    sm = seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in spec.paths])
    return seminr.estimate_pls(data, mm, sm, inner_weights=SCHEMES[scheme], stop_criterion=14,
                               max_it=1000)


def formative(spec, names):
    for name in names:
        spec = spec.with_mode(name, "formative")
    return spec


ECSI = csi.load_spec("ecsi")
VARIANTS = {
    "A": ECSI,
    "B": formative(ECSI, [c.name for c in ECSI.constructs if len(c.items) > 1]),
    "mixed": formative(ECSI, ["Image", "Value"]),
}


def compare(res, model, spec):
    own = {c.name: c.name for c in spec.constructs}
    for row in res.paths.itertuples():
        assert row.estimate == pytest.approx(model.path_coef.get(row.source, row.target), abs=1e-6)
    for table, theirs in ((res.weights, model.outer_weights), (res.loadings, model.outer_loadings)):
        for row in table.itertuples():
            assert row.estimate == pytest.approx(theirs.get(row.item, own[row.construct]), abs=1e-6)
    for construct, value in res.r2.items():
        assert value == pytest.approx(model.r_squared.get("Rsq", construct), abs=1e-6)
    theirs = np.column_stack([model.construct_scores.column(c) for c in res.scores.columns])
    np.testing.assert_allclose(res.scores.to_numpy(), theirs, atol=1e-6)


@pytest.mark.parametrize("scheme", ["path", "factorial", "centroid"])
@pytest.mark.parametrize("variant", ["A", "B", "mixed"])
def test_ecsi_matches_seminr(mobi, scheme, variant):
    spec = VARIANTS[variant]
    res = csi.fit(spec, mobi, method="pls", scheme=scheme, tol=1e-12, max_iter=1000)
    compare(res, seminr_fit(spec, mobi, scheme), spec)


@pytest.mark.parametrize("name", ["acsi", "ccsi"])
def test_other_shipped_specs_match_seminr(mobi, name):
    spec = csi.load_spec(name)
    res = csi.fit(spec, mobi, method="pls", tol=1e-12)
    compare(res, seminr_fit(spec, mobi, "path"), spec)


def test_default_tolerance_is_already_within_1e6_of_seminr(mobi):
    res = csi.fit("ecsi", mobi, method="pls")
    compare(res, seminr_fit(ECSI, mobi, "path"), ECSI)
    assert res.converged and res.settings["iterations"] < 20


def test_known_published_values(mobi):
    """Values every PLS tool reports for this data (e.g. seminr's mobi vignette)."""
    res = csi.fit("ecsi", mobi, method="pls")
    paths = res.paths.set_index(["source", "target"])["estimate"]
    assert paths["Image", "Expectation"] == pytest.approx(0.5049, abs=1e-4)
    assert paths["Quality", "Satisfaction"] == pytest.approx(0.5120, abs=1e-4)
    assert res.r2["Satisfaction"] == pytest.approx(0.6811, abs=1e-4)
