"""PLSc against plain PLS on the same batch of bootstrap correlation matrices, and against
seminr's PLSc refitted per resample (seminr has no batched PLSc).

    python benchmarks/plsc_batch.py [resamples] [seminr_resamples]

Model: the shipped ECSI spec (mode A, path weighting) on the bundled data (n = 250).
PLSc = the batched PLS (engines.pls.estimate_batch) plus a vectorised correction, so the
ratio PLSc / PLS should stay close to 1. Wall-clock seconds on a shared machine: the load
average is printed with them.
"""

import os
import sys
import time
import warnings

import numpy as np

import csi_models as csi
from csi_models.engines import pls, plsc
from csi_models.engines.base import Layout
from csi_models.inference.bootstrap import resample_rows
from csi_models.inference.moments import BatchMoments


def main(resamples: int = 2000, seminr_resamples: int = 20) -> None:
    spec = csi.load_spec("ecsi")
    data = csi.datasets.load_ecsi_mobi()
    X = data[spec.item_names].to_numpy(float)
    layout = Layout.from_spec(spec)
    rows = resample_rows(len(X), np.arange(resamples), 1)
    S, _, _ = BatchMoments(X).resamples(rows)
    timings = {}
    for name, run in (("pls", pls.estimate_batch), ("plsc", plsc.estimate_batch)):
        start = time.perf_counter()
        run(S, layout)
        timings[name] = time.perf_counter() - start
    print(f"load average {os.getloadavg()[0]:.2f}; {resamples} resamples of ECSI")
    print(f"  PLS  batch: {timings['pls']:.3f} s")
    print(f"  PLSc batch: {timings['plsc']:.3f} s  (ratio PLSc / PLS {timings['plsc'] / timings['pls']:.2f})")
    if seminr_resamples < 1:
        return
    try:
        import seminr
    except ImportError:
        return
    mm = seminr.constructs(*[seminr.reflective(c.name, c.item_names) for c in spec.constructs])
    sm = seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in spec.paths])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in rows[:seminr_resamples]:
            seminr.estimate_pls(data.iloc[r].reset_index(drop=True), mm, sm)
    per = (time.perf_counter() - start) / seminr_resamples
    ours = timings["plsc"] / resamples
    print(f"  seminr PLSc per refit: {per * 1e3:.1f} ms; ours per resample {ours * 1e3:.3f} ms "
          f"(seminr / ours {per / ours:.0f}x)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
