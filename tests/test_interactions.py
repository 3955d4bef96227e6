"""Moderation (spec ``interaction:``, engines/interactions.py) against seminr 0.2.1's
``interaction_term`` (test-time oracle only) for the three methods, simple slopes by hand, and
the bootstrap rebuilding the interaction in every resample."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import csi_models as csi  # noqa: E402
from csi_models.engines import interactions as I  # noqa: E402
from csi_models.errors import SpecError  # noqa: E402
from csi_models.inference.bootstrap import resample_rows  # noqa: E402
from csi_models.spec.loading import spec_from_dict
from csi_models.spec.writing import spec_to_dict  # noqa: E402

seminr = pytest.importorskip("seminr")

PATHS = ["Quality -> Value", "Quality -> Satisfaction", "Value -> Satisfaction",
         "Image -> Satisfaction", "Satisfaction -> Loyalty", "Image -> Loyalty",
         "SatxImage -> Loyalty"]


def moderation_dict():
    d = spec_to_dict(csi.load_spec("ecsi"))
    d["name"] = "moderation"
    for name in ("Expectation", "Complaints"):
        del d["constructs"][name]
    d["constructs"]["SatxImage"] = {"interaction": ["Satisfaction", "Image"]}
    d["paths"] = list(PATHS)
    return d


SPEC = spec_from_dict(moderation_dict())
SEMINR_METHODS = {"product_indicator": seminr.product_indicator,
                  "orthogonal": seminr.orthogonal, "two_stage": seminr.two_stage}


@pytest.mark.parametrize("method", I.METHODS)
def test_matches_seminr_interaction_term(mobi, method):
    ours = I.fit(SPEC, mobi, method, tol=1e-12, max_iter=1000)
    mm = seminr.constructs(
        *[seminr.composite(c.name, c.item_names) for c in SPEC.constructs if not c.interaction],
        seminr.interaction_term(iv="Satisfaction", moderator="Image",
                                method=SEMINR_METHODS[method]))
    name = {"SatxImage": "Satisfaction*Image"}
    sm = seminr.relationships(*[seminr.paths(from_=name.get(a, a), to=b) for a, b in SPEC.paths])
    model = seminr.estimate_pls(mobi, mm, sm, stop_criterion=14, max_it=1000)
    tol = 1e-6
    for row in ours.paths.itertuples():
        theirs = model.path_coef.get(name.get(row.source, row.source), row.target)
        assert row.slope_metric == pytest.approx(theirs, abs=tol)
    for construct, value in ours.r2.items():
        assert value == pytest.approx(model.r_squared.get("Rsq", construct), abs=tol)
    term = ours.weights[ours.weights.construct == "SatxImage"]
    for row in term.itertuples():
        item = "Satisfaction*Image_intxn" if method == "two_stage" else row.item
        assert row.estimate == pytest.approx(model.outer_weights.get(item, "Satisfaction*Image"),
                                             abs=tol)
    # the standardized estimate: seminr's coefficient times the loading-weighted item sd
    loads = np.abs(ours.loadings[ours.loadings.construct == "SatxImage"].estimate.to_numpy())
    sd = ours.survey.values[term.item.tolist()].std(ddof=1).to_numpy()
    row = ours.paths.set_index("source").loc["SatxImage"]
    assert row["estimate"] == pytest.approx(
        model.path_coef.get("Satisfaction*Image", "Loyalty") * (loads @ sd) / loads.sum(), abs=tol)


def test_simple_slopes_by_hand_and_plot(mobi):
    ours = I.fit(SPEC, mobi, "two_stage")
    b = ours.paths.set_index(["source", "target"]).slope_metric
    slopes = I.simple_slopes(SPEC, ours.paths)
    assert slopes.moderator_level.tolist() == [-1.0, 0.0, 1.0]
    for row in slopes.itertuples():
        assert row.estimate == pytest.approx(b["Satisfaction", "Loyalty"]
                                             + b["SatxImage", "Loyalty"] * row.moderator_level)
        assert row.intercept == pytest.approx(b["Image", "Loyalty"] * row.moderator_level)
    ax = I.plot_simple_slopes(slopes)
    assert len(ax.get_lines()) == 3 and "Image" in ax.get_legend().get_texts()[0].get_text()


@pytest.mark.parametrize("method", ["product_indicator", "two_stage"])
def test_bootstrap_rebuilds_the_interaction_in_each_resample(mobi, method):
    """The bootstrap se equals the sd of full refits (products re-standardized, stage 1
    re-estimated) on the same resamples."""
    table = I.bootstrap(SPEC, mobi, method, n_boot=4, random_state=9)
    rows = resample_rows(len(mobi), np.arange(4), 9)
    refits = [I.fit(SPEC, mobi.iloc[r].reset_index(drop=True), method).paths for r in rows]
    for k, row in enumerate(table.itertuples()):
        values = [p.estimate.iloc[k] for p in refits]
        assert row.se == pytest.approx(np.std(values, ddof=1), rel=1e-6)
        metric = [p.slope_metric.iloc[k] for p in refits]
        assert row.slope_metric_se == pytest.approx(np.std(metric, ddof=1), rel=1e-6)
    assert (table.n_boot == 4).all()


@pytest.mark.parametrize("change,message", [
    (lambda d: d["paths"].remove("Image -> Loyalty"), "add the main effect"),
    (lambda d: d["paths"].append("Quality -> SatxImage"), "target of a path"),
    (lambda d: d["constructs"]["SatxImage"].update(interaction=["Satisfaction", "Nope"]), "'Nope'"),
    (lambda d: d["constructs"]["SatxImage"].update(interaction=["Image", "Image"]), "two different"),
    (lambda d: d["constructs"]["SatxImage"].update(items=["CUSA1"]), "interaction term"),
])
def test_spec_errors_are_named(change, message):
    d = moderation_dict()
    change(d)
    with pytest.raises(SpecError, match=message):
        spec_from_dict(d)


def test_round_trip_and_engines_refuse_interactions(mobi):
    assert spec_from_dict(spec_to_dict(SPEC)) == SPEC
    with pytest.raises(SpecError, match="interactions.fit"):
        csi.fit(SPEC, mobi)
    assert [c.name for c in I.main_effects_spec(SPEC).constructs] == [
        "Image", "Quality", "Value", "Satisfaction", "Loyalty"]
