"""Path diagrams side by side: the models or groups of a comparison, each under its title,
in one SVG (or one matplotlib figure for PNG/PDF)."""

from __future__ import annotations

from csi_models.report.diagram import _text, diagram_of
from csi_models.report.diagram_style import FONT_FAMILY, FS_TITLE

__all__ = ["DiagramPanel", "panel_of", "combine_svg"]


def combine_svg(diagrams: list, titles: list) -> str:
    """Several diagrams side by side in one SVG, each under its title (models or groups)."""
    parts, x, height = [], 0.0, 0.0
    for diagram, title in zip(diagrams, titles):
        g = diagram._geometry
        parts.append(f'<g transform="translate({x:.1f},30)">'
                     + _text(g.width / 2, -10, str(title), FS_TITLE, weight="bold", cls="panel")
                     + diagram.svg + "</g>")
        x += g.width + 20
        height = max(height, g.height + 30)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="csi-diagrams" width="{x:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {x:.0f} {height:.0f}" font-family="{FONT_FAMILY}">'
            '<rect width="100%" height="100%" fill="white"/>' + "\n".join(parts) + "</svg>")


class DiagramPanel:
    """Diagrams side by side (the models or groups of a comparison): ``svg``, ``save(path)``
    (.svg, .png, .pdf); displays itself in Jupyter."""

    def __init__(self, diagrams: list, titles: list):
        self.diagrams, self.titles = list(diagrams), [str(t) for t in titles]

    @property
    def svg(self) -> str:
        return combine_svg(self.diagrams, self.titles)

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path, overwrite: bool = False, dpi: int = 200):
        from csi_models.report.files import write_atomic

        suffix = str(path).lower().rsplit(".", 1)[-1]
        if suffix == "svg":
            return write_atomic(path, self.svg, overwrite)
        if suffix not in ("png", "pdf"):
            from csi_models.errors import OutputError

            raise OutputError(f"diagrams are saved as .svg, .png or .pdf, not .{suffix}")
        import matplotlib.pyplot as plt

        from csi_models.report.diagram_mpl import draw

        geos = [d._geometry for d in self.diagrams]
        height = max(g.height for g in geos) / 96 + 0.4
        fig, axes = plt.subplots(1, len(geos), squeeze=False, figsize=(
            sum(g.width for g in geos) / 96, height), width_ratios=[g.width for g in geos])
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 0.4 / height, wspace=0)
        for ax, g, title in zip(axes[0], geos, self.titles):
            draw(g, ax, stacklevel=4)
            ax.set_title(title)
        try:
            return write_atomic(path, lambda out: fig.savefig(out, format=suffix, dpi=dpi),
                                overwrite)
        finally:
            plt.close(fig)


def panel_of(comparison, lang: str = "en", items: bool = False) -> DiagramPanel:
    """The diagrams of a comparison's fitted models or groups, side by side."""
    labels = list(comparison.results)
    return DiagramPanel([diagram_of(comparison.results[k], lang, items) for k in labels], labels)
