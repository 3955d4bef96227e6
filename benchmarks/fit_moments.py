"""A survey too large for memory: csi.fit_moments over a Parquet folder against csi.fit of the
same rows read into memory (time and traced peak memory, as ratios).

    python benchmarks/fit_moments.py                 # 1 000 000 respondents, ACSI, PLS
    python benchmarks/fit_moments.py --n 300000 --method cbsem

The data: ``csi.simulate("acsi", n, discrete=True)`` (1-10 answers), written as a folder of 4 Parquet files.
Traced memory is what Python and numpy allocate (tracemalloc), not Arrow's own buffers
(``pyarrow.total_allocated_bytes`` is printed beside it). Timings are wall-clock seconds on
whatever else the machine is doing: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

import csi_models as csi
from csi_models.simulation import simulate


def measured(func):
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    out = func()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--method", default="pls")
    parser.add_argument("--batch-size", type=int, default=65536)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import pyarrow as pa
    from csi_models.data.streaming import parquet_columns

    frame = simulate("acsi", args.n, random_state=1, discrete=True)
    items = list(csi.load_spec("acsi").item_names)
    data_bytes = frame[items].to_numpy(float).nbytes
    folder = tempfile.mkdtemp()
    for k, rows in enumerate(np.array_split(np.arange(len(frame)), 4)):
        frame.iloc[rows].to_parquet(os.path.join(folder, f"part{k}.parquet"), index=False)
    del frame
    parquet_columns(folder)
    print(f"{args.n} respondents x {len(items)} items ({data_bytes / 2**20:.0f} MiB as floats), "
          f"{args.method}, load average {os.getloadavg()[0]:.1f}")
    mem, t_mem, p_mem = measured(lambda: csi.fit("acsi", pd.read_parquet(folder),
                                                 method=args.method))
    mom, t_mom, p_mom = measured(lambda: csi.fit_moments("acsi", folder, method=args.method,
                                                         batch_size=args.batch_size))
    gap = np.abs(mem.paths.estimate.to_numpy() - mom.paths.estimate.to_numpy()).max()
    print(f"  in memory (read_parquet + fit)  {t_mem:6.2f} s  peak {p_mem / data_bytes:5.2f} x data")
    print(f"  fit_moments (one pass)          {t_mom:6.2f} s  peak {p_mom / data_bytes:5.2f} x data"
          f"  ({mom.settings['fitted_from'].split(' of ')[0]})")
    print(f"  ratio time {t_mom / t_mem:.2f}, ratio peak memory {p_mom / p_mem:.3f}; "
          f"max |path difference| {gap:.1e}; arrow allocated now {pa.total_allocated_bytes()} B")


if __name__ == "__main__":
    main()
