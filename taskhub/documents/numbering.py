"""Outline numbering as plan documents print it: 一、 > （一） > 1. > （1） > ①.

Full- and half-width forms are one form; numbers are returned normalised the way the seeds
store them: ``一``, ``(一)``, ``1``, ``(1)``, ``①``.
"""

from __future__ import annotations

import re

#: Ranks, outermost first. A document may skip a rank (一、 then 1.); the order never changes.
RANK_CN = 0  # 一、
RANK_PCN = 1  # （一）
RANK_AR = 2  # 1. 1． 1、
RANK_PAR = 3  # （1）
RANK_CIRC = 4  # ①
RANKS = (RANK_CN, RANK_PCN, RANK_AR, RANK_PAR, RANK_CIRC)

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMERAL = "一二三四五六七八九十"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

#: One pattern for every marker form; the reader decides (by position and sequence) which
#: matches are numbers. ``ar_bare`` is a number glued to its text (``19加强…``), and
#: ``ar_glued`` a number whose text starts with digits (``11.121人才梯队``, not ``11.5%``):
#: both taken only at a line start and only when it is the number expected next.
MARKER = re.compile(
    r"(?P<cn>[一二三四五六七八九十]{1,3})、"
    r"|[（(]\s*(?P<pcn>[一二三四五六七八九十]{0,3})\s*[)）]"
    r"|(?<![\d.．%％])(?P<ar>\d{1,3})\s?[.．、](?![\d%％])"
    r"|[（(](?P<par>\d{1,2})[)）]"
    r"|(?P<circ>[①-⑳])"
    r"|(?<![\d.．%％])(?P<ar_glued>\d{1,3})[.．](?=\d+[\u4e00-\u9fff])"
    r"|(?<![\d.．])(?P<ar_bare>\d{1,3})(?=[\u4e00-\u9fff])"
)


def cn_value(numeral: str) -> int | None:
    """一 → 1, 十 → 10, 十二 → 12, 二十三 → 23; None when it is not a numeral."""
    if not numeral or any(c not in _CN_NUMERAL for c in numeral):
        return None
    if numeral == "十":
        return 10
    if "十" in numeral:
        tens, _, units = numeral.partition("十")
        t = _CN_DIGITS.get(tens, 0) if tens else 1
        u = _CN_DIGITS.get(units, 0) if units else 0
        if (tens and tens not in _CN_DIGITS) or (units and units not in _CN_DIGITS):
            return None
        return t * 10 + u
    if len(numeral) == 1:
        return _CN_DIGITS.get(numeral)
    return None


def cn_numeral(value: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 23 → 二十三 (1–99)."""
    digits = " 一二三四五六七八九"
    if value < 10:
        return digits[value]
    tens, units = divmod(value, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[units] if units else "")


def circled_value(char: str) -> int:
    return _CIRCLED.index(char) + 1


def display(rank: int, value: int) -> str:
    """The normalised printed number of a marker of ``rank`` with ``value``."""
    if rank == RANK_CN:
        return cn_numeral(value)
    if rank == RANK_PCN:
        return f"({cn_numeral(value)})"
    if rank == RANK_AR:
        return str(value)
    if rank == RANK_PAR:
        return f"({value})"
    return _CIRCLED[value - 1] if 0 < value <= len(_CIRCLED) else str(value)


def read_marker(match: re.Match[str]) -> tuple[int, int | None, bool]:
    """(rank, value, bare) of a MARKER match; value None for an empty bracket ``()``."""
    if (cn := match.group("cn")) is not None:
        return RANK_CN, cn_value(cn), False
    if (pcn := match.group("pcn")) is not None:
        return RANK_PCN, (cn_value(pcn) if pcn else None), False
    if (ar := match.group("ar")) is not None:
        return RANK_AR, int(ar), False
    if (par := match.group("par")) is not None:
        return RANK_PAR, int(par), False
    if (circ := match.group("circ")) is not None:
        return RANK_CIRC, circled_value(circ), False
    if (glued := match.group("ar_glued")) is not None:
        return RANK_AR, int(glued), True
    return RANK_AR, int(match.group("ar_bare")), True


def number_value(number: str | None) -> tuple[int, int] | None:
    """(rank, value) of a normalised number, for sequence checks; None if unnumbered."""
    if not number:
        return None
    if number.isascii() and number.isdigit():
        return RANK_AR, int(number)
    if number in _CIRCLED:
        return RANK_CIRC, circled_value(number)
    inner = number.strip("()")
    if inner.isascii() and inner.isdigit():
        return RANK_PAR, int(inner)
    value = cn_value(inner)
    if value is None:
        return None
    return (RANK_PCN if number.startswith("(") else RANK_CN), value
