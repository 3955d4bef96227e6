"""Markdown and LaTeX: the tables of a report as text for papers and notes.

``to_markdown`` writes every table (GitHub pipe tables) under its heading, warnings first and
the settings last. ``to_latex`` writes the publication tables (booktabs): structural paths
with SE, confidence interval and significance stars, indices, reliability and validity, and
model fit, then the settings; it needs ``\\usepackage{booktabs}`` (and ``xeCJK`` for
``lang="zh"``). Numbers rounded to 3 decimals for display only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.report.bundle import bundle_of, settings_table
from csi_models.report.diagram import stars
from csi_models.report.display import DIGITS, display_table, number
from csi_models.report.glossary import check_lang, table_title, term

__all__ = ["to_markdown", "to_latex"]


def _pipe(table: pd.DataFrame) -> str:
    def cell(v):
        return str(v).replace("|", r"\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def to_markdown(obj, lang: str = "en") -> str:
    """Every table of a FitResult, Comparison or stored result as Markdown."""
    check_lang(lang)
    b = bundle_of(obj)
    out = [f"# {b.heading(lang)}", "", *[f"- {s}" for s in b.status_lines(lang)], "",
           f"## {table_title('warnings', lang)}", ""]
    out += [f"- {w}" for w in b.warning_lines(lang)] or [term("No warnings", lang)]
    for name, table in b.tables.items():
        out += ["", f"## {table_title(name, lang)}", "", _pipe(display_table(table, lang, b.spec))]
    out += ["", f"## {table_title('settings', lang)}", "", _pipe(settings_table(b.settings, lang, b.spec))]
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "²": r"$^2$", "→": r"$\rightarrow$",
                  "α": r"$\alpha$", "β": r"$\beta$"}


def latex_escape(text) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _tabular(table: pd.DataFrame, caption: str, label: str) -> str:
    align = "l" + "r" * (table.shape[1] - 1)
    lines = [r"\begin{table}[htbp]", r"\centering", f"\\caption{{{latex_escape(caption)}}}",
             f"\\label{{tab:{label}}}", f"\\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\"
              for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def _has(table, col) -> bool:
    return col in table and np.isfinite(pd.to_numeric(table[col], errors="coerce")).any()


def paths_table(paths: pd.DataFrame, lang: str, spec=None) -> pd.DataFrame:
    """Path, estimate with stars, SE, CI and p-value (those computed)."""
    name = (lambda c: spec.label(c, lang)) if spec is not None and lang == "zh" else str
    out = pd.DataFrame({term("path", lang): [f"{name(s)} → {name(t)}" for s, t in
                                             zip(paths["source"], paths["target"])]})
    p = paths["p_value"] if _has(paths, "p_value") else [np.nan] * len(paths)
    out[term("estimate", lang)] = [number(e) + stars(pv) for e, pv in zip(paths["estimate"], p)]
    if _has(paths, "se"):
        out[term("se", lang)] = [number(v) for v in paths["se"]]
    if _has(paths, "ci_lower"):
        out["CI" if lang == "en" else "置信区间"] = [
            f"[{number(lo)}, {number(hi)}]" for lo, hi in zip(paths["ci_lower"], paths["ci_upper"])]
    if _has(paths, "p_value"):
        out[term("p_value", lang)] = [number(v) for v in paths["p_value"]]
    return out


def to_latex(obj, lang: str = "en") -> str:
    """Publication tables (booktabs) of a FitResult or stored result: paths, indices,
    reliability and validity, model fit, settings."""
    check_lang(lang)
    b = bundle_of(obj)
    spec = b.spec if not isinstance(b.spec, dict) else None
    parts = [f"% {latex_escape(b.heading(lang))}: csi-models tables; needs \\usepackage{{booktabs}}"
             + (" and xeCJK" if lang == "zh" else "")]
    t = b.tables
    if "paths" in t:
        note = term("* p < 0.05, ** p < 0.01, *** p < 0.001", lang) if _has(t["paths"], "p_value") else ""
        caption = table_title("paths", lang) + (f" ({note})" if note else "")
        parts.append(_tabular(paths_table(t["paths"], lang, spec), caption, "paths"))
    for name in ("indices", "r2_table", "quality", "htmt", "fit_indices", "wide"):
        if name in t:
            shown = display_table(t[name], lang, b.spec, DIGITS).dropna(axis=1, how="all")
            shown = shown.loc[:, [(shown[c] != "").any() for c in shown.columns]]
            parts.append(_tabular(shown, table_title(name, lang), name))
    parts.append(_tabular(settings_table(b.settings, lang, b.spec), table_title("settings", lang),
                          "settings"))
    return "\n\n".join(parts) + "\n"
