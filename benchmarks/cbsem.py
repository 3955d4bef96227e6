"""CB-SEM speed and convergence, us against lavaan (when ``Rscript`` is installed) and plain
semopy, in one run on the same machine; prints ratios.

    python benchmarks/cbsem.py [n_resamples]      (default 100; the issue's aim is 1000)

Measured: one ECSI fit (csi.fit, semopy.Model.fit with MLW, lavaan sem()); ECSI bootstrap
refits of the library's resamples (seed 1) through ``engines.resamples.fit_resamples`` against
lavaan's sem() on the same row sets, with how many converged in each (ours: max |gradient| <
1e-6; lavaan: its own converged flag).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import csi_models as csi
from csi_models.engines.resamples import fit_resamples
from csi_models.inference.bootstrap import resample_rows

ECSI_LAVAAN = """
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5 + PERQ6 + PERQ7
Value =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Complaints =~ CUSCO
Loyalty =~ CUSL1 + CUSL2 + CUSL3
Expectation ~ Image
Quality ~ Expectation
Value ~ Expectation + Quality
Satisfaction ~ Image + Expectation + Quality + Value
Complaints ~ Satisfaction
Loyalty ~ Image + Satisfaction + Complaints
"""


def ours(n_boot: int):
    mobi = csi.datasets.load_ecsi_mobi()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        res = csi.fit("ecsi", mobi, method="cbsem")
        single = time.perf_counter() - t
        rows = resample_rows(len(mobi), range(n_boot), 1)
        t = time.perf_counter()
        out = fit_resamples(res.spec, res.data, rows, start=res.estimates.extras["x"])
        boot = time.perf_counter() - t
    converged = sum(est is not None for est, _ in out)
    improper = sum(est is not None and bool(est.extras.get("improper")) for est, _ in out)
    return single, boot, converged, improper, rows


def plain_semopy():
    import semopy

    mobi = csi.datasets.load_ecsi_mobi()
    t = time.perf_counter()
    model = semopy.Model(ECSI_LAVAAN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(mobi, obj="MLW")
    return time.perf_counter() - t


def lavaan(rows):
    if not shutil.which("Rscript"):
        return None
    data = Path(csi.__file__).parent / "datasets" / "ecsi_mobi.csv"
    with tempfile.TemporaryDirectory() as tmp:
        np.savetxt(Path(tmp) / "rows.txt", np.asarray(rows) + 1, fmt="%d")
        script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data}")
m <- "{ECSI_LAVAAN}"
t <- system.time(fit <- sem(m, data = d))[["elapsed"]]
rows <- as.matrix(read.table("{Path(tmp) / 'rows.txt'}"))
conv <- 0L
tb <- system.time(for (k in seq_len(nrow(rows))) {{
  f <- suppressWarnings(sem(m, data = d[rows[k, ], ]))
  conv <- conv + as.integer(lavInspect(f, "converged"))
}})[["elapsed"]]
cat(t, tb, conv, "\\n")
"""
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    single, boot, conv = out.stdout.split()
    return float(single), float(boot), int(conv)


def main():
    n_boot = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    single, boot, converged, improper, rows = ours(n_boot)
    semopy_single = plain_semopy()
    print(f"ECSI, one fit:        ours {single:.3f} s   plain semopy {semopy_single:.3f} s "
          f"(ours/semopy {single / semopy_single:.2f})")
    print(f"ECSI, {n_boot} resamples: ours {boot:.2f} s ({boot / n_boot * 1000:.0f} ms each), "
          f"{converged} converged ({improper} of them improper), {n_boot - converged} failed")
    lav = lavaan(rows)
    if lav is None:
        print("lavaan: Rscript not installed, skipped")
        return
    l_single, l_boot, l_conv = lav
    print(f"lavaan sem():         one fit {l_single:.3f} s (ours/lavaan {single / l_single:.2f}); "
          f"{n_boot} resamples {l_boot:.2f} s (ours/lavaan {boot / l_boot:.2f}), "
          f"{l_conv} converged")


if __name__ == "__main__":
    main()
