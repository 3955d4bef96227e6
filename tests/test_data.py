"""Survey data checks: every bad-data case names the item, column and rows; inputs untouched."""

import warnings

import numpy as np
import pandas as pd
import pytest

import csi_models as csi
from csi_models.data import prepare
from csi_models.errors import DataError, DataWarning


@pytest.fixture
def spec():
    return csi.load_spec("ecsi")


def test_prepare_selects_and_orders_items_without_touching_the_input(spec, mobi):
    shuffled = mobi[list(reversed(mobi.columns))].assign(extra="text")
    before = shuffled.copy(deep=True)
    survey = prepare(spec, shuffled)
    assert list(survey.values.columns) == spec.item_names
    assert survey.n == 250 and survey.values.dtypes.eq(float).all()
    pd.testing.assert_frame_equal(shuffled, before)


def test_load_ecsi_mobi_is_the_documented_data(mobi):
    assert mobi.shape == (250, 24)
    assert mobi.min().min() >= 1 and mobi.max().max() <= 10
    assert not mobi.isna().any().any()
    assert csi.datasets.load_ecsi_mobi() is not mobi  # a fresh copy each call


def test_missing_columns_are_named_with_suggestions(spec, mobi):
    renamed = mobi.rename(columns={"CUEX1": "cuex1", "PERQ2": "q2"})
    with pytest.raises(DataError, match=r"2 item column\(s\) .*CUEX1 \(did you mean 'cuex1'\?\); PERQ2"):
        prepare(spec, renamed)


def test_column_mapping_reads_renamed_columns(spec, mobi):
    renamed = mobi.rename(columns={"CUEX1": "q7_a"})
    survey = prepare(spec.with_columns({"CUEX1": "q7_a"}), renamed)
    np.testing.assert_array_equal(survey.values["CUEX1"], mobi["CUEX1"])


def test_duplicated_columns_are_rejected(spec, mobi):
    doubled = pd.concat([mobi, mobi[["CUSA1"]]], axis=1)
    with pytest.raises(DataError, match="more than one column named 'CUSA1'"):
        prepare(spec, doubled)


def test_text_answers_name_the_rows(spec, mobi):
    bad = mobi.astype({"CUSA2": object})
    bad.loc[[3, 7], "CUSA2"] = ["seven", "n/a"]
    with pytest.raises(DataError, match=r"item CUSA2 \(column 'CUSA2'\) has answers that are not "
                                        r"numbers \('seven', 'n/a'\) in rows 3, 7"):
        prepare(spec, bad)


def test_numbers_stored_as_text_are_read(spec, mobi):
    text = mobi.astype({"CUSA2": str})
    np.testing.assert_array_equal(prepare(spec, text).values["CUSA2"], mobi["CUSA2"])


def test_out_of_range_answers_name_rows_and_values(spec, mobi):
    bad = mobi.copy()
    bad.loc[[4, 17], "CUEX1"] = [11, 0]
    with pytest.raises(DataError, match=r"item CUEX1 .* 2 answer\(s\) outside its scale 1..10: "
                                        r"rows 4 \(11\), 17 \(0\)"):
        prepare(spec, bad)


def test_infinite_values_are_rejected(spec, mobi):
    bad = mobi.astype(float)
    bad.loc[5, "PERV1"] = np.inf
    with pytest.raises(DataError, match="item PERV1 .* infinite values in rows 5"):
        prepare(spec, bad)


def test_missing_codes_become_missing_and_listwise_drops_rows(mobi):
    spec = csi.spec.spec_from_dict({**csi.load_spec("ecsi").to_dict(), "missing_codes": [99]})
    coded = mobi.copy()
    coded.loc[[2, 9], "CUSL2"] = 99
    with pytest.warns(DataWarning, match=r"2 of 250 rows .* dropped \(listwise deletion\): rows 2, 9"):
        survey = prepare(spec, coded)
    assert survey.n == 248 and survey.dropped_rows == (2, 9)
    assert any("coded 99 set to missing" in note for note in survey.notes)


def test_mean_replacement_keeps_rows(spec, mobi):
    holes = mobi.astype(float)
    holes.loc[[1, 2], "IMAG3"] = np.nan
    survey = prepare(spec, holes, missing="mean")
    assert survey.n == 250
    assert survey.values.loc[1, "IMAG3"] == pytest.approx(mobi["IMAG3"].drop([1, 2]).mean())
    assert np.isnan(holes.loc[1, "IMAG3"])  # input untouched


def test_fiml_keeps_missing_values(spec, mobi):
    holes = mobi.astype(float)
    holes.loc[1, "IMAG3"] = np.nan
    assert prepare(spec, holes, missing="fiml").values["IMAG3"].isna().sum() == 1


def test_reverse_items_are_recoded_on_their_scale(spec, mobi):
    flipped = mobi.assign(CUEX3=11 - mobi["CUEX3"])
    survey = prepare(spec.with_reverse(["CUEX3"]), flipped)
    np.testing.assert_array_equal(survey.values["CUEX3"], mobi["CUEX3"])
    assert survey.reversed_items == ("CUEX3",)


def test_empty_and_constant_items_are_errors(spec, mobi):
    with pytest.raises(DataError, match="item CUSCO .* is empty"):
        prepare(spec, mobi.assign(CUSCO=np.nan), missing="mean")
    with pytest.raises(DataError, match=r"item CUSCO \(column 'CUSCO'\) is constant \(every answer is 7\)"):
        prepare(spec, mobi.assign(CUSCO=7))


def test_near_constant_item_warns(spec, mobi):
    nearly = mobi.assign(CUSCO=7)
    nearly.loc[0, "CUSCO"] = 6
    with pytest.warns(DataWarning, match="item CUSCO .* is nearly constant: 100% give the same answer"):
        prepare(spec, nearly)


def test_too_few_rows(spec, mobi):
    with pytest.raises(DataError, match="only 4 usable rows"):
        prepare(spec, mobi.head(4))
    with pytest.raises(DataError, match="the survey data has no rows"):
        prepare(spec, mobi.head(0))
    everywhere = mobi.astype(float)
    for k, item in enumerate(spec.item_names):  # every row misses one answer
        everywhere.iloc[k::24, everywhere.columns.get_loc(item)] = np.nan
    with pytest.raises(DataError, match="no rows left to fit: every row has a missing answer"):
        prepare(spec, everywhere)
    with pytest.warns(DataWarning, match="below the 10-times rule"):
        prepare(spec, mobi.head(30))


def test_unknown_missing_rule_and_non_frames(spec, mobi):
    with pytest.raises(DataError, match="missing='pairwise' is not a missing-data rule"):
        prepare(spec, mobi, missing="pairwise")
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        prepare(spec, mobi.to_numpy())


def test_fit_reads_a_csv_path_and_never_modifies_it(tmp_path, mobi):
    path = tmp_path / "survey.csv"
    mobi.to_csv(path, index=False)
    before = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = csi.fit("ecsi", str(path), method="pls")
    assert res.n == 250 and path.read_bytes() == before
