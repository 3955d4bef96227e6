"""Report sections for measurement quality and model fit, with literature thresholds flagged.

Thresholds (``csi_models.quality.THRESHOLDS``) only produce flags in the report; no estimate
or decision depends on them. Sources: Hair, Hult, Ringle & Sarstedt (2017) for alpha/rho 0.7,
AVE 0.5 and inner VIF 5; Henseler, Ringle & Sarstedt (2015) for HTMT 0.85 / 0.90;
Diamantopoulos & Siguaw (2006) for formative-indicator VIF 3.3; Hu & Bentler (1999) for
CFI/TLI 0.95, RMSEA 0.06 and SRMR 0.08; Henseler et al. (2014) for PLS SRMR 0.08.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csi_models.errors import CSIError
from csi_models.report.glossary import term, translate_columns
from csi_models.statistics.quality import THRESHOLDS

DIGITS = 3


def quality_flags(result, lang: str = "en") -> list[str]:
    """Plain-language flags for values beyond the usual thresholds (in ``lang``)."""
    zh = lang == "zh"
    name = (lambda c: result.spec.label(c, "zh")) if zh else str
    flags = []
    q = result.quality.set_index("construct")
    multi = q[q.n_items > 1]
    for col in ("alpha", "rho_a", "rho_c"):
        low = multi[(multi[col] < THRESHOLDS[col]) & (multi["mode"] == "reflective")]
        flags += [f"{name(c)}{'：' if zh else ': '}{term(col, lang) if zh else col} {v:.3f} < "
                  f"{THRESHOLDS[col]}" for c, v in low[col].items()]
    low = multi[(multi.ave < THRESHOLDS["ave"]) & (multi["mode"] == "reflective")]
    flags += [f"{name(c)}：平均方差萃取量 {v:.3f} < {THRESHOLDS['ave']}（收敛效度）" if zh else
              f"{c}: AVE {v:.3f} < {THRESHOLDS['ave']} (convergent validity)" for c, v in low.ave.items()]
    lenient, strict = THRESHOLDS["htmt"][1], THRESHOLDS["htmt"][0]
    for r in result.htmt.itertuples():
        pair = f"HTMT {name(r.construct_1)}-{name(r.construct_2)} {r.estimate:.3f}"
        if r.estimate > lenient:
            flags.append(f"{pair} > {lenient}" + ("（区分效度）" if zh else " (discriminant validity)"))
        elif r.estimate > strict:
            flags.append(f"{pair} > {strict}" + ("（严格阈值）" if zh else " (strict threshold)"))
    fl = result.fornell_larcker.to_numpy()
    names = list(result.fornell_larcker.index)
    for i in range(len(names)):
        for j in range(i):
            if abs(fl[i, j]) > min(fl[i, i], fl[j, j]):
                r_ij = f"|r({name(names[j])}, {name(names[i])})| = {abs(fl[i, j]):.3f}"
                flags.append(f"Fornell-Larcker 准则：{r_ij} 超过较小的 AVE 平方根" if zh else
                             f"Fornell-Larcker: {r_ij} exceeds the smaller sqrt(AVE)")
    vif = result.vif[result.vif["mode"] == "formative"]
    lo, hi = THRESHOLDS["vif_formative"]
    flags += [(f"题项方差膨胀因子 {r.item}（{name(r.construct)}）" if zh else
               f"item VIF {r.item} ({r.construct}) ") + f"{r.vif:.2f} > {hi if r.vif > hi else lo}"
              for r in vif.itertuples() if r.vif > lo]
    flags += [("结构模型方差膨胀因子 " if zh else "inner VIF ") + f"{name(r.source)} -> "
              f"{name(r.target)} {r.vif:.2f} > {THRESHOLDS['vif_inner']}"
              for r in result.inner_vif.itertuples() if r.vif > THRESHOLDS["vif_inner"]]
    return flags


def fit_flags(result, fit: pd.Series) -> list[str]:
    """Fit values beyond the engine's usual thresholds (``Engine.fit_rules``)."""
    return [f"{k.upper()} {fit[k]:.3f} {op} {v}" for k, op, v in result._engine.fit_rules
            if np.isfinite(fit[k]) and (fit[k] < v if op == "<" else fit[k] > v)]


def _fmt(table: pd.DataFrame, index: bool = False, lang: str = "en", result=None) -> str:
    if lang == "zh":
        table = table.copy()
        for col in ("construct", "construct_1", "construct_2", "source", "target"):
            if col in table:
                table[col] = [result.spec.label(c, "zh") for c in table[col]]
        if "mode" in table:
            table["mode"] = [term(m, "zh") for m in table["mode"]]
        table = translate_columns(table, "zh")
    return table.to_string(index=index, float_format=lambda v: f"{v:.{DIGITS}f}")


def quality_section(result, lang: str = "en") -> list[str]:
    """Lines for the text summary: reliability/validity, HTMT, f², fit, and the flags."""
    h = lambda key: term(key, lang)  # noqa: E731 - headings from the glossary
    fmt = {"lang": lang, "result": result}
    try:
        htmt = result.htmt.rename(columns={"estimate": "htmt"}).dropna(axis=1, how="all")
        out = ["", h("Measurement quality:"), _fmt(result.quality, **fmt), "",
               h("Discriminant validity (HTMT):"), _fmt(htmt, **fmt), "",
               h("Effect sizes f² and inner VIF:"),
               _fmt(result.f2.merge(result.inner_vif, on=["source", "target"]), **fmt)]
        flags = quality_flags(result, lang)
    except (CSIError, np.linalg.LinAlgError, ValueError) as exc:
        return ["", f"{h('Measurement quality:')} {h('not available')} ({exc})"]
    try:
        fit = result.fit_indices
        shown = [k for k in result._engine.fit_keys if k in fit.index]
        out += ["", h("Model fit:"), _fmt(fit[shown].rename("value").to_frame(), True, **fmt)]
        flags += fit_flags(result, fit)
    except (CSIError, np.linalg.LinAlgError, ValueError) as exc:
        out += ["", f"{h('Model fit:')} {h('not available')} ({exc})"]
    out += ["", h("Flags (usual thresholds from the literature; for judgement, not decisions):")]
    out += [f"  - {f}" for f in flags] or [f"  {h('none')}"]
    return out
