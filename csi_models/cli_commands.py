"""The ``csi`` subcommands, one function each, and the exit statuses they return.

Each ``cmd_*`` takes the parsed arguments, calls the public API and prints; the parser that
fills those arguments, and the handling of errors, Ctrl-C and worker processes around a
command, are ``cli.py``'s. Kept apart so that adding a subcommand means a function here and
its arguments there, and neither file grows into the other.
"""

from __future__ import annotations

import os
import sys
import warnings

from csi_models.errors import CSIWarning, DataError

EXIT_OK, EXIT_INPUT, EXIT_ESTIMATION, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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


def _fit_options(args) -> dict:
    """--missing, --se and --weights where they differ from csi.fit's defaults: a batch run's
    saved settings then equal those of fit_many called without them, and --resume works on a
    folder either wrote."""
    defaults = {"missing": "listwise", "se": "standard", "weights": None}
    return {k: getattr(args, k) for k, v in defaults.items() if getattr(args, k) != v}


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
                     scheme=args.scheme, bootstrap=args.bootstrap, **_fit_options(args),
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
                     random_state=args.seed, **_fit_options(args),
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
        if len(result.tests):   # columns empty throughout (ML's robust ones) left out
            print()
            print(result.tests.dropna(axis=1, how="all").to_string(index=False))
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

    # a folder of Parquet files goes to fit_many as a path: one pass over its groups' moments
    data = args.data if os.path.isdir(args.data) else _data(args.data, args.sheet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)  # collected per group in batch.warnings
        batch = fit_many(args.spec, data, by=args.by.split(","),
                         method=args.method, bootstrap=args.bootstrap, random_state=args.seed,
                         n_jobs=args.jobs, out=args.out, resume=args.resume, min_n=args.min_n,
                         **_fit_options(args))
    status = batch.status
    counts = status["status"].value_counts()
    print(f"{len(status)} groups: " + ", ".join(f"{v} {k}" for k, v in counts.items()) +
          f"; {len(batch.warnings)} warnings", file=sys.stderr)
    if args.resume:
        now = batch.settings["n_fitted_now"]
        print(f"resumed: {now} fitted now, {len(status) - now} from the earlier run",
              file=sys.stderr)
    for row in status[status["status"] != "ok"].itertuples(index=False):
        key = "/".join(str(getattr(row, c)) for c in batch.by)
        print(f"  {key}: {row.status}: {row.message}", file=sys.stderr)
    if args.out:
        print(f"results written to {args.out} (csi.read_batch({str(args.out)!r}))", file=sys.stderr)
    else:
        batch.indices.to_csv(sys.stdout, index=False)
    fitted = int((status["status"] == "ok").sum())
    return EXIT_OK if fitted == len(status) else EXIT_PARTIAL if fitted else EXIT_ESTIMATION
