"""Chinese forms of the warnings a result carries (``res.warnings``), for ``lang="zh"``.

A warning is stored as "<WarningClass>: <message>". The class becomes its Chinese name; the
message is matched against the templates below (one per kind of warning the library issues)
and rebuilt in Chinese with the same names and numbers. A message no template knows keeps
its English text after the Chinese class name, so nothing is lost.
"""

from __future__ import annotations

import re

__all__ = ["warning_zh", "CLASSES"]

CLASSES = {
    "ConvergenceWarning": "收敛警告", "ImproperSolutionWarning": "不当解警告",
    "IndexWarning": "指数警告", "BootstrapWarning": "自助法警告", "DataWarning": "数据警告",
    "KanoWarning": "卡诺分析警告", "FontWarning": "字体警告", "CSIWarning": "警告",
}

TEMPLATES = [
    (r"PLS did not converge in (?P<n>\d+) iterations \(tolerance (?P<tol>[^)]+)\).*",
     "PLS 算法在 {n} 次迭代内未收敛（容差 {tol}）；请提高最大迭代次数或检查模型设定"),
    (r"CB-SEM did not converge: max \|gradient\| = (?P<g>\S+) after polishing "
     r"\(tolerance (?P<tol>[^)]+)\).*",
     "CB-SEM 未收敛：精修后最大梯度绝对值为 {g}（容差 {tol}）；估计值不可靠"),
    (r"improper CB-SEM solution: (?P<what>.*?)\. The constructs may not be empirically "
     r"distinct.*",
     "CB-SEM 不当解：{what}。这些潜变量在经验上可能无法区分；可考虑合并潜变量或改用 PLS"),
    (r"index of (?P<c>\S+) not defined: negative weight of (?P<items>[^(]+?) \(.*",
     "{c} 的指数无法计算：题项 {items} 的权重为负（回答越好指数反而越低）；常见原因是反向题未在 "
     "`reverse:` 中声明、形成型测量块中题项共线，或题项并不测量该潜变量"),
    (r"the index of (?P<c>\S+) is undefined \(a negative weight\) in (?P<k>\d+) of (?P<n>\d+) "
     r"bootstrap resamples; .* use the other (?P<m>\d+) or fewer.*",
     "在 {n} 个自助样本中有 {k} 个 {c} 的指数无法计算（权重为负）；其标准误、置信区间及相关影响值"
     "只使用其余不超过 {m} 个样本（见 res.indices 与 res.impacts 的 n_boot 列）"),
    (r"(?P<k>\d+) of (?P<n>\d+) bootstrap resamples failed \((?P<why>.*?)\) and are left "
     r"out.*",
     "{n} 个自助样本中有 {k} 个估计失败（{why}），未计入标准误和置信区间；详见 res.bootstrap.failed"),
    (r"(?P<k>\d+) items have no declared scale and were assumed (?P<s>\S+): (?P<items>.*?); "
     r"declare `scale:`.*",
     "{k} 个题项未声明量表范围，按 {s} 处理：{items}；请在模型设定中声明 `scale:`"
     "（0-100 指数和反向计分都依赖它）"),
]
_COMPILED = [(re.compile(p, re.S), t) for p, t in TEMPLATES]
#: phrases inside the captured parts (the improper-solution list)
PHRASES = {"negative variance of ": "负方差：", "standardized paths beyond +-1: ": "标准化路径系数超出 ±1：",
           "latent correlations near 1: ": "潜变量相关接近 1：", "; ": "；",
           # the kinds of failed bootstrap resamples (inference.bootstrap.failure_kind)
           " given up for want of progress": " 个因无进展而提前放弃", " did not converge": " 个未收敛",
           " given up far from an optimum": " 个因远离最优解而提前放弃",
           " runs into an improper region": " 个陷入不当解区域", " singular data": " 个数据奇异",
           " not converged": " 个未收敛", " improper solution": " 个不当解", " failed: ": " 个失败：",
           "singular data": "数据奇异"}


def _zh_part(text: str, labels: dict | None) -> str:
    for en, zh in PHRASES.items():
        text = text.replace(en, zh)
    for name in sorted(labels or {}, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", labels[name], text)
    return text


def warning_zh(text: str, labels: dict | None = None) -> str:
    """The Chinese form of one stored warning ("Class: message"); ``labels`` maps construct
    names to their Chinese labels (the spec's)."""
    name, sep, message = text.partition(": ")
    if not sep or name not in CLASSES:
        name, message = "CSIWarning", text
    for pattern, template in _COMPILED:
        match = pattern.fullmatch(message.strip())
        if match:
            parts = {k: _zh_part(v, labels) for k, v in match.groupdict().items()}
            return f"{CLASSES[name]}：{template.format(**parts)}"
    return f"{CLASSES[name]}：{message}"
