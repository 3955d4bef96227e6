"""The Kano questionnaire: paired functional / dysfunctional questions with the five answers.

Step 2 of the Kano method in seeds/001 ("设计问卷调查表", table 5-2, the waterproof-keyboard
questionnaire): each feature is asked twice, once as present (functional: "if the product has
X, how do you feel?") and once as absent (dysfunctional: "if it does not have X?"), both
answered with the five standard Kano options (Berger et al. 1993): 1 I like it, 2 I expect it,
3 I am neutral, 4 I can live with it, 5 I dislike it; in Chinese 我喜欢, 理所当然, 无所谓,
能忍受, 我不喜欢. These labels are exactly the ones ``csi.kano`` reads back as codes 1-5, and
the question columns follow ``split_kano``'s default templates (``{}_f``, ``{}_d``), so the
answers a survey tool exports can go straight into the analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from csi_models.analysis.kano_layout import _columns, _feature_list
from csi_models.errors import DataError

__all__ = ["KANO_ANSWERS", "kano_questionnaire"]

#: code -> (Chinese, English) wording of the five standard Kano answers
KANO_ANSWERS = {1: ("我喜欢", "I like it"), 2: ("理所当然", "I expect it"),
                3: ("无所谓", "I am neutral"), 4: ("能忍受", "I can live with it"),
                5: ("我不喜欢", "I dislike it")}
_QUESTIONS = {
    "functional": ("如果{subject_zh}具有“{zh}”，您的感受是？",
                   "If {subject_en} has {en}, how do you feel?"),
    "dysfunctional": ("如果{subject_zh}不具有“{zh}”，您的感受是？",
                      "If {subject_en} does not have {en}, how do you feel?"),
}


def _wording(features) -> dict:
    """{feature id: {"zh": ..., "en": ...}} from a list of names or a dict of wordings."""
    if isinstance(features, Mapping):
        ids = _feature_list(list(features))
        out = {}
        for key in ids:
            value = features[key]
            if isinstance(value, str):
                value = {"zh": value, "en": value}
            if not isinstance(value, Mapping) or not {"zh", "en"} & set(value):
                raise DataError(f"feature {key!r}: give its wording as text or as "
                                "{'zh': ..., 'en': ...}, got " + repr(value))
            text = {lang: str(value.get(lang) or value.get("en") or value.get("zh"))
                    for lang in ("zh", "en")}
            out[key] = text
        return out
    return {key: {"zh": str(key), "en": str(key)} for key in _feature_list(features)}


def kano_questionnaire(features, path=None, subject=("产品", "the product"),
                       functional="{}_f", dysfunctional="{}_d") -> pd.DataFrame:
    """The paired Kano questions for ``features``, as a table and optionally an Excel file.

    ``features``: feature ids (``["speed", "waterproof"]``) or a dict of wordings,
    ``{"speed": {"zh": "运行速度快", "en": "fast typing response"}}`` (plain text is used for
    both languages). ``subject``: (Chinese, English) name of what is asked about.
    Returns one row per question, functional then dysfunctional for each feature: column
    (the survey column name, from the ``functional`` / ``dysfunctional`` templates of
    ``split_kano``), feature, kind, question_zh, question_en, answer_1_zh .. answer_5_zh,
    answer_1_en .. answer_5_en (the answers in code order 1-5). With ``path`` (.xlsx) the
    table is written with openpyxl to the sheet "questions", and the sheet "answers" lists
    the codes with both wordings; an existing file is replaced.
    """
    wording = _wording(features)
    if (not isinstance(subject, (tuple, list)) or len(subject) != 2
            or not all(isinstance(s, str) for s in subject)):
        raise DataError(f"subject is (Chinese, English) text such as ('产品', 'the product'), "
                        f"got {subject!r}")
    ids = list(wording)
    cols = {"functional": _columns(functional, ids, "functional"),
            "dysfunctional": _columns(dysfunctional, ids, "dysfunctional")}
    rows = []
    for k, feature in enumerate(ids):
        for kind in ("functional", "dysfunctional"):
            zh, en = _QUESTIONS[kind]
            fill = {"subject_zh": subject[0], "subject_en": subject[1], **wording[feature]}
            row = {"column": cols[kind][k], "feature": feature, "kind": kind,
                   "question_zh": zh.format(**fill), "question_en": en.format(**fill)}
            row.update({f"answer_{c}_zh": text[0] for c, text in KANO_ANSWERS.items()})
            row.update({f"answer_{c}_en": text[1] for c, text in KANO_ANSWERS.items()})
            rows.append(row)
    table = pd.DataFrame(rows)
    if path is not None:
        _write_excel(table, Path(path))
    return table


def _write_excel(table: pd.DataFrame, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    if path.suffix.lower() != ".xlsx":
        raise DataError(f"the questionnaire is written as an Excel .xlsx file; got {path.name!r}")
    book = Workbook()
    sheet = book.active
    sheet.title = "questions"
    sheet.append(list(table.columns))
    for row in table.itertuples(index=False):
        sheet.append(list(row))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = {"question_zh": 40, "question_en": 50}
    for k, name in enumerate(table.columns, start=1):
        letter = sheet.cell(row=1, column=k).column_letter
        sheet.column_dimensions[letter].width = widths.get(name, 16)
        if name in widths:
            for cell in sheet[letter][1:]:
                cell.alignment = Alignment(wrap_text=True)
    sheet.freeze_panes = "A2"
    codes = book.create_sheet("answers")
    codes.append(["code", "answer_zh", "answer_en"])
    for code, (zh, en) in KANO_ANSWERS.items():
        codes.append([code, zh, en])
    try:
        book.save(path)
    except OSError as exc:
        raise DataError(f"cannot write the questionnaire to {path}: {exc}") from None
