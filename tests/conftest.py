"""Shared fixtures: the bundled data and readers for the committed lavaan references."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csi_models as csi

FIXTURES = Path(__file__).parent / "fixtures"
LAVAAN = FIXTURES / "lavaan"


@pytest.fixture(scope="session")
def mobi() -> pd.DataFrame:
    return csi.datasets.load_ecsi_mobi()


def lavaan_params(name: str) -> pd.DataFrame:
    """lavaan parameterEstimates at the polished optimum (tests/fixtures/make_lavaan_refs.R)."""
    return pd.read_csv(LAVAAN / f"{name}_params.csv", dtype={"label": str, "rhs": str},
                       keep_default_na=False, na_values={"est": [""], "se": [""], "z": [""],
                                                         "pvalue": [""], "std.all": [""]})


def lavaan_fit(name: str) -> pd.Series:
    """lavaan fitMeasures plus the script's extras, as strings -> floats where numeric."""
    table = pd.read_csv(LAVAAN / f"{name}_fit.csv", dtype=str)
    values = {}
    for key, value in zip(table["name"], table["value"]):
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            values[key] = value
    return pd.Series(values, dtype=object)


def lavaan_matrix(name: str) -> pd.DataFrame:
    return pd.read_csv(LAVAAN / f"{name}.csv", index_col=0)


def hs_data() -> pd.DataFrame:
    """Holzinger & Swineford (1939) as shipped with semopy (identical to lavaan's copy)."""
    import semopy

    path = Path(semopy.__file__).parent / "examples" / "holzinger_swineford39_data.csv"
    return pd.read_csv(path, index_col=0)


def hs_spec(paths=()):
    """The classic 3-factor CFA as a csi spec, with the structural ``paths`` given (none:
    the CFA; named hs<number of paths> then, so nested models get distinct names)."""
    from csi_models.spec import spec_from_dict

    return spec_from_dict({
        "name": f"hs{len(paths)}" if paths else "hs", "scale": {"min": -100, "max": 100},
        "constructs": {"visual": {"items": ["x1", "x2", "x3"]},
                       "textual": {"items": ["x4", "x5", "x6"]},
                       "speed": {"items": ["x7", "x8", "x9"]}},
        "paths": list(paths)})


def close(a, b, atol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), atol=atol, rtol=0)
