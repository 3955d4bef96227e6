"""Save a result, comparison or stored result in the format its file name asks for.

.html (self-contained report), .xlsx (a sheet per table), .json (read back with
``csi.read_result``), .md (Markdown), .tex (LaTeX tables), .svg/.png/.pdf (the path diagram).
Every write is atomic and refuses to replace a file unless ``overwrite=True``.
"""

from __future__ import annotations

from pathlib import Path

from csi_models.errors import OutputError
from csi_models.report.glossary import check_lang

__all__ = ["save", "FORMATS"]

FORMATS = (".html", ".xlsx", ".json", ".md", ".tex", ".svg", ".png", ".pdf")


def save(obj, path, lang: str = "en", overwrite: bool = False) -> Path:
    """Write ``obj`` to ``path``; the format follows the extension (see ``FORMATS``)."""
    from csi_models.report.files import check_target, write_atomic

    check_lang(lang)
    suffix = Path(str(path)).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(f"cannot tell the format of {path}: use one of "
                          f"{', '.join(FORMATS)}")
    check_target(path, overwrite)  # before any work
    if suffix == ".html":
        from csi_models.report.html import write_html

        return write_html(obj, path, lang, overwrite)
    if suffix == ".xlsx":
        from csi_models.report.excel import write_excel

        return write_excel(obj, path, lang, overwrite)
    if suffix == ".json":
        from csi_models.report.json_io import write_json

        return write_json(obj, path, overwrite)
    if suffix in (".md", ".tex"):
        from csi_models.report import publication

        text = (publication.to_markdown if suffix == ".md" else publication.to_latex)(obj, lang)
        return write_atomic(path, text, overwrite)
    from csi_models.report.bundle import bundle_of
    from csi_models.report.diagram import Diagram, diagram_of

    bundle = bundle_of(obj)
    if suffix == ".svg" and bundle.kind == "comparison":
        return write_atomic(path, bundle.diagram_svg(lang), overwrite)
    if bundle.kind == "comparison":
        raise OutputError(f"a comparison's diagrams are saved as .svg, not {suffix}")
    source = obj if isinstance(obj, Diagram) else diagram_of(
        bundle.source if bundle.source is not None else bundle.spec, lang)
    return source.save(path, overwrite)


# --- what FitResult and Comparison delegate to (one line each there) ------------------------
def to_html(obj, path=None, lang: str = "en", overwrite: bool = False):
    """The self-contained HTML report: written to ``path`` (returned), or returned as text."""
    from csi_models.report import html

    return html.report_html(obj, lang) if path is None else html.write_html(obj, path, lang,
                                                                           overwrite)


def to_excel(obj, path, lang: str = "en", overwrite: bool = False) -> Path:
    from csi_models.report.excel import write_excel

    return write_excel(obj, path, lang, overwrite)


def to_json(obj, path=None, overwrite: bool = False):
    """The JSON document (``csi.read_result`` reads it back): written to ``path``, or text."""
    from csi_models.report import json_io

    return json_io.to_json_text(obj) if path is None else json_io.write_json(obj, path, overwrite)


def to_markdown(obj, lang: str = "en") -> str:
    from csi_models.report.publication import to_markdown as markdown

    return markdown(obj, lang)


def to_latex(obj, lang: str = "en") -> str:
    from csi_models.report.publication import to_latex as latex

    return latex(obj, lang)


def plot(obj, lang: str = "en", items: bool = False):
    """A result's or spec's Diagram, or a comparison's DiagramPanel."""
    if hasattr(obj, "results") and hasattr(obj, "status"):
        from csi_models.report.panel import panel_of

        return panel_of(obj, lang, items)
    from csi_models.report.diagram import diagram_of

    return diagram_of(obj, lang, items)


class Exportable:
    """The report methods a FitResult and a Comparison share: one delegation each to the
    functions above (the class holding the data stays free of rendering code)."""

    def plot(self, lang: str = "en", items: bool = False):
        """Path diagram (a comparison: the models' or groups' diagrams side by side): index and
        R² per construct, coefficients and significance marks."""
        return plot(self, lang, items)

    def to_html(self, path=None, lang: str = "en", overwrite: bool = False):
        """Self-contained HTML report to ``path`` (or as text when path is None)."""
        return to_html(self, path, lang, overwrite)

    def to_excel(self, path, lang: str = "en", overwrite: bool = False):
        """A sheet per table (unrounded), plus settings and warnings."""
        return to_excel(self, path, lang, overwrite)

    def to_json(self, path=None, overwrite: bool = False):
        """JSON of tables, settings, warnings and spec (``csi.read_result`` reads it back)."""
        return to_json(self, path, overwrite)

    def to_markdown(self, lang: str = "en") -> str:
        return to_markdown(self, lang)

    def to_latex(self, lang: str = "en") -> str:
        return to_latex(self, lang)

    def save(self, path, lang: str = "en", overwrite: bool = False):
        """Write the format of the extension (.html .xlsx .json .md .tex .svg .png .pdf)."""
        return save(self, path, lang, overwrite)
