"""The one glossary of report terms: every renderer (text, HTML, Excel, Markdown, LaTeX,
diagrams) translates a heading, column header, status word or setting label here, so a term
is translated once.

Chinese terms follow the usual Chinese SEM/CSI literature (e.g. 侯杰泰、温忠麟、成子娟《结构方程
模型及其应用》; GB/T 19038-2009 顾客满意测评模型和方法指南): 路径系数, 决定系数 R², 组合信度,
平均方差萃取量 (AVE), 区分效度, 满意度指数, 影响值. Keys are the English column names and
headings; ``term(key, "en")`` returns the key's English display form.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["ZH", "EN", "TABLES", "term", "table_title", "translate_columns", "LANGS",
           "check_lang"]

LANGS = ("en", "zh")

#: English display forms where they differ from the key.
EN = {
    "r2": "R²", "r2_adjusted": "adjusted R²", "rho_a": "rho_A", "rho_c": "rho_C", "ave": "AVE",
    "htmt": "HTMT", "vif": "VIF", "f2": "f²", "p_value": "p-value", "se": "SE",
}

#: Chinese terms; the keys are the English column names, headings and labels of the reports.
ZH = {
    # --- table columns ---------------------------------------------------------------------
    "construct": "潜变量", "construct_1": "潜变量 1", "construct_2": "潜变量 2",
    "item": "测量题项", "source": "起点", "target": "终点", "effect": "效应类型",
    "estimate": "估计值", "estimate_100": "估计值（0-100 尺度）",
    "se": "标准误", "statistic": "检验统计量", "p_value": "p 值", "ci_lower": "置信区间下限",
    "ci_upper": "置信区间上限", "n_boot": "有效自助样本数", "unstandardized": "非标准化估计值",
    "unstandardized_se": "非标准化标准误", "note": "备注", "mode": "测量模式",
    "n_items": "题项数", "alpha": "克朗巴哈 α", "rho_a": "rho_A 信度", "rho_c": "组合信度",
    "ave": "平均方差萃取量", "vif": "方差膨胀因子", "f2": "效应量 f²", "r2": "决定系数 R²",
    "r2_adjusted": "调整后 R²", "htmt": "HTMT 比率", "kind": "类别", "value": "值",
    "setting": "设置项", "warning": "警告", "model": "模型", "group": "组别",
    "status": "状态", "n": "样本量", "message": "信息",
    "direct": "直接效应", "indirect": "间接效应", "total": "总效应",
    "reflective": "反映型", "formative": "形成型", "significance": "显著性",
    "measure": "指标", "threshold": "阈值",
    "ok": "成功", "too small": "样本过小", "failed": "失败", "sample": "样本", "fit": "拟合",
    "loading": "载荷", "weight": "权重", "impact": "影响值", "r2_value": "决定系数",
    "wording": "题项内容", "impact": "影响值", "index_value": "指数", "column": "数据列", "scale": "量表", "n_answers": "有效回答数",
    "n_distinct": "不同取值数", "min": "最小值", "max": "最大值",
    "mean": "均值", "missing": "缺失值", "section": "部分", "name": "名称", "path": "路径",
    # --- headings and status words ---------------------------------------------------------
    "Report": "报告", "Status": "状态", "Warnings": "警告", "No warnings": "无警告",
    "Settings": "估计设置", "Path diagram": "路径图", "Model": "模型",
    "PLS path modelling": "偏最小二乘路径模型（PLS-SEM）",
    "CB-SEM (maximum likelihood)": "基于协方差的结构方程模型（最大似然估计，CB-SEM）",
    "converged": "已收敛", "NOT converged": "未收敛", "Comparison": "模型比较",
    "Significance": "显著性", "index": "指数",
    "* p < 0.05, ** p < 0.01, *** p < 0.001": "* p < 0.05，** p < 0.01，*** p < 0.001",
    "made with": "生成工具",
    # --- summary headings (report/summary.py, report/quality.py) ---------------------------
    "Settings:": "估计设置：", "Structural paths (standardized):": "路径系数（标准化）：",
    "R-squared:": "决定系数 R²：", "Loadings and weights (standardized):": "因子载荷与外部权重（标准化）：",
    "Indices (0-100):": "满意度指数（0-100）：",
    "Impacts (change of the target's index for +5 points of the source's):":
        "影响值（起点指数提高 5 分时终点指数的变化）：",
    "Measurement quality:": "测量质量：", "Discriminant validity (HTMT):": "区分效度（HTMT）：",
    "Effect sizes f² and inner VIF:": "效应量 f² 与结构模型方差膨胀因子：", "Model fit:": "模型拟合：",
    "Flags (usual thresholds from the literature; for judgement, not decisions):":
        "提示（文献中的常用阈值，仅供判断参考，不作为决策规则）：",
    "none": "无", "not available": "无法计算", "data": "数据", "Warning": "警告",
    "Bootstrap": "自助法", "Structural paths": "路径系数", "Loadings and weights": "因子载荷与外部权重",
    "Indices (0-100)": "满意度指数（0-100）", "Impacts (+5 index points)": "影响值（指数 +5 分）",
    "Measurement quality and fit": "测量质量与模型拟合",
    "percentile": "百分位", "bca": "BCa", "listwise": "成列删除", "mean": "均值", "fiml": "全信息最大似然",
    # --- setting labels --------------------------------------------------------------------
    "method": "估计方法", "engine": "估计引擎", "inner_scheme": "内部权重方案",
    "scheme": "内部权重方案", "tolerance": "收敛容差", "max_iter": "最大迭代次数",
    "iterations": "迭代次数", "scaling": "标准化方式",
    "modes": "测量模式", "reverse_coded": "反向计分题项", "versions": "软件版本",
    "data_notes": "数据说明", "bootstrap": "自助法（Bootstrap）重抽样次数", "seed": "随机种子",
    "random_state": "随机种子", "interval": "置信区间类型", "level": "置信水平",
    "ci": "置信水平", "se_divisor": "标准误分母", "sign_rule": "符号规则",
    "gradient_norm": "最大梯度绝对值", "optimizer": "优化器", "n_jobs": "并行进程数",
    "spec": "模型设定", "n_rows": "样本量", "estimator": "估计量", "weights_mode": "权重模式",
    "n_used": "使用的样本量", "n_input": "输入的样本量", "rows_dropped": "删除的行数",
    "algorithm": "算法", "initial_weights": "初始权重", "stop_rule": "停止规则",
    "bootstrap_seed": "自助法随机种子", "bootstrap_failed": "失败的自助样本数",
    "bootstrap_improper": "不当解的自助样本数", "bootstrap_improper_rule": "不当解处理规则",
    "bootstrap_level": "置信水平", "bootstrap_interval": "置信区间类型",
    "bootstrap_seconds": "自助法耗时（秒）", "bootstrap_resampling": "重抽样方式",
    "bootstrap_sign_rule": "自助法符号规则", "covariance_divisor": "协方差分母",
    "standard_errors": "标准误", "variance_bounds": "方差界限", "start": "起始值", "gradient_tolerance": "梯度容差",
    "newton_steps": "牛顿步数", "weights": "权重", "index_moments": "指数所用的矩", "permutations": "置换次数",
}


#: Table names (the keys of exports, Excel sheets in English) -> (English title, Chinese title).
TABLES = {
    "paths": ("Structural paths (standardized)", "路径系数（标准化）"),
    "loadings": ("Loadings (standardized)", "因子载荷（标准化）"),
    "weights": ("Outer weights (standardized)", "外部权重（标准化）"),
    "effects": ("Direct, indirect and total effects", "直接效应、间接效应与总效应"),
    "impacts": ("Impacts (+5 index points of the source)", "影响值（起点指数提高 5 分）"),
    "indices": ("Indices (0-100)", "满意度指数（0-100）"),
    "r2_table": ("R-squared", "决定系数 R²"),
    "quality": ("Reliability and convergent validity", "信度与收敛效度"),
    "htmt": ("Discriminant validity (HTMT)", "区分效度（HTMT）"),
    "vif": ("Item VIF", "题项方差膨胀因子"),
    "inner_vif": ("Inner VIF", "结构模型方差膨胀因子"),
    "f2": ("Effect sizes f²", "效应量 f²"),
    "fit_indices": ("Model fit", "模型拟合指标"),
    "settings": ("Settings", "估计设置"),
    "warnings": ("Warnings", "警告"),
    "status": ("Status", "状态"),
    "wide": ("Side by side", "并列比较"),
    "tests": ("Tests", "检验"),
    "table": ("All estimates (long)", "全部估计值（长表）"),
}


def table_title(key: str, lang: str = "en") -> str:
    """The heading of table ``key`` in ``lang``."""
    en, zh = TABLES.get(key, (key, ZH.get(key, key)))
    return zh if lang == "zh" else en


def check_lang(lang: str) -> str:
    """``lang`` when it is 'en' or 'zh'; a SpecError naming the choices otherwise."""
    if lang not in LANGS:
        from csi_models.errors import SpecError

        raise SpecError(f"lang must be 'en' or 'zh', got {lang!r}")
    return lang


def term(key: str, lang: str = "en") -> str:
    """The display form of ``key`` in ``lang``: the Chinese term, else the English form,
    else the key itself."""
    if lang == "zh" and key in ZH:
        return ZH[key]
    return EN.get(key, key)


def translate_columns(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A copy of ``table`` with its column headers (and index name) in ``lang``."""
    out = table.rename(columns={c: term(c, lang) for c in table.columns if isinstance(c, str)})
    if isinstance(out.index.name, str):
        out.index.name = term(out.index.name, lang)
    return out
