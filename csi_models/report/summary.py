"""Text and HTML summaries of a FitResult: status and warnings first, then settings, tables.

The only place (with the other report modules) where numbers are rounded.
"""

from __future__ import annotations

import html

import pandas as pd

DIGITS = 3


def _label(result, name: str, lang: str) -> str:
    label = result.spec.label(name, lang)
    return name if label == name else f"{name} ({label})"


def _status(result) -> list[str]:
    lines = [f"Status: {result._engine.status(result.estimates, result.settings)}"]
    boot = getattr(result, "bootstrap", None)
    if boot is not None:
        lines.append(f"Bootstrap: {boot.n_ok} of {boot.n_requested} resamples used "
                     f"({boot.n_failed} failed), seed {boot.seed}, {boot.level:.0%} "
                     f"{boot.interval} intervals, {boot.seconds:.2f} s")
    lines += [f"Warning: {w}" for w in result.warnings]
    return lines


def _settings_lines(result) -> list[str]:
    skip = {"versions", "data_notes", "converged", "modes"}
    lines = [f"  {k}: {v}" for k, v in result.settings.items() if k not in skip and v not in ([], None)]
    if "modes" in result.settings:
        modes = result.settings["modes"]
        lines.append("  modes: " + ", ".join(f"{c}={m}" for c, m in modes.items()))
    lines += [f"  data: {note}" for note in result.settings.get("data_notes", [])]
    versions = result.settings.get("versions", {})
    lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines


def _fmt(table: pd.DataFrame) -> str:
    return table.to_string(index=False, float_format=lambda v: f"{v:.{DIGITS}f}")


def text_summary(result, lang: str = "en") -> str:
    spec = result.spec
    title = spec.title.get(lang) or spec.title.get("en") or spec.name
    method = result._engine.long_title
    out = [f"{title} [{spec.name}] - {method}, n = {result.n}", *_status(result), "", "Settings:",
           *_settings_lines(result), "", "Structural paths (standardized):"]
    paths = result.paths.copy()
    paths["source"] = [_label(result, c, lang) for c in paths.source]
    paths["target"] = [_label(result, c, lang) for c in paths.target]
    out += [_fmt(paths.dropna(axis=1, how="all")), "", "R-squared:"]
    out += [_fmt(_labelled(result.r2_table, result, lang)), "", "Loadings and weights (standardized):"]
    out += [_fmt(_items(result))]
    indices = result.indices.drop(columns="note").rename(columns={"estimate": "index"})
    out += ["", "Indices (0-100):", _fmt(_labelled(indices, result, lang))]
    notes = [n for n in result.indices.note if n]
    out += [f"  note: {n}" for n in notes]
    impacts = result.impacts.rename(columns={"estimate": "impact"})
    out += ["", "Impacts (change of the target's index for +5 points of the source's):",
            _fmt(_labelled(impacts, result, lang))]
    from csi_models.report.quality import quality_section

    out += quality_section(result)
    return "\n".join(out)


def _items(result) -> pd.DataFrame:
    """construct, item, loading and weight (and the loadings' inference when computed)."""
    items = result.loadings.rename(columns={"estimate": "loading"})
    items.insert(3, "weight", result.weights["estimate"].to_numpy())
    return items.dropna(axis=1, how="all")


def _labelled(table: pd.DataFrame, result, lang: str) -> pd.DataFrame:
    """Construct names with their labels; all-NaN columns (no bootstrap) left out."""
    table = table.copy()
    for col in ("construct", "target", "source"):
        if col in table:
            table[col] = [_label(result, c, lang) for c in table[col]]
    return table.dropna(axis=1, how="all")


def html_summary(result) -> str:
    """Rich display for Jupyter: the same content as text_summary, as HTML tables."""
    spec = result.spec
    status = "".join(f"<li>{html.escape(line)}</li>" for line in _status(result))
    fmt = {"float_format": lambda v: f"{v:.{DIGITS}f}", "index": False, "border": 0}
    r2 = result.r2_table.dropna(axis=1, how="all").rename(columns={"estimate": "r2"})
    paths = result.paths.dropna(axis=1, how="all")
    indices = result.indices.dropna(axis=1, how="all").rename(columns={"estimate": "index"})
    impacts = result.impacts.dropna(axis=1, how="all").rename(columns={"estimate": "impact"})
    title = html.escape(spec.title.get("en") or spec.name)
    return (f"<div><h4>{title} &mdash; {result.method.upper()}, n = {result.n}</h4>"
            f"<ul>{status}</ul><h5>Structural paths</h5>{paths.to_html(**fmt)}"
            f"<h5>R&sup2;</h5>{r2.to_html(**fmt)}<h5>Loadings and weights</h5>"
            f"{_items(result).to_html(**fmt)}"
            f"<h5>Indices (0-100)</h5>{indices.to_html(**fmt)}"
            f"<h5>Impacts (+5 index points)</h5>{impacts.to_html(**fmt)}"
            f"{_quality_html(result)}"
            f"<details><summary>Settings</summary><pre>{html.escape(chr(10).join(_settings_lines(result)))}"
            "</pre></details></div>")


def _quality_html(result) -> str:
    """Quality, fit and flags as a collapsible block (text from report.quality)."""
    from csi_models.report.quality import quality_section

    text = "\n".join(quality_section(result)).strip()
    return f"<details><summary>Measurement quality and fit</summary><pre>{html.escape(text)}</pre></details>"
