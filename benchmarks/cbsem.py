"""CB-SEM speed and convergence, us against lavaan (when ``Rscript`` is installed) and plain
semopy, in one run on the same machine; prints ratios.

    python benchmarks/cbsem.py [n_resamples] [--no-lavaan] [--jobs 2] [--only ecsi|ccsi|fiml]
    (default 100 resamples, 1 process; the aim is 1000)

Measured, each on two data sets (the bundled ECSI mobile-phone survey, ill-conditioned: latent
correlations near 1; and a simulated CCSI sample of 250, well-conditioned):
- one warm fit (the best of 3 after a first one): csi.fit, semopy.Model.fit (MLW), lavaan sem();
- bootstrap refits of the library's resamples (seed 1) through
  ``engines.resamples.fit_resamples`` against lavaan's sem() on the same row sets: time, how
  many converged (ours: max |gradient| < 1e-6; lavaan: its converged flag, i.e. nlminb's
  convergence and max |gradient| < 1e-3, with how many of those pass our 1e-6), and resample
  by resample where lavaan converged and we did not, or we reached a chi-square above
  lavaan's; for those, whether lavaan's estimates lie at an optimum (our Newton steps from
  them converge at lavaan's chi-square) or where lavaan's flag was raised on a ridge;
- FIML on the ECSI survey with 2.4% of the answers missing (tests/fixtures/lavaan/
  ecsi_missing.csv), and with 5.2% missing at random (tests/fixtures/ecsi_missing_mcar5.csv):
  one fit (observed-information SEs; and se="robust" with its fit
  measures, i.e. lavaan's MLR with the scaled test) against lavaan's sem(missing = "ml") and
  sem(missing = "ml", estimator = "MLR") + fitMeasures().
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

import csi_models as csi
from csi_models.engines.resamples import fit_resamples, resample_stack
from csi_models.inference.bootstrap import failure_kind, resample_rows
from csi_models.spec.lavaan import to_lavaan


def best_of(fun, n=3):
    fun()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fun()
        times.append(time.perf_counter() - t)
    return min(times)


def ours(spec, data, n_boot: int, jobs: int, chi_squares: bool):
    """(warm single fit s, bootstrap refits s, counts, rows, chi-squares or None). The refits
    are timed as the bootstrap runs them (``resample_stack``: every resample's solution at
    once, ``jobs`` processes, a warm pool); the chi-squares, for the comparison with lavaan,
    come from ``fit_resamples`` on the same rows afterwards (the same minimization)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = best_of(lambda: csi.fit(spec, data, method="cbsem"))
        res = csi.fit(spec, data, method="cbsem")
        rows = resample_rows(len(data), range(n_boot), 1)
        start = res.estimates.extras["x"]
        if jobs > 1:                      # start the worker pool before the clock
            resample_stack(res.spec, res.data, rows[:2 * jobs], start=start, n_jobs=jobs)
        t = time.perf_counter()
        stack = resample_stack(res.spec, res.data, rows, start=start, n_jobs=jobs)
        boot = time.perf_counter() - t
        chisq = None
        if chi_squares:
            out = fit_resamples(res.spec, res.data, rows, start=start)
            chisq = np.array([np.nan if est is None else len(data) * est.objective
                              for est, _ in out])
    kinds = Counter(failure_kind(r) for r in stack.reasons if r)   # the warning's kinds
    counts = {"converged": int(stack.ok.sum()), "improper": int(stack.improper.sum()),
              "improper region": kinds["runs into an improper region"],
              "stalled": kinds["given up for want of progress"],
              "far": kinds["given up far from an optimum"]}
    return single, boot, counts, rows, chisq


def plain_semopy(spec, data):
    import semopy

    syntax = to_lavaan(spec)

    def run():
        model = semopy.Model(syntax)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, obj="MLW")

    return best_of(run)


def lavaan(spec, data, rows):
    """Per resample lavaan's converged flag, chi-square, max |gradient| (of F = 2 fx) and
    estimates (``names``, lavaan's order), and the times of one warm fit and of the
    resamples; None without ``Rscript``."""
    if not shutil.which("Rscript"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data.to_csv(tmp / "data.csv", index=False)
        np.savetxt(tmp / "rows.txt", np.asarray(rows) + 1, fmt="%d")
        (tmp / "model.lav").write_text(to_lavaan(spec))
        script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{tmp / 'data.csv'}")
m <- paste(readLines("{tmp / 'model.lav'}"), collapse = "\\n")
fit <- sem(m, data = d)
t <- min(sapply(1:3, function(i) system.time(sem(m, data = d))[["elapsed"]]))
rows <- as.matrix(read.table("{tmp / 'rows.txt'}"))
conv <- integer(nrow(rows)); chisq <- numeric(nrow(rows)); grad <- numeric(nrow(rows))
est <- character(nrow(rows))
tb <- system.time(for (k in seq_len(nrow(rows))) {{
  f <- suppressWarnings(sem(m, data = d[rows[k, ], ]))
  conv[k] <- as.integer(lavInspect(f, "converged"))
  chisq[k] <- 2 * nrow(d) * f@optim$fx
  grad[k] <- max(abs(lavInspect(f, "optim.gradient")))
  est[k] <- paste(sprintf("%.15g", coef(f)), collapse = ",")
}})[["elapsed"]]
cat(t, tb, "\\n"); cat(conv, "\\n"); cat(sprintf("%.6f", chisq), "\\n")
cat(sprintf("%.3e", grad), "\\n"); cat(names(coef(fit)), "\\n"); cat(est, sep = "\\n")
"""
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    line1, line2, line3, line4, line5, *est = out.stdout.strip().splitlines()
    single, boot = map(float, line1.split())
    # lavaan's fx is F / 2: its gradient times 2 is F's, on the scale of our 1e-6 test
    return types.SimpleNamespace(
        single=single, boot=boot, conv=np.array(line2.split(), int).astype(bool),
        chisq=np.array(line3.split(), float), gmax=2 * np.array(line4.split(), float),
        names=line5.split(), est=np.array([e.split(",") for e in est], float))


def report(title, spec, data, n_boot, with_lavaan=True, jobs=1):
    with_lavaan = with_lavaan and shutil.which("Rscript") is not None
    single, boot, counts, rows, chisq = ours(spec, data, n_boot, jobs, with_lavaan)
    semopy_single = plain_semopy(spec, data)
    print(f"{title}, one warm fit: ours {single:.3f} s   plain semopy {semopy_single:.3f} s "
          f"(ours/semopy {single / semopy_single:.2f})")
    failed = n_boot - counts["converged"]
    print(f"{title}, {n_boot} resamples, {jobs} process(es): ours {boot:.2f} s "
          f"({boot / n_boot * 1000:.1f} ms each), "
          f"{counts['converged']} converged ({counts['improper']} of them improper), {failed} "
          f"failed ({counts['improper region']} of them run into an improper region; "
          f"{counts['stalled'] + counts['far']} given up: {counts['stalled']} for want of "
          f"progress, {counts['far']} far from an optimum after their first phase)")
    lav = lavaan(spec, data, rows) if with_lavaan else None
    if lav is None:
        print("lavaan: skipped" + ("" if with_lavaan else " (--no-lavaan)"))
        return
    ours_conv = np.isfinite(chisq)
    missed = np.flatnonzero(lav.conv & ~ours_conv)
    higher = np.flatnonzero(lav.conv & ours_conv & (chisq > lav.chisq + 1e-3))
    print(f"{title}, lavaan sem(): one warm fit {lav.single:.3f} s (ours/lavaan "
          f"{single / lav.single:.2f}); {n_boot} resamples {lav.boot:.2f} s (ours/lavaan "
          f"{boot / lav.boot:.2f}), {lav.conv.sum()} converged (its flag: nlminb's convergence "
          f"and max |gradient| < 1e-3); {np.sum(lav.conv & (lav.gmax < 1e-6))} of them with "
          f"max |gradient| < 1e-6, our test")
    print(f"{title}, per resample: lavaan converged and ours not: {missed.size} {missed.tolist()[:20]}; "
          f"both converged, ours chi-square > lavaan's + 1e-3: {higher.size} {higher.tolist()[:20]}")
    improper = _negative_variance(lav)
    proper_gaps = np.setdiff1d(np.r_[missed, higher], np.flatnonzero(improper))
    print(f"{title}, lavaan's estimates with a negative variance (improper): "
          f"{improper[lav.conv].sum()} of its {lav.conv.sum()} converged, "
          f"{improper[missed].sum()} of the {missed.size} it converged on and we did not, "
          f"{improper[higher].sum()} of the {higher.size} where we converged higher; the "
          f"others: {proper_gaps.tolist()}")
    for what, ks in (("lavaan converged and ours not", missed),
                     ("ours converged to a higher chi-square", higher)):
        if ks.size:
            optimum = from_lavaan(spec, data, rows, ks, lav)
            rest = ks[~optimum]
            print(f"{title}, {what}: from lavaan's estimates our Newton steps converge (max "
                  f"|gradient| < 1e-6) at lavaan's chi-square (+-1e-3) on {optimum.sum()} of "
                  f"{ks.size} {ks[optimum].tolist()[:20]}" + (
                      f"; on the other {rest.size} lavaan stopped at max |gradient| "
                      f"{lav.gmax[rest].min():.1e} to {lav.gmax[rest].max():.1e}, and 1000 "
                      f"Newton steps from there do not converge at its chi-square"
                      if rest.size else ""))


def _negative_variance(lav) -> np.ndarray:
    """Per resample: whether lavaan's estimates have a variance below 0 (a Heywood case)."""
    variances = [i for i, name in enumerate(lav.names)
                 if "~~" in name and len(set(name.split("~~"))) == 1]
    return (lav.est[:, variances] < 0).any(axis=1)


def from_lavaan(spec, data, rows, ks, lav) -> np.ndarray:
    """Per resample in ``ks``: whether lavaan's estimates lie at an optimum, i.e. our Newton
    steps from them (no scoring steps, no give-up, 1000 steps) reach max |gradient| < 1e-6
    within 1e-3 of lavaan's chi-square (where lavaan's flag was raised on a ridge, they do
    not)."""
    from csi_models.data.prepare import prepare
    from csi_models.engines import cbsem, mlfit
    from csi_models.engines import mlkernel as mk
    from csi_models.engines.base import Layout
    from csi_models.engines.resamples import parameter_text

    layout = Layout.from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, frame, names, _ = cbsem._build(spec, layout, prepare(spec, data), "listwise")
        model.load(frame)
    structure = mk.Structure.from_semopy(model)
    values = frame[list(structure.observed)].to_numpy(float)
    S, logdet = mk.sample_moments(values, [rows[k] for k in ks])
    canon = {_canonical(n): i for i, n in enumerate(lav.names)}
    order = [canon[_canonical(parameter_text(structure, names, j).replace(" ", ""))]
             for j in range(structure.n_free)]
    with np.errstate(all="ignore"):
        _, F, gmax, _, _ = mlfit.minimize(structure, lav.est[ks][:, order], S, logdet,
                                          polish=cbsem.POLISHED, scoring_steps=0,
                                          newton_steps=1000)
    return (gmax < cbsem.GRADIENT_TOLERANCE) & (np.abs(len(data) * F - lav.chisq[ks]) <= 1e-3)


def _canonical(name: str) -> str:
    """lavaan's 'a~~b' and 'b~~a' alike."""
    return "~~".join(sorted(name.split("~~"))) if "~~" in name else name


def fiml_report(with_lavaan=True):
    """FIML on the ECSI survey with 2.4% of the answers missing (ecsi_missing.csv) and with
    5.2% missing at random (ecsi_missing_mcar5.csv, where the first FIML start fails)."""
    import pandas as pd

    fixtures = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    for path in (fixtures / "lavaan" / "ecsi_missing.csv", fixtures / "ecsi_missing_mcar5.csv"):
        if path.exists():
            fiml_one(pd.read_csv(path), with_lavaan)


def fiml_one(data, with_lavaan):
    spec = csi.load_spec("ecsi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = best_of(lambda: csi.fit(spec, data, method="cbsem", missing="fiml"), 1)
        res = csi.fit(spec, data, method="cbsem", missing="fiml")
        mlr = best_of(lambda: csi.fit(spec, data, method="cbsem", missing="fiml",
                                      se="robust").fit_indices, 1)
    print(f"ECSI FIML ({np.isnan(data.to_numpy(float)).mean():.1%} missing), one fit: ours "
          f"{plain:.2f} s (converged {res.converged}, chisq {res.fit_indices['chisq']:.6f}, "
          f"start: {res.estimates.extras['start']}); se='robust' + fit_indices (MLR, scaled "
          f"test) {mlr:.2f} s")
    if not (with_lavaan and shutil.which("Rscript")):
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data.to_csv(tmp / "data.csv", index=False)
        (tmp / "model.lav").write_text(to_lavaan(spec))
        script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{tmp / 'data.csv'}")
m <- paste(readLines("{tmp / 'model.lav'}"), collapse = "\\n")
fit <- sem(m, data = d, missing = "ml")
a <- min(sapply(1:3, function(i) system.time(sem(m, data = d, missing = "ml"))[["elapsed"]]))
b <- min(sapply(1:3, function(i) system.time(fitMeasures(sem(m, data = d, missing = "ml",
                                                             estimator = "MLR")))[["elapsed"]]))
chisq <- tryCatch(fitMeasures(fit, "chisq"), error = function(e) NA)
cat(a, b, as.integer(lavInspect(fit, "converged")), ifelse(is.na(chisq), "nan", chisq), "\\n")
"""
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    l_plain, l_mlr, l_conv, l_chisq = map(float, out.stdout.split())
    print(f"ECSI FIML, lavaan: sem(missing='ml') {l_plain:.2f} s (ours/lavaan {plain / l_plain:.1f}; "
          f"converged {bool(l_conv)}, chisq {l_chisq:.6f}); MLR + fitMeasures {l_mlr:.2f} s "
          f"(ours/lavaan {mlr / l_mlr:.1f})")


def main():
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_resamples", nargs="?", type=int, default=100)
    parser.add_argument("--no-lavaan", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the refits")
    parser.add_argument("--only", choices=["ecsi", "ccsi", "fiml"], help="one part only")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.only in (None, "ecsi"):
        report("ECSI", csi.load_spec("ecsi"), csi.datasets.load_ecsi_mobi(), args.n_resamples,
               not args.no_lavaan, args.jobs)
    if args.only in (None, "ccsi"):
        ccsi = csi.load_spec("ccsi").with_scale(-10, 10)   # simulated items are z-values
        report("CCSI (simulated, n=250)", ccsi, csi.simulate(ccsi, 250, random_state=1),
               args.n_resamples, not args.no_lavaan, args.jobs)
    if args.only in (None, "fiml"):
        fiml_report(not args.no_lavaan)


if __name__ == "__main__":
    main()
