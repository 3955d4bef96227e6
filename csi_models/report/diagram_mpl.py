"""The path diagram drawn by matplotlib (PNG, PDF), from the same geometry as the SVG.

One pixel of the SVG layout is 1/96 inch of the figure; Chinese labels get a CJK
font through ``report.fonts.apply_cjk_font`` (one FontWarning naming the font package when
none is installed).
"""

from __future__ import annotations

from csi_models.report.diagram_style import (FS_EDGE, FS_ITEM, FS_LABEL, FS_STAT, FS_TITLE,
                                             ITEM_H, MARGIN)
from csi_models.report.glossary import term

PT = 0.75  # font size in points for one SVG pixel at 96 dpi


def draw(g, ax=None, stacklevel: int = 3):
    """Draw the diagram geometry ``g`` (diagram._Geometry) on ``ax``; returns the Axes.
    ``stacklevel`` points a FontWarning at the caller's line."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle
    from matplotlib.path import Path

    from csi_models.report.fonts import apply_cjk_font

    d = g.data
    if ax is None:
        fig, ax = plt.subplots(figsize=(g.width / 96, g.height / 96))
        fig.subplots_adjust(0, 0, 1, 1)
    ax.set_xlim(0, g.width)
    ax.set_ylim(g.height, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.text(g.width / 2, 24, d.title, ha="center", va="center", fontsize=FS_TITLE * PT,
            fontweight="bold")
    arrow = {"arrowstyle": "-|>", "mutation_scale": 12, "color": "#333", "linewidth": 1.2}
    for e in g.edges:
        path = Path([e["start"], e["ctrl"], e["end"]], [Path.MOVETO, Path.CURVE3, Path.CURVE3])
        ax.add_patch(FancyArrowPatch(path=path, **arrow, zorder=1))
        if e["text"]:
            ax.text(*e["label"], e["text"], ha="center", va="center", fontsize=FS_EDGE * PT,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1}, zorder=3)
    for c in d.constructs:
        x, y, stat = g.x[c], g.y[c], g.stat_line(c)
        ax.add_patch(Ellipse((x, y), 2 * g.rx[c], 2 * g.ry, facecolor="#eef3fb",
                             edgecolor="#2b5797", linewidth=1.4, zorder=2))
        ax.text(x, y - (9 if stat else 0), d.labels.get(c, c), ha="center", va="center",
                fontsize=FS_LABEL * PT, fontweight="bold", zorder=4)
        if stat:
            ax.text(x, y + 11, stat, ha="center", va="center", fontsize=FS_STAT * PT, zorder=4)
        formative = d.modes.get(c) == "formative"
        for bx, by, w, name, _ in g.item_boxes(c):
            ends = [(bx + w / 2, by), (x, y + g.ry)]
            a, b = ends if formative else ends[::-1]
            ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=9,
                                         color="#888", linewidth=0.8, zorder=1))
            ax.add_patch(Rectangle((bx, by), w, ITEM_H, facecolor="#fafafa", edgecolor="#888",
                                   zorder=2))
            ax.text(bx + w / 2, by + ITEM_H / 2, name, ha="center", va="center",
                    fontsize=FS_ITEM * PT, zorder=4)
    if g.significance_shown:
        ax.text(MARGIN, g.height - 16, term("* p < 0.05, ** p < 0.01, *** p < 0.001", d.lang),
                ha="left", va="center", fontsize=11 * PT)
    apply_cjk_font(ax, stacklevel=stacklevel)
    return ax
