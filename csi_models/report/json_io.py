"""JSON export and ``read_result``: tables, settings, warnings, status and spec, round-tripped.

Numbers are written unrounded (Python's shortest repr, which reads back to the same double);
NaN is written as ``null`` and read back as NaN; each column's dtype is stored and restored.
The spec is stored in its YAML layout (``ModelSpec.to_dict``) and rebuilt (and re-validated)
by ``spec_from_dict``. Settings are plain JSON (tuples become lists, numpy scalars numbers).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from csi_models.errors import DataError
from csi_models.report.bundle import Bundle, bundle_of

__all__ = ["to_json_text", "write_json", "read_result", "StoredResult", "FORMAT"]

FORMAT = "csi-models-result"
VERSION = 1


def _plain(value):
    """JSON-ready copy of a settings value."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if value is None or isinstance(value, (str, int)):
        return value
    return str(value)


def _cell(value):
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value if isinstance(value, (str, int, bool)) else str(value)


def _encode(table) -> dict:
    if isinstance(table, pd.Series):
        return {"type": "series", "name": table.name, "index_name": table.index.name,
                "index": [_cell(v) for v in table.index], "dtype": str(table.dtype),
                "values": [_cell(v) for v in table.to_numpy()]}
    return {"type": "frame", "columns": [str(c) for c in table.columns],
            "dtypes": [str(t) for t in table.dtypes],
            "data": [[_cell(v) for v in row] for row in table.itertuples(index=False)]}


def _restore(values: list, dtype: str):
    values = [np.nan if v is None and dtype.startswith("float") else v for v in values]
    try:
        return pd.array(values, dtype=dtype) if dtype in ("Int64", "boolean") else \
            pd.Series(values, dtype=dtype if dtype != "object" else object).to_numpy()
    except (TypeError, ValueError):
        return np.asarray(values, dtype=object)


def _decode(blob: dict):
    if blob["type"] == "series":
        return pd.Series(_restore(blob["values"], blob["dtype"]), index=blob["index"],
                         name=blob["name"]).rename_axis(blob["index_name"])
    rows = blob["data"]
    columns = {c: _restore([r[k] for r in rows], t)
               for k, (c, t) in enumerate(zip(blob["columns"], blob["dtypes"]))}
    return pd.DataFrame(columns, columns=blob["columns"])


def to_json_text(obj) -> str:
    """The JSON document of a FitResult, Comparison or stored result."""
    from csi_models import __version__

    b = bundle_of(obj)
    spec = b.spec
    if isinstance(spec, dict):
        spec_blob = {k: s.to_dict() for k, s in spec.items()}
    else:
        spec_blob = None if spec is None else spec.to_dict()
    doc = {"format": FORMAT, "version": VERSION, "csi_models": __version__, "kind": b.kind,
           "title": b.title, "status": _plain(b.status), "warnings": list(b.warnings),
           "settings": _plain(b.settings), "spec": spec_blob,
           "tables": {name: _encode(t) for name, t in b.tables.items()}}
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=1)


def write_json(obj, path, overwrite: bool = False):
    """Write the JSON document to ``path`` atomically; read it back with ``read_result``."""
    from csi_models.report.files import write_atomic

    return write_atomic(path, to_json_text(obj), overwrite)


class StoredResult:
    """A result read back from JSON: its tables as attributes (``paths``, ``indices``, ...),
    ``tables``, ``settings``, ``warnings``, ``facts`` (method, n, convergence), ``spec`` (a ModelSpec, or a dict of
    them for a comparison); it exports again (``to_html``, ``to_excel``, ...) and plots."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        if bundle.kind == "fit" and "paths" in bundle.tables:
            bundle.source = self  # the diagram shows the stored numbers

    @property
    def r2(self) -> pd.Series:
        """R² by construct (from the r2_table)."""
        t = self.bundle.tables["r2_table"]
        return pd.Series(t["estimate"].to_numpy(), index=list(t["construct"]), name="r2")

    kind = property(lambda self: self.bundle.kind)
    tables = property(lambda self: dict(self.bundle.tables))
    settings = property(lambda self: self.bundle.settings)
    warnings = property(lambda self: list(self.bundle.warnings))
    facts = property(lambda self: dict(self.bundle.status))  # method, n, converged, ...
    spec = property(lambda self: self.bundle.spec)

    def __getattr__(self, name):
        tables = self.__dict__.get("bundle").tables if "bundle" in self.__dict__ else {}
        if name in tables:
            return tables[name].copy()
        raise AttributeError(f"this stored result has no {name!r}; its tables are "
                             f"{', '.join(tables)}")

    def to_html(self, path=None, lang="en", overwrite=False):
        from csi_models.report import html

        return html.report_html(self, lang) if path is None else html.write_html(
            self, path, lang, overwrite)

    def to_excel(self, path, lang="en", overwrite=False):
        from csi_models.report.excel import write_excel

        return write_excel(self, path, lang, overwrite)

    def to_json(self, path=None, overwrite=False):
        return to_json_text(self) if path is None else write_json(self, path, overwrite)

    def plot(self, lang="en", items=False):
        from csi_models.report.diagram import diagram_of

        return diagram_of(self, lang, items)

    def _repr_html_(self) -> str:
        from csi_models.report.html import report_html

        return report_html(self, fragment=True)

    def to_markdown(self, lang="en"):
        from csi_models.report.publication import to_markdown

        return to_markdown(self, lang)

    def to_latex(self, lang="en"):
        from csi_models.report.publication import to_latex

        return to_latex(self, lang)

    def __repr__(self) -> str:
        return f"<StoredResult {self.kind}: {self.bundle.heading('en')} ({len(self.tables)} tables)>"


def read_result(path) -> StoredResult:
    """Read a result written by ``to_json`` (FitResult or Comparison): tables, settings,
    warnings, status and spec restored."""
    from csi_models.spec.loading import spec_from_dict

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not JSON (line {exc.lineno}: {exc.msg}); give a file "
                        "written by res.to_json(...)") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f"{path} is not a csi-models result (no \"format\": \"{FORMAT}\"); "
                        "give a file written by res.to_json(...)")
    if doc.get("version", 0) > VERSION:
        raise DataError(f"{path} was written by a newer csi-models (format version "
                        f"{doc['version']}); upgrade csi-models to read it")
    spec = doc.get("spec")
    if spec is not None:
        spec = ({k: spec_from_dict(v, f"{path}:{k}") for k, v in spec.items()}
                if doc["kind"] == "comparison" else spec_from_dict(spec, str(path)))
    tables = {name: _decode(blob) for name, blob in doc["tables"].items()}
    return StoredResult(Bundle(doc["kind"], doc["title"], tables, doc["settings"],
                               doc["warnings"], doc["status"], spec, None))
