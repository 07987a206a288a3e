"""The document's head: title, 文号, issue date, plan year, kind, 考评对象, total points.

Rules:
- title: the plan a notice issues (``关于印发《X》的通知`` / ``现将《X》印发``), else the title of
  its single attachment (``附件：X``, the plan itself when a notice carries it), else ``关于印发X的
  通知``'s X, else the first line that reads as a plan title (…方案 / 办法 / 要点 / 计划 / 指标 …);
- 文号: the page's ``文号：`` metadata, else a line that is only a 文号 (a reference inside the text
  is another document's). A damaged 文号 line (``鹤政发〔202212``) is repaired only when another
  place in the text confirms the repair;
- issue date: ``成文日期`` / ``发文日期`` metadata, else the signature date line, else ``发布日期``;
  an upload or page date is not an issue date;
- year: a year in the title, else the issue date's, else the year the text names most (2022年度);
- kind: indicators when the title speaks of 考评 / 考核 / 评估 / 评价 / 指标 / 评分, else tasks;
- total points: ``百分制`` or ``满分100分`` / ``总分100分``;
- 考评对象: the names after ``考评对象`` / ``考核对象`` / ``评估对象`` up to the sentence's end.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

from taskhub.documents import roles
from taskhub.documents.model import KIND_INDICATORS, KIND_TASKS, Draft
from taskhub.documents.readers import SourceDocument

_PLAN_WORD = (
    r"(?:方案|办法|要点|计划|细则|指标|指标体系|体系|清单|规则|标准|意见|分工|台账|规划|措施|任务)"
)
_ISSUED_PLAN = re.compile(
    r"(?:印发|现将|下发|转发)\s*《(?P<t>[^》\n]{4,80})》"
    r"|《(?P<t2>[^》\n]{4,80})》(?:已经[^。\n]{0,30}同意[,，]?)?\s*现?(?:印发|下发)给"
)
_ATTACHMENT = re.compile(
    rf"附\s*件\s*[:：]?\s*(?![\d一二三四五六七八九])(?P<t>[^\n:：]{{4,60}}?{_PLAN_WORD})(?P<t2>)"
    r"(?=附件|\n|[一1][、.．]|$)"
)
_NOTICE = re.compile(r"关于印发(?P<t>[^《》\n]{4,60}?)(?P<t2>)的通知(?!》)")
_TITLE_LINE = re.compile(
    rf"^(?![一二三四五六七八九十]+、|[（(]\d|\d{{1,2}}\s?[.．、])[^\s,，。:：；;]{{4,40}}{_PLAN_WORD}"
    r"(?:[（(][\d\s—–\-~至年]+[)）])?$"
)
_DOCNO = r"[\u4e00-\u9fff]{1,10}[〔\[［【(（]\d{4}[〕\]］】)）]\d{1,4}号"
_DOCNO_LABEL = re.compile(rf"文\s*号\s*[:：]\s*(?P<n>{_DOCNO})")
_DOCNO_ALONE = re.compile(rf"^\s*(?P<n>{_DOCNO})\s*$", re.M)
_DOCNO_DAMAGED = re.compile(
    r"^\s*(?P<p>[\u4e00-\u9fff]{1,10})[〔\[［【(（](?P<y>\d{4})[〕\]］】)）]?(?P<n>\d{1,4})号?\s*$",
    re.M,
)
_DATE = r"(?P<y>\d{4})\s*[-年./]\s*(?P<m>\d{1,2})\s*[-月./]\s*(?P<d>\d{1,2})"
_DATE_LABEL = re.compile(
    rf"(?P<label>成文日期|发文日期|印发日期|发布日期)\s*[:：][\s|]*(?:{_DATE}(?!\d)"
    r"|(?P<y2>\d{4})(?P<m2>\d{2})(?P<d2>\d{2})(?!\d))"
)
_DATE_ALONE = re.compile(
    r"^\s*(?:[\u4e00-\u9fff]{2,20}\s+)?(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日\s*(?:印发)?\s*$",
    re.M,
)
_YEAR = re.compile(r"(?<!\d)(20\d{2})\s*年(?!\d)")
_TITLE_YEAR = re.compile(r"(?<!\d)(20\d{2})(?!\d)")
_INDICATOR_WORD = re.compile(r"考评|考核|评估|评价|指标|评分|测评")
_TOTAL = re.compile(r"百分制|(?:满分|总分)\s*(?:为|是)?\s*(?P<n>\d+)\s*分")
_ASSESSED = re.compile(r"(?:考评|考核|评估|评价)对象[ \t]*[:：]?[ \t]*")
_LIST_NUMBER = re.compile(
    r"^\s*(?:\d{1,2}\s*[.．、]|[（(]\d{1,2}[)）]|[（(][一二三四五六七八九十]+[)）])"
)
_NEXT_HEADING = re.compile(r"[一二三四五六七八九十]+、")
#: 红海湾经济开发区、华侨管理区、汕尾新区管委会: the body word written once, after the last place.
_SHARED_SUFFIX = re.compile(r"(?:开发区|管理区|新区|园区|高新区|试验区|合作区|示范区)$")
_BODY_SUFFIX = re.compile(
    r"(?:开发区|管理区|新区|园区|高新区|试验区|合作区|示范区)(管委会|管理委员会)$"
)


def read_head(doc: SourceDocument, draft: Draft) -> None:
    """Fill the draft's head fields from the document (what is not found stays None)."""
    text = doc.text
    draft.title = _title(text)
    draft.document_number = _document_number(text)
    draft.issued_on = _issued_on(text)
    draft.year = _year(draft.title, draft.issued_on, text)
    draft.kind = (
        KIND_INDICATORS if draft.title and _INDICATOR_WORD.search(draft.title) else KIND_TASKS
    )
    if m := _TOTAL.search(text):
        draft.points = Decimal(m.group("n")) if m.group("n") else Decimal(100)
    draft.assessed = _assessed(text)


def _assessed(text: str) -> list[str]:
    """The names after 考评对象: its sentence, or the numbered lines under it."""
    m = _ASSESSED.search(text)
    if not m:
        return []
    rest = text[m.end() : m.end() + 400]
    pieces: list[str] = []
    if rest.startswith("\n"):
        for line in rest.split("\n"):
            line = line.strip()
            if not line:
                continue
            if _NEXT_HEADING.match(line) or not (pieces == [] or _LIST_NUMBER.match(line)):
                break
            pieces.append(_LIST_NUMBER.sub("", line).strip().rstrip("。；;"))
            if not _LIST_NUMBER.match(line):
                break  # one sentence under the heading
    else:
        sentence = re.split(r"[。\n]|[二三四][、.．]", rest, maxsplit=1)[0]
        pieces = [sentence]
    names: list[str] = []
    for piece in pieces:
        names.extend(roles.split_names(piece)[0])
    return share_suffix(names)


def _title(text: str) -> str | None:
    for pattern in (_ISSUED_PLAN, _NOTICE, _ATTACHMENT):
        if m := pattern.search(text):
            return re.sub(r"\s+", "", m.group("t") or m.group("t2"))
    for line in text.split("\n"):
        s = line.strip()
        if _TITLE_LINE.match(s) and not s.endswith("通知"):
            return s
    return None


def _document_number(text: str) -> str | None:
    labelled = _DOCNO_LABEL.search(text)
    if labelled:
        return labelled.group("n")
    if alone := _DOCNO_ALONE.search(text):
        return alone.group("n")
    for m in _DOCNO_DAMAGED.finditer(text):
        repaired = f"{m.group('p')}〔{m.group('y')}〕{m.group('n')}号"
        if text.count(repaired) or text.count(repaired.replace("〔", "[").replace("〕", "]")):
            return repaired
    return None


def _issued_on(text: str) -> str | None:
    found: dict[str, str] = {}
    for m in _DATE_LABEL.finditer(text):
        found.setdefault(m.group("label"), _iso(m))
    for label in ("成文日期", "发文日期", "印发日期"):
        if label in found:
            return found[label]
    if alone := _DATE_ALONE.search(text):
        return _iso(alone)
    return found.get("发布日期")


def _iso(m: re.Match[str]) -> str:
    groups = m.groupdict()
    y, mo, d = (groups.get(k) or groups.get(f"{k}2") or "0" for k in ("y", "m", "d"))
    return f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"


def _year(title: str | None, issued_on: str | None, text: str) -> int | None:
    if title and (m := _TITLE_YEAR.search(title)):
        return int(m.group(1))
    if issued_on:
        return int(issued_on[:4])
    counts = Counter(int(y) for y in _YEAR.findall(text))
    if not counts:
        return None
    ranked = counts.most_common(2)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def share_suffix(names: list[str]) -> list[str]:
    """红海湾经济开发区、华侨管理区、汕尾新区管委会 → each zone with 管委会."""
    out = list(names)
    for index, name in enumerate(out):
        m = _BODY_SUFFIX.search(name)
        if not m:
            continue
        back = index - 1
        while back >= 0 and _SHARED_SUFFIX.search(out[back]):
            out[back] = out[back] + m.group(1)
            back -= 1
    return out
