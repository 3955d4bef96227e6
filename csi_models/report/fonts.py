"""Chinese (CJK) text in matplotlib plots.

Matplotlib's default font (DejaVu Sans) has no Chinese glyphs: feature names
such as "防水" are drawn as empty boxes and every missing character raises its
own "Glyph ... missing from font(s)" warning. The helpers here look for an
installed CJK-capable font and set it on the CJK texts of *one* plot (the
global ``rcParams`` are never touched). When no such font exists they issue a
single :class:`FontWarning` that names a font to install, and silence the
per-glyph warnings of that figure only.
"""

from __future__ import annotations

import functools
import os
import re
import warnings

from csi_models.errors import FontWarning

__all__ = ["FontWarning", "CJK_FONTS", "contains_cjk", "find_cjk_font", "apply_cjk_font"]

#: Preferred CJK-capable families, in order (Linux, then macOS/Windows names).
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
    "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Hiragino Sans GB",
    "STHeiti", "Arial Unicode MS", "Noto Sans CJK TC", "Noto Sans CJK JP",
    "Source Han Sans", "AR PL UMing CN", "SimSun",
)
# Family-name and file-name fragments of other fonts that cover CJK.
_NAME_MARKERS = ("cjk", "source han", "wenquanyi", "yahei", "simhei", "simsun",
                 "pingfang", "heiti", "hiragino", "arial unicode", "droid sans fallback",
                 "ar pl ")
_FILE_MARKERS = ("cjk", "sourcehan", "wqy", "msyh", "simhei", "simsun", "pingfang",
                 "heiti", "hiragino", "arial unicode", "arialuni", "droidsansfallback",
                 "uming", "ukai")

INSTALL_HINT = ("install a CJK font, e.g. `apt-get install fonts-noto-cjk` (Debian/Ubuntu; "
                "provides Noto Sans CJK SC) or Noto Sans CJK SC / Source Han Sans SC from "
                "their download pages, then delete matplotlib's font cache "
                "(~/.cache/matplotlib/fontlist-*.json)")

_CJK_RE = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f"
    "\u31a0-\u31ff\u3200-\u32ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]"
)
# Matplotlib's per-glyph warning names the character: "Glyph 38190 (\N{CJK ...})".
_GLYPH_WARNING = (r"Glyph \d+ \(\\N\{(CJK|HIRAGANA|KATAKANA|HANGUL|BOPOMOFO|IDEOGRAPHIC"
                  r"|FULLWIDTH|HALFWIDTH|KANGXI)")


def contains_cjk(*texts) -> bool:
    """True when any of ``texts`` (strings or iterables of strings) has a CJK character."""
    for text in texts:
        if isinstance(text, str):
            if _CJK_RE.search(text):
                return True
        elif text is not None and not isinstance(text, (int, float)):
            try:
                items = list(text)
            except TypeError:
                items = [str(text)]
            if any(isinstance(t, str) and _CJK_RE.search(t) for t in items):
                return True
    return False


def _registered_font_names() -> list[str]:
    """Family names matplotlib's font manager knows (its cached font list)."""
    from matplotlib import font_manager
    return [entry.name for entry in font_manager.fontManager.ttflist]


@functools.lru_cache(maxsize=1)
def _system_cjk_font_files() -> tuple[str, ...]:
    """CJK font files on disk; matplotlib's cache misses fonts installed after it was built."""
    from matplotlib import font_manager
    try:
        files = font_manager.findSystemFonts()
    except Exception:  # a broken font directory must not break a plot
        return ()
    return tuple(sorted(f for f in files
                        if any(m in os.path.basename(f).lower() for m in _FILE_MARKERS)))


def _register(path: str) -> list[str]:
    """Add a font file to matplotlib's font manager (not to rcParams); return new names."""
    from matplotlib import font_manager
    before = set(_registered_font_names())
    try:
        font_manager.fontManager.addfont(path)
    except Exception:
        return []
    return [n for n in _registered_font_names() if n not in before]


def _pick(names) -> str | None:
    available = set(names)
    for family in CJK_FONTS:
        if family in available:
            return family
    for name in sorted(available):
        if any(m in name.lower() for m in _NAME_MARKERS):
            return name
    return None


def find_cjk_font() -> str | None:
    """Family name of an installed CJK-capable font, or None.

    Looks at matplotlib's font list first (preferred families in the order of
    :data:`CJK_FONTS`, then any family whose name marks a CJK font), then at
    font files on disk that the cached list does not know yet, registering one.
    """
    family = _pick(_registered_font_names())
    if family is not None:
        return family
    for path in _system_cjk_font_files():
        family = _pick(_register(path))
        if family is not None:
            return family
    return None


def _regular_weight(family: str):
    """Weight of the family's upright face (WenQuanYi Zen Hei's is 500, not 400)."""
    from matplotlib import font_manager
    weights = [e.weight for e in font_manager.fontManager.ttflist
               if e.name == family and e.style == "normal"]
    return weights[0] if weights else None


def _axes_texts(ax):
    texts = [ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None),
             ax.xaxis.label, ax.yaxis.label]
    texts += list(ax.texts) + list(ax.get_xticklabels()) + list(ax.get_yticklabels())
    legend = ax.get_legend()
    if legend is not None:
        texts += list(legend.get_texts())
        texts.append(legend.get_title())
    return [t for t in texts if t is not None]


class _QuietGlyphs:
    """Wraps a figure/axes method so it runs without matplotlib's CJK glyph warnings."""

    def __init__(self, method):
        self.method = method

    def __call__(self, *args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_GLYPH_WARNING, category=UserWarning)
            return self.method(*args, **kwargs)


def _silence_missing_glyphs(fig) -> None:
    """Silence CJK glyph warnings when this figure is laid out or drawn (not globally)."""
    for obj in [fig, *fig.axes]:
        for name in ("draw", "get_tightbbox"):
            method = getattr(obj, name)
            if not isinstance(method, _QuietGlyphs):
                setattr(obj, name, _QuietGlyphs(method))


def apply_cjk_font(ax, font: str | None = None, *, stacklevel: int = 2) -> str | None:
    """Make the CJK texts of ``ax`` drawable; return the font family used, or None.

    Every text of the axes (title, axis labels, tick labels, annotations, legend)
    that contains CJK characters gets the CJK font (these fonts carry Latin
    glyphs too), for this plot only. Without any CJK text nothing
    changes. Without a CJK font one :class:`FontWarning` per figure names a
    font to install and the figure's per-glyph warnings are silenced.
    ``stacklevel`` is passed on to :func:`warnings.warn` (plot functions use 3).
    """
    cjk_texts = [t for t in _axes_texts(ax) if contains_cjk(t.get_text())]
    if not cjk_texts:
        return None
    family = font if font is not None else find_cjk_font()
    if family is None:
        fig = ax.figure
        if not getattr(fig, "_csi_font_warned", False):  # one warning per figure
            warnings.warn(f"No installed font can draw the Chinese/CJK labels of this plot, so "
                          f"they show as empty boxes; {INSTALL_HINT}.", FontWarning,
                          stacklevel=stacklevel)
            fig._csi_font_warned = True
        _silence_missing_glyphs(fig)
        return None
    regular = _regular_weight(family)
    for text in cjk_texts:
        text.set_fontfamily(family)
        if regular is not None and text.get_fontweight() in ("normal", 400, "regular"):
            text.set_fontweight(regular)  # avoids matplotlib's "Failed to find weight" log
    return family

