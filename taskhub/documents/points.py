"""Points, weights and deadline phrases as plan documents print them.

- points: ``（25分）`` / ``（标准分70分）`` / ``(分值:3分)`` in a heading or a bracket of its own;
  scoring rules ``得3分`` / ``计2分`` give the item's points as their largest value (``扣X分``
  alone gives none: a penalty is not a budget);
- weights: ``权重10%`` / ``（权重：10%）`` (percent sign dropped);
- deadlines: a phrase in the item's closing bracket (``6月底完成``, ``持续推进``), on a labelled
  line (``完成时限：2022年10月底前``), or the one dated phrase of the text that reads as a
  deadline (``于2021年11月12日前``, ``…，6月底完成。`` at the end, a span ``5年内`` /
  ``2012年起5年内``; the same span printed twice is one phrase). Recurring dates (每年2月底前,
  每月25日前) are schedules, not deadlines. Phrases are kept verbatim.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_NUM = r"\d+(?:\.\d+)?"
#: A bracket (or part) that is only points: 25分 / 标准分70分 / 分值:3分 / 共10分.
POINTS_PART = re.compile(rf"^(?:标准分|分值|满分|计|共|总分|赋分)?\s*[:：]?\s*(?P<n>{_NUM})\s*分$")
#: Points at the end of a heading: 政务服务（25分） / （标准分70分）.
HEADING_POINTS = re.compile(
    rf"[（(]\s*(?:标准分|分值|满分|计|共|总分|赋分)?\s*[:：]?\s*(?P<n>{_NUM})\s*分\s*[)）]\s*[。.]?\s*$"
)
WEIGHT_PART = re.compile(rf"^(?:权重|占比|比重)?\s*[:：]?\s*(?P<n>{_NUM})\s*[%％]$")
_WEIGHT_LABEL = re.compile(rf"权重\s*[:：为]?\s*(?P<n>{_NUM})\s*[%％]")
_SCORE_RULE = re.compile(rf"(?:得|计|加)\s*(?P<n>{_NUM})\s*分")

#: A bracket part that is a deadline phrase (6月底完成, 2022年底前, 持续推进, 按进度推进, 长期坚持).
DEADLINE_PART = re.compile(
    r"^(?:到|至|于|在)?(?:\d{4}\s*年|\d{1,2}\s*月|本?年[底末内]|年度内|[上下]半年|第?[一二三四1-4]季度|"
    r"长期|持续|按进度|按计划|按时|常态化|明年|次年|每年|每季度|每半年|每月)"
)
_DATE_MENTION = re.compile(
    r"(?:\d{4}年)?\d{1,2}月(?:\d{1,2}日|底|末|份)?|\d{4}年(?:底|末)|(?<![明去次今当前])年(?:底|末|内)"
)
#: A deadline in prose: by a date (…前), or a date with 完成 closing the text.
_WHEN = (
    r"(?:\d{4}年(?:\d{1,2}月(?:\d{1,2}日|底|末)?|[底末])|\d{1,2}月(?:\d{1,2}日|底|末)?|年[底末])"
)
#: A span counted from the plan's start: 5年内 / 三年内 / 2012年起5年内.
_WITHIN = r"(?:\d{4}年起)?(?:\d{1,2}|[一二三四五六七八九十两]{1,2})年内"
_SPAN = re.compile(rf"{_WITHIN}(?:完成)?")
_PROSE_BY = re.compile(
    rf"{_WHEN}之?前(?:完成)?"
    rf"|(?<![\d年]){_WITHIN}(?:完成)?"
    r"|(?<![\d明去次今当前])(?:本)?年内(?:完成)?"
)
_PROSE_END = re.compile(rf"(?:{_WHEN}|年内)前?完成[。.；;]?$")
_RECURRING = re.compile(r"(?:每年|每月|每季度|每半年|每周|每季)$")
#: A labelled deadline: 完成时限：… / 时间节点：… / 完成时间：…
DEADLINE_LABEL = re.compile(
    r"^(?:完成时限|时间节点|完成时间|时限要求|时限|完成期限|进度安排)\s*[:：]\s*(?P<phrase>[^。；;\n]+)"
)


def decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def heading_points(title: str) -> tuple[str, Decimal | None]:
    """A heading without its points bracket, and the points."""
    m = HEADING_POINTS.search(title)
    if not m:
        return title, None
    return title[: m.start()].rstrip(" 。."), decimal(m.group("n"))


def rule_points(text: str) -> Decimal | None:
    """The largest 得X分 / 计X分 of scoring rules in ``text`` (None without such rules)."""
    values = [v for m in _SCORE_RULE.finditer(text) if (v := decimal(m.group("n"))) is not None]
    return max(values) if values else None


def labelled_weight(text: str) -> Decimal | None:
    m = _WEIGHT_LABEL.search(text)
    return decimal(m.group("n")) if m else None


def prose_deadline(text: str) -> str | None:
    """The deadline phrase of an item's prose, when it has exactly one dated phrase that reads
    as a deadline; None when it has none or several (dated steps stay in the text)."""
    mentions = [m for m in _DATE_MENTION.finditer(text) if not _recurring(text, m.start())]
    if not mentions:
        return None
    candidates = [m for m in _PROSE_BY.finditer(text) if not _recurring(text, m.start())]
    if not candidates and (end := _PROSE_END.search(text)) and not _recurring(text, end.start()):
        candidates = [end]
    # the same span printed again (5年内引进…；…5年内享受…) is the plan's one horizon; a bare
    # 年内 printed twice stays two conditions (年内被表扬…；年内被批评…)
    phrases = {m.group(0).rstrip("。.；;") for m in candidates}
    if len(phrases) != 1 or (len(candidates) > 1 and not _SPAN.fullmatch(phrases.pop())):
        return None
    # every date mention must sit inside the phrase: a second date means dated steps
    if any(
        not any(f.start() <= m.start() and m.end() <= f.end() for f in candidates) for m in mentions
    ):
        return None
    return candidates[0].group(0).rstrip("。.；;")


def _recurring(text: str, start: int) -> bool:
    return bool(_RECURRING.search(text[max(0, start - 3) : start]))
