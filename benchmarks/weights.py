"""What respondent weights cost: weighted over unweighted time of the same fit and bootstrap.

    python benchmarks/weights.py                       # ACSI, 500 respondents, 200 resamples
    python benchmarks/weights.py --n 2000 --resamples 500

Simulated ACSI data (``csi.simulate``, 1-10 answers), weights uniform on 0.5..2.5. For each
engine: one fit, and a fit with a bootstrap, with and without ``weights="w"``, each the best
of ``--repeat`` runs; the ratio weighted / unweighted is what to read (the machine is
shared: absolute seconds move with its load, printed alongside).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

import csi_models as csi
from csi_models.errors import CSIWarning
from csi_models.simulation import simulate


def best(repeat, fun):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fun()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = simulate("acsi", args.n, random_state=3, discrete=True)
    data["w"] = 0.5 + 2 * np.random.default_rng(4).random(args.n)
    warnings.simplefilter("ignore", CSIWarning)
    print(f"ACSI, n = {args.n}, {args.resamples} resamples; load average "
          f"{os.getloadavg()[0]:.1f}")
    for method in ("pls", "cbsem"):
        for label, boot in (("fit", 0), ("fit + bootstrap", args.resamples)):
            kw = dict(method=method, bootstrap=boot, random_state=1, n_jobs=1, progress=False)
            plain = best(args.repeat, lambda: csi.fit("acsi", data, **kw))
            weighted = best(args.repeat, lambda: csi.fit("acsi", data, weights="w", **kw))
            print(f"{method:6s} {label:16s} unweighted {plain:7.3f} s  weighted {weighted:7.3f} s"
                  f"  ratio {weighted / plain:5.2f}")


if __name__ == "__main__":
    main()
