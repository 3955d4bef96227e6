"""Reading survey files into DataFrames, choosing the reader by file extension.

``read_survey(path)`` returns a plain DataFrame (one row per respondent, one column per
question). What SPSS and Stata files know beyond the numbers travels in ``DataFrame.attrs``,
which pandas keeps through copies, column selection and renaming:

* ``attrs["value_labels"]``: {column: {code: label}}, e.g. {1: "Very dissatisfied", ...}.
  ``prepare``/``fit`` take an item's scale bounds from these when the spec gives none, and
  refuse a declared scale they contradict.
* ``attrs["column_labels"]``: {column: question wording}.
* ``attrs["user_missing"]``: {column: {"ranges": [[lo, hi], ...], "count": n}}: the SPSS
  user-missing values (e.g. 98 "don't know", 99 "refused"). They are read as missing (NaN),
  as SPSS itself excludes them from analyses, so no code can leak into a result; ``count``
  says how many answers that turned into missing values (the data check reports it).
* ``attrs["source"]``, ``attrs["format"]``: the file and its type.

Rows are indexed as the file shows them, so that the data check's "rows 102 (42)" is the row
to open: CSV and Excel by spreadsheet row (header = row 1, first respondent = row 2; blank
rows count but are dropped, as are wholly empty ones), SPSS and Stata by case number (1, 2,
...), Parquet by its stored index. ``df.iloc[k]`` is still the k-th respondent. Reader
options that make the numbering unknowable (``index_col``, a list ``skiprows``, ``comment``)
keep pandas' index.

Stata's extended missing values (.a-.z) are read as missing. CSV text is read as UTF-8
(with or without BOM) or else GB18030 (Chinese Excel/WPS exports) when it reads as Chinese;
any other text (e.g. a Windows-1252 'Zürich') is a DataError asking for
``read_survey(path, encoding='cp1252')``, never a silent guess. A file that parses into a
single column holding ';' or tabs is re-read with that separator.
"""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from csi_models.errors import DataError


def _read_csv(path: Path, **options) -> pd.DataFrame:
    text = _decode(path.read_bytes(), path, options.pop("encoding", None))
    if not {"skiprows", "header", "skip_blank_lines"} & set(options):
        # count blank lines as rows (as a spreadsheet shows them); skip those above the header
        options["skip_blank_lines"] = False
        text = re.sub(r"\n(?:[ \t\r]*\n)*[ \t\r]*\Z", "\n", text)  # blank lines at the end
        leading = re.match(r"(?:[ \t\r]*\n)*", text).group().count("\n")
        if leading:
            options["skiprows"] = leading
    frame = pd.read_csv(io.StringIO(text), **options)
    if "sep" not in options and "delimiter" not in options and frame.shape[1] == 1:
        header = str(frame.columns[0])
        for sep in (";", "\t"):
            if sep in header:
                frame = pd.read_csv(io.StringIO(text), **{"sep": sep, **options})
                break
    return _file_rows(frame, options)


def _file_rows(frame: pd.DataFrame, options: dict) -> pd.DataFrame:
    """Index the rows of a CSV/Excel table by their row in the file, as a spreadsheet shows
    it (header = row 1, first respondent = row 2), and drop wholly empty rows (formatting
    residue, not respondents): messages that name rows then name the rows the user sees.
    Options that make those numbers unknowable (index_col, a list or callable skiprows,
    comment, skip_blank_lines=True) keep pandas' own index."""
    first = _first_row(options)
    if first is not None:
        frame.index = pd.RangeIndex(first, first + len(frame))
    return frame.dropna(how="all")


def _first_row(options: dict) -> int | None:
    """The file row of the first data row under pandas' reading options, or None."""
    if options.get("index_col") not in (None, False) or options.get("comment") is not None or \
            options.get("skip_blank_lines") is True:
        return None
    skip = options.get("skiprows") or 0
    header = options.get("header", "infer")
    if header == "infer":
        header = None if options.get("names") is not None else 0
    if not isinstance(skip, int) or isinstance(skip, bool):
        return None
    if header is None:
        return skip + 1
    if isinstance(header, int) and not isinstance(header, bool):
        return skip + header + 2
    return None


def _decode(raw: bytes, path: Path, encoding: str | None) -> str:
    """The file's text: in ``encoding`` if given, else UTF-8 (with or without BOM), else
    GB18030 (Chinese Excel/WPS exports) if the result reads as Chinese; else a DataError.

    GB18030 assigns a character to almost any byte pair, so a Western file (Windows-1252,
    'Zürich' = 5A FC 72 69 63 68) decodes "successfully" into 'Z黵ich'. Real Chinese text
    is overwhelmingly in the GB2312 core (both bytes >= A1); such misreads never are. We do
    not guess a Western encoding in its place: a wrong guess would silently rename columns
    and categories, so the error shows both readings and asks for ``encoding=``."""
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except LookupError:
            raise DataError(f"encoding={encoding!r} is not a known text encoding; use e.g. "
                            "'utf-8', 'gb18030', 'cp1252', 'latin-1'") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path.name} is not {encoding} text (byte {exc.start}: {exc.reason}); "
                            "give the file's encoding with read_survey(path, encoding=...)") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        chinese = raw.decode("gb18030")
    except UnicodeDecodeError:
        chinese = None
    if chinese is not None and _reads_as_chinese(chinese):
        return chinese
    western = _samples(raw.decode("cp1252", errors="replace"))
    as_gb = f"; read as GB18030 (Chinese) it gives {_samples(chinese)}" if chinese else ""
    raise DataError(f"cannot tell the text encoding of {path.name}: it is not UTF-8{as_gb}; read "
                    f"as Windows-1252 (Western European) it gives {western}. Give the encoding: "
                    f"csi.read_survey({str(path)!r}, encoding='cp1252') (or 'latin-1', 'gb18030', "
                    "'big5', 'shift_jis', ...), or save the file as UTF-8")


NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _reads_as_chinese(text: str) -> bool:
    """At least half of the non-ASCII characters are in GB2312 (the common simplified
    Chinese characters and full-width punctuation); see ``_decode``."""
    counts = Counter(NON_ASCII.findall(text))
    common = 0
    for char, n in counts.items():
        try:
            char.encode("gb2312")
            common += n
        except UnicodeEncodeError:
            pass
    return 2 * common >= sum(counts.values())


def _samples(text: str, k: int = 3) -> str:
    """The first ``k`` distinct words holding non-ASCII characters, quoted."""
    words = re.findall(r"[^\s,;\t\"']*[^\x00-\x7f][^\s,;\t\"']*", text)
    return ", ".join(repr(w[:20]) for w in list(dict.fromkeys(words))[:k]) or "no non-ASCII text"


def _read_tsv(path: Path, **options) -> pd.DataFrame:
    return _read_csv(path, **{"sep": "\t", **options})


def _read_excel(path: Path, sheet=None, **options) -> pd.DataFrame:
    """First sheet unless ``sheet`` (name or 0-based position) is given."""
    frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, engine="openpyxl",
                          **options)
    if isinstance(frame, dict):
        raise DataError(f"{path.name}: give one sheet (sheet='name' or a position), not {sheet!r}")
    # rows and columns that are wholly empty are formatting residue, not respondents; the
    # rows keep their sheet row numbers (header = row 1), as Excel shows them
    frame = _file_rows(frame, options)
    unnamed = [c for c in frame.columns if str(c).startswith("Unnamed:") and frame[c].isna().all()]
    return frame.drop(columns=unnamed)


def _labelled(frame: pd.DataFrame, meta, path: Path, kind: str, options: dict) -> pd.DataFrame:
    """Attach pyreadstat's metadata to the frame's attrs (see module docstring); number the
    rows by case number (1, 2, ...), as SPSS and Stata show them."""
    first = int(options.get("row_offset") or 0) + 1
    frame.index = pd.RangeIndex(first, first + len(frame))
    labels = getattr(meta, "variable_value_labels", None) or {}
    frame.attrs["value_labels"] = {str(c): {(float(k) if isinstance(k, (int, float)) else k): str(v)
                                            for k, v in lab.items()}
                                   for c, lab in labels.items() if lab}
    names = getattr(meta, "column_names_to_labels", None) or {}
    frame.attrs["column_labels"] = {str(c): str(v) for c, v in names.items() if v}
    frame.attrs["source"], frame.attrs["format"] = str(path), kind
    return frame


def _read_spss(path: Path, **options) -> pd.DataFrame:
    """SPSS .sav/.zsav/.por: numbers as stored (not label text), user-missing values -> NaN."""
    import pyreadstat

    if path.suffix.lower() == ".por":
        frame, meta = pyreadstat.read_por(path, **options)
        return _labelled(frame, meta, path, "spss", options)
    frame, meta = pyreadstat.read_sav(path, user_missing=True, apply_value_formats=False, **options)
    user_missing = {}
    for column, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        if column not in frame.columns or not pd.api.types.is_numeric_dtype(frame[column]):
            continue  # string variables: their user-missing text stays as text
        bounds = [(float(r["lo"]), float(r["hi"])) for r in ranges]
        values = frame[column].to_numpy(float)
        hit = np.zeros(len(frame), bool)
        for lo, hi in bounds:
            hit |= (values >= lo) & (values <= hi)
        frame[column] = frame[column].mask(hit)
        user_missing[str(column)] = {"ranges": [list(b) for b in bounds], "count": int(hit.sum())}
    frame = _labelled(frame, meta, path, "spss", options)
    frame.attrs["user_missing"] = user_missing
    return frame


def _read_stata(path: Path, **options) -> pd.DataFrame:
    """Stata .dta: numbers as stored, extended missing values (.a-.z) -> NaN."""
    import pyreadstat

    frame, meta = pyreadstat.read_dta(path, apply_value_formats=False, **options)
    return _labelled(frame, meta, path, "stata", options)


def _read_parquet(path: Path, **options) -> pd.DataFrame:
    frame = pd.read_parquet(path, **options)  # pandas restores attrs it wrote itself
    frame.attrs["source"], frame.attrs["format"] = str(path), "parquet"
    return frame


READERS = {".csv": _read_csv, ".txt": _read_csv, ".tsv": _read_tsv, ".xlsx": _read_excel,
           ".xlsm": _read_excel, ".sav": _read_spss, ".zsav": _read_spss, ".por": _read_spss,
           ".dta": _read_stata, ".parquet": _read_parquet, ".pq": _read_parquet}
HINTS = {".xls": "save it as .xlsx (Excel 2007+)", ".ods": "save it as .xlsx or .csv",
         ".sas7bdat": "export it as .sav, .dta or .csv", ".json": "export it as .csv"}


def read_survey(path, *, sheet=None, **options) -> pd.DataFrame:
    """Read a survey file (by extension) into a new DataFrame; see module docstring.

    Supported: .csv/.txt/.tsv, .xlsx/.xlsm (``sheet=`` name or position; first sheet by
    default), SPSS .sav/.zsav/.por, Stata .dta, Parquet .parquet/.pq. ``options`` go to the
    underlying reader (pandas.read_csv, pandas.read_excel, pyreadstat, pandas.read_parquet).
    The file is only read, never written. Problems are DataErrors naming the file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"read_survey takes a file path, got {type(path).__name__}")
    try:
        path = Path(path)
    except TypeError:  # an os.PathLike whose path is bytes
        raise DataError(f"read_survey takes a text file path, got {path!r:.80}") from None
    try:
        exists = path.is_file()
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise DataError(f"survey file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        hint = f"; {HINTS[suffix]}" if suffix in HINTS else ""
        raise DataError(f"cannot read {path.name}: unknown file type {path.suffix!r}; "
                        f"supported: {', '.join(sorted(READERS))}{hint}")
    if sheet is not None:
        if reader is not _read_excel:
            raise DataError(f"sheet={sheet!r} applies to Excel files only, not {path.name}")
        options["sheet"] = sheet
    try:
        frame = reader(path, **options)
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(f"cannot read {path.name}: {exc.name or exc} is not installed "
                        "(pip install csi-models installs openpyxl, pyreadstat and pyarrow)") from None
    except Exception as exc:  # the parsers' own errors, reworded with the file name
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    if frame.shape[1] == 0:
        raise DataError(f"{path.name} has no columns: is it empty?")
    return frame


def as_frame(data, sheet=None) -> pd.DataFrame:
    """The survey table behind ``data``: a DataFrame is returned as is (the caller's object,
    which the library never modifies); a file path (str or os.PathLike) is read with
    ``read_survey(data, sheet=sheet)``. Anything else is a DataError. The one place where
    ``fit``, ``check``, ``prepare`` and ``compare`` accept "a DataFrame or a file path"."""
    if isinstance(data, pd.DataFrame):
        if sheet is not None:
            raise DataError(f"sheet={sheet!r} applies to Excel files, not to a DataFrame")
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_survey(data, sheet=sheet)
    raise DataError(f"survey data must be a pandas DataFrame or a file path, got "
                    f"{type(data).__name__}")
