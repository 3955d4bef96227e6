"""The ``csi`` command: a thin layer over the public API.

    csi specs                                   list the shipped model specs
    csi fit SPEC --data PATH|demo --method pls  fit and print the summary
    csi validate SPEC [--data PATH|demo]        check a spec, and print the data check report
    csi ipma SPEC --data PATH|demo --target C   importance-performance map (PLS)
    csi kano FILE --features F1 F2 ... [--importance '{}_imp']
                                                Kano table from functional/dysfunctional columns
    csi compare SPEC [SPEC ...] --data PATH|demo [--by COLUMN]
                                                models side by side, or one model across groups
    csi batch SPEC --data PATH --by industry,company [--bootstrap B --jobs 2 --out DIR --resume]
                                                one model fitted to every group (fit_many)

Exit status (also shown by ``csi --help``): 0 ok; 1 bad input (spec, data, arguments, an
output file that exists); 2 estimation failed or did not converge; 3 partial (some models or
groups of ``compare`` failed); 130 interrupted (Ctrl-C). Errors are one line on stderr;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from csi_models.errors import CSIError, CSIWarning, DataError, EstimationError

EXIT_OK, EXIT_INPUT, EXIT_ESTIMATION, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EPILOG = """exit status:
  0    ok
  1    bad input: spec, data, arguments, or an output file that exists (--overwrite)
  2    estimation failed or did not converge
  3    partial: some models or groups of `csi compare` failed
  130  interrupted (Ctrl-C); worker processes are stopped
--out FILE writes the result in the format of its extension:
  .html .xlsx .json .md .tex .svg (also .png .pdf for the path diagram of `fit`)"""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors exiting 1 (bad input), not argparse's 2."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")


def _check_out(args) -> None:
    """Refuse a bad --out before any work (unknown extension, existing file, no folder)."""
    if args.out:
        from pathlib import Path

        from csi_models.errors import OutputError
        from csi_models.report.export import FORMATS
        from csi_models.report.files import check_target

        if Path(args.out).suffix.lower() not in FORMATS:
            raise OutputError(f"--out {args.out}: use one of the extensions {', '.join(FORMATS)}")
        check_target(args.out, args.overwrite)


def _save(obj, args) -> None:
    if args.out:
        from csi_models.report.export import save

        path = save(obj, args.out, lang=args.lang, overwrite=args.overwrite)
        print(f"written to {path}", file=sys.stderr)


def _data(path: str, sheet=None):
    from csi_models import datasets, read_survey

    if path == "demo":
        if sheet is not None:
            raise DataError(f"--sheet {sheet} applies to Excel files; 'demo' is the bundled ECSI "
                            "data, which has no sheets: drop --sheet")
        return datasets.load_ecsi_mobi()
    return read_survey(path, sheet=sheet)


def cmd_specs(args) -> int:
    from csi_models.spec import load_spec, shipped_specs

    for name in shipped_specs():
        spec = load_spec(name)
        title = spec.title.get(args.lang) or spec.title.get("en", "")
        print(f"{name:6s} {title}: {len(spec.constructs)} constructs, "
              f"{len(spec.item_names)} items, {len(spec.paths)} paths")
    return 0


def cmd_fit(args) -> int:
    from csi_models import fit

    _check_out(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)  # the summary lists them first
        result = fit(args.spec, _data(args.data, args.sheet), method=args.method,
                     missing=args.missing, scheme=args.scheme, bootstrap=args.bootstrap,
                     random_state=args.seed, ci=args.ci, interval=args.interval,
                     n_jobs=args.n_jobs)
    print(result.summary(lang=args.lang))
    _save(result, args)
    if not result.converged:
        print("csi: error: the estimation did not converge (see Status above)", file=sys.stderr)
        return EXIT_ESTIMATION
    return EXIT_OK


def cmd_validate(args) -> int:
    """The spec's own checks, then the data check report (csi.check); status 1 on errors."""
    from csi_models.data import check
    from csi_models.spec import load_spec
    from csi_models.spec.validation import spec_advice

    spec = load_spec(args.spec)
    print(f"spec {spec.name}: OK ({len(spec.constructs)} constructs, {len(spec.item_names)} "
          f"items, {len(spec.paths)} paths)")
    if not args.data:  # with data, the report below lists the advice among its warnings
        for _, message in spec_advice(spec):
            print(f"warning: {message}")
        return 0
    report = check(spec, _data(args.data, args.sheet), missing=args.missing)
    print(report.to_text(args.lang))
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(report.to_html(args.lang))
        except OSError as exc:
            print(f"csi: error: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_INPUT
    if not report.ok:
        print(f"csi: error: the data has {len(report.errors)} error(s); fix them before fitting",
              file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK


def cmd_compare(args) -> int:
    import pandas as pd

    from csi_models import compare

    _check_out(args)
    result = compare(args.specs if len(args.specs) > 1 else args.specs[0],
                     _data(args.data, args.sheet),
                     method=args.method, by=args.by, permutations=args.permutations,
                     random_state=args.seed, missing=args.missing,
                     **({"bootstrap": args.bootstrap} if args.bootstrap else {}))
    with pd.option_context("display.max_rows", None, "display.width", 160,
                           "display.float_format", lambda v: f"{v:.3f}"):
        print(result.status.to_string(index=False))
        if len(result.table):
            print()
            print(result.wide().to_string())
        if result.micom is not None:   # PLS groups: read the MGA only where MICOM allows
            print("\nMICOM (measurement invariance of composites), per pair and construct:")
            print(result.micom.invariance.to_string(index=False))
        if len(result.tests):
            print()
            print(result.tests.to_string(index=False))
    for note in result.notes:
        print(f"note: {note}")
    fitted = int((result.status.status == "ok").sum())
    if fitted:
        _save(result, args)
    if fitted == 0:
        print(f"csi: error: no {result.by} could be fitted (see the status table)",
              file=sys.stderr)
        return EXIT_ESTIMATION
    if fitted < len(result.status):
        print(f"csi: error: {len(result.status) - fitted} of {len(result.status)} "
              f"{result.by}s failed (see the status table)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_kano(args) -> int:
    """Kano table in priority order; KanoWarnings go to stderr as 'csi: warning:' lines."""
    from csi_models import read_survey
    from csi_models.analysis.kano import kano, kano_priority
    from csi_models.analysis.kano_layout import split_kano

    data = read_survey(args.file, sheet=args.sheet)
    frames = split_kano(data, args.features, args.functional, args.dysfunctional,
                        importance=args.importance)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CSIWarning)
        table = kano_priority(kano(frames[0], frames[1],
                                   importance=frames[2] if args.importance else None))
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    for w in caught:
        if issubclass(w.category, CSIWarning):
            print(f"csi: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return 0


def cmd_ipma(args) -> int:
    from csi_models import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)
        result = fit(args.spec, _data(args.data, args.sheet), method="pls", missing=args.missing,
                     scheme=args.scheme)
    ipma = result.ipma(args.target)
    fmt = {"index": False, "float_format": lambda v: f"{v:.3f}"}
    print(f"Importance-performance map of {args.target} ({result.spec.name}, PLS, n = {result.n})")
    print("importance: index points gained by the target per index point of the driver; "
          "performance: 0-100\n")
    print("Constructs:")
    print(ipma.constructs.sort_values("importance", ascending=False).to_string(**fmt))
    print("\nItems:")
    print(ipma.items.sort_values("importance", ascending=False).to_string(**fmt))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = ipma.plot(level=args.level)
        ax.figure.savefig(args.plot, dpi=150, bbox_inches="tight")
        print(f"\nplot written to {args.plot}")
    return 0


def cmd_batch(args) -> int:
    """fit_many over the groups of --by; status counts and failed groups on stderr, the
    indices as CSV on stdout (or the Parquet folder with --out)."""
    from csi_models.batch import fit_many

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)  # collected per group in batch.warnings
        batch = fit_many(args.spec, _data(args.data, args.sheet), by=args.by.split(","),
                         method=args.method, bootstrap=args.bootstrap, random_state=args.seed,
                         n_jobs=args.jobs, out=args.out, resume=args.resume, min_n=args.min_n)
    status = batch.status
    counts = status["status"].value_counts()
    print(f"{len(status)} groups: " + ", ".join(f"{v} {k}" for k, v in counts.items()) +
          f"; {len(batch.warnings)} warnings", file=sys.stderr)
    for row in status[status["status"] != "ok"].itertuples(index=False):
        key = "/".join(str(getattr(row, c)) for c in batch.by)
        print(f"  {key}: {row.status}: {row.message}", file=sys.stderr)
    if args.out:
        print(f"results written to {args.out} (csi.read_batch({str(args.out)!r}))", file=sys.stderr)
    else:
        batch.indices.to_csv(sys.stdout, index=False)
    fitted = int((status["status"] == "ok").sum())
    return EXIT_OK if fitted == len(status) else EXIT_PARTIAL if fitted else EXIT_ESTIMATION


def _output_options(p) -> None:
    p.add_argument("--out", metavar="FILE", help="also write the result; format from the "
                   "extension: .html .xlsx .json .md .tex .svg")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")


def build_parser() -> argparse.ArgumentParser:
    from csi_models import __version__

    parser = Parser(prog="csi", description="Customer-satisfaction-index models",
                    epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"csi-models {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)
    debug = Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks of errors")
    _add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: _add_parser(*a, parents=[debug], epilog=EPILOG,
                                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                                 **k)

    p = sub.add_parser("specs", help="list the shipped model specs")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.set_defaults(func=cmd_specs)

    p = sub.add_parser("fit", help="fit a model and print its summary")
    p.add_argument("spec", help="shipped spec name (acsi, ecsi, ccsi) or YAML file")
    p.add_argument("--data", required=True, help="survey file, or 'demo' for the bundled data")
    p.add_argument("--method", default="pls", choices=["pls", "cbsem"])
    p.add_argument("--missing", default="listwise", choices=["listwise", "mean", "fiml"])
    p.add_argument("--scheme", default="path", choices=["path", "factorial", "centroid"])
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="bootstrap resamples for standard errors and intervals (e.g. 5000)")
    p.add_argument("--seed", type=int, default=None, help="random seed of the bootstrap")
    p.add_argument("--ci", type=float, default=0.95, help="confidence level of the bootstrap "
                   "intervals (default 0.95)")
    p.add_argument("--interval", default="percentile", choices=["percentile", "bca"],
                   help="bootstrap interval type")
    p.add_argument("--n-jobs", type=int, default=-1, dest="n_jobs",
                   help="parallel processes of the CB-SEM bootstrap (-1: all cores)")
    _output_options(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("ipma", help="importance-performance map of a target construct (PLS)")
    p.add_argument("spec", help="shipped spec name (acsi, ecsi, ccsi) or YAML file")
    p.add_argument("--data", required=True, help="survey file, or 'demo' for the bundled data")
    p.add_argument("--target", required=True, help="target construct, e.g. Satisfaction")
    p.add_argument("--missing", default="listwise", choices=["listwise", "mean"])
    p.add_argument("--scheme", default="path", choices=["path", "factorial", "centroid"])
    p.add_argument("--plot", metavar="FILE", help="also save the quadrant plot (png, svg, pdf)")
    p.add_argument("--level", default="constructs", choices=["constructs", "items"],
                   help="what the plot shows")
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.set_defaults(func=cmd_ipma)

    p = sub.add_parser("validate", help="check a spec, and data against it (csi.check report)")
    p.add_argument("spec")
    p.add_argument("--data", help="survey file (.csv .xlsx .sav .dta .parquet ...), or 'demo'")
    p.add_argument("--missing", default="listwise", choices=["listwise", "mean", "fiml"])
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.add_argument("--html", help="also write the report as HTML to this file")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("kano", help="Kano analysis of functional/dysfunctional question pairs")
    p.add_argument("file", help="survey file with one functional and one dysfunctional column "
                   "per feature")
    p.add_argument("--features", nargs="+", required=True, help="feature names")
    p.add_argument("--functional", default="{}_f",
                   help="column name pattern with one {} for the feature (default '{}_f')")
    p.add_argument("--dysfunctional", default="{}_d",
                   help="column name pattern with one {} for the feature (default '{}_d')")
    p.add_argument("--importance", help="column pattern of self-stated importance, e.g. '{}_imp'")
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.set_defaults(func=cmd_kano)

    p = sub.add_parser("compare", help="models side by side, or one model across groups (--by)")
    p.add_argument("specs", nargs="+", help="one or more specs (one spec with --by)")
    p.add_argument("--data", required=True, help="survey file, or 'demo' for the bundled data")
    p.add_argument("--method", default="pls", choices=["pls", "cbsem"])
    p.add_argument("--by", help="column holding the group (industry, company, wave, ...)")
    p.add_argument("--permutations", type=int, default=1000, help="PLS multi-group test")
    p.add_argument("--seed", type=int, default=None, help="random seed of the permutation test")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="bootstrap resamples of every fit (standard errors and intervals)")
    p.add_argument("--missing", default="listwise", choices=["listwise", "mean", "fiml"])
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.add_argument("--lang", default="en", choices=["en", "zh"], help="language of --out")
    _output_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("batch", help="one model fitted to every group (company, wave, ...)")
    p.add_argument("spec", help="shipped spec name (acsi, ecsi, ccsi) or YAML file")
    p.add_argument("--data", required=True, help="survey file, or 'demo' for the bundled data")
    p.add_argument("--by", required=True, help="key column(s), comma-separated: industry,company")
    p.add_argument("--method", default="pls", choices=["pls", "cbsem"])
    p.add_argument("--bootstrap", type=int, default=0, metavar="B", help="resamples per group")
    p.add_argument("--seed", type=int, default=None, help="random seed of the bootstraps")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (-1: every core)")
    p.add_argument("--min-n", type=int, default=30, help="smallest group to fit (default 30)")
    p.add_argument("--out", help="folder for the Parquet output, written as groups finish")
    p.add_argument("--resume", action="store_true", help="fit only the groups not yet in --out")
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.set_defaults(func=cmd_batch)
    return parser


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C reaches every process of the terminal's group; the workers
    leave it to the csi process, which stops them (no traceback from each worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(args) -> int:
    """The command, with its worker processes (joblib's loky) ignoring Ctrl-C."""
    from joblib import parallel_config

    with parallel_config(backend="loky", initializer=_ignore_sigint):
        return args.func(args)


def _stop_workers() -> None:
    """Stop the joblib (loky) worker processes a bootstrap may have started: none is left
    running after Ctrl-C."""
    try:
        from joblib.externals.loky import get_reusable_executor
    except ImportError:  # pragma: no cover - joblib is a dependency
        return
    import logging

    # A batch that finishes while the executor shuts down makes joblib's callback thread try
    # to dispatch the next one; concurrent.futures would log that as a traceback on stderr.
    futures_log = logging.getLogger("concurrent.futures")
    was_disabled, futures_log.disabled = futures_log.disabled, True
    try:
        # reuse=True: the executor the command ran on, whatever its arguments. Without it,
        # get_reusable_executor() sees other arguments (no initializer) and first shuts that
        # executor down with kill_workers=False, which waits for every queued bootstrap
        # chunk (the workers ignore Ctrl-C): csi hung until the whole bootstrap had run
        # whenever the interrupt came where joblib's own abort (which kills) did not run.
        get_reusable_executor(reuse=True, kill_workers=True).shutdown(wait=True,
                                                                      kill_workers=True)
    except Exception:  # noqa: BLE001 - best effort while exiting
        pass
    finally:  # the manager thread, which runs the callbacks, has been joined
        futures_log.disabled = was_disabled


def _fail(args, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(f"csi: error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except EstimationError as exc:
        return _fail(args, str(exc), EXIT_ESTIMATION)
    except CSIError as exc:  # spec, data, arguments, output files
        return _fail(args, str(exc), EXIT_INPUT)
    except KeyboardInterrupt:
        _stop_workers()
        if getattr(args, "debug", False):
            traceback.print_exc()
        print("csi: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `csi fit ... | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INPUT
    except OSError as exc:  # a file the library did not wrap (permissions, disk full)
        return _fail(args, f"{exc.filename + ': ' if exc.filename else ''}"
                     f"{exc.strerror or exc}", EXIT_INPUT)
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen numerical failure
        return _fail(args, f"unexpected {type(exc).__name__}: {exc} (run with --debug for the "
                     "traceback, and please report it)", EXIT_ESTIMATION)


if __name__ == "__main__":
    sys.exit(main())
