"""Path diagrams of a spec, a fitted model or several models: SVG with real text, or
matplotlib (PNG, PDF).

Layout, in the ACSI's reading order: each construct's column is its longest path from an
exogenous construct (networkx topological order), so drivers stand left and outcomes right;
within a column constructs follow the mean height of their predecessors. Paths between
neighbouring columns are straight, paths that skip columns are drawn as arcs (alternately
above and below) so they never run through a construct. The SVG's labels are ``<text>``
elements, so the viewer's own fonts draw Chinese and the text stays searchable; the
matplotlib version looks for a CJK font (``report.fonts``) and warns once, naming the font
package to install, when there is none.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from csi_models.report.diagram_style import (FONT_FAMILY, FS_EDGE, FS_ITEM, FS_LABEL, FS_STAT,
                                             FS_TITLE, ITEM_GAP, ITEM_H, MARGIN, ROW, TOP)
from csi_models.report.glossary import check_lang, term

__all__ = ["DiagramData", "Diagram", "diagram_of", "stars"]



def stars(p) -> str:
    """Significance marks: *** p < 0.001, ** p < 0.01, * p < 0.05 ('' when p is NaN)."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def text_width(text: str, size: float) -> float:
    """Approximate drawn width: CJK characters are square, Latin ones about 0.6 em."""
    return sum(size if ord(ch) > 0x2E7F else 0.6 * size for ch in text)


@dataclass
class DiagramData:
    """What a diagram shows; numbers are NaN where unknown (a spec has none)."""

    title: str
    constructs: list
    paths: list                        # (source, target, estimate, p_value)
    labels: dict = field(default_factory=dict)
    index: dict = field(default_factory=dict)
    r2: dict = field(default_factory=dict)
    items: dict = field(default_factory=dict)    # construct -> [(item, wording)]
    modes: dict = field(default_factory=dict)
    lang: str = "en"


def diagram_of(obj, lang: str = "en", items: bool = False) -> "Diagram":
    """A Diagram of a ModelSpec (structure only) or a fitted result (index, R², coefficients
    and, where p-values exist, significance marks)."""
    check_lang(lang)
    spec = getattr(obj, "spec", obj)
    title = spec.title.get(lang) or spec.title.get("en") or spec.name
    data = DiagramData(
        title=title, constructs=list(spec.construct_names), lang=lang,
        paths=[(s, t, math.nan, math.nan) for s, t in spec.paths],
        labels={c: spec.label(c, lang) for c in spec.construct_names},
        modes={c.name: c.mode for c in spec.constructs})
    if items:
        data.items = {c.name: [(i.name, i.label.get(lang) or i.label.get("en") or "")
                               for i in c.items] for c in spec.constructs}
    if obj is not spec:
        _add_numbers(data, obj)
    return Diagram(data)


def _add_numbers(data: DiagramData, result) -> None:
    paths = result.paths
    p = paths["p_value"] if "p_value" in paths else [math.nan] * len(paths)
    data.paths = [(s, t, float(e), float(pv)) for s, t, e, pv in
                  zip(paths["source"], paths["target"], paths["estimate"], p)]
    idx = result.indices
    data.index = dict(zip(idx["construct"], idx["estimate"].astype(float)))
    data.r2 = {c: float(v) for c, v in result.r2.items()}


class Diagram:
    """A path diagram: ``svg`` (text), ``save(path)`` (.svg, .png, .pdf), ``draw(ax)``
    (matplotlib); displays itself in Jupyter."""

    def __init__(self, data: DiagramData):
        self.data = data
        self._geometry = _Geometry(data)

    @property
    def svg(self) -> str:
        if not hasattr(self, "_svg"):
            self._svg = _to_svg(self._geometry)
        return self._svg

    def _repr_svg_(self) -> str:
        return self.svg

    def draw(self, ax=None, *, _stacklevel: int = 4):
        """Draw on a matplotlib Axes (a new figure when None); returns the Axes."""
        from csi_models.report.diagram_mpl import draw

        return draw(self._geometry, ax, stacklevel=_stacklevel)

    def save(self, path, overwrite: bool = False, dpi: int = 200):
        """Write the diagram; the format follows the extension (.svg, .png, .pdf)."""
        from csi_models.report.files import write_atomic

        suffix = str(path).lower().rsplit(".", 1)[-1]
        if suffix == "svg":
            return write_atomic(path, self.svg, overwrite)
        if suffix not in ("png", "pdf"):
            from csi_models.errors import OutputError

            raise OutputError(f"a diagram is saved as .svg, .png or .pdf, not .{suffix}")
        import matplotlib.pyplot as plt

        ax = self.draw(_stacklevel=5)
        try:
            return write_atomic(path, lambda out: ax.figure.savefig(out, format=suffix, dpi=dpi),
                                overwrite)
        finally:
            plt.close(ax.figure)


class _Geometry:
    """Node centres and sizes, edge curves and label positions, in pixels (y downwards)."""

    def __init__(self, data: DiagramData):
        self.data = data
        self.layer = _layers(data)
        self.rx = {c: max(62.0, text_width(data.labels.get(c, c), FS_LABEL) / 2 + 18,
                          text_width(self.stat_line(c), FS_STAT) / 2 + 18)
                   for c in data.constructs}
        self.ry = 30.0 if any(self.stat_line(c) for c in data.constructs) else 24.0
        self.item_w = {c: [max(44.0, text_width(name, FS_ITEM) + 12) for name, _ in rows]
                       for c, rows in data.items.items()}
        widest = max([2 * r for r in self.rx.values()]
                     + [sum(w) + ITEM_GAP * (len(w) - 1) for w in self.item_w.values()] + [0])
        self.dx = widest + 70
        self.row = ROW + (45 if data.items else 0)
        self._place()

    def stat_line(self, c: str) -> str:
        d, parts = self.data, []
        if np.isfinite(d.index.get(c, math.nan)):
            parts.append(f"{term('index', d.lang)} {d.index[c]:.1f}")
        if np.isfinite(d.r2.get(c, math.nan)):
            parts.append(f"R² {d.r2[c]:.2f}")
        return " · ".join(parts)

    def _place(self) -> None:
        """Rows: even columns use even rows, odd columns odd rows, so neighbouring columns
        never share a row and can stand closer than a construct is wide (the zigzag of the
        usual ACSI drawings); a construct takes the free row nearest the mean of its
        predecessors' rows, ties towards the middle."""
        d = self.data
        columns: dict[int, list] = {}
        for c in d.constructs:
            columns.setdefault(self.layer[c], []).append(c)
        preds = {c: [s for s, t, *_ in d.paths if t == c] for c in d.constructs}
        row: dict[str, int] = {}
        for k in sorted(columns):
            col = columns[k]
            want = {c: (np.mean([row[p] for p in preds[c]]) if preds[c] else 2 * i)
                    for i, c in enumerate(col)}
            taken: set = set()
            for c in sorted(col, key=lambda c: (want[c], d.constructs.index(c))):
                free = [r for r in range(-40 + k % 2, 41, 2) if r not in taken]
                row[c] = min(free, key=lambda r: (abs(r - want[c]), abs(r), -r))
                taken.add(row[c])
        lo = min(row.values())
        step = 0.6 * self.dx
        self.x = {c: MARGIN + self.dx / 2 + self.layer[c] * step for c in d.constructs}
        self.y = {c: TOP + self.ry + (row[c] - lo) * self.row for c in d.constructs}
        self.width = 2 * MARGIN + self.dx + step * max(self.layer.values())
        self.edges = [self._edge(k, *p) for k, p in enumerate(d.paths)]
        ys = [self.y[c] - self.ry for c in d.constructs]
        ys += [e["label"][1] - 12 for e in self.edges]
        shift = TOP - min(ys)
        if shift > 0:
            for c in self.y:
                self.y[c] += shift
            self.edges = [self._edge(k, *p) for k, p in enumerate(d.paths)]
        bottom = [self.y[c] + self.ry + (40 + ITEM_H if c in d.items else 0) for c in d.constructs]
        bottom += [e["label"][1] + 12 for e in self.edges]
        self.height = max(bottom) + 45

    def _hits(self, px, py, ends) -> bool:
        """Whether the sampled points (arrays) run through a construct other than ``ends``."""
        for c in self.data.constructs:
            if c in ends:
                continue
            rx, ry = self.rx[c] + 10, self.ry + 10
            if np.any(((px - self.x[c]) / rx) ** 2 + ((py - self.y[c]) / ry) ** 2 < 1):
                return True
        return False

    def _edge(self, k: int, source: str, target: str, estimate, p) -> dict:
        """Straight when the line is clear of other constructs, else the flattest arc
        (bulging up or down) that is."""
        (x0, y0), (x1, y1) = (self.x[source], self.y[source]), (self.x[target], self.y[target])
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        nx_, ny_ = -(y1 - y0) / length, (x1 - x0) / length
        ts = np.linspace(0.05, 0.95, 37)

        def clear(bend):
            cx, cy = mx + 2 * bend * nx_, my + 2 * bend * ny_
            px = (1 - ts) ** 2 * x0 + 2 * ts * (1 - ts) * cx + ts ** 2 * x1
            py = (1 - ts) ** 2 * y0 + 2 * ts * (1 - ts) * cy + ts ** 2 * y1
            return not self._hits(px, py, (source, target))

        first = -1 if k % 2 == 0 else 1
        options = [0.0] + [sign * b for b in np.arange(30, 30 + 12 * self.row, 15)
                           for sign in (first, -first)]
        bend = next((b for b in options if clear(b)), 0.0)
        ctrl = (mx + 2 * bend * nx_, my + 2 * bend * ny_)
        start = self._boundary(source, ctrl if bend else (x1, y1))
        end = self._boundary(target, ctrl if bend else (x0, y0))
        label = (0.25 * start[0] + 0.5 * ctrl[0] + 0.25 * end[0],
                 0.25 * start[1] + 0.5 * ctrl[1] + 0.25 * end[1])
        text = "" if not np.isfinite(estimate) else f"{estimate:.3f}{stars(p)}"
        visible = math.hypot(end[0] - start[0], end[1] - start[1])
        if not bend and text and visible < text_width(text, FS_EDGE) + 40:
            # a short line: the label beside it, so it hides neither line nor arrowhead
            d = (text_width(text, FS_EDGE) + 6) / 2 * abs(nx_) + 9 * abs(ny_) + 3
            label = (label[0] + d * nx_, label[1] + d * ny_)
        return {"source": source, "target": target, "start": start, "ctrl": ctrl, "end": end,
                "label": label, "text": text}

    def _boundary(self, c: str, toward) -> tuple:
        """Point where the line from c's centre toward ``toward`` leaves c's ellipse."""
        cx, cy = self.x[c], self.y[c]
        dx, dy = toward[0] - cx, toward[1] - cy
        scale = 1 / math.sqrt((dx / self.rx[c]) ** 2 + (dy / self.ry) ** 2 or 1)
        return cx + dx * scale, cy + dy * scale

    def item_boxes(self, c: str):
        """(x, y, width, name, wording) of each item box, in a row under the construct."""
        if c not in self.data.items:
            return
        widths = self.item_w[c]
        total = sum(widths) + ITEM_GAP * (len(widths) - 1)
        x = self.x[c] - total / 2
        y = self.y[c] + self.ry + 40
        for w, (name, wording) in zip(widths, self.data.items[c]):
            yield x, y, w, name, wording
            x += w + ITEM_GAP

    @property
    def significance_shown(self) -> bool:
        return any(np.isfinite(p) for *_, p in self.data.paths)


def _layers(data: DiagramData) -> dict:
    """Column of each construct: its longest path from an exogenous construct."""
    g = nx.DiGraph()
    g.add_nodes_from(data.constructs)
    g.add_edges_from((s, t) for s, t, *_ in data.paths)
    layer = {}
    for c in nx.topological_sort(g):
        layer[c] = max((layer[p] + 1 for p in g.predecessors(c)), default=0)
    return layer


def _text(x, y, text, size, anchor="middle", weight="normal", cls="") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'dominant-baseline="central" font-weight="{weight}"{klass}>{html.escape(text)}</text>')


def _to_svg(g: _Geometry) -> str:
    d = g.data
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="csi-diagram" lang="{d.lang}" '
           f'width="{g.width:.0f}" height="{g.height:.0f}" viewBox="0 0 {g.width:.0f} {g.height:.0f}" '
           f'font-family="{FONT_FAMILY}">',
           '<defs><marker id="csi-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
           'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#333"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           _text(g.width / 2, 24, d.title, FS_TITLE, weight="bold", cls="title")]
    for e in g.edges:
        (x0, y0), (cx, cy), (x1, y1) = e["start"], e["ctrl"], e["end"]
        name = html.escape(f"{e['source']} → {e['target']}")
        out.append(f'<path d="M{x0:.1f},{y0:.1f} Q{cx:.1f},{cy:.1f} {x1:.1f},{y1:.1f}" '
                   f'fill="none" stroke="#333" stroke-width="1.4" marker-end="url(#csi-arrow)">'
                   f'<title>{name}</title></path>')
    for c in d.constructs:
        x, y, stat = g.x[c], g.y[c], g.stat_line(c)
        out.append(f'<g class="construct" data-name="{html.escape(c)}"><title>{html.escape(c)}</title>'
                   f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{g.rx[c]:.1f}" ry="{g.ry:.1f}" '
                   'fill="#eef3fb" stroke="#2b5797" stroke-width="1.6"/>')
        label = d.labels.get(c, c)
        out.append(_text(x, y - (9 if stat else 0), label, FS_LABEL, weight="bold", cls="label"))
        if stat:
            out.append(_text(x, y + 11, stat, FS_STAT, cls="stat"))
        out.append("</g>")
        formative = d.modes.get(c) == "formative"
        for bx, by, w, name, wording in g.item_boxes(c):
            tx, ty = bx + w / 2, by
            a, b = ((tx, ty), (x, y + g.ry)) if formative else ((x, y + g.ry), (tx, ty))
            out.append(f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" '
                       'stroke="#888" stroke-width="1" marker-end="url(#csi-arrow)"/>')
            out.append(f'<g class="item"><title>{html.escape(wording or name)}</title>'
                       f'<rect x="{bx:.1f}" y="{by:.1f}" width="{w:.1f}" height="{ITEM_H}" '
                       'fill="#fafafa" stroke="#888"/>'
                       + _text(tx, by + ITEM_H / 2, name, FS_ITEM) + "</g>")
    for e in g.edges:  # coefficients last: on top of lines and constructs
        if e["text"]:
            lx, ly = e["label"]
            w = text_width(e["text"], FS_EDGE) + 6
            out.append(f'<rect x="{lx - w / 2:.1f}" y="{ly - 9:.1f}" width="{w:.1f}" height="18" '
                       'fill="white" fill-opacity="0.9"/>')
            out.append(_text(lx, ly, e["text"], FS_EDGE, cls="coefficient"))
    if g.significance_shown:
        out.append(_text(MARGIN, g.height - 16, term("* p < 0.05, ** p < 0.01, *** p < 0.001",
                                                     d.lang), 11, anchor="start", cls="legend"))
    out.append("</svg>")
    return "\n".join(out)
