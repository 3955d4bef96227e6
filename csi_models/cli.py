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

This module builds the parser and runs a command (errors, Ctrl-C, worker processes); the
subcommands themselves, one function each, are in ``cli_commands``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback

from csi_models.cli_commands import (EXIT_ESTIMATION, EXIT_INPUT, EXIT_INTERRUPTED, cmd_batch,
                                     cmd_compare, cmd_fit, cmd_ipma, cmd_kano, cmd_specs,
                                     cmd_validate)
from csi_models.errors import CSIError, EstimationError

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

    def fit_options(p, missing=("listwise", "mean", "fiml")):
        """--missing, --se and --weights: csi.fit's options, for every command that fits."""
        p.add_argument("--missing", default="listwise", choices=list(missing))
        p.add_argument("--se", default="standard", choices=["standard", "robust"],
                       help="CB-SEM standard errors: robust = lavaan's MLR (Huber-White, "
                            "with the Yuan-Bentler scaled chi-square)")
        p.add_argument("--weights", metavar="COLUMN",
                       help="column of respondent weights (PLS: frequency weights; CB-SEM: "
                            "lavaan's sampling.weights)")

    p = sub.add_parser("specs", help="list the shipped model specs")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.set_defaults(func=cmd_specs)

    p = sub.add_parser("fit", help="fit a model and print its summary")
    p.add_argument("spec", help="shipped spec name (acsi, ecsi, ccsi) or YAML file")
    p.add_argument("--data", required=True, help="survey file, or 'demo' for the bundled data")
    p.add_argument("--method", default="pls", choices=["pls", "cbsem"])
    fit_options(p)
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
    fit_options(p)
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.add_argument("--lang", default="en", choices=["en", "zh"], help="language of --out")
    _output_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("batch", help="one model fitted to every group (company, wave, ...)")
    p.add_argument("spec", help="shipped spec name (acsi, ecsi, ccsi) or YAML file")
    p.add_argument("--data", required=True,
                   help="survey file, a folder of Parquet files (read in one pass over each "
                        "group's moments, no bootstrap), or 'demo' for the bundled data")
    p.add_argument("--by", required=True, help="key column(s), comma-separated: industry,company")
    p.add_argument("--method", default="pls", choices=["pls", "cbsem"])
    p.add_argument("--bootstrap", type=int, default=0, metavar="B", help="resamples per group")
    p.add_argument("--seed", type=int, default=None, help="random seed of the bootstraps")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes, this one included (-1: every core)")
    p.add_argument("--min-n", type=int, default=30, help="smallest group to fit (default 30)")
    fit_options(p)
    p.add_argument("--out", help="folder for the Parquet output, written as groups finish")
    p.add_argument("--resume", action="store_true",
                   help="fit only the groups not yet in --out (with that run's seed unless --seed)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.set_defaults(func=cmd_batch)
    return parser


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C reaches every process of the terminal's group; the workers
    leave it to the csi process, which stops them (no traceback from each worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(args) -> int:
    """The command, with its worker processes (joblib's loky) ignoring Ctrl-C. A command
    without a bootstrap starts no joblib worker (``fit_many`` starts its own, which ignore
    Ctrl-C too): it does not import joblib (0.4 s of a 1 s ``csi fit``)."""
    if not getattr(args, "bootstrap", 1):
        return args.func(args)
    from joblib import parallel_config

    with parallel_config(backend="loky", initializer=_ignore_sigint):
        return args.func(args)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C in ``csi``: a KeyboardInterrupt, caught like one, but not that class itself.
    Where a plain KeyboardInterrupt leaves code run by ``exec`` or ``eval`` of a string (a
    dataclass or namedtuple being made, e.g. in a module imported at that moment), CPython
    notes an "unhandled" interrupt, and ``python -m csi_models.cli`` then killed itself by
    SIGINT at exit instead of returning 130, although csi had handled it (Ctrl-C as a
    batch's worker started, about one run in four). CPython checks for exactly
    KeyboardInterrupt, not a subclass."""


def _raise_interrupted(signum, frame):
    raise Interrupted


@contextlib.contextmanager
def _ctrl_c_raises_interrupted():
    """Ctrl-C raises ``Interrupted`` while the command runs (where Python's own handler is
    in place: a csi started with Ctrl-C ignored, as a background job of a
    non-interactive shell (`csi ... &`) is, keeps ignoring it)."""
    mine = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if mine:
        signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        yield
    finally:
        if mine:
            signal.signal(signal.SIGINT, signal.default_int_handler)


# loky's resource tracker, a process of its own that shares csi's stderr, warns at exit
# about a semaphore whose unregistering a Ctrl-C cut short (the interrupt landed in the main
# thread while loky made one; seen under load, about one run in six): two lines of
# "resource_tracker: ... leaked semlock objects" after "csi: interrupted", which the user
# can do nothing about. The tracker is started with the interpreter's -W options
# (sys.warnoptions), so this filter reaches it.
TRACKER_WARNINGS = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker() -> None:
    """Hand loky's resource tracker (started later, by the first bootstrap or batch that runs
    workers) a filter for its exit warnings (``TRACKER_WARNINGS``)."""
    if TRACKER_WARNINGS not in sys.warnoptions:
        sys.warnoptions.append(TRACKER_WARNINGS)


def _stop_workers() -> None:
    """Stop the worker processes a bootstrap (joblib's loky executor) or a batch
    (``batch.parallel``'s pool) may have started: none is left running after Ctrl-C."""
    if "csi_models.batch.parallel" in sys.modules:
        sys.modules["csi_models.batch.parallel"].stop_pool()
    try:
        from joblib.externals.loky import get_reusable_executor, reusable_executor
    except ImportError:  # pragma: no cover - joblib is a dependency
        return
    if getattr(reusable_executor, "_executor", True) is None:
        return      # no executor was started (a batch, say): asking for one would start it
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
    """Run one csi command; its exit code. ``argv`` None: this process's own command line
    (the ``csi`` script, ``python -m csi_models.cli``), which ends after an interrupt with
    every further Ctrl-C ignored: the interpreter takes ~0.6 s to exit after "csi:
    interrupted", and a second Ctrl-C there killed it by SIGINT (exit -2, not 130)."""
    args = build_parser().parse_args(argv)
    _quiet_resource_tracker()
    try:
        with _ctrl_c_raises_interrupted():
            return _run(args)
    except EstimationError as exc:
        return _fail(args, str(exc), EXIT_ESTIMATION)
    except CSIError as exc:  # spec, data, arguments, output files
        return _fail(args, str(exc), EXIT_INPUT)
    except KeyboardInterrupt:
        if argv is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)    # the process is ending
        try:
            _stop_workers()
        except KeyboardInterrupt:   # a second Ctrl-C while the workers stop: leave at once
            pass                    # (loky's workers end when they see this process gone)
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
