"""Bundled example data."""

from importlib import resources

import pandas as pd


def load_ecsi_mobi() -> pd.DataFrame:
    """The ECSI survey of a mobile phone provider: 250 respondents x 24 items on a 1-10 scale.

    The standard benchmark data of PLS path modelling, shipped as ``mobi`` with the R
    packages seminr and plspm. Source: Tenenhaus, Esposito Vinzi, Chatelin & Lauro (2005),
    "PLS path modeling", Computational Statistics & Data Analysis 48(1), 159-205.
    Items: IMAG1-5 (image), CUEX1-3 (expectations), PERQ1-7 (perceived quality),
    PERV1-2 (perceived value), CUSA1-3 (satisfaction), CUSCO (complaints), CUSL1-3 (loyalty).
    Returns a new DataFrame on every call.
    """
    with resources.files(__name__).joinpath("ecsi_mobi.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)
