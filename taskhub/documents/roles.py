"""Units with their roles, read from an item's closing brackets and unit lines.

What an item carries at its end — ``（牵头单位：A、B；责任单位：C）``,
``〔牵头单位:X;责任单位:Y〕``, ``（A牵头，B、C配合）``,
``（X牵头，A，B、C等有关单位按职责分工负责）``, ``（A、B负责）``,
``(6月底完成,牵头考核单位:市政府办公室、市公安局)``, ``（0.5分）`` — is its *tail*: brackets at
the very end of the text (several may follow each other), lines of their own
(``牵头单位：…`` / ``责任单位：…``), or a role label whose bracket the scrape lost. The tail gives
the roles, the deadline phrase and the points; the item's text is what comes before it.

Rules:
- a bracket part is a labelled role (牵头单位 / 责任单位 / 责任部门 / 配合单位 / 牵头考核单位 …),
  a list ending in a role verb (…牵头, …负责, …配合, …参与), a deadline phrase, points, a weight,
  or a bare list of unit names; a bracket with any other part is text, not a tail;
- a part with names but no role takes the role of the next part (``X牵头，A，B、C…负责``), or of
  the previous one at the end;
- 负责 leads when nothing else in the bracket leads; 配合 / 参与 / 协办 units are responsible;
- a bare list: the document's own rule (``排在第一位的部门为牵头部门``) makes its first name the
  lead and the rest responsible; without a rule the first name leads too, flagged ambiguous when
  there are several;
- names are split with ``taskhub.units.names.split_unit_names`` and returned as printed; two
  group names the scrape glued together (``各县(区)政府市直各有关单位``) are split, and a prefix
  written once (``区发改局、农业农村局``) is carried to the short names after it;
- an unclosed bracket or a label whose bracket was lost is read, and flagged cut off; a label
  inside a bracket that closes is not a lost one;
- a bracket naming a role with a short text after it in the final sentence
  (``（牵头单位：A；责任单位：B）2024年6月底前完成。``) gives the units; the text after it stays the
  item's text (a deadline phrase there is the item's deadline);
- several unit brackets in one text (one per sentence) combine; each keeps its own roles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise

from taskhub.documents import points as pts
from taskhub.units.names import looks_like_unit, normalise, split_unit_names

_OPENERS = "（(〔【[［"
_CLOSERS = "）)〕】]］"
_LABEL = (
    r"牵头考核单位|牵头考核部门|考核单位|考评单位|牵头单位|牵头部门|主责单位|主责部门|责任单位|责任部门|"
    r"配合单位|配合部门|协办单位|协同单位|参与单位|参加单位|实施单位|承办单位|主办单位"
)
_LABEL_RE = re.compile(rf"^(?P<label>{_LABEL})\s*[:：]\s*(?P<names>.*)$", re.S)
#: A label anywhere (for a bracket the scrape lost): the tail starts there.
LABEL_ANYWHERE = re.compile(rf"(?:{_LABEL})\s*[:：]")
_VERB = re.compile(
    r"^(?P<names>.+?)(?P<verb>牵头负责|牵头落实|牵头|负责落实|负责|配合落实|配合|参与|协办|协助|指导)$"
)
_BY = re.compile(r"^(?:由|请)\s*")
_VERB_TAIL = re.compile(r"(?:按职责分工|按照职责分工|按职责|分工)$")
#: The document's own rule: 排在第一位的部门为牵头部门 / 列第一位者为牵头单位 / 第一个…为牵头.
FIRST_IS_LEAD = re.compile(
    r"(?:排在?|列在?|位列|排名)?第一(?:位|个)(?:的|者)?(?:单位|部门)?(?:为|是)牵头(?:单位|部门)"
    r"|第一个(?:逗号|顿号)前(?:的)?(?:单位|部门)?为牵头"
)
_ENUMERATED_POINTS = re.compile(r"[（(]\d+(?:\.\d+)?分[)）]")
_TEMPORAL = re.compile(r"推进|完成|季度|年|月|之前|持续|长期|常态|到位")
_RULE_BRACKET = re.compile(rf"[（(【〔][^（()）]*?(?:{FIRST_IS_LEAD.pattern})[^（()）]*[)）】〕]")
#: Units stated once for a run of items: 以下任务均需各区市政府落实，不再一一列出.
INHERITED = re.compile(
    r"以下(?:各项|所有|全部)?(?:任务|工作|事项)?(?:均|都|皆)(?:需|须|要|由)?(?P<names>[^。；;，,]{2,80}?)"
    r"(?:负责)?(?:落实|负责|承担|参与|配合|实施)"
)
#: Glued group names: 各县(区)政府市直各有关单位 → 各县(区)政府 | 市直各有关单位.
_GLUED_GROUP = re.compile(r"(?<=政府|单位|部门)(?=市直|各|驻[\u4e00-\u9fff]{1,2}各|全市|全区|全县)")
#: Two municipal names glued when 局 and 、 were lost: 市人社市科技局 → 市人社 | 市科技局.
_GLUED_CITY = re.compile(r"^(市[^市、]{2,6}?)(市[^市、]{1,10}[局委办])$")
_BODY_END = re.compile(r"(?:局|委|办|部|厅|院|馆|所|站|中心|政府|公司|集团)$")
_PLACE_PREFIX = "区县市镇乡旗"
_SHORT_DEPT = re.compile(r"^[^市区县镇乡旗省各全国中驻][^市区县镇乡旗省管园所]{1,5}[局委办]$")

ROLE_LEAD = "lead"
ROLE_RESP = "responsible"
ROLE_ASSESS = "assessor"
ROLE_LIST = "list"  # names without a role
_LABEL_ROLES = {
    "牵头考核单位": ROLE_ASSESS,
    "牵头考核部门": ROLE_ASSESS,
    "考核单位": ROLE_ASSESS,
    "考评单位": ROLE_ASSESS,
    "牵头单位": ROLE_LEAD,
    "牵头部门": ROLE_LEAD,
    "主责单位": ROLE_LEAD,
    "主责部门": ROLE_LEAD,
    "主办单位": ROLE_LEAD,
}


@dataclass
class Tail:
    """What an item's end carried, and where its plain text stops."""

    text_end: int  # offset in the item text where the tail starts
    lead: list[str] = field(default_factory=list)
    responsible: list[str] = field(default_factory=list)
    assessors: list[str] = field(default_factory=list)
    open_units: bool = False
    deadline: str | None = None
    points: Decimal | None = None
    weight: Decimal | None = None
    cut_off: bool = False
    ambiguous: bool = False
    has_units: bool = False
    #: Each unit bracket's own roles, in the order printed: (start, end) in the text, and a
    #: tail of that bracket alone. The tail's lists combine them.
    brackets: list[tuple[int, int, Tail]] = field(default_factory=list)


@dataclass
class _Part:
    role: str | None  # lead | responsible | assessor | list | None (names pending a role)
    names: str = ""


def read_tail(text: str, *, first_is_lead: bool = False) -> Tail:
    """The tail of an item's text (see the module rules)."""
    parts: list[_Part] = []
    tail = Tail(text_end=len(text))
    end = tail_end = _strip_end(text, len(text))
    # unit lines of their own at the end: 牵头单位：… / 责任单位：…
    while True:
        line_start = text.rfind("\n", 0, end) + 1
        line = text[line_start:end].strip()
        if line_start > 0 and (dm := pts.DEADLINE_LABEL.match(line)):
            tail.deadline = tail.deadline or dm.group("phrase").strip()
            tail.text_end = line_start
            end = _strip_end(text, line_start)
            continue
        if line_start > 0 and _LABEL_RE.match(normalise(line)):
            read = _read_parts(line, tail)
            if read is None:
                break
            parts[:0] = read
            tail.text_end = line_start
            end = _strip_end(text, line_start)
            continue
        break
    # closing brackets (several may follow each other)
    while end > 0 and text[end - 1] in _CLOSERS:
        start = _matching_open(text, end - 1)
        if start is None:
            # the opening bracket was lost: the tail starts at the last role label
            label = _last_label(text, end)
            if label is None:
                break
            read = _read_parts(text[label : end - 1], tail)
            if read is None:
                break
            parts[:0] = read
            tail.cut_off = True
            tail.text_end = label
            end = _strip_end(text, label)
            break
        if _ENUMERATED_POINTS.search(text, 0, start) and pts.POINTS_PART.match(
            normalise(text[start + 1 : end - 1]).strip()
        ):
            break  # 网络安全(4分) closing a list of parts with points: not the item's points
        read = _read_parts(text[start + 1 : end - 1], tail)
        if read is None:
            break
        parts[:0] = read
        tail.text_end = start
        end = _strip_end(text, start)
    if not parts and (closed := _bracket_before_text(text, end)) is not None:
        # …（牵头单位：A；责任单位：B）2024年6月底前完成。: the bracket closes at its ）; what
        # follows is still the item's text (and may be its deadline phrase)
        start, close, read = closed
        parts = read
        rest = text[close + 1 : end].strip()
        if tail.deadline is None and pts.DEADLINE_PART.match(normalise(rest)):
            tail.deadline = rest
        _assign(parts, tail, first_is_lead)
        tail.brackets.append((start, close + 1, _copy(tail)))
        return tail
    if not parts:
        # an unclosed bracket, or a label whose brackets were both lost
        unclosed = _unclosed_open(text, end)
        label = _last_label(text, end)
        for start, skip in ((unclosed, 1), (label, 0)):
            if start is None:
                continue
            read = _read_parts(text[start + skip : end].rstrip("。；;"), tail)
            if read:
                parts = read
                tail.cut_off = True
                tail.text_end = start
                break
    _assign(parts, tail, first_is_lead)
    if tail.has_units:
        tail.brackets.append((tail.text_end, tail_end, _copy(tail)))
    return tail


def _copy(tail: Tail) -> Tail:
    return Tail(
        text_end=tail.text_end,
        lead=list(tail.lead),
        responsible=list(tail.responsible),
        assessors=list(tail.assessors),
        open_units=tail.open_units,
        deadline=tail.deadline,
        has_units=tail.has_units,
    )


def _bracket_before_text(text: str, end: int) -> tuple[int, int, list[_Part]] | None:
    """A units bracket closing the final sentence with a short text after it (open, close,
    parts); the bracket must name a role (a label or a role verb)."""
    for close in range(end - 1, max(-1, end - 1 - _AFTER_MAX), -1):
        char = text[close]
        if char in "。\n" or char in _OPENERS:
            return None
        if char in _CLOSERS:
            break
    else:
        return None
    if close == end - 1:
        return None  # nothing after the bracket: read as the tail above
    start = _matching_open(text, close)
    if start is None:
        return None
    parts = _read_parts(text[start + 1 : close], Tail(text_end=0))
    if not parts or not any(p.role not in (None, ROLE_LIST) for p in parts):
        return None
    return start, close, parts


#: How much text may follow a units bracket in the same sentence (年底前完成 / 持续推进).
_AFTER_MAX = 30


def add_inner_brackets(text: str, tail: Tail, *, first_is_lead: bool = False) -> None:
    """Units of brackets inside the text, each for its own sentence (…。（A牵头）…。（B负责）),
    added to the tail's; a bracket counts only when it names a role (a label or a role verb).
    Every bracket keeps its own roles in ``tail.brackets`` (in the order printed); the tail's
    lists combine them, a name keeping each role it is given."""
    found: list[tuple[int, int, Tail]] = []
    taken = [(a, b) for a, b, _ in tail.brackets]
    index = 0
    while index < len(text):
        if text[index] not in _OPENERS:
            index += 1
            continue
        close = _matching_close(text, index)
        if close is None:
            index += 1
            continue
        if any(a <= index < b for a, b in taken):
            index = close + 1
            continue
        inner = Tail(text_end=0)
        parts = _read_parts(text[index + 1 : close], inner)
        if parts and any(p.role not in (None, ROLE_LIST) for p in parts):
            _assign(parts, inner, first_is_lead)
            if inner.has_units:
                found.append((index, close + 1, inner))
            index = close + 1
        else:
            index += 1  # a bracket of text may still hold a units bracket
    if not found:
        return
    lead: list[str] = []
    responsible: list[str] = []
    assessors: list[str] = []
    brackets = sorted([*tail.brackets, *found], key=lambda b: b[0])
    for _, _, own in brackets:
        for mine, theirs in (
            (lead, own.lead),
            (responsible, own.responsible),
            (assessors, own.assessors),
        ):
            mine.extend(name for name in theirs if name not in mine)
        tail.open_units = tail.open_units or own.open_units
    # the text's own tail may hold names the brackets do not (a list read by the rule)
    for mine, theirs in (
        (lead, tail.lead),
        (responsible, tail.responsible),
        (assessors, tail.assessors),
    ):
        mine.extend(name for name in theirs if name not in mine)
    tail.lead, tail.responsible, tail.assessors = lead, responsible, assessors
    tail.brackets = brackets
    tail.has_units = bool(tail.lead or tail.responsible or tail.assessors)


def _matching_close(text: str, open_at: int) -> int | None:
    depth = 0
    for index in range(open_at, min(len(text), open_at + 200)):
        char = text[index]
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
            if depth == 0:
                return index
        elif char == "\n":
            return None
    return None


def _strip_end(text: str, end: int) -> int:
    while end > 0 and (text[end - 1].isspace() or text[end - 1] in "。；;，,"):
        end -= 1
    return end


def _matching_open(text: str, close: int) -> int | None:
    depth = 0
    for index in range(close, -1, -1):
        char = text[index]
        if char in _CLOSERS:
            depth += 1
        elif char in _OPENERS:
            depth -= 1
            if depth == 0:
                return index
        elif char == "\n" or close - index > 800:
            return None
    return None


def _unclosed_open(text: str, end: int) -> int | None:
    """The last opening bracket of the final sentence that is never closed."""
    depth = 0
    for index in range(end - 1, max(-1, end - 300), -1):
        char = text[index]
        if char in _CLOSERS:
            depth += 1
        elif char in _OPENERS:
            if depth == 0:
                return index
            depth -= 1
        elif char in "。\n":
            return None
    return None


def _last_label(text: str, end: int) -> int | None:
    """Start of the first role label of the final sentence (the tail begins there); a label
    inside a bracket that closes is that bracket's, not a lost tail."""
    sentence = max(text.rfind("。", 0, end), text.rfind("\n", 0, end)) + 1
    for m in LABEL_ANYWHERE.finditer(text, sentence, end):
        depth = 0
        for char in text[sentence : m.start()]:
            if char in _OPENERS:
                depth += 1
            elif char in _CLOSERS:
                depth = max(depth - 1, 0)
        if depth and any(c in _CLOSERS for c in text[m.end() : end]):
            continue
        return m.start()
    return None


def _split_parts(content: str) -> list[str]:
    """Split at top-level ，,；; (never inside brackets)."""
    s = normalise(content)
    out, depth, start = [], 0, 0
    for index, char in enumerate(s):
        if char in "([【〔［":
            depth += 1
        elif char in ")]】〕］":
            depth = max(depth - 1, 0)
        elif depth == 0 and char in ",;":
            out.append(content[start:index].strip())
            start = index + 1
    out.append(content[start:].strip())
    return [p for p in out if p]


def _read_parts(content: str, tail: Tail) -> list[_Part] | None:
    """The role parts of a bracket's content; None when the bracket is text, not a tail."""
    # a statement for the items after this one (以下任务均需…落实) is not this item's units
    content = "。".join(c for c in re.split(r"[。]", content) if c and not INHERITED.search(c))
    # the document's rule stated in a bracket of the list (排在第一位的为牵头单位，下同)
    content = _RULE_BRACKET.sub("", content)
    pieces = _split_parts(content)
    if not pieces:
        return None
    parts: list[_Part] = []
    deadline = points = weight = None
    unknown_time: str | None = None
    for piece in pieces:
        flat = normalise(piece).strip()
        if m := _LABEL_RE.match(flat):
            label = m.group("label")
            role = _LABEL_ROLES.get(label, ROLE_RESP)
            parts.append(_Part(role, piece[len(piece) - len(m.group("names")) :].strip()))
        elif m := pts.POINTS_PART.match(flat):
            points = pts.decimal(m.group("n"))
        elif m := pts.WEIGHT_PART.match(flat):
            weight = pts.decimal(m.group("n"))
        elif pts.DEADLINE_PART.match(flat) and not looks_like_unit(flat):
            deadline = piece
        elif m := _VERB.match(flat):
            names = _VERB_TAIL.sub("", piece[: len(m.group("names"))]).strip()
            names = _BY.sub("", names)  # 由A牵头 = A牵头
            verb = m.group("verb")
            if verb.startswith("牵头"):
                role = ROLE_LEAD
            elif verb.startswith("负责"):
                role = "do"
            else:
                role = ROLE_RESP
            if not names or not _all_units(names):
                return None
            parts.append(_Part(role, names))
        elif _all_units(piece) and all(len(n) >= 3 for n in split_unit_names(piece).names):
            parts.append(_Part(None, piece))
        elif _TEMPORAL.search(flat) and len(flat) <= 30:
            unknown_time = piece  # a deadline only if the bracket names units too
        else:
            return None
    if unknown_time is not None:
        if not any(p.role is not None for p in parts):
            return None
        deadline = deadline or unknown_time
    if deadline is not None and tail.deadline is None:
        tail.deadline = deadline
    if points is not None and tail.points is None:
        tail.points = points
    if weight is not None and tail.weight is None:
        tail.weight = weight
    return parts


@lru_cache(maxsize=4096)
def _all_units(names: str) -> bool:
    split = split_unit_names(names)
    return bool(split.names) and all(looks_like_unit(n) or _glued(n) for n in split.names)


def _glued(name: str) -> bool:
    return bool(_GLUED_CITY.match(normalise(name)))


def _assign(parts: list[_Part], tail: Tail, first_is_lead: bool) -> None:
    """Give pending parts their role and fill the tail's unit lists."""
    if not parts:
        return
    has_lead = any(p.role == ROLE_LEAD for p in parts)
    for part in parts:
        if part.role == "do":  # 负责: the lead, unless another part leads
            part.role = ROLE_RESP if has_lead else ROLE_LEAD
    for index, part in enumerate(parts):
        if part.role is None:
            later = next((p.role for p in parts[index + 1 :] if p.role is not None), None)
            earlier = next((p.role for p in reversed(parts[:index]) if p.role is not None), None)
            part.role = later or earlier or ROLE_LIST
    lists: dict[str, list[str]] = {ROLE_LEAD: [], ROLE_RESP: [], ROLE_ASSESS: [], ROLE_LIST: []}
    first: str | None = None
    for part in parts:
        names, open_rest = split_names(part.names)
        if first is None and names:
            first = names[0]
        elif first is not None:  # 区发改局牵头，农业农村局配合: the prefix is written once
            names = _carry_prefix([first, *names])[1:]
        lists[part.role or ROLE_LIST].extend(names)
        tail.open_units = tail.open_units or open_rest
    if lists[ROLE_LIST]:
        listed = lists[ROLE_LIST]
        if not lists[ROLE_LEAD]:
            lists[ROLE_LEAD].append(listed[0])
            listed = listed[1:]
            tail.ambiguous = tail.ambiguous or (not first_is_lead and bool(listed))
        lists[ROLE_RESP].extend(listed)
    elif first_is_lead and not lists[ROLE_LEAD] and lists[ROLE_RESP]:
        lists[ROLE_LEAD].append(lists[ROLE_RESP].pop(0))
    tail.lead, tail.responsible, tail.assessors = (
        lists[ROLE_LEAD],
        lists[ROLE_RESP],
        lists[ROLE_ASSESS],
    )
    tail.has_units = bool(tail.lead or tail.responsible or tail.assessors)


def split_names(text: str) -> tuple[list[str], bool]:
    """Names of a unit list as printed (see the module rules), and whether the list is open."""
    names, is_open = _split_cached(text.strip())
    return list(names), is_open


@lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[tuple[str, ...], bool]:
    # plans repeat the same lists task after task
    split = split_unit_names(_VERB_TAIL.sub("", text))
    names: list[str] = []
    for name in split.names:
        names.extend(_unglue(name))
    return tuple(_carry_prefix(names)), split.open_rest is not None


def _unglue(name: str) -> list[str]:
    flat = normalise(name)
    if flat.startswith(("各", "全", "市直", "驻")):
        cuts = [m.start() for m in _GLUED_GROUP.finditer(flat) if 0 < m.start() < len(flat)]
        if cuts:
            bounds = [0, *cuts, len(name)]
            return [name[a:b] for a, b in pairwise(bounds) if name[a:b]]
    if (m := _GLUED_CITY.match(flat)) and m.group(1)[-1] not in "城都":
        left, right = name[: m.end(1)], name[m.end(1) :]
        if not _BODY_END.search(left):  # 市人社|市科技局: the 局 went with the 、
            left += right[-1]
        return [left, right]
    return [name]


def _carry_prefix(names: list[str]) -> list[str]:
    """区发改局、农业农村局 = 区发改局, 区农业农村局: a place prefix written once."""
    if len(names) < 2 or not names[0] or names[0][0] not in _PLACE_PREFIX or len(names[0]) > 7:
        return names
    prefix = names[0][0]
    if prefix == "市" and names[0].startswith(("市委", "市政府")):
        return names
    out = [names[0]]
    for name in names[1:]:
        out.append(prefix + name if _SHORT_DEPT.match(normalise(name)) else name)
    return out
