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

Errors of the library (CSIError) are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from csi_models.errors import CSIError, CSIWarning, DataError


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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CSIWarning)  # the summary lists them first
        result = fit(args.spec, _data(args.data, args.sheet), method=args.method,
                     missing=args.missing, scheme=args.scheme, bootstrap=args.bootstrap,
                     random_state=args.seed)
    print(result.summary(lang=args.lang))
    return 0


def cmd_validate(args) -> int:
    """The spec's own checks, then the data check report (csi.check); status 2 on errors."""
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
    print(report.to_text())
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(report.to_html())
        except OSError as exc:
            print(f"csi: error: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if not report.ok:
        print(f"csi: error: the data has {len(report.errors)} error(s); fix them before fitting",
              file=sys.stderr)
        return 2
    return 0


def cmd_compare(args) -> int:
    import pandas as pd

    from csi_models import compare

    result = compare(args.specs if len(args.specs) > 1 else args.specs[0],
                     _data(args.data, args.sheet),
                     method=args.method, by=args.by, permutations=args.permutations,
                     random_state=args.seed, missing=args.missing)
    with pd.option_context("display.max_rows", None, "display.width", 160,
                           "display.float_format", lambda v: f"{v:.3f}"):
        print(result.status.to_string(index=False))
        print()
        print(result.wide().to_string())
        if len(result.tests):
            print()
            print(result.tests.to_string(index=False))
    for note in result.notes:
        print(f"note: {note}")
    return 0


def cmd_kano(args) -> int:
    """Kano table in priority order; KanoWarnings go to stderr as 'csi: warning:' lines."""
    from csi_models import read_survey
    from csi_models.analysis.kano import kano, kano_priority, split_kano

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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csi", description="Customer-satisfaction-index models")
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.add_argument("--missing", default="listwise", choices=["listwise", "mean", "fiml"])
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
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


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CSIError as exc:
        print(f"csi: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `csi fit ... | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
