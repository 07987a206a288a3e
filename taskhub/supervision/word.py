"""The escalation notice (督办通知单) as a Word document in official-document layout.

The bulletin's GB/T 9704 parts (taskhub.reports.word) are reused: the red issuer line, the
document number 督办〔2026〕N号 over the red rule, the 小标宋 title, 仿宋 三号 body at 22 lines a
page, the issuer and date closing 右空四字, and — 1 — page numbers. One page for the usual
notice: the task's text is shortened (the notice names the task; the system has the rest).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

from taskhub.reports.services import date_cn
from taskhub.reports.word import (
    BODY_FONT,
    BODY_PT,
    HEADING_FONT,
    ISSUER_MAX_PT,
    LINE_PITCH_PT,
    RED,
    TITLE_FONT,
    TITLE_PT,
    TYPE_WIDTH_MM,
    _declare_fonts,
    _fit_size,
    _page,
    _page_numbers,
    _plain,
    _red_rule,
    _set_font,
    _text_width_em,
    title_lines,
)

#: Characters of the task's text printed on the notice.
TASK_TEXT_CHARS = 56


@dataclass(frozen=True)
class NoticeText:
    """What the notice says, in words (built by taskhub.supervision.services.notice_text)."""

    issuer: str
    number: str
    title: str
    unit: str
    task: str  #: 《plan》第N项“title”
    task_text: str
    due_on: date | None
    overdue_working_days: int
    percent: int
    required_action: str
    answer_due_on: date
    issued_on: date
    copies_to: list[str]


def notice_docx(n: NoticeText) -> bytes:
    document = Document()
    _declare_fonts(document)
    _page(document.sections[0], landscape=False)
    normal = document.styles["Normal"]
    _set_font(normal.element, BODY_FONT, BODY_PT)
    body = normal.paragraph_format
    body.line_spacing = Pt(LINE_PITCH_PT)
    body.first_line_indent = Pt(2 * BODY_PT)
    body.space_before = body.space_after = Pt(0)
    body.widow_control = False

    _head(document, n)
    for text in _paragraphs(n):
        document.add_paragraph(text)
    _closing(document, n)
    _page_numbers(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _head(document: Any, n: NoticeText) -> None:
    issuer = document.add_paragraph()
    _plain(issuer, WD_ALIGN_PARAGRAPH.CENTER)
    size = min(ISSUER_MAX_PT, _fit_size(n.issuer, TYPE_WIDTH_MM))
    issuer.paragraph_format.line_spacing = Pt(size * 1.3)
    run = issuer.add_run(n.issuer)
    _set_font(run._element, TITLE_FONT, size)
    run.font.color.rgb = RED

    number = document.add_paragraph()
    _plain(number, WD_ALIGN_PARAGRAPH.CENTER)
    number.paragraph_format.space_before = Pt(LINE_PITCH_PT)
    number.add_run(n.number)
    _red_rule(number)

    document.add_paragraph()
    title = document.add_paragraph()
    _plain(title, WD_ALIGN_PARAGRAPH.CENTER)
    title.paragraph_format.line_spacing = Pt(35)
    capacity = TYPE_WIDTH_MM / (TITLE_PT * 25.4 / 72)
    for line in title_lines(n.title, capacity):
        _set_font(title.add_run(line)._element, TITLE_FONT, TITLE_PT)
    addressee = document.add_paragraph(f"{n.unit}：")
    addressee.paragraph_format.first_line_indent = Pt(0)


def _short(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "……"


def _paragraphs(n: NoticeText) -> list[str]:
    if n.due_on and n.overdue_working_days:
        status = (
            f"原定完成时限为{date_cn(n.due_on)}，截至{date_cn(n.issued_on)}已超期"
            f"{n.overdue_working_days}个工作日，目前进度{n.percent}%。"
        )
    elif n.due_on:
        status = f"完成时限为{date_cn(n.due_on)}，目前进度{n.percent}%，推进滞后。"
    else:
        status = f"目前进度{n.percent}%，推进滞后。"
    return [
        f"你单位承担的{n.task}，{status}",
        f"任务内容：{_short(n.task_text, TASK_TEXT_CHARS)}",
        f"督办要求：{n.required_action}",
        f"请于{date_cn(n.answer_due_on)}前通过任务督办系统书面反馈办理情况。"
        "逾期未反馈或整改不到位的，将按程序升级督办。",
    ]


def _closing(document: Any, n: NoticeText) -> None:
    """The issuer and the date, 右空四字; the copies (抄送) under them."""
    document.add_paragraph()
    issued = date_cn(n.issued_on)
    issuer_indent = 4 + max(0.0, (_text_width_em(issued) - _text_width_em(n.issuer)) / 2)
    for text, indent in ((n.issuer, issuer_indent), (issued, 4.0)):
        p = document.add_paragraph(text)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.first_line_indent = Pt(0)
        p.paragraph_format.right_indent = Pt(indent * BODY_PT)
    if n.copies_to:
        p = document.add_paragraph()
        _plain(p, WD_ALIGN_PARAGRAPH.LEFT)
        _set_font(p.add_run("抄送：")._element, HEADING_FONT, 14)
        _set_font(p.add_run("、".join(n.copies_to) + "。")._element, BODY_FONT, 14)
