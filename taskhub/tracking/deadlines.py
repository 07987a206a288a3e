"""Read deadline phrases (6月底完成, 持续推进, 按进度推进 ...) into planned milestones.

Pure functions: no Flask, no database. A phrase that does not match one of the known forms is
reported as unparsed (kept verbatim for the office); the parser never guesses a date.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta

logger = logging.getLogger(__name__)

#: Milestone kinds; the same values as ``taskhub.tracking.models.MilestoneKind``.
STAGE = "stage"  # 取得阶段性成效
NOTABLE = "notable"  # 取得明显成效
COMPLETE = "complete"  # 完成
CHECKPOINT = "checkpoint"  # monthly checkpoint of 持续推进 work
STEP = "step"  # a dated step named in the item's own text

#: Order of kinds falling on the same day: results before the routine checkpoint.
_KIND_ORDER = {STAGE: 0, NOTABLE: 1, COMPLETE: 2, STEP: 3, CHECKPOINT: 4}

_OUTCOMES = {"完成": COMPLETE, "取得阶段性成效": STAGE, "取得明显成效": NOTABLE}


@dataclass(frozen=True)
class PlannedMilestone:
    """One dated milestone read from a deadline phrase."""

    kind: str
    due_on: date
    #: Chinese, shown to users: 6月底完成, 7月持续推进检查, or the step's clause.
    title: str
    #: A staged target such as 2023年底完成80%以上: the percent due by that date.
    target_percent: int | None = None


@dataclass(frozen=True)
class ParseResult:
    """The milestones of a phrase, or ``is_parsed=False`` (and none) when it is not understood."""

    phrase: str | None
    milestones: tuple[PlannedMilestone, ...]
    is_parsed: bool


def month_end(year: int, month: int) -> date:
    """The last calendar day of a month (29 February in leap years)."""
    return date(year, month, 1) + relativedelta(day=31)


# A date as written in a phrase: 6月底, 12月, 6月份, 5月底前, 2022年底, 2021年11月12日前, 年底.
# "N月前" and "N月份前" are deliberately absent: before the month or by its end is ambiguous.
_DATE = (
    r"(?:(?P<year>\d{4})年)?"
    r"(?:(?P<month>\d{1,2})月(?:(?P<day>\d{1,2})日(?:之?前)?|[底末](?:之?前)?|份)?"
    r"|(?P<year_word>年)?[底末](?:之?前)?)"
)
_PHRASE = re.compile(
    rf"(?:到|至|于)?(?P<date>{_DATE})"
    r"(?P<outcome>完成|取得阶段性成效|取得明显成效)?"
    r"(?P<ongoing>[,;、]?并?持续(?P<verb>推进|优化))?"
)
_ONGOING = re.compile(r"并?持续(?P<verb>推进|优化)")
_BY_PROGRESS = "按进度推进"
#: 长期坚持 / 长期推进: ongoing work, checked monthly like 持续推进.
_LONG_TERM = re.compile(r"长期(?P<verb>坚持|推进)")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_DONE = r"(?:前)?(?P<outcome>完成)?"
#: 年内 / 年内完成 / 年底前 / 年底前完成 / 本年度内: the plan year's end.
_YEAR_END = re.compile(r"(?:本?年内|本?年度内|年底前|年底之前|年末前)(?:完成)?")
#: 上半年 / 下半年 (完成) / 上半年底前: the half's end.
_HALF = re.compile(r"(?:(?P<year>\d{4})年)?(?P<half>上|下)半年(?:底|末)?(?:之?前)?(?:内)?(?:完成)?")
#: 一季度 / 第一季度末 / 3季度 / 第三季度前完成: the quarter's end.
_QUARTER = re.compile(
    r"(?:(?P<year>\d{4})年)?(?:第)?(?P<q>[一二三四1-4])季度(?:底|末)?(?:之?前)?(?:内)?(?:完成)?"
)
#: X月X日 / X月X日前 (完成): that day.
_DAY = re.compile(
    r"(?:(?P<year>\d{4})年)?(?P<month>\d{1,2})月(?P<day>\d{1,2})日(?:之?前)?(?:完成)?"
)
#: A staged target: 2023年底完成80%以上 / 6月底前完成50% / 年底完成90%以上.
_STAGED = re.compile(
    rf"(?:到|至|于)?(?P<date>{_DATE})(?:完成|达到)(?P<percent>\d{{1,3}})%(?:以上)?"
)

# A dated step inside an item's text: 7月底前, 10月底, 年底前, 2022年6月底, 11月12日前.
# A bare month (5月启动) or a month followed by 起/以后 marks a start, not a deadline.
_STEP_DATE = re.compile(
    r"(?<!\d)(?:(?P<year>\d{4})年)?"
    r"(?:(?P<month>\d{1,2})月(?:(?P<day>\d{1,2})日之?前|[底末](?:之?前)?)"
    # 明年底 / 次年底 / 3年底 are not the plan's year end.
    r"|(?:(?<![\d明去次来前后上下])(?P<year_word>年))?[底末](?:之?前)?)"
    r"(?!起|开始|以来|以后|之后|后)"
)
_CLAUSE_SPLIT = re.compile(r"[,，。;；!！?？\n]")
_TRAILING_PUNCT = re.compile(r"[。.,;、!?]+$")


def _normalise(text: str) -> str:
    """Full-width digits and punctuation to ASCII, whitespace removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _due(match: re.Match[str], year: int) -> date | None:
    """The date a `_DATE`/`_STEP_DATE` match names, or None if it names none or an invalid one."""
    explicit_year = match.group("year")
    month, day = match.group("month"), match.group("day")
    y = int(explicit_year) if explicit_year else year
    # Without a month, 底/末 must belong to a year: "2022年底" or "年底", never a lone "底".
    if month is None and not (explicit_year or match.group("year_word")):
        return None
    try:
        if month is None:
            return date(y, 12, 31)
        if day is not None:
            return date(y, int(month), int(day))
        return month_end(y, int(month))
    except ValueError:  # 13月, 2月30日
        return None


def _checkpoint(due_on: date, verb: str, year: int) -> PlannedMilestone:
    prefix = "" if due_on.year == year else f"{due_on.year}年"
    return PlannedMilestone(CHECKPOINT, due_on, f"{prefix}{due_on.month}月{verb}检查")


def _checkpoints_after(due_on: date, verb: str, year: int) -> list[PlannedMilestone]:
    """Monthly checkpoints at each month end after ``due_on``'s month, through December."""
    return [_checkpoint(month_end(due_on.year, m), verb, year) for m in range(due_on.month + 1, 13)]


def _steps(text: str, year: int) -> list[PlannedMilestone]:
    """The dated steps of an item's text, each titled with its clause as written."""
    steps = []
    for clause in _CLAUSE_SPLIT.split(text):
        title = clause.strip()
        for match in _STEP_DATE.finditer(_normalise(clause)):
            due_on = _due(match, year)
            if due_on is not None:
                steps.append(PlannedMilestone(STEP, due_on, title))
    return steps


def _unique_sorted(milestones: list[PlannedMilestone]) -> tuple[PlannedMilestone, ...]:
    """Drop repeats of the same kind and date (merging step titles) and sort by due date."""
    by_key: dict[tuple[str, date], PlannedMilestone] = {}
    for m in milestones:
        key = (m.kind, m.due_on)
        seen = by_key.get(key)
        if seen is None:
            by_key[key] = m
        elif m.kind == STEP and m.title not in seen.title.split("；"):
            by_key[key] = PlannedMilestone(STEP, m.due_on, f"{seen.title}；{m.title}")
    return tuple(sorted(by_key.values(), key=lambda m: (m.due_on, _KIND_ORDER[m.kind])))


def _safe_date(y: int, month: int, day: int | None = None) -> date | None:
    try:
        return date(y, month, day) if day is not None else month_end(y, month)
    except ValueError:  # 13月, 2月30日
        return None


def _period_end(s: str, year: int) -> PlannedMilestone | None:
    """年内, 上半年, 第一季度末, 11月12日前 …: one completion milestone, titled as written."""
    due_on: date | None = None
    if _YEAR_END.fullmatch(s):
        due_on = date(year, 12, 31)
    elif half := _HALF.fullmatch(s):
        y = int(half.group("year") or year)
        due_on = date(y, 6, 30) if half.group("half") == "上" else date(y, 12, 31)
    elif quarter := _QUARTER.fullmatch(s):
        y = int(quarter.group("year") or year)
        due_on = month_end(y, _CN_DIGITS[quarter.group("q")] * 3)
    elif day := _DAY.fullmatch(s):
        due_on = _safe_date(
            int(day.group("year") or year), int(day.group("month")), int(day.group("day"))
        )
    if due_on is None:
        return None
    title = s if s.endswith("完成") else f"{s}完成"
    return PlannedMilestone(COMPLETE, due_on, title)


def _read(s: str, *, year: int, text: str, starts_on: date | None) -> list[PlannedMilestone]:
    """The milestones of a normalised phrase; empty when it is not understood."""
    if s == _BY_PROGRESS:
        return _steps(text, year)
    first = starts_on.month if starts_on is not None and starts_on.year == year else 1
    if ongoing := _ONGOING.fullmatch(s):
        verb = f"持续{ongoing.group('verb')}"
        return [_checkpoint(month_end(year, m), verb, year) for m in range(first, 13)]
    if long_term := _LONG_TERM.fullmatch(s):
        verb = f"长期{long_term.group('verb')}"
        return [_checkpoint(month_end(year, m), verb, year) for m in range(first, 13)]
    if staged := _STAGED.fullmatch(s):
        due_on = _due(staged, year)
        percent = int(staged.group("percent"))
        if due_on is None or not 0 < percent <= 100:
            return []
        return [PlannedMilestone(STAGE, due_on, s, target_percent=percent)]
    if (period := _period_end(s, year)) is not None:
        return [period]
    match = _PHRASE.fullmatch(s)
    if match is None:
        return []
    outcome = match.group("outcome")
    # A date alone ("6月底") says nothing about what is due; a dated year form, or "before"
    # (6月底前, the way a 完成时限 column writes a deadline), implies 完成.
    before = match.group("date").endswith("前")
    if outcome is None and ((match.group("year") is None and not before) or match.group("ongoing")):
        return []
    due_on = _due(match, year)
    if due_on is None:
        return []
    outcome = outcome or "完成"
    found = [PlannedMilestone(_OUTCOMES[outcome], due_on, f"{match.group('date')}{outcome}")]
    if match.group("ongoing"):
        found += _checkpoints_after(due_on, f"持续{match.group('verb')}", year)
    return found


def parse_deadline(
    phrase: str | None, *, year: int, text: str = "", starts_on: date | None = None
) -> ParseResult:
    """Read a deadline phrase for a plan of ``year``; ``text`` is the item's text (按进度推进)."""
    if phrase is None or not phrase.strip():
        return ParseResult(phrase, (), False)
    s = _TRAILING_PUNCT.sub("", _normalise(phrase))
    milestones = _unique_sorted(_read(s, year=year, text=text, starts_on=starts_on))
    if not milestones:
        logger.debug("deadline phrase not understood: %r", phrase)
        return ParseResult(phrase, (), False)
    return ParseResult(phrase, milestones, True)
