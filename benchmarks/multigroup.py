"""Multi-group CB-SEM (invariance steps configural, metric, scalar): the current
``engines.multigroup`` against the module as it was at a baseline git revision (before it moved
onto the batched ML kernel), in one run on the same machine; prints the ratio.

    python benchmarks/multigroup.py [repeats] [baseline_revision]     (default 3, 8ced632)

Cases: Holzinger-Swineford's 3-factor CFA by school (lavaan's invariance example) and the
ECSI model on simulated data in two groups (``csi.simulate(..., groups=2, discrete=True)``, well
conditioned; the bundled ECSI data split in two converges neither here nor in lavaan). Each case times
``invariance(layout, moments, starts, labels)`` only (the per-group start fits are done once,
untimed), takes the best of ``repeats`` runs and checks that both give the same chi-squares.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import csi_models as csi
from csi_models.engines import invariance
from csi_models.spec import spec_from_dict
from csi_models.statistics.fit_measures import Moments

ROOT = Path(__file__).resolve().parents[1]


def baseline_module(revision: str):
    """engines/multigroup.py as of ``revision``, imported under another name."""
    source = subprocess.run(["git", "show", f"{revision}:csi_models/engines/multigroup.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "multigroup_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("multigroup_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def case(spec, data, by):
    """(layout, moments, starts, labels) as comparison.groups builds them."""
    layout, moments, starts, labels = None, [], [], []
    for label, rows in data.groupby(by, sort=False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = csi.fit(spec, rows.drop(columns=[by]), method="cbsem")
        layout = res.estimates.layout
        X = res.data.values[list(layout.items)].to_numpy(float)
        mean = X.mean(axis=0)
        moments.append(Moments(np.cov(X, rowvar=False, bias=True), None, len(X), mean, None))
        starts.append(invariance.per_group_values(res.parameters, layout, mean))
        labels.append(label)
    return layout, moments, starts, labels


def best_time(module, args, repeats):
    times, table = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        table = module.invariance(*args)
        times.append(time.perf_counter() - t0)
    return min(times), table


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    revision = sys.argv[2] if len(sys.argv) > 2 else "8ced632"
    old = baseline_module(revision)
    import semopy

    hs = pd.read_csv(Path(semopy.__file__).parent / "examples" / "holzinger_swineford39_data.csv",
                     index_col=0)
    hs_spec = spec_from_dict({
        "name": "hs", "scale": {"min": -100, "max": 100},
        "constructs": {"visual": {"items": ["x1", "x2", "x3"]},
                       "textual": {"items": ["x4", "x5", "x6"]},
                       "speed": {"items": ["x7", "x8", "x9"]}},
        "paths": []})
    hs = hs[["school", *[f"x{i}" for i in range(1, 10)]]]
    sim = csi.simulate("ecsi", 300, groups=2, random_state=1, discrete=True)
    cases = {"HS CFA by school (2 x ~150, 3 steps)": (hs_spec, hs, "school"),
             "ECSI simulated (2 x 300, 3 steps)": ("ecsi", sim, "group")}
    print(f"multi-group invariance, best of {repeats}; baseline = multigroup.py at {revision}")
    for name, (spec, data, by) in cases.items():
        args = case(spec, data, by)
        t_new, new = best_time(invariance, args, repeats)   # invariance() moved there
        t_old, ref = best_time(old, args, repeats)
        diff = np.abs(new.chisq.to_numpy() - ref.chisq.to_numpy()).max()
        print(f"{name}: kernel {t_new:.3f} s, baseline {t_old:.3f} s, "
              f"ratio baseline/kernel {t_old / t_new:.1f}x; chisq {np.round(new.chisq.to_numpy(), 4)} "
              f"(max |diff| {diff:.1e}), converged {list(new.converged)} vs {list(ref.converged)}")


if __name__ == "__main__":
    main()
