"""Specific indirect effects through a named chain of constructs, for any engine.

The estimate is the product of the standardized paths along the chain. With a bootstrap the
product is taken in every resample (percentile or BCa interval, as the run's); without one,
CB-SEM gives the delta method (``engines.cbsem_delta``: lavaan's ``:=`` defined parameter and
its ``standardizedSolution()`` row) and PLS no inference (NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.errors import SpecError
from csi_models.inference import intervals
from csi_models.statistics.kernel import INFERENCE


def indirect_effect(result, chain) -> pd.DataFrame:
    """The specific indirect effect through ``chain`` (e.g. ['Expectation', 'Quality',
    'Satisfaction']), one row: source, target, through, estimate (the product of the
    standardized paths), se, statistic, p_value, ci_lower, ci_upper, n_boot. With a
    bootstrap (both engines) the inference is that of the product over the resamples;
    without one, CB-SEM gives the delta method (lavaan's ``:=`` and its standardized
    row) and PLS none (NaN). CB-SEM adds the unstandardized product and its se."""
    chain = list(chain)
    links = list(zip(chain, chain[1:]))
    order = {p: k for k, p in enumerate(result.spec.paths)}
    if len(chain) < 2 or any(link not in order for link in links):
        raise SpecError(f"indirect_effect takes a chain of constructs joined by paths of the "
                        f"model, e.g. ['Expectation', 'Quality', 'Satisfaction']; got {chain!r}")
    columns = [order[link] for link in links]
    row = pd.DataFrame([{"source": chain[0], "target": chain[-1], "through": " -> ".join(chain),
                         "estimate": float(np.prod(result.point["paths"][0][columns])),
                         **{c: np.nan for c in INFERENCE}}])
    if result.estimates.parameters is not None:
        from csi_models.engines.cbsem_delta import indirect_effect as delta_indirect

        delta = delta_indirect(result.spec, result.data, result.estimates, chain)
        row = delta if result.bootstrap is None else row.assign(
            unstandardized=delta.unstandardized, unstandardized_se=delta.unstandardized_se)
    if result.bootstrap is not None:
        boot = result.bootstrap
        est = row["estimate"].to_numpy(float)
        draws = np.prod(boot.draws["paths"][:, columns], axis=1)[:, None]
        s = intervals.summarize(est, draws, boot.n_obs, boot.level)
        lower, upper = s["pct_lower"], s["pct_upper"]
        if boot.interval == "bca":
            jack = np.prod(boot.jackknife()["paths"][:, columns], axis=1)[:, None]
            lower, upper = intervals.bca(est, draws, jack, boot.level)
        row["se"], row["statistic"], row["p_value"] = s["se"], s["t"], s["p_value"]
        row["ci_lower"], row["ci_upper"], row["n_boot"] = lower, upper, s["n_boot"]
    return row

