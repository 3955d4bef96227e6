"""``plan_sample``: how many respondents a company needs for indices of a given precision.

Simulation, as the power analyses of SEM do (Muthen & Muthen 2002): for each n of a grid,
draw ``replications`` samples of n respondents from the population, fit each with a
bootstrap of ``bootstrap`` resamples, and record the width of every index's interval
(ci_upper - ci_lower, averaged over the replications). The population is either

* a pilot fit (``pilot=res``): its items' means and covariance matrix (multivariate normal,
  rounded and clipped onto each item's scale, as survey answers are), or
* population values (``population=csi.population(spec, ...)``: ``csi.simulate(discrete=True)``).

``n_required`` of a construct is the smallest n of the grid from which on its interval is no
wider than ``ci_width`` (EPSI asks for 4 index points at 95%). When no n of the grid
reaches it, the width is extrapolated with the 1/sqrt(n) law of standard errors from the
largest n, n = n_max (w(n_max) / ci_width)^2, rounded up to a multiple of 10, and marked
``extrapolated``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from csi_models.errors import CSIError, CSIWarning

GRID = (100, 150, 200, 250, 300, 400, 500, 750, 1000)


@dataclass
class SamplePlan:
    """``table``: n, construct, ci_width, meets; ``required``: construct, n_required,
    extrapolated; ``n_required``: the n at which every index meets the target."""

    table: pd.DataFrame
    required: pd.DataFrame
    ci_width: float
    settings: dict

    @property
    def n_required(self) -> int:
        return int(self.required["n_required"].max())

    def plot(self, ax=None):
        """Interval width against n, one line per construct, the target as a dashed line."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 4))[1]
        for construct, part in self.table.groupby("construct", sort=False):
            ax.plot(part["n"], part["ci_width"], marker="o", label=construct)
        ax.axhline(self.ci_width, color="black", linestyle="--", linewidth=1)
        ax.set_xlabel("respondents (n)")
        ax.set_ylabel("width of the index interval (points)")
        ax.legend(fontsize="small")
        return ax


def _pilot_sampler(pilot):
    """n -> a survey of n respondents with the pilot items' means and covariance."""
    spec = pilot.spec.replace(columns={}, reverse=())
    values = pilot.data.values[spec.item_names]
    mean, cov = values.mean().to_numpy(), values.cov().to_numpy()
    lo = np.array([i.scale.min for i in spec.items], float)
    hi = np.array([i.scale.max for i in spec.items], float)

    def draw(n, rng):
        x = rng.multivariate_normal(mean, cov, size=n, method="eigh")
        return pd.DataFrame(np.clip(np.round(x), lo, hi), columns=spec.item_names)
    return spec, draw


def _population_sampler(population):
    from csi_models.simulation import simulate

    return population.spec, lambda n, rng: simulate(population.spec, n, pop=population,
                                                    discrete=True, random_state=rng)


def plan_sample(spec=None, *, pilot=None, population=None, ci_width: float = 4.0, n=GRID,
                bootstrap: int = 500, replications: int = 2, method: str = "pls",
                ci: float = 0.95, random_state=None) -> SamplePlan:
    """The sample size at which every index's interval is no wider than ``ci_width`` points
    (see the module docstring). Give ``pilot`` (a FitResult) or ``population`` (a
    ``csi.population``); ``spec`` (optional) is checked against it."""
    from csi_models.fitting import fit
    from csi_models.inference.random import check_seed, seed_entropy

    if (pilot is None) == (population is None):
        raise CSIError("plan_sample needs a pilot fit (pilot=res) or population values "
                       "(population=csi.population(spec, ...)), one of the two")
    if not isinstance(ci_width, numbers.Real) or not ci_width > 0:
        raise CSIError(f"ci_width={ci_width!r}: give the widest acceptable interval in index "
                       "points, e.g. 4.0")
    grid = sorted({int(k) for k in np.atleast_1d(n)})
    if not grid or grid[0] < 10:
        raise CSIError(f"n={n!r}: give sample sizes of at least 10, e.g. n=(100, 200, 400)")
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise CSIError(f"replications={replications!r}: give a whole number >= 1")
    check_seed(random_state)
    seed = seed_entropy(random_state)
    model, draw = _pilot_sampler(pilot) if pilot is not None else _population_sampler(population)
    if spec is not None:
        from csi_models.spec import load_spec

        if set(load_spec(spec).item_names) != set(model.item_names):
            raise CSIError("spec and the pilot/population have different items: pass the "
                           "spec the pilot was fitted with")
    rows = []
    for size in grid:
        for r in range(replications):
            ss = np.random.SeedSequence(seed, spawn_key=(size, r))
            rng = np.random.default_rng(ss)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CSIWarning)
                res = fit(model, draw(size, rng), method=method, bootstrap=bootstrap,
                          random_state=int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1)),
                          ci=ci, progress=False, n_jobs=1)
            table = res.indices
            for construct, lo, hi in zip(table["construct"], table["ci_lower"], table["ci_upper"]):
                rows.append((size, r, construct, hi - lo))
    raw = pd.DataFrame(rows, columns=["n", "replication", "construct", "ci_width"])
    table = raw.groupby(["n", "construct"], sort=False, as_index=False)["ci_width"].mean()
    table["meets"] = table["ci_width"] <= ci_width
    required = []
    for construct, part in table.groupby("construct", sort=False):
        part = part.sort_values("n")
        ok = part["meets"].to_numpy()
        tail = np.flatnonzero(~ok)
        first = tail[-1] + 1 if tail.size else 0
        if first < len(part):
            required.append((construct, int(part["n"].iloc[first]), False))
        else:
            last = part.iloc[-1]
            n_est = last["n"] * (last["ci_width"] / ci_width) ** 2
            required.append((construct, int(math.ceil(n_est / 10) * 10), True))
    required = pd.DataFrame(required, columns=["construct", "n_required", "extrapolated"])
    settings = {"method": method, "bootstrap": bootstrap, "replications": replications,
                "ci": ci, "seed": seed, "source": "pilot" if pilot is not None else "population"}
    return SamplePlan(table, required, float(ci_width), settings)
