"""Chinese answer labels read as codes (spec `answers:`), and the spec frictions of issue 15."""

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

import csi_models as csi
from csi_models.data.prepare import prepare
from csi_models.errors import DataError, DataWarning, SpecError
from csi_models.spec import load_spec

SPEC = """
name: labelled
answers: satisfaction7
constructs:
  Satisfaction:
    items: [SAT1, SAT2]
  Loyalty:
    items: [LOY1]
paths:
  - Satisfaction -> Loyalty
"""
SIMPLIFIED = ["很不满意", "不满意", "不太满意", "一般", "较满意", "满意", "很满意"]
TRADITIONAL = ["很不滿意", "不滿意", "不太滿意", "一般", "較滿意", "滿意", "很滿意"]


def test_traditional_and_simplified_labels_from_a_file(tmp_path):
    rows = []
    for k in range(14):  # both scripts, every grade twice, plus numbers stored as text
        code = k % 7 + 1
        script = SIMPLIFIED if k < 7 else TRADITIONAL
        rows.append({"SAT1": script[code - 1], "SAT2": f" {script[(code + 2) % 7]} ",
                     "LOY1": str(code)})
    path = tmp_path / "survey.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    data = csi.read_survey(path)
    spec = load_spec(SPEC)
    assert spec.item("SAT1").scale.min == 1 and spec.item("SAT1").scale.max == 7
    assert load_spec(spec.to_yaml()) == spec  # the set's labels and scale written at the top
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # 14 rows: too few for the 10-times rule
        survey = prepare(spec, data)
    codes = np.arange(14) % 7 + 1
    assert survey.values["SAT1"].tolist() == codes.tolist()
    assert survey.values["SAT2"].tolist() == ((codes + 2) % 7 + 1).tolist()
    assert survey.values["LOY1"].tolist() == codes.tolist()


def test_unknown_label_is_a_data_error_naming_the_rows():
    data = pd.DataFrame({"SAT1": ["满意", "很满意", "还行", "一般"] * 3,
                         "SAT2": ["满意"] * 12, "LOY1": [3] * 12})
    with pytest.raises(DataError, match=r"'还行' in rows 2, 6, 10.*`answers:`"):
        prepare(load_spec(SPEC), data)


def test_custom_answers_mapping_and_round_trip():
    text = SPEC.replace("answers: satisfaction7", "answers: {差: 1, 一般: 2, 好: 3}\n"
                        "scale: {min: 1, max: 3}\nmissing_codes: [99, 不知道]")
    spec = load_spec(text)
    assert spec.item("LOY1").answers == (("差", 1), ("一般", 2), ("好", 3))
    data = pd.DataFrame({"SAT1": ["好", "差", "一般", "不知道"] * 5, "SAT2": ["好"] * 19 + ["差"],
                         "LOY1": [1, 2, 3, 99] * 5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        survey = prepare(spec, data, missing="mean")
    assert survey.values["SAT1"].iloc[:3].tolist() == [3, 1, 2]
    # written back once at model level, not copied into every item; loads to the same spec
    written = yaml.safe_load(spec.to_yaml())
    assert written["missing_codes"] == [99, "不知道"]
    assert written["answers"] == {"差": 1, "一般": 2, "好": 3}
    assert all(v is None for c in written["constructs"].values() for v in c["items"].values())
    assert load_spec(spec.to_yaml()) == spec


def test_item_level_missing_codes_stay_on_the_item():
    text = SPEC.replace("items: [LOY1]", "items:\n      LOY1: {missing_codes: [98]}")
    spec = load_spec(text.replace("answers: satisfaction7", "missing_codes: [99]"))
    written = yaml.safe_load(spec.to_yaml())
    assert written["missing_codes"] == [99]
    assert written["constructs"]["Loyalty"]["items"]["LOY1"] == {"missing_codes": [98]}
    assert load_spec(written) == spec


def test_bad_answers_and_load_spec_messages():
    with pytest.raises(SpecError, match="unknown answer set 'satisfaction9'"):
        load_spec(SPEC.replace("satisfaction7", "satisfaction9"))
    with pytest.raises(SpecError, match="must map to a number"):
        load_spec(SPEC.replace("answers: satisfaction7", "answers: {好: high}"))
    long_name = "my_acsi_" + "x" * 200
    with pytest.raises(SpecError) as err:
        load_spec(long_name)
    assert len(str(err.value)) < 400 and "YAML text" in str(err.value)
    assert load_spec("name: tiny\nconstructs: {A: {items: [a1]}}").item_names == ["a1"]


def test_listwise_warning_names_the_alternatives():
    data = csi.datasets.load_ecsi_mobi().astype(float)
    rng = np.random.default_rng(5)
    holes = rng.random(data.shape) < 0.03  # 3 % "don't know" per cell
    data = data.mask(holes)
    data.iloc[4] = np.nan  # one respondent answered nothing
    incomplete = int(data.isna().any(axis=1).sum())
    with pytest.warns(DataWarning) as rec:
        csi.fit("ecsi", data)
    text = " ".join(str(w.message) for w in rec)
    assert f"{incomplete} of 250 rows have missing answers" in text
    assert ("missing='mean' (PLS: mean replacement) or missing='fiml' (CB-SEM: "
            "full-information ML): each would use 249 of 250 rows") in text
