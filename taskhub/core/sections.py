"""One way to print a section's number before its title, as official documents do:
一、政务服务 · （一）数据共享 · 1.总体要求 · 表一 乡镇指标. Pages, exports and bulletins all use
``section_label`` so the same section reads the same everywhere."""

from __future__ import annotations

import re

#: Chinese numerals a section number may be written in (一 … 十, 百, 〇/零, 两).
_CHINESE_NUMERAL = re.compile(r"[一二三四五六七八九十百千〇零两]+")
_ARABIC = re.compile(r"[0-9０-９]+")
#: A number that already carries its own separator or brackets: printed as it is.
_OWN_MARK = re.compile(r".*[、.．,，:：)）\]】」』]$|^[(（\[【].*|^[①-⑳⑴-⒇⒈-⒛].*")


def section_label(number: object, title: object) -> str:
    """The number and the title with the right separator between them: 一、 for a Chinese
    numeral, 1. for an Arabic one, nothing more for （一） or 一、 that bring their own, a space
    for anything else (表一 乡镇, 第一章 总则). Either part may be empty."""
    number_text = str(number or "").strip()
    title_text = str(title or "").strip()
    if not number_text:
        return title_text
    if not title_text:
        return number_text
    if _OWN_MARK.fullmatch(number_text):
        return number_text + title_text
    if _CHINESE_NUMERAL.fullmatch(number_text):
        return f"{number_text}、{title_text}"
    if _ARABIC.fullmatch(number_text):
        return f"{number_text}.{title_text}"
    return f"{number_text} {title_text}"
