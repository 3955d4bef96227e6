"""Reading survey files into DataFrames, choosing the reader by file extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from csi_models.errors import DataError


def _read_csv(path: Path) -> pd.DataFrame:
    # UTF-8 first (with or without BOM); GB18030 covers files saved by Chinese Excel/WPS.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, encoding=encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(f"cannot decode {path}: save it as UTF-8 (or GB18030) text")


READERS = {".csv": _read_csv, ".txt": _read_csv}


def read_survey(path) -> pd.DataFrame:
    """Read a survey file (by extension) into a DataFrame, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"survey file {str(path)!r} does not exist")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"cannot read {path.name}: unknown file type {path.suffix!r}; "
                        f"supported: {', '.join(sorted(READERS))}")
    try:
        return reader(path)
    except DataError:
        raise
    except Exception as exc:  # the parsers' own errors, reworded with the file name
        raise DataError(f"cannot read {path}: {exc}") from None
