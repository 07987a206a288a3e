"""Numbered prose: headings and items from the numbering, units, deadlines and points.

How the reader decides (general rules; docs/documents.md says the same for the office):

1. The working text is the document without page chrome and letter furniture, with scraped page
   chunks rejoined (``taskhub.documents.clean``).
2. Numbers: 一、 > （一） > 1. > （1） > ① (full- or half-width). A number at a line start is always
   a number. Inside a line (a scrape that lost its line breaks) a number counts only when it is
   the one expected next at its rank (the previous + 1, or 1 / the run-on number under a new
   heading): ``…(3分)1 .除涉密…`` is item 1, ``协同办公3.0版`` is not. ``19加强…`` (the dot lost)
   at a line start counts when 19 is expected; an empty ``()`` at a line start takes the
   expected number, flagged ambiguous. An attachment (``附件``) starts the numbering afresh.
   A short unnumbered line between a finished sentence and numbered parts is a heading left
   from a table or attachment: it ends the part before it. Pasted PDF text is rejoined first.
3. Headings and items: a numbered part with numbered parts under it that are items is a heading
   (a section); one without is a candidate item. (1) / ① points, or numbers inside the task's
   own paragraph, of which only the last carries the units, are part of the task's text. An
   unnumbered paragraph with its own unit bracket after an item that already had one is the
   next item (number taken from the sequence, flagged ambiguous).
4. A candidate is an item when it carries units, lead assessors, a deadline phrase or points,
   or when it sits under a task heading (工作任务 / 主要任务 / 重点任务 / 保障措施 / 考评指标 …); in
   a task plan also when parts of its rank elsewhere carry units (a task cut off before its
   bracket), or when the plan names no units at all. Under a heading that states aims or
   method (总体要求 / 指导思想 / 基本原则 / …目标 / …原则 / 考评对象 / 考评方式 / 结果应用)
   nothing is an item, unless the document numbers its parts as one sequence with the items
   under the next heading (1.目标 under 一、总体目标, 2. under 二、). Sections without items
   are dropped. A plan with no numbers at all gives its paragraphs that name units.
5. An item's title is its heading — the words before the first 。 — when the document writes its
   items as heading + paragraph (a quarter of its items, and most under the same heading, open
   with a short sentence without commas, or two parallel phrases); where the 。 was lost, the
   heading ends at the first heading word (…机制 / 体系 / 平台 / 保障 …) followed by a new clause
   (flagged ambiguous); a task that is only a short heading is its own title. Documents whose
   items are plain sentences get no titles.
6. Units, deadlines and points come from the item's tail (``taskhub.documents.roles``), its
   prose (``taskhub.documents.points``) and statements made once: ``排在第一位的部门为牵头部门``
   (the document's rule) and ``以下任务均需…落实`` (units inherited by the items after it, to the
   end of the part where it stands). A bracket closes at its ）: text after it stays the item's.
   Several unit brackets in one paragraph make one item; each keeps its roles (``unit_brackets``).
7. The tables' parts (read first) go under the prose heading they stand below: the deepest
   numbered part holding the table that is a heading (parts under it, or a heading line with at
   most a caption or a line leading into the table), not a task; not under aims or method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from taskhub.core.sections import section_label
from taskhub.documents import clean, numbering, roles
from taskhub.documents import points as pts
from taskhub.documents.model import (
    FLAG_AMBIGUOUS,
    FLAG_CUT_OFF,
    FLAG_DEADLINE_UNREADABLE,
    FLAG_DUPLICATE_NUMBER,
    FLAG_NO_LEAD,
    FLAG_NUMBER_GAP,
    FLAG_POINTS_MISMATCH,
    KIND_TASKS,
    Draft,
    DraftItem,
    DraftSection,
    Span,
    UnitBracket,
)
from taskhub.documents.readers import SourceDocument
from taskhub.tracking.deadlines import parse_deadline
from taskhub.units.names import looks_like_unit

_ATTACHMENT = re.compile(r"附\s*件(?:\s*[:：]|\s*\d|(?=\n)|$)")
#: Before an inline 一、 / （一）: words that make it part of a word (第一、统一、逐一).
_NOT_BEFORE_CN = set("第统唯逐之单同专万任其十百千每")
_TASK_HEADING = re.compile(
    r"^(?:主要|重点|具体|工作|核心)*(?:任务|工作任务|任务分工|任务清单|工作措施|措施|保障措施|"
    r"重点工作|工作重点|重点项目|考评指标|考核指标|评估指标|评价指标|指标|工作安排)"
    r"(?:及(?:责任)?分工|和(?:责任)?分工|清单|安排|及措施)?$"
)
_EXCLUDED_HEADING = re.compile(
    r"^(?:总体要求|指导思想|基本原则|工作原则|主要原则|总体目标|工作目标|主要目标|发展目标|目标任务$|"
    r"考评对象|考核对象|评估对象|评价对象|考评方式|考核方式|"
    r"评估方式|评价方式|评估原则|考评原则|考评结果|考核结果|评估结果|结果应用|评估时间|适用范围|"
    r"编制依据|工作依据|发展现状|现状|基本情况|工作思路|总体思路|形势|背景"
    # 评估目标 / 建设目标 / 评价原则 …: aims and principles
    r"|[\u4e00-\u9fff]{0,4}(?:目标|原则)$)"
)
#: A heading that lost its 。: it ends with one of these words and a new clause starts after.
_HEADING_END = re.compile(
    r"(?:机制|体系|平台|保障|支撑|建设|应用|能力|力度|水平|服务|管理|改革|系统|网络|制度|模式|工程|"
    r"环境|格局|领导|推进|评价|问责|监管|共享|开放|治理|中心|基座|规范|数字化)"
)
_CLAUSE_START = re.compile(
    r"(?:按照|围绕|依托|根据|依据|加大|加快|加强|推进|推动|建立|健全|完善|以|在|对|将|通过|坚持|结合|"
    r"市|各|全面|进一步|充分|积极|深化|严格|持续|利用|由|把|到|明确|强化|构建|实施|落实|开展)"
)
_RESTART, _BARRIER = 1, 2
#: How a complete text ends (a text without a tail ending otherwise was cut off).
_TEXT_END = set("。；;！!？?）)】〕」”…:：")
_SENTENCE_END = set("。；;）)〕]】")
_NO_HEADING = re.compile(r"[。，,；;：:、]|牵头|负责|配合|参与")
_UNIT_LINE = re.compile(rf"^\s*(?:{roles.LABEL_ANYWHERE.pattern})")
_PAIRED_HEADING = re.compile(r"^[\u4e00-\u9fff]{2,8}[,，][\u4e00-\u9fff]{2,8}$")
_PROSE = re.compile(r"[。；;]")
_DEADLINE_LABEL_ANY = re.compile(pts.DEADLINE_LABEL.pattern.lstrip("^"))


@dataclass
class _Node:
    rank: int
    value: int
    start: int  # marker start in the stream
    body: int  # marker end
    end: int = 0
    inferred: bool = False
    children: list[_Node] = field(default_factory=list)

    @property
    def number(self) -> str:
        return numbering.display(self.rank, self.value)

    def own_end(self) -> int:
        return self.children[0].start if self.children else self.end


@dataclass
class _Context:
    stream: clean.Stream
    draft: Draft
    first_is_lead: bool
    inherited: list[tuple[int, int, list[str]]]  # (from, to, names) in stream offsets
    #: per candidate item: (rank, carries units/deadline/points, under a task heading)
    meta: dict[int, tuple[int, bool, bool]] = field(default_factory=dict)
    #: the tables' parts by the node of the prose heading they stand under
    tables: dict[int, list[DraftSection | DraftItem]] = field(default_factory=dict)
    #: ids of the tables' parts given to a section of the prose
    taken: set[int] = field(default_factory=set)
    #: ids of headings whose numbered parts the next heading's parts count on (1. under
    #: 一、, 2. under 二、): the document numbers them as one sequence of items
    runs_on: set[int] = field(default_factory=set)


def read_flow(doc: SourceDocument, draft: Draft, *, skip: list[tuple[int, int]]) -> None:
    """Add the sections and items of the document's numbered prose to the draft. The parts the
    tables gave (already in the draft) move under the prose heading they stand below."""
    stream = clean.build_stream(doc, skip)
    if not stream.text:
        return
    roots = _outline(stream.text)
    ctx = _Context(stream, draft, bool(roles.FIRST_IS_LEAD.search(stream.text)), [])
    ctx.inherited = _inherited(stream.text, roots)
    ctx.tables = _place_tables([*draft.sections, *draft.items], roots, ctx)
    ctx.runs_on = _runs_on(roots)
    outs: list[DraftSection | DraftItem] = []
    for node in roots:
        outs.extend(_classify(node, ctx, task_area=False))
    outs = _prune(outs, ctx)
    if not roots:  # no numbers at all
        outs = _unnumbered(ctx)
    prose = {id(item) for out in outs for item in _items_of(out) if id(item) in ctx.meta}
    _titles(outs, prose)
    _complete_names([item for out in outs for item in _items_of(out) if id(item) in prose])
    # a table part the prose took in leaves the top level (one whose heading the prose did not
    # keep stays there)
    placed = ctx.taken
    draft.sections = [s for s in draft.sections if id(s) not in placed]
    draft.items = [i for i in draft.items if id(i) not in placed]
    for out in outs:
        if isinstance(out, DraftSection):
            draft.sections.append(out)
        else:
            draft.items.append(out)


def _place_tables(
    parts: list[DraftSection | DraftItem], roots: list[_Node], ctx: _Context
) -> dict[int, list[DraftSection | DraftItem]]:
    """The tables' parts by the prose heading they stand under (id of its node): the deepest
    numbered part whose range holds the table and that is a heading (a part with parts under
    it, or a bare heading line), not a task; none under aims or method (总体要求 …)."""
    stream = ctx.stream
    text = stream.text

    def source(offset: int) -> int:
        return stream.pos[offset] if offset < len(stream.pos) else 1 << 62

    def is_heading(node: _Node) -> bool:
        if node.children:
            return not _subpoints(node, ctx)
        # a heading line, then at most a caption or a line leading into the table (如下表：);
        # a part with prose of its own is a task or a statement, not the table's heading
        first, *rest = text[node.body : node.own_end()].strip().split("\n")
        return (
            len(first) <= 40
            and not re.search(r"[。；;，,]", first)
            and all(line.rstrip().endswith(("：", ":")) or not _PROSE.search(line) for line in rest)
        )

    out: dict[int, list[DraftSection | DraftItem]] = {}
    for part in parts:
        if part.source is None:
            continue
        at = part.source.start
        chain: list[_Node] = []
        nodes = roots
        while holder := next((n for n in nodes if source(n.start) <= at < source(n.end)), None):
            chain.append(holder)
            nodes = holder.children
        if any(_EXCLUDED_HEADING.match(_heading_words(_own(n, text))) for n in chain):
            continue
        while chain and not is_heading(chain[-1]):
            chain.pop()
        if chain:
            out.setdefault(id(chain[-1]), []).append(part)
    return out


def _own(node: _Node, text: str) -> str:
    return text[node.body : node.own_end()].strip()


# --- numbering --------------------------------------------------------------------------


def _outline(text: str) -> list[_Node]:
    """The numbered parts of the stream as a tree (top-level nodes)."""
    # (start, end, rank or None for a break, value or the kind of break, bare)
    events: list[tuple[int, int, int | None, int | None, bool]] = []
    for m in numbering.MARKER.finditer(text):
        events.append((m.start(), m.end(), *numbering.read_marker(m)))
    for m in _ATTACHMENT.finditer(text):
        line_start = m.start() == 0 or text[m.start() - 1] == "\n"
        if line_start or ":" in m.group(0) or "：" in m.group(0):
            events.append((m.start(), m.end(), None, _RESTART, False))
    events.extend((start, start, None, _BARRIER, False) for start in _heading_lines(text))
    events.sort(key=lambda e: (e[0], e[2] is not None))
    last = [0] * len(numbering.RANKS)
    run = [0] * len(numbering.RANKS)
    roots: list[_Node] = []
    stack: list[_Node] = []
    taken_until = -1
    for start, end, maybe_rank, printed, bare in events:
        if start < taken_until:
            continue
        if maybe_rank is None:  # an attachment or an unnumbered heading: the open parts end here
            for node in stack:
                node.end = start
            stack.clear()
            if printed == _RESTART:  # an attachment numbers afresh
                last = [0] * len(numbering.RANKS)
                run = [0] * len(numbering.RANKS)
            continue
        rank = maybe_rank
        line_start = start == 0 or text[start - 1] == "\n"
        expected = {last[rank] + 1}
        if last[rank] == 0 and run[rank]:
            expected.add(run[rank] + 1)
        inferred = printed is None
        value = last[rank] + 1 if printed is None else printed
        if printed is None:  # （） with its numeral lost
            if not line_start or last[rank] == 0:
                continue
        elif bare:
            # 19加强… (the dot lost): only where a paragraph ended before, as expected next
            ended = start >= 2 and text[start - 2] in _SENTENCE_END
            if not line_start or not ended or value not in expected:
                continue
        elif not line_start:
            if value not in expected:
                continue
            before = text[start - 1]
            if rank in (numbering.RANK_CN, numbering.RANK_PCN) and before in _NOT_BEFORE_CN:
                continue
            if rank in (numbering.RANK_PAR, numbering.RANK_CIRC):
                continue  # （1） / ① inside a line enumerate within the paragraph
        node = _Node(rank, value, start, end, inferred=inferred)
        while stack and stack[-1].rank >= rank:
            stack.pop().end = start
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
        last[rank] = value
        run[rank] = value
        for lower in range(rank + 1, len(last)):
            last[lower] = 0
        taken_until = end
    for node in stack:
        node.end = len(text)
    return roots


def _heading_lines(text: str) -> list[int]:
    """Starts of unnumbered heading lines (a table's or attachment's heading left in the prose):
    short, no sentence punctuation, after a line that ended a sentence."""
    out = []
    lines = text.split("\n")
    offset = 0
    for index, line in enumerate(lines):
        previous = lines[index - 1] if index else ""
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            previous[-1:] in _SENTENCE_END
            and len(line) <= 30
            and not _NO_HEADING.search(line)
            and not numbering.MARKER.match(line)
            and not pts.DEADLINE_PART.match(line)
            # a heading stands over numbered parts or further short lines; a short line
            # that a hard line break cut from its sentence does not
            and (numbering.MARKER.match(following) or 0 < len(following) <= 30)
        ):
            out.append(offset)
        offset += len(line) + 1
    return out


# --- headings and items -----------------------------------------------------------------


def _classify(node: _Node, ctx: _Context, *, task_area: bool) -> list[DraftSection | DraftItem]:
    text = ctx.stream.text
    own = text[node.body : node.own_end()].strip()
    heading = _heading_words(own)
    if _EXCLUDED_HEADING.match(heading) and id(node) not in ctx.runs_on:
        return []
    task_area = task_area or bool(_TASK_HEADING.match(pts.heading_points(heading)[0]))
    tables = ctx.tables.get(id(node), [])
    if (node.children and not _subpoints(node, ctx)) or tables:
        outs: list[DraftSection | DraftItem] = []
        for child in node.children:
            outs.extend(_classify(child, ctx, task_area=task_area))
        if outs or tables:
            title, points = pts.heading_points(_section_title(own))
            section = DraftSection(
                number=node.number,
                title=title,
                points=points,
                source=_span(ctx, node.start, node.end),
            )
            for out in [*outs, *_unwrap(tables, title)]:
                if isinstance(out, DraftSection):
                    section.sections.append(out)
                else:
                    section.items.append(out)
            ctx.taken.update(id(part) for part in tables)
            if tables:  # the document's order
                section.sections.sort(key=_position)
                section.items.sort(key=_position)
            return [section]
    return _leaf_items(node, ctx, task_area=task_area)


def _runs_on(roots: list[_Node]) -> set[int]:
    """Headings whose last numbered part the next part of its rank, under another heading,
    continues (1.目标 under 一、总体目标, then 2. under 二、), and their parts: these parts are
    items like the rest of the sequence, even under aims."""
    last: dict[int, tuple[_Node, _Node | None]] = {}  # rank -> (part, its heading)
    out: set[int] = set()

    def walk(nodes: list[_Node], parent: _Node | None) -> None:
        for node in nodes:
            before = last.get(node.rank)
            if before is not None and (heading := before[1]) is not None:
                if heading is parent or node.value != before[0].value + 1:
                    pass
                else:
                    out.add(id(heading))
                out.update(id(part) for part in heading.children)
            last[node.rank] = (node, parent)
            walk(node.children, node)

    walk(roots, None)
    return out


def _unwrap(parts: list[DraftSection | DraftItem], title: str) -> list[DraftSection | DraftItem]:
    """A table's own section titled from the heading above it is that heading: its parts."""
    out: list[DraftSection | DraftItem] = []
    for part in parts:
        # the caption a table took from the heading line above keeps its number: 一、…
        caption = part.title if isinstance(part, DraftSection) else None
        if caption and (m := numbering.MARKER.match(caption)):
            caption = caption[m.end() :].strip()
        if isinstance(part, DraftSection) and part.number is None and caption in ("", title):
            out.extend([*part.sections, *part.items])
        else:
            out.append(part)
    return out


def _position(part: DraftSection | DraftItem) -> int:
    return part.source.start if part.source is not None else 1 << 62


def _subpoints(node: _Node, ctx: _Context) -> bool:
    """Children that are the enumerated points of one task: leaves that are (1) / ① points or
    numbers inside the task's own paragraph, of which none but the last names units (the
    task's bracket closes the last)."""
    text = ctx.stream.text

    def inline(child: _Node) -> bool:
        return child.start > 0 and text[child.start - 1] != "\n"

    if node.rank >= numbering.RANK_PAR or not all(
        (c.rank >= numbering.RANK_PAR or inline(c)) and not c.children for c in node.children
    ):
        return False
    own = text[node.body : node.children[0].start].strip()
    if not re.search(r"[。：:；;]", own):
        return False  # a heading over its items (政务网络（15分）), not a task's opening
    return not any(
        roles.read_tail(text[c.body : c.end].strip(), first_is_lead=ctx.first_is_lead).has_units
        for c in node.children[:-1]
    )


def _heading_words(own: str) -> str:
    """The words a part opens with (its heading, or the start of its paragraph)."""
    first = re.split(r"[。：:\n]", own, maxsplit=1)[0]
    return first.strip()


def _section_title(own: str) -> str:
    first = own.split("\n", 1)[0]
    sentence = first.split("。", 1)[0].strip()
    return sentence[:80]


def _leaf_items(node: _Node, ctx: _Context, *, task_area: bool) -> list[DraftSection | DraftItem]:
    """The item (or items: paragraphs with their own unit brackets) of a leaf part."""
    text = ctx.stream.text
    groups = _paragraph_groups(text, node.body, node.end, ctx.first_is_lead)
    out: list[DraftSection | DraftItem] = []
    for index, (start, end) in enumerate(groups):
        item = _item(ctx, start, end, node.start if index == 0 else start)
        if item is None:
            continue
        if index == 0:
            item.number = node.number
            if node.inferred:
                item.flag(FLAG_AMBIGUOUS)
        else:
            item.number = numbering.display(node.rank, node.value + index)
            item.flag(FLAG_AMBIGUOUS)
        carries = bool(
            item.lead_units
            or item.responsible_units
            or item.lead_assessors
            or item.deadline_text
            or item.points is not None
            or item.weight is not None
        )
        ctx.meta[id(item)] = (node.rank, carries, task_area)
        out.append(item)
    return out


def _unnumbered(ctx: _Context) -> list[DraftSection | DraftItem]:
    """A plan without numbers: each paragraph that names its units is an item; a label before
    its first colon (金融支持：…) is its title."""
    text = ctx.stream.text
    out: list[DraftSection | DraftItem] = []
    start = 0
    for line in text.split("\n"):
        end = start + len(line)
        tail = roles.read_tail(line, first_is_lead=ctx.first_is_lead)
        if tail.has_units and tail.text_end > 0 and not _UNIT_LINE.match(line):
            item = _item(ctx, start, end, start)
            if item is not None:
                label = re.match(r"^([^，,。；;：:]{2,12})[：:]", item.text)
                if label:
                    item.title = label.group(1)
                out.append(item)
        start = end + 1
    return out


def _prune(outs: list[DraftSection | DraftItem], ctx: _Context) -> list[DraftSection | DraftItem]:
    """Keep the candidates that are items (rule 4) and the sections that keep any."""
    metas = [ctx.meta[id(i)] for out in outs for i in _items_of(out) if id(i) in ctx.meta]
    carrying_ranks = {rank for rank, carries, _ in metas if carries}
    tasks = ctx.draft.kind == KIND_TASKS

    def keep(item: DraftItem) -> bool:
        if id(item) not in ctx.meta:
            return True  # a table's row
        rank, carries, task_area = ctx.meta[id(item)]
        if carries or task_area:
            return True
        # a task plan: numbered parts like those that name units are tasks too (a task cut
        # off before its bracket, a task whose units are inherited); a plan naming no units
        # anywhere has its numbered parts as tasks
        return tasks and (rank in carrying_ranks or not carrying_ranks)

    def walk(nodes: list[DraftSection | DraftItem]) -> list[DraftSection | DraftItem]:
        kept: list[DraftSection | DraftItem] = []
        for out in nodes:
            if isinstance(out, DraftItem):
                if keep(out):
                    kept.append(out)
                continue
            out.items = [i for i in out.items if keep(i)]
            out.sections = [s for s in walk(list(out.sections)) if isinstance(s, DraftSection)]
            if out.items or out.sections:
                kept.append(out)
        return kept

    return walk(outs)


def _paragraph_groups(
    text: str, start: int, end: int, first_is_lead: bool
) -> list[tuple[int, int]]:
    """Split a part at paragraphs that end with their own units (each such group one item)."""
    bounds: list[tuple[int, int]] = []
    line_start = start
    while line_start < end:
        line_end = text.find("\n", line_start, end)
        line_end = end if line_end == -1 else line_end
        bounds.append((line_start, line_end))
        line_start = line_end + 1
    groups: list[tuple[int, int]] = []
    group_start = start
    for index, (a, b) in enumerate(bounds):
        is_last = index == len(bounds) - 1
        if is_last:
            break
        if roles.read_tail(text[a:b], first_is_lead=first_is_lead).has_units:
            # a next paragraph with text and its own units is a new item (a line that is
            # only 牵头单位：… / 责任单位：… belongs to the item above)
            rest = text[bounds[index + 1][0] : end]
            if _ends_with_units(rest, first_is_lead):
                groups.append((group_start, b))
                group_start = bounds[index + 1][0]
    groups.append((group_start, end))
    return groups


def _ends_with_units(text: str, first_is_lead: bool) -> bool:
    first_paragraph = text.split("\n", 1)[0]
    tail = roles.read_tail(first_paragraph, first_is_lead=first_is_lead)
    return tail.has_units and tail.text_end > 0 and not _UNIT_LINE.match(first_paragraph)


def _item(ctx: _Context, start: int, end: int, span_start: int) -> DraftItem | None:
    stream = ctx.stream
    raw = stream.text[start:end]
    body = raw.strip()
    if not body:
        return None
    lead_ws = len(raw) - len(raw.lstrip())
    tail = roles.read_tail(body, first_is_lead=ctx.first_is_lead)
    plain = body[: tail.text_end].rstrip()
    roles.add_inner_brackets(plain, tail, first_is_lead=ctx.first_is_lead)
    item = DraftItem(
        text=plain,
        lead_units=tail.lead,
        responsible_units=tail.responsible,
        lead_assessors=tail.assessors,
        open_units=tail.open_units,
        deadline_text=tail.deadline,
        points=tail.points,
        weight=tail.weight,
    )
    if len(tail.brackets) > 1:
        item.unit_brackets = _unit_brackets(body, tail)
    if tail.cut_off or (plain and plain[-1] not in _TEXT_END and tail.text_end == len(body)):
        item.flag(FLAG_CUT_OFF)
        item.complete = False
    if tail.ambiguous:
        item.flag(FLAG_AMBIGUOUS)
    heading = plain.split("。", 1)[0]
    if item.points is None and len(re.findall(r"\d分[)）]", heading)) < 2:
        _, head_points = pts.heading_points(heading)
        item.points = head_points if head_points is not None else pts.rule_points(plain)
    if item.weight is None:
        item.weight = pts.labelled_weight(plain)
    if item.deadline_text is None:
        if m := _DEADLINE_LABEL_ANY.search(plain):
            item.deadline_text = m.group("phrase").strip()
        else:
            item.deadline_text = pts.prose_deadline(plain)
    for first, last, names in ctx.inherited:
        if first <= start < last:
            for name in names:
                if name not in item.responsible_units and name not in item.lead_units:
                    item.responsible_units.append(name)
                    item.units_inherited = True
    item.source = _span(ctx, span_start, start + lead_ws + len(body))
    return item


def _unit_brackets(body: str, tail: roles.Tail) -> list[UnitBracket]:
    """Each bracket's roles with the sentence it closes (from the end of the sentence before)."""
    out = []
    previous = 0  # a sentence starts after the sentence or the bracket before it
    for start, end, own in tail.brackets:
        before = body[:start].rstrip("。；;，, ")
        sentence = max(previous, *(before.rfind(c) + 1 for c in "。；;\n"))
        previous = end
        out.append(
            UnitBracket(
                text=body[sentence:end].strip().lstrip("，,；;。 "),
                lead_units=list(own.lead),
                responsible_units=list(own.responsible),
                lead_assessors=list(own.assessors),
                deadline_text=own.deadline,
            )
        )
    return out


def _inherited(text: str, roots: list[_Node]) -> list[tuple[int, int, list[str]]]:
    """Statements of units for the items after them: (from, to, names)."""
    out = []
    for m in roles.INHERITED.finditer(text):
        names, _ = roles.split_names(m.group("names"))
        if not names:
            continue
        # stated in a heading's own text: to that heading's end; stated inside a task (its
        # bracket) or outside any heading: to the end of the document
        scope_end = len(text)
        nodes = roots
        while True:
            holder = next((n for n in nodes if n.start <= m.start() < n.end), None)
            if holder is None or not holder.children or m.start() >= holder.children[0].start:
                if holder is not None and holder.children:
                    nodes = holder.children
                    continue
                break
            scope_end = holder.end
            break
        out.append((m.end(), scope_end, names))
    return out


def _span(ctx: _Context, start: int, end: int) -> Span:
    a, b = ctx.stream.span(start, end)
    return Span(a, b)


def _items_of(out: DraftSection | DraftItem) -> list[DraftItem]:
    return out.all_items() if isinstance(out, DraftSection) else [out]


def _complete_names(items: list[DraftItem]) -> None:
    """Names the scrape damaged, completed from the document's own names when exactly one fits:
    a name cut off with its bracket (市财政 → 市财政局), and 市直/县直… with the level lost
    (直各有关单位 → 市直各有关单位)."""
    printed: set[str] = set()
    for item in items:
        printed.update(item.lead_units, item.responsible_units, item.lead_assessors)

    def complete(name: str, cut_off: bool) -> str:
        if cut_off and not looks_like_unit(name):
            fits = {n for n in printed if n != name and n.startswith(name) and looks_like_unit(n)}
        elif name.startswith("直"):
            fits = {n for n in printed if len(n) == len(name) + 1 and n.endswith(name)}
        else:
            return name
        return fits.pop() if len(fits) == 1 else name

    for item in items:
        cut = FLAG_CUT_OFF in item.flags
        item.lead_units = [complete(n, cut) for n in item.lead_units]
        item.responsible_units = [complete(n, cut) for n in item.responsible_units]
        item.lead_assessors = [complete(n, cut) for n in item.lead_assessors]


# --- titles -----------------------------------------------------------------------------


def _heading_of(text: str) -> str | None:
    """The text's opening sentence when it reads as a heading (short, no commas — or two short
    parallel phrases, 高度重视，加强领导 — and more follows)."""
    head, dot, rest = text.partition("。")
    if not dot or not rest.strip():
        return None
    if _PAIRED_HEADING.match(head):
        return head.strip()
    if len(head) > 30 or re.search(r"[,，；;：:]", head):
        return None
    return head.strip()


def _lost_heading(text: str) -> str | None:
    """A heading whose 。 was lost: up to the first heading word followed by a new clause."""
    for m in _HEADING_END.finditer(text, 4, 24):
        if re.search(r"[,，、；;：:。“”《》]", text[: m.end()]):
            return None
        if _CLAUSE_START.match(text, m.end()):
            return text[: m.end()]
    return None


def _alone(text: str) -> str | None:
    """A task that is only its heading (建设“一体化智能化公共数据平台”。): short, one clause."""
    s = text.strip().rstrip("。")
    if not s or len(s) > 24 or re.search(r"[。，,；;：:]", s):
        return None
    return s


def _titles(outs: list[DraftSection | DraftItem], prose: set[int]) -> None:
    """Set titles where the document writes its items as heading + paragraph (or as headings
    alone): at least a quarter of its items do, and most items of the heading they stand under.
    Only the prose's items (ids in ``prose``): a table's rows have their titles."""
    items = [item for out in outs for item in _items_of(out) if id(item) in prose]
    headed = sum(_heading_of(i.text) is not None or _alone(i.text) is not None for i in items)
    if not items or headed * 4 < len(items):
        return
    groups: list[list[DraftItem]] = [[o for o in outs if isinstance(o, DraftItem)]]
    stack = [o for o in outs if isinstance(o, DraftSection)]
    while stack:
        section = stack.pop()
        groups.append(section.items)
        stack.extend(section.sections)
    for group in ([i for i in g if id(i) in prose] for g in groups):
        titles: list[tuple[str | None, bool]] = []  # (title, inferred)
        for item in group:
            if (heading := _heading_of(item.text)) is not None:
                titles.append((heading, False))
            elif (lost := _lost_heading(item.text)) is not None:
                titles.append((lost, True))
            else:
                titles.append((_alone(item.text), False))
        if not group or sum(t is not None for t, _ in titles) * 2 <= len(group):
            continue
        for item, (title, inferred) in zip(group, titles, strict=True):
            item.title = title
            if inferred:
                item.flag(FLAG_AMBIGUOUS)


# --- checks -----------------------------------------------------------------------------


def check(draft: Draft) -> None:
    """Flag what needs a look: numbering gaps, points that do not add up, tasks without a lead."""
    _check_numbers(draft)
    for section in draft.sections:
        _check_points(draft, section)
    if (
        draft.points is not None
        and draft.sections
        and all(s.points is not None for s in draft.sections)
    ):
        total = sum((s.points or Decimal(0) for s in draft.sections), Decimal(0))
        if total != draft.points:
            draft.warn(
                FLAG_POINTS_MISMATCH,
                f"各部分分值合计{_fmt(total)}分，与总分{_fmt(draft.points)}分不符",
            )
    year = draft.year
    for item in draft.all_items():
        if draft.kind == KIND_TASKS and not item.lead_units:
            item.flag(FLAG_NO_LEAD)
        if (
            item.deadline_text
            and year is not None
            and not parse_deadline(item.deadline_text, year=year, text=item.text).is_parsed
        ):
            item.flag(FLAG_DEADLINE_UNREADABLE)


def _check_numbers(draft: Draft) -> None:
    """Numbers that skip or repeat between the items of one heading. The first item under a
    heading is not judged: numbers restart, run on (1–29 under 一、…六、), or follow parts
    that are not items (一、总体要求)."""

    def walk(items: list[DraftItem]) -> None:
        last: dict[int, int] = {}
        seen: dict[int, set[int]] = {}
        for item in items:
            parsed = numbering.number_value(item.number)
            if parsed is None:
                continue
            rank, value = parsed
            if value in seen.setdefault(rank, set()):
                item.flag(FLAG_DUPLICATE_NUMBER)
            elif rank in last and value != last[rank] + 1:
                item.flag(FLAG_NUMBER_GAP)
            seen[rank].add(value)
            last[rank] = value

    def visit(sections: list[DraftSection]) -> None:
        for section in sections:
            walk(section.items)
            visit(section.sections)

    walk(draft.items)
    visit(draft.sections)


def _check_points(draft: Draft, section: DraftSection) -> None:
    for child in section.sections:
        _check_points(draft, child)
    if section.points is None:
        return
    parts = [s.points for s in section.sections] + [i.points for i in section.items]
    given = [p for p in parts if p is not None]
    if not given:
        return
    total = sum(given, Decimal(0))
    if (len(given) == len(parts) and total != section.points) or total > section.points:
        label = section_label(section.number, section.title)
        draft.warn(
            FLAG_POINTS_MISMATCH,
            f"“{label}”标明{_fmt(section.points)}分，下列各项合计{_fmt(total)}分",
            section.source,
        )
        for item in section.all_items():
            item.flag(FLAG_POINTS_MISMATCH)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")
