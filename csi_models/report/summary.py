"""Text and HTML summaries of a FitResult: status and warnings first, then settings, tables.

The only place (with the other report modules) where numbers are rounded. ``lang="zh"``:
every heading, column header, status line, setting label, flag and warning in Chinese
(report.glossary, report.messages_zh), constructs by their Chinese labels.
"""

from __future__ import annotations

import html

import pandas as pd

from csi_models.report.glossary import check_lang, term, translate_columns

DIGITS = 3


def _label(result, name: str, lang: str) -> str:
    label = result.spec.label(name, lang)
    if lang == "zh":
        return label
    return name if label == name else f"{name} ({label})"


def _engine_status(result, lang: str) -> str:
    if lang != "zh":
        return result._engine.status(result.estimates, result.settings)
    s, word = result.settings, term("converged" if result.converged else "NOT converged", "zh")
    if "gradient_norm" in s:
        return f"{word}：最大梯度绝对值 {s['gradient_norm']:.1e}"
    return f"{word}（{s.get('iterations')} 次迭代，容差 {s.get('tolerance'):g}）"


def _status(result, lang: str = "en") -> list[str]:
    sep = "：" if lang == "zh" else ": "
    lines = [f"{term('Status', lang)}{sep}{_engine_status(result, lang)}"]
    boot = getattr(result, "bootstrap", None)
    if boot is not None and lang == "zh":
        lines.append(f"自助法：{boot.n_requested} 个重抽样中使用 {boot.n_ok} 个（{boot.n_failed} 个"
                     f"失败），随机种子 {boot.seed}，{boot.level:.0%} {term(boot.interval, 'zh')}"
                     f"置信区间，耗时 {boot.seconds:.2f} 秒")
    elif boot is not None:
        lines.append(f"Bootstrap: {boot.n_ok} of {boot.n_requested} resamples used "
                     f"({boot.n_failed} failed), seed {boot.seed}, {boot.level:.0%} "
                     f"{boot.interval} intervals, {boot.seconds:.2f} s")
    if lang == "zh":
        from csi_models.report.messages_zh import warning_zh

        labels = {c: result.spec.label(c, "zh") for c in result.spec.construct_names}
        return lines + [warning_zh(w, labels) for w in result.warnings]
    return lines + [f"Warning: {w}" for w in result.warnings]


def _settings_lines(result, lang: str = "en") -> list[str]:
    skip = {"versions", "data_notes", "converged", "modes"}
    sep = "：" if lang == "zh" else ": "
    lines = [f"  {term(k, lang)}{sep}{v}" for k, v in result.settings.items()
             if k not in skip and v not in ([], None)]
    if "modes" in result.settings:
        modes = result.settings["modes"]
        lines.append(f"  {term('modes', lang)}{sep}" + ", ".join(
            f"{_label(result, c, lang) if lang == 'zh' else c}={m}" for c, m in modes.items()))
    lines += [f"  {term('data', lang)}{sep}{note}" for note in result.settings.get("data_notes", [])]
    versions = result.settings.get("versions", {})
    lines.append(f"  {term('versions', lang)}{sep}" + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines


def _fmt(table: pd.DataFrame, lang: str = "en") -> str:
    if lang == "zh":
        table = translate_columns(table, "zh")
        for col in ("测量模式", "效应类型"):
            if col in table:
                table[col] = [term(v, "zh") if isinstance(v, str) else v for v in table[col]]
    return table.to_string(index=False, float_format=lambda v: f"{v:.{DIGITS}f}")


def text_summary(result, lang: str = "en") -> str:
    check_lang(lang)
    spec = result.spec
    title = spec.title.get(lang) or spec.title.get("en") or spec.name
    method = result._engine.long_title
    if lang == "zh":
        method = term("PLS path modelling" if result.method == "pls"
                      else "CB-SEM (maximum likelihood)", "zh")
    h = lambda key: term(key, lang)  # noqa: E731 - headings from the glossary
    out = [f"{title} [{spec.name}] - {method}, n = {result.n}", *_status(result, lang), "",
           h("Settings:"), *_settings_lines(result, lang), "", h("Structural paths (standardized):")]
    paths = result.paths.copy()
    paths["source"] = [_label(result, c, lang) for c in paths.source]
    paths["target"] = [_label(result, c, lang) for c in paths.target]
    out += [_fmt(paths.dropna(axis=1, how="all"), lang), "", h("R-squared:")]
    out += [_fmt(_labelled(result.r2_table, result, lang), lang), "",
            h("Loadings and weights (standardized):")]
    out += [_fmt(_items(result, lang), lang)]
    indices = result.indices.drop(columns="note").rename(
        columns={"estimate": "index" if lang == "en" else "index_value"})
    out += ["", h("Indices (0-100):"), _fmt(_labelled(indices, result, lang), lang)]
    notes = [n for n in result.indices.note if n]
    out += [f"  {h('note')}{'：' if lang == 'zh' else ': '}{n}" for n in notes]
    impacts = result.impacts.rename(columns={"estimate": "impact"})
    out += ["", h("Impacts (change of the target's index for +5 points of the source's):"),
            _fmt(_labelled(impacts, result, lang), lang)]
    from csi_models.report.quality import quality_section

    out += quality_section(result, lang)
    return "\n".join(out)


def _items(result, lang: str = "en") -> pd.DataFrame:
    """construct, item, loading and weight (and the loadings' inference when computed);
    in Chinese also the item's wording."""
    items = result.loadings.rename(columns={"estimate": "loading"})
    items.insert(3, "weight", result.weights["estimate"].to_numpy())
    if lang == "zh":
        items["construct"] = [_label(result, c, lang) for c in items.construct]
        items.insert(2, "wording", [result.spec.label(i, "zh") for i in items["item"]])
    return items.dropna(axis=1, how="all")


def _labelled(table: pd.DataFrame, result, lang: str) -> pd.DataFrame:
    """Construct names with their labels; all-NaN columns (no bootstrap) left out."""
    table = table.copy()
    for col in ("construct", "target", "source"):
        if col in table:
            table[col] = [_label(result, c, lang) for c in table[col]]
    return table.dropna(axis=1, how="all")


def html_summary(result, lang: str = "en") -> str:
    """Rich display for Jupyter: the same content as text_summary, as HTML tables."""
    check_lang(lang)
    spec = result.spec
    status = "".join(f"<li>{html.escape(line)}</li>" for line in _status(result, lang))
    fmt = {"float_format": lambda v: f"{v:.{DIGITS}f}", "index": False, "border": 0}

    def shown(table):
        table = _labelled(table, result, lang)
        return (translate_columns(table, "zh") if lang == "zh" else table).to_html(**fmt)

    r2 = result.r2_table.rename(columns={"estimate": "r2"})
    indices = result.indices.rename(columns={"estimate": "index" if lang == "en" else "index_value"})
    impacts = result.impacts.rename(columns={"estimate": "impact"})
    h = lambda key: html.escape(term(key, lang))  # noqa: E731 - headings from the glossary
    title = html.escape(spec.title.get(lang) or spec.title.get("en") or spec.name)
    settings = html.escape(chr(10).join(_settings_lines(result, lang)))
    return (f"<div><h4>{title} &mdash; {result.method.upper()}, n = {result.n}</h4>"
            f"<ul>{status}</ul><h5>{h('Structural paths')}</h5>{shown(result.paths)}"
            f"<h5>{h('r2')}</h5>{shown(r2)}<h5>{h('Loadings and weights')}</h5>"
            f"{shown(_items(result, lang))}"
            f"<h5>{h('Indices (0-100)')}</h5>{shown(indices)}"
            f"<h5>{h('Impacts (+5 index points)')}</h5>{shown(impacts)}"
            f"{_quality_html(result, lang)}"
            f"<details><summary>{h('Settings')}</summary><pre>{settings}</pre></details></div>")


def _quality_html(result, lang: str = "en") -> str:
    """Quality, fit and flags as a collapsible block (text from report.quality)."""
    from csi_models.report.quality import quality_section

    text = "\n".join(quality_section(result, lang)).strip()
    return (f"<details><summary>{html.escape(term('Measurement quality and fit', lang))}</summary>"
            f"<pre>{html.escape(text)}</pre></details>")
