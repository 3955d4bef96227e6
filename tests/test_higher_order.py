"""Higher-order constructs (spec ``dimensions:``, engines/higher_order.py) against seminr
0.2.1 (test-time oracle only): the disjoint two-stage approach against seminr's
``higher_composite(..., method = "two_stage")``; the repeated-indicators and embedded
two-stage approaches against seminr estimating the same models built by hand (copied item
columns; stage-1 scores as items)."""

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.engines import higher_order as H
from csi_models.errors import SpecError
from csi_models.spec.loading import spec_from_dict
from csi_models.spec.writing import spec_to_dict

seminr = pytest.importorskip("seminr")

PATHS = ["Image -> Expectation", "Expectation -> Evaluation", "Image -> Satisfaction",
         "Evaluation -> Satisfaction", "Expectation -> Satisfaction", "Satisfaction -> Loyalty",
         "Image -> Loyalty"]


def hoc_spec(mode="formative"):
    d = spec_to_dict(csi.load_spec("ecsi"))
    d["name"] = "hoc"
    del d["constructs"]["Complaints"]
    d["constructs"]["Evaluation"] = {"mode": mode, "dimensions": ["Quality", "Value"]}
    d["paths"] = PATHS
    return spec_from_dict(d)


def seminr_model(data, constructs, paths):
    return seminr.estimate_pls(data, seminr.constructs(*constructs),
                               seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in paths]),
                               stop_criterion=14, max_it=1000)


def composite(c):
    return seminr.composite(c.name, c.item_names,
                            weights=seminr.mode_B if c.mode == "formative" else seminr.mode_A)


def check(ours, model, rename=lambda item, construct: item):
    for row in ours.paths.itertuples():
        assert row.estimate == pytest.approx(model.path_coef.get(row.source, row.target), abs=1e-6)
    for construct, value in ours.r2.items():
        assert value == pytest.approx(model.r_squared.get("Rsq", construct), abs=1e-6)
    for table, theirs in ((ours.weights, model.outer_weights), (ours.loadings, model.outer_loadings)):
        for row in table[table.level == "first"].itertuples():
            assert row.estimate == pytest.approx(
                theirs.get(rename(row.item, row.construct), row.construct), abs=1e-6)


@pytest.mark.parametrize("mode", ["formative", "reflective"])
def test_disjoint_two_stage_matches_seminr(mobi, mode):
    spec = hoc_spec(mode)
    ours = H.fit(spec, mobi, "disjoint", tol=1e-12, max_iter=1000)
    weights = seminr.regression_weights if mode == "formative" else seminr.correlation_weights
    model = seminr_model(mobi, [composite(c) for c in spec.constructs if not c.dimensions]
                         + [seminr.higher_composite("Evaluation", ["Quality", "Value"],
                                                    method="two_stage", weights=weights)],
                         spec.paths)
    check(ours, model)
    for table, theirs in ((ours.weights, model.outer_weights), (ours.loadings, model.outer_loadings)):
        for row in table[table.level == "second"].itertuples():
            assert row.estimate == pytest.approx(theirs.get(row.item, row.construct), abs=1e-6)


def _repeated_by_hand(spec, mobi):
    """seminr on the repeated-indicators model built by hand: copied columns, LOC -> HOC."""
    data = mobi.copy()
    items = []
    for d in ("Quality", "Value"):
        for i in spec.construct(d).item_names:
            data[f"{i}_rep"] = mobi[i]
            items.append(f"{i}_rep")
    hoc = spec.construct("Evaluation")
    mm = [composite(c) for c in spec.constructs if not c.dimensions]
    mm.append(seminr.composite("Evaluation", items,
                               weights=seminr.mode_B if hoc.mode == "formative" else seminr.mode_A))
    links = [("Quality", "Evaluation"), ("Value", "Evaluation")]
    return data, seminr_model(data, mm, list(spec.paths) + links)


def test_repeated_indicators_match_seminr(mobi):
    spec = hoc_spec("formative")
    ours = H.fit(spec, mobi, "repeated", tol=1e-12, max_iter=1000)
    _, model = _repeated_by_hand(spec, mobi)
    check(ours, model, rename=lambda item, c: f"{item}_rep" if c == "Evaluation" else item)
    second = ours.weights[ours.weights.level == "second"].set_index("item").estimate
    assert second["Quality"] == pytest.approx(model.path_coef.get("Quality", "Evaluation"), abs=1e-6)


def test_embedded_two_stage_matches_seminr(mobi):
    spec = hoc_spec("formative")
    ours = H.fit(spec, mobi, "embedded", tol=1e-12, max_iter=1000)
    data, stage1 = _repeated_by_hand(spec, mobi)
    scored = mobi.copy()
    for d in ("Quality", "Value"):
        scored[f"{d}_score"] = stage1.construct_scores.column(d)
    mm = [composite(c) for c in spec.constructs
          if not c.dimensions and c.name not in ("Quality", "Value")]
    mm.append(seminr.composite("Evaluation", ["Quality_score", "Value_score"], weights=seminr.mode_B))
    model = seminr_model(scored, mm, spec.paths)
    for row in ours.paths.itertuples():
        assert row.estimate == pytest.approx(model.path_coef.get(row.source, row.target), abs=1e-6)
    for row in ours.loadings[ours.loadings.level == "first"].itertuples():
        theirs = stage1 if row.construct in ("Quality", "Value") else model  # LOCs: stage 1
        assert row.estimate == pytest.approx(theirs.outer_loadings.get(row.item, row.construct),
                                             abs=1e-6)
    for row in ours.weights[ours.weights.level == "second"].itertuples():
        assert row.estimate == pytest.approx(
            model.outer_weights.get(f"{row.item}_score", "Evaluation"), abs=1e-6)


def test_indices_at_both_levels(mobi):
    """The HOC's 0-100 index is the index formula over its dimensions' 0-100 scores: a
    weighted mean of the dimension indices with weights w_d / sd(score_d) (recomputed here
    from the stage-1 weights and the items by hand)."""
    spec = hoc_spec("formative")
    ours = H.fit(spec, mobi, "disjoint")
    (spec1, survey1, est1), _ = ours.stages
    lay = est1.layout
    X = survey1.values[list(lay.items)].to_numpy(float)
    sd = X.std(axis=0, ddof=1)
    idx = ours.indices.set_index("construct").estimate
    sds = {}
    for d in ("Quality", "Value"):
        cols = lay.membership[:, lay.constructs.index(d)] > 0
        u = est1.weights[cols] / sd[cols]
        score = 100 * ((X[:, cols] - 1) @ u) / (9 * u.sum())
        assert idx[d] == pytest.approx(score.mean(), abs=1e-9)
        sds[d] = score.std(ddof=1)
    w = ours.weights[ours.weights.level == "second"].set_index("item").estimate
    a = {d: w[d] / sds[d] for d in sds}
    assert idx["Evaluation"] == pytest.approx(sum(a[d] * idx[d] for d in a) / sum(a.values()),
                                              abs=1e-9)
    assert (ours.indices.level == "second").sum() == 1


@pytest.mark.parametrize("change,message", [
    (lambda d: d["constructs"]["Evaluation"].update(items=["PERQ1"]), "both 'items:' and"),
    (lambda d: d["constructs"]["Evaluation"].update(dimensions=["Quality"]), "at least two"),
    (lambda d: d["constructs"]["Evaluation"].update(dimensions=["Quality", "Nope"]), "'Nope'"),
    (lambda d: d["paths"].append("Quality -> Loyalty"), "is on a structural path"),
    (lambda d: d["constructs"].update(Second={"dimensions": ["Quality", "Image"]}),
     "dimension of both"),
    (lambda d: d["constructs"].update(Third={"dimensions": ["Evaluation", "Image"]}),
     "itself a higher-order"),
])
def test_spec_errors_are_named(change, message):
    d = spec_to_dict(hoc_spec())
    change(d)
    with pytest.raises(SpecError, match=message):
        spec_from_dict(d)


def test_yaml_round_trip_and_engines_refuse_hocs(mobi):
    spec = hoc_spec()
    assert spec_from_dict(spec_to_dict(spec)) == spec
    assert spec.construct("Evaluation").dimensions == ("Quality", "Value")
    with pytest.raises(SpecError, match="higher_order.fit"):
        csi.fit(spec, mobi)
    with pytest.raises(SpecError, match="method="):
        H.fit(spec, mobi, method="two-stage")


EXAMPLES = __import__("pathlib").Path(__file__).parents[1] / "model_specs" / "examples"


def test_shipped_servqual_example():
    """The example spec (SERVQUAL's five dimensions forming perceived Quality in a CSI model)
    loads, its data are what csi.simulate gives (make_servqual_csi.py), and every method
    estimates it with a HOC index inside the range of its dimensions' indices."""
    import importlib.util

    spec = csi.load_spec(EXAMPLES / "servqual_csi.yaml")
    assert spec.construct("Quality").dimensions == (
        "Tangibles", "Reliability", "Responsiveness", "Assurance", "Empathy")
    script = importlib.util.spec_from_file_location("make_servqual", EXAMPLES / "make_servqual_csi.py")
    module = importlib.util.module_from_spec(script)
    script.loader.exec_module(module)
    data = pd.read_csv(EXAMPLES / "servqual_csi.csv")
    pd.testing.assert_frame_equal(data, module.example_data(), check_dtype=False)
    for method in H.METHODS:
        res = H.fit(spec, data, method)
        idx = res.indices.set_index("construct").estimate
        dims = idx[list(spec.construct("Quality").dimensions)]
        assert dims.min() <= idx["Quality"] <= dims.max()
        assert (res.weights[res.weights.level == "second"].estimate > 0).all()


@pytest.mark.parametrize("method", ["disjoint", "repeated"])
def test_bootstrap_reestimates_every_stage(mobi, method):
    """The bootstrap se of every path and HOC weight equals the sd of full refits (both stages)
    on the same resamples."""
    from csi_models.inference.bootstrap import resample_rows

    spec = hoc_spec("formative")
    table = H.bootstrap(spec, mobi, method, n_boot=4, random_state=3)
    refits = [H.fit(spec, mobi.iloc[r].reset_index(drop=True), method)
              for r in resample_rows(len(mobi), np.arange(4), 3)]
    for row in table.itertuples():
        if row.kind == "path":
            values = [f.paths.set_index(["source", "target"]).estimate[(row.source, row.target)]
                      for f in refits]
        else:
            values = [f.weights[(f.weights.level == "second")].set_index("item").estimate[row.source]
                      for f in refits]
        assert row.se == pytest.approx(np.std(values, ddof=1), rel=1e-6), row
    assert (table.n_boot == 4).all()
    assert set(table.kind) == ({"path", "weight"} if method == "disjoint" else {"path"})


def test_dimensions_are_not_reported_as_constructs_on_no_path():
    from csi_models.spec.validation import spec_advice

    assert spec_advice(hoc_spec()) == []
