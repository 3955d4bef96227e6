"""Adjustment of p-values for testing many things at once: the one home of Holm and
Benjamini-Hochberg, used by ``batch.change`` (many companies) and ``compare``'s group tests
(many pairs and parameters).

Holm (1979) controls the family-wise error rate; Benjamini & Hochberg (1995) the false
discovery rate. Both via statsmodels' ``multipletests``; NaN p-values (tests that could not
be made) are left out of the family and stay NaN.
"""

from __future__ import annotations

import numpy as np

from csi_models.errors import CSIError

#: accepted spellings -> statsmodels' method name (None: no adjustment)
ADJUST = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh", "none": None, None: None}


def check_adjust(adjust) -> None:
    """A clear error for an adjustment that is not one of ``ADJUST``."""
    if not isinstance(adjust, (str, type(None))) or adjust not in ADJUST:
        raise CSIError(f"adjust={adjust!r}: use 'holm', 'bh' (Benjamini-Hochberg) or 'none'")


def adjust_p(p_values, method: str | None = "holm") -> np.ndarray:
    """p-values adjusted for multiple testing: 'holm', 'bh' (Benjamini-Hochberg) or
    'none'/None (returned unchanged); NaN p-values are left out and stay NaN."""
    check_adjust(method)
    p = np.asarray(p_values, float)
    out = p.copy()
    ok = np.isfinite(p)
    if ADJUST[method] is not None and ok.any():
        from statsmodels.stats.multitest import multipletests

        out[ok] = multipletests(p[ok], method=ADJUST[method])[1]
    return out
