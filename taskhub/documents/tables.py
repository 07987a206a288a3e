"""Indicator tables: one indicator per row (序号, 指标, 内容, 分值/权重, 牵头考核单位, 时限).

Tables come as blocks from .docx/.html (rows of cells, a merged cell repeating its text) or as
lines of plain text (rebuilt by ``tables_text``). Columns get roles from their header names
(``tables_header``). Each row becomes an item; the higher indicator columns (类别 > 一级指标 >
二级指标) become nested sections; several tables become one top-level section each, titled
from their caption. Nothing is invented: points are read where printed, a row missing cells is
flagged as cut off.
"""

from __future__ import annotations

import functools
import itertools
import re
from decimal import Decimal, InvalidOperation

from taskhub.documents.model import (
    FLAG_AMBIGUOUS,
    FLAG_CUT_OFF,
    KIND_INDICATORS,
    Draft,
    DraftItem,
    DraftSection,
    Span,
)
from taskhub.documents.points import prose_deadline
from taskhub.documents.readers import Block, SourceDocument
from taskhub.documents.tables_grid import Cell, RawRow, RawTable, number_of
from taskhub.documents.tables_header import (
    CARRIED_ROLES,
    ROLE_ASSESSED,
    ROLE_ASSESSOR,
    ROLE_CONTENT,
    ROLE_DEADLINE,
    ROLE_LEAD,
    ROLE_LEVEL,
    ROLE_NUMBER,
    ROLE_POINTS,
    ROLE_REMARK,
    ROLE_RESPONSIBLE,
    ROLE_TARGET,
    ROLE_WEIGHT,
    UNIT_ROLES,
    Column,
    clean_text,
    clean_units,
    is_header_row,
    read_header,
    role_of,
)
from taskhub.documents.tables_text import CAPTION, CAPTION_MAX, PROSE_END, read_text_tables
from taskhub.units.names import looks_like_unit, split_top_level, split_unit_names

_HEADER_ROWS_MAX = 3
#: Between two parts of a table split by a page: at most a few short lines (page number, running
#: head).
_PAGE_LINES_MAX = 3
_PAGE_LINE_MAX = 40
_VALUE = re.compile(r"^[（(]?\s*(\d+(?:\.\d+)?)\s*(?:%|％|分)?\s*[)）]?$")
#: Points at the end of an indicator name: 体制机制（10分）, 组织保障 (2分), 信息化建设 (30).
_NAME_POINTS = re.compile(
    r"^(?P<name>.*?)\s*[（(]\s*(?:满分|分值|标准分|权重)?\s*(?P<value>\d+(?:\.\d+)?)\s*"
    r"(?P<unit>分|%|％)?\s*[)）]\s*$"
)
#: A numbered heading in an indicator cell: 一、政务服务 / （一）… / 1.….
_NAME_NUMBER = re.compile(
    r"^(?:([一二三四五六七八九十]+)[、.．]|[（(]([一二三四五六七八九十\d]+)[)）]|(\d+)[、．.](?!\d))\s*"
)
#: The number a table without a 序号 column prints before the indicator name: 1.智慧城市建设.
_TITLE_NUMBER = re.compile(r"^(\d{1,3})[.、．](?!\d)\s*")
#: A group row inside a table: 一、政务服务（30分） / （一）… / 第一部分 …; or its 序号 一 / （一）.
_GROUP_HEADING = re.compile(
    r"^(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十]+[)）]|第[一二三四五六七八九十]+部分)"
)
_GROUP_NUMBER = re.compile(r"^[（(]?([一二三四五六七八九十]+)[)）]?[、.．]?$")
_GROUP_MAX = 40
_NAME_MAX = 30
_BRACKETED = re.compile(r"[（(][^（()）]*[)）]")
#: The share of a level column's names that must read as unit names for it to be a unit column.
_UNIT_SHARE = 0.8
_AS_NEEDED = re.compile(r"[（(]\s*按需\s*[)）]|^按需$")
_SUM_ROW = re.compile(r"^(?:合\s*计|总\s*计|小\s*计|总\s*分|总分值)$")
#: Points written as a rule in the content: 满分2分 / 本项2分; 得0.5分 parts.
_FULL_MARKS = re.compile(r"(?:满分|本项|本项满分|总分|分值)\s*(?:为)?\s*(\d+(?:\.\d+)?)\s*分")
_GAIN = re.compile(r"得\s*(\d+(?:\.\d+)?)\s*分")
_ENUMERATED = re.compile(r"[（(]\s*\d+\s*[)）]|[①②③④⑤⑥⑦⑧⑨⑩]")
#: A stated total of the assessment (按总分100分评价 / 满分100分).
_TOTAL = re.compile(r"(?:总分|满分|总分值)\s*(?:为)?\s*(\d+)\s*分")
#: The body that assesses every row, stated once in the prose (评估主体): 由X开展…评估.
_ASSESSOR_STATED = re.compile(
    r"由(?P<name>[^，,。；;：:（(）)\s]{2,40}?)(?:负责|开展|组织|牵头|进行|实施|统一)[^。；;]{0,60}?"
    r"(?:评估|考核|考评|评价)"
)
_DATE_LIKE = re.compile(
    r"\d{4}年|\d{1,2}月|年底|年末|季度|月底|上半年|下半年|前|持续|长期|常态|每年|每月|按期"
)


def read_tables(doc: SourceDocument, draft: Draft) -> list[tuple[int, int]]:
    """Add the sections and items of the document's indicator tables to the draft.

    Returns the text spans (start, end) the tables took, for the prose reader to skip.
    """
    tables = _block_tables(doc)
    tables += read_text_tables(doc)
    tables.sort(key=lambda t: t.start)
    if not tables:
        return []
    built = [_TableReader(t).read() for t in tables]
    built = [b for b in built if b.items or b.sections]
    if not built:
        return []
    if draft.title is None:
        # Nothing else names the document: the caption of its (first) table does.
        caption = next((b.table.caption for b in built if b.table.caption), None)
        if caption is not None and (title := clean_text(CAPTION.sub("", caption)).strip(" :：")):
            draft.title = title
    stated_total = _stated_total(doc.text, [(t.start, t.end) for t in tables])
    assessors = _stated_assessors(doc.text, [(t.start, t.end) for t in tables])
    wrap = len(built) > 1
    for result in built:
        if result.indicators:
            draft.kind = KIND_INDICATORS
        if assessors and result.indicators and not result.has_assessors:
            for item in result.all_items():
                if not item.lead_assessors and not item.lead_units:
                    item.lead_assessors = list(assessors)
        if wrap:
            section = result.as_section()
            if (
                section.points is None
                and stated_total is not None
                and _children_points(section) == stated_total
            ):
                section.points = stated_total
            draft.sections.append(section)
        else:
            draft.sections.extend(result.sections)
            draft.items.extend(result.items)
            if draft.points is None and result.total is not None:
                draft.points = result.total  # the table's 合计 row
    if not draft.assessed:
        # Who is assessed, as the tables' 评估对象 / 关联单位 columns name them (in order).
        for item in draft.all_items():
            draft.assessed.extend(n for n in item.assessed if n not in draft.assessed)
    return [(b.table.start, b.table.end) for b in built]


# -- tables from .docx / .html blocks ----------------------------------------------------------


def _block_tables(doc: SourceDocument) -> list[RawTable]:
    """The indicator tables among the document's table blocks; a table continued on the next
    page (a block with no header, as many columns, only short lines between) is one table."""
    tables: list[RawTable] = []
    last: tuple[RawTable, int, list[str] | None] | None = None  # table, block index, last row
    for index, block in enumerate(doc.blocks):
        if block.kind != "table" or not block.rows:
            continue
        found = _block_header(block.rows)
        if found is not None:
            columns, first = found
            table = RawTable(columns=columns, start=block.start, end=block.end)
            _caption_above(doc, index, table)
            tables.append(table)
            last = (table, index, _add_block_rows(table, block, first, None, page_break=False))
        elif last is not None and _continues(doc, last[1], index, len(last[0].columns)):
            table, _, previous = last
            table.end = block.end
            last = (table, index, _add_block_rows(table, block, 0, previous, page_break=True))
    return tables


def _continues(doc: SourceDocument, before: int, index: int, width: int) -> bool:
    between = doc.blocks[before + 1 : index]
    if any(b.kind != "paragraph" or len(b.text.strip()) > _PAGE_LINE_MAX for b in between):
        return False
    return len(between) <= _PAGE_LINES_MAX and len(doc.blocks[index].rows[0]) == width


def _caption_above(doc: SourceDocument, index: int, table: RawTable) -> None:
    if index == 0 or doc.blocks[index - 1].kind != "paragraph":
        return
    above = doc.blocks[index - 1].text.strip()
    if len(above) <= CAPTION_MAX and not above.endswith(PROSE_END):
        table.caption = above
        if CAPTION.match(above):
            table.start = doc.blocks[index - 1].start


def _add_block_rows(
    table: RawTable, block: Block, first: int, previous: list[str] | None, *, page_break: bool
) -> list[str] | None:
    """Add a block's rows from ``first`` on; returns the last row's texts."""
    columns = table.columns
    width = len(columns)
    levels = [c.index for c in columns if c.role == ROLE_LEVEL]
    numbers = [c.index for c in columns if c.role == ROLE_NUMBER]
    for r in range(first, len(block.rows)):
        texts = (list(block.rows[r]) + [""] * width)[:width]
        spanned = None if block.covered is None else {c for rr, c in block.covered if rr == r}
        if is_header_row(texts, columns):
            continue
        start = block.row_starts[r] if r < len(block.row_starts) else block.start
        end = block.row_starts[r + 1] if r + 1 < len(block.row_starts) else block.end
        if previous is not None and texts == previous:
            continue  # a row of merged cells only
        cells: list[Cell | None] = [Cell(t, start, end) if t.strip() else None for t in texts]
        if (
            page_break
            and table.rows
            and numbers
            and not texts[numbers[0]].strip()
            and not any(texts[i].strip() for i in levels)
        ):
            # The first row of a page goes on with the last row of the page before.
            _append_row(table.rows[-1], cells, texts, [""] * width, columns, end)
            page_break = False
            continue
        page_break = False
        if (
            previous is not None
            and table.rows
            and _same_indicator(texts, previous, columns, spanned)
        ):
            _append_row(table.rows[-1], cells, texts, previous, columns, end)
            continue
        repeats: set[int] = set()
        if previous is not None:
            repeats = _mark_merged(cells, texts, previous, columns, spanned)
        table.rows.append(RawRow(cells, True, start, end, repeats=repeats))
        previous = texts
    return previous


def _block_header(rows: list[list[str]]) -> tuple[list[Column], int] | None:
    """The header of a block table: one row, or two (指标 over 一级指标 | 二级指标; a merged
    序号 repeats in both)."""
    for h in range(min(_HEADER_ROWS_MAX, len(rows))):
        columns = read_header(list(rows[h]))
        if h + 1 < len(rows) and len(rows[h + 1]) == len(rows[h]):
            upper, lower = rows[h], rows[h + 1]
            if not any(number_of(c) for c in lower):
                stacked = [
                    b if role_of(b) or a == b else a + b for a, b in zip(upper, lower, strict=True)
                ]
                if (two := read_header(stacked)) is not None and (
                    columns is None or read_header(list(lower)) is not None
                ):
                    return two, h + 2
        if columns is not None:
            return columns, h + 1
    return None


def _same_indicator(
    texts: list[str], previous: list[str], columns: list[Column], spanned: set[int] | None
) -> bool:
    """A row under the same merged 序号, indicator and points cells: more text of the
    indicator above (its content split over rows), not an indicator of its own. Where the
    reader knows the spans (``spanned``: the row's columns covered from above), a 序号 or a
    value printed again in the row is the row's own: a row of its own."""
    keys = [
        c.index for c in columns if c.role in (ROLE_NUMBER, ROLE_LEVEL, ROLE_POINTS, ROLE_WEIGHT)
    ]
    numbered = [c.index for c in columns if c.role == ROLE_NUMBER]
    if not numbered or not texts[numbered[0]].strip():
        return False
    if spanned is not None:
        values = [c.index for c in columns if c.role in (ROLE_POINTS, ROLE_WEIGHT)]
        if any(i not in spanned for i in [numbered[0], *values] if texts[i].strip()):
            return False
    return all(texts[i] == previous[i] for i in keys)


def _append_row(
    row: RawRow,
    cells: list[Cell | None],
    texts: list[str],
    previous: list[str],
    columns: list[Column],
    end: int,
) -> None:
    for column in columns:
        i = column.index
        cell, above = cells[i], row.cells[i]
        if cell is None or texts[i] == previous[i]:
            continue
        if above is None:
            row.cells[i] = cell
        else:
            row.cells[i] = Cell(f"{above.text}\n{cell.text}", above.start, end)
    row.end = end


def _mark_merged(
    cells: list[Cell | None],
    texts: list[str],
    previous: list[str],
    columns: list[Column],
    spanned: set[int] | None,
) -> set[int]:
    """A merged cell repeats its text in every row it covers: the repeats of an indicator
    (or 序号) cell below an unchanged higher level are read as covered, not as new cells
    (where the reader knows the spans, only the cells it found covered). Returns the columns
    read as covered."""
    higher_same = True
    repeats: set[int] = set()
    for column in columns:
        i = column.index
        same = texts[i].strip() != "" and texts[i] == previous[i]
        if spanned is not None:
            same = same and i in spanned
        if column.role == ROLE_LEVEL:
            if same and higher_same:
                cells[i] = None
                repeats.add(i)
            else:
                higher_same = False
        elif column.role == ROLE_NUMBER and same:
            cells[i] = None
            repeats.add(i)
    return repeats


# -- reading a table's rows ---------------------------------------------------------------------


class _Result:
    def __init__(self, table: RawTable) -> None:
        self.table = table
        self.sections: list[DraftSection] = []
        self.items: list[DraftItem] = []
        self.indicators = False
        self.has_assessors = False
        self.total: Decimal | None = None

    def all_items(self) -> list[DraftItem]:
        out = list(self.items)
        for section in self.sections:
            out.extend(section.all_items())
        return out

    def as_section(self) -> DraftSection:
        number, title = None, ""
        points = self.total
        if self.table.caption:
            caption = self.table.caption
            if match := _NAME_POINTS.match(caption):
                caption = match.group("name")
                points = points or _decimal(match.group("value"))
            if match := CAPTION.match(caption):
                number = re.sub(r"\s+", "", match.group(0))
                title = caption[match.end() :].strip(" :：、.．")
            else:
                title = caption
        return DraftSection(
            number=number,
            title=clean_text(title),
            points=points,
            sections=self.sections,
            items=self.items,
            source=Span(self.table.start, self.table.end),
        )


class _Row:
    """A row aligned to the columns: a cell or None (covered by the cell above) per column."""

    def __init__(
        self, values: list[Cell | None], raw: RawRow, group: DraftSection | None = None
    ) -> None:
        self.values = values
        self.raw = raw
        #: A row that only names a group of the rows below (一、政务服务（30分）).
        self.group = group
        #: The row's own name, where it is not in a level column (see ``_unit_level``).
        self.title: Cell | None = None
        #: Nothing carried down from the rows above (the text a group row states itself).
        self.own_only = False
        self.start = min((c.start for c in values if c), default=raw.start)
        self.end = max((c.end for c in values if c), default=raw.end)


class _TableReader:
    def __init__(self, table: RawTable) -> None:
        self.table = table
        self.columns = table.columns
        self.width = len(self.columns)
        self.levels = [c.index for c in self.columns if c.role == ROLE_LEVEL]
        self.number_col = next((c.index for c in self.columns if c.role == ROLE_NUMBER), None)
        self.roles = {c.index: c.role for c in self.columns}
        self._shapes: dict[tuple[tuple[int, ...], int], list[tuple[int, ...]]] = {}
        #: The first text column: a row without it is cut off.
        self._main_content = next((c.index for c in self.columns if c.role == ROLE_CONTENT), None)

    def read(self) -> _Result:
        result = _Result(self.table)
        roles = set(self.roles.values())
        result.indicators = bool(
            roles & {ROLE_POINTS, ROLE_WEIGHT, ROLE_ASSESSOR, ROLE_ASSESSED, ROLE_LEVEL}
        )
        result.has_assessors = ROLE_ASSESSOR in roles
        rows = self._rows(result)
        if not rows:
            return result
        self._unit_level(rows)
        self._short_content_as_title(rows)
        title_col: int | None = None
        section_levels = list(self.levels)
        indicators = [r for r in rows if r.group is None and not r.own_only]
        if self.levels and all(r.values[self.levels[-1]] is not None for r in indicators):
            title_col = section_levels.pop()
        self._build(rows, result, section_levels, title_col)
        return result

    def _unit_level(self, rows: list[_Row]) -> None:
        """The lowest indicator column holding unit names (考核项目: 重点考核部门 | 县水利局) names
        the unit each row applies to, not a group: it is the row's lead unit. A cell spread over
        it and the column before (the same text in both) is the row's own name."""
        if len(self.levels) < 2:
            return
        low, high = self.levels[-1], self.levels[-2]
        names: list[str] = []
        spread: list[_Row] = []
        for row in rows:
            cell, above = row.values[low], row.values[high]
            if row.group is not None or cell is None:
                continue
            if above is not None and clean_text(above.text) == clean_text(cell.text):
                spread.append(row)
            else:
                names.append(clean_text(cell.text))
        units = sum(1 for n in names if looks_like_unit(n))
        if len(names) < 2 or units < _UNIT_SHARE * len(names):
            return
        self.roles[low] = ROLE_LEAD
        self.levels.remove(low)
        for row in spread:
            row.title = row.values[high]
            row.values[high] = None
            cell = row.values[low]
            if cell is not None:  # no unit of its own, none carried from the rows above
                row.values[low] = Cell("", cell.start, cell.start)

    def _short_content_as_title(self, rows: list[_Row]) -> None:
        """Two text columns and no indicator column (重点任务 | 具体内容): the first, when its
        cells are all short names, names the item."""
        contents = [c.index for c in self.columns if c.role == ROLE_CONTENT]
        if self.levels or len(contents) < 2:
            return
        first = contents[0]
        cells = [r.values[first] for r in rows if r.group is None]
        texts = [clean_text(c.text) for c in cells if c is not None]
        if texts and len(texts) == len(cells) and all(_is_name(t) for t in texts):
            self.roles[first] = ROLE_LEVEL
            self.levels = [first]

    # rows ------------------------------------------------------------------------------------

    def _rows(self, result: _Result) -> list[_Row]:
        rows: list[_Row] = []
        numbered = self.number_col is not None
        for raw in self.table.rows:
            present = [c for c in raw.cells if c is not None and c.text.strip()]
            if not present:
                continue
            if _SUM_ROW.match(re.sub(r"\s+", "", present[0].text)):
                values = [_decimal_value(c.text) for c in present[1:]]
                result.total = next((v for v in values if v is not None), None)
                continue
            has_number = any(number_of(c.text) for c in present[:1])
            if raw.positional and self.number_col is not None:
                has_number = raw.cells[self.number_col] is not None
            if (group := self._group(raw, present)) is not None:
                rows.append(_Row([None] * self.width, raw, group))
                if (stated := self._group_text(raw)) is not None:
                    rows.append(stated)
                continue
            if numbered and rows and not has_number and len(present) == 1:
                if rows[-1].group is None:
                    self._continue(rows[-1], present[0], raw)
                continue
            rows.append(_Row(self._align(raw), raw))
        return rows

    def _group(self, raw: RawRow, present: list[Cell]) -> DraftSection | None:
        """A row naming a group of the rows below: one cell across the table (repeated in
        each column it covers), or a 序号 of 一 / （一） with its name."""
        texts = [clean_text(c.text) for c in present]
        number: str | None = None
        name: str | None = None
        if len(set(texts)) == 1 and (len(texts) > 1 or _GROUP_HEADING.match(texts[0])):
            name = texts[0]
        elif (
            self.number_col is not None
            and len(texts) >= 2
            and (numeral := _GROUP_NUMBER.match(texts[0])) is not None
        ):
            number = numeral.group(1)
            name = next((t for t in texts[1:] if not _VALUE.match(t)), None)
        if name is None or len(name) > _GROUP_MAX or any(p in name for p in "。；;"):
            return None
        title, points = _name_and_points(name, True)
        if number is None and (match := _NAME_NUMBER.match(title)):
            number = next(g for g in match.groups() if g)
            title = title[match.end() :].strip()
        if points is None:
            values = [_decimal_value(t) for t in texts[1:]]
            points = next((v for v in values if v is not None), None)
        return DraftSection(
            number=number, title=title, points=points, source=Span(raw.start, raw.end)
        )

    def _group_text(self, raw: RawRow) -> _Row | None:
        """A group row whose text columns hold text of their own (三、综合奖扣分项目 | … | a
        rule): that text is an unnumbered item of the group, with nothing carried from above."""
        if not raw.positional:
            return None
        contents = [c.index for c in self.columns if c.role == ROLE_CONTENT]
        names = {
            clean_text(c.text)
            for i, c in enumerate(raw.cells)
            if c is not None and self.roles.get(i) in (ROLE_LEVEL, ROLE_NUMBER)
        }
        values: list[Cell | None] = [None] * self.width
        for i in contents:
            cell = raw.cells[i] if i < len(raw.cells) else None
            if cell is not None and cell.text.strip() and clean_text(cell.text) not in names:
                values[i] = cell
        if not contents or values[contents[0]] is None:
            return None  # a remark beside the group's name (按部门分值 …), not a rule of its own
        row = _Row(values, raw)
        row.own_only = True
        return row

    def _continue(self, row: _Row, cell: Cell, raw: RawRow) -> None:
        """A cell cut by a page break goes on in a row of its own: join it to the cell of the
        row above that it completes (a unit list or a sentence left open)."""
        index: int | None = None
        if raw.positional:
            index = next(i for i, c in enumerate(raw.cells) if c is not None and c.text.strip())
        else:
            for col in self.columns:
                value = row.values[col.index]
                if value is None:
                    continue
                if col.role in UNIT_ROLES and _unit_open(value.text):
                    index = col.index
                    break
            if index is None:
                index = next((c.index for c in self.columns if c.role == ROLE_CONTENT), None)
        if index is None:
            return
        value = row.values[index]
        if value is None:
            row.values[index] = Cell(cell.text, cell.start, cell.end)
        else:
            row.values[index] = Cell(value.text + cell.text, value.start, cell.end)
        row.end = max(row.end, cell.end)

    def _align(self, raw: RawRow) -> list[Cell | None]:
        if raw.positional:
            return (list(raw.cells) + [None] * self.width)[: self.width]
        cells = [c for c in raw.cells if c is not None and c.text.strip()]
        values: list[Cell | None] = [None] * self.width
        free = list(range(self.width))
        if self.number_col is not None and cells and number_of(cells[0].text) is not None:
            values[self.number_col] = cells.pop(0)
            free.remove(self.number_col)
        elif self.number_col is not None:
            free.remove(self.number_col)
        if len(cells) > len(free):
            # More cells than columns: the last column takes the rest (never dropped).
            extra = cells[len(free) - 1 :]
            joined = Cell(" ".join(c.text for c in extra), extra[0].start, extra[-1].end)
            cells = [*cells[: len(free) - 1], joined]
        if len(cells) == len(free):
            for col, cell in zip(free, cells, strict=True):
                values[col] = cell
            return values
        fit = [[_fit(clean_text(cell.text), self.roles[col]) for col in free] for cell in cells]
        best: tuple[int, ...] | None = None
        best_key: tuple[float, int, tuple[int, ...]] | None = None
        levels = set(self.levels)
        for combo in self._combinations(tuple(free), len(cells)):
            score = sum(fit[k][i] for k, i in enumerate(combo))
            if best_key is not None and score < best_key[0]:
                continue
            # Ties: fewer indicator levels printed (merged cells above are common), then the
            # earlier columns filled (a later one, such as 配合单位, is the one left empty).
            key = (
                score,
                -sum(1 for i in combo if free[i] in levels),
                tuple(-i for i in combo),
            )
            if best_key is None or key > best_key:
                best, best_key = combo, key
        if best is None:
            best = tuple(range(len(free) - len(cells), len(free)))
        for k, i in enumerate(best):
            values[free[i]] = cells[k]
        return values

    def _combinations(self, free: tuple[int, ...], count: int) -> list[tuple[int, ...]]:
        """The ways to place ``count`` cells in the ``free`` columns, in order, that keep the
        indicator levels whole (computed once per shape)."""
        key = (free, count)
        if key not in self._shapes:
            self._shapes[key] = [
                combo
                for combo in itertools.combinations(range(len(free)), count)
                if self._levels_ok([free[i] for i in combo])
            ]
        return self._shapes[key]

    def _levels_ok(self, chosen: list[int]) -> bool:
        """Indicator cells present in a row are the lowest levels: a higher level cell cannot
        start while a lower one is still covered from above."""
        if len(self.levels) < 2:
            return True
        present = [col in chosen for col in self.levels]
        seen = False
        for flag in present:
            if flag:
                seen = True
            elif seen:
                return False
        return True

    # sections and items ------------------------------------------------------------------------

    def _build(
        self, rows: list[_Row], result: _Result, section_levels: list[int], title_col: int | None
    ) -> None:
        carried: dict[int, Cell] = {}
        stack: list[DraftSection | None] = [None] * len(section_levels)
        points_in_names = any(
            (v := r.values[c]) is not None and "分" in v.text for r in rows for c in self.levels
        )
        group: DraftSection | None = None
        for row in rows:
            if row.group is not None:
                group = row.group
                result.sections.append(group)
                stack = [None] * len(section_levels)
                carried = {c: v for c, v in carried.items() if self.roles[c] != ROLE_LEVEL}
                continue
            for col, role in self.roles.items():
                value = row.values[col]
                if value is not None:
                    carried[col] = value
                    if role == ROLE_LEVEL:  # a new group: the lower levels start again
                        for lower in self.levels:
                            if lower > col and row.values[lower] is None:
                                carried.pop(lower, None)
            opened = False  # a higher level opened a new section in this row
            for depth, col in enumerate(section_levels):
                value = row.values[col]
                if value is None and stack[depth] is not None:
                    continue
                cell = value or carried.get(col)
                if cell is None:
                    continue
                section = self._section(cell, points_in_names)
                current = stack[depth]
                if (
                    not opened
                    and current is not None
                    and (current.title, current.points) == (section.title, section.points)
                ):
                    continue  # the same name again under the same group: one section
                opened = True
                parent = next((s for s in reversed(stack[:depth]) if s is not None), group)
                (parent.sections if parent else result.sections).append(section)
                stack[depth] = section
                for deeper in range(depth + 1, len(stack)):
                    stack[deeper] = None
            item = self._item(row, carried, title_col, points_in_names)
            owner = next((s for s in reversed(stack) if s is not None), group)
            (owner.items if owner else result.items).append(item)
            for open_section in [group, *stack]:
                if open_section is not None and open_section.source is not None:
                    open_section.source.end = max(open_section.source.end, row.end)

    def _section(self, cell: Cell, points_in_names: bool) -> DraftSection:
        name, points = _name_and_points(cell.text, points_in_names)
        number = None
        if match := _NAME_NUMBER.match(name):
            number = next(g for g in match.groups() if g)
            name = name[match.end() :].strip()
        return DraftSection(
            number=number, title=name, points=points, source=Span(cell.start, cell.end)
        )

    def _item(
        self, row: _Row, carried: dict[int, Cell], title_col: int | None, points_in_names: bool
    ) -> DraftItem:
        item = DraftItem(source=Span(row.start, row.end))

        def value(col: int) -> Cell | None:
            own = row.values[col]
            if own is not None:
                return own
            if col in row.raw.absent or row.own_only:
                return None  # the row stops before this column: nothing to carry
            return carried.get(col) if self.roles[col] in CARRIED_ROLES else None

        number_cell = None if self.number_col is None else row.values[self.number_col]
        if number_cell is None and self.number_col in row.raw.repeats:
            # One 序号 merged over rows that each have their own points: each row's number.
            number_cell = carried.get(self.number_col)
        if number_cell is not None:
            item.number = number_of(number_cell.text) or clean_text(number_cell.text)
        title_points: Decimal | None = None
        if row.title is not None:
            item.title = clean_text(row.title.text)
        elif title_col is not None and (cell := row.values[title_col]) is not None:
            item.title, title_points = _name_and_points(cell.text, points_in_names)
            if self.number_col is None and (match := _TITLE_NUMBER.match(item.title)):
                item.number, item.title = match.group(1), item.title[match.end() :].strip()
        texts: list[str] = []
        missing = False
        has_points_column = False
        for col, role in self.roles.items():
            cell = value(col)
            text = clean_text(cell.text) if cell is not None else ""
            if role == ROLE_CONTENT:
                if text:
                    texts.append(text)
                elif col == self._main_content or not row.raw.positional:
                    # A row short of cells is cut; an empty 说明 in a whole grid row is not.
                    missing = True
            elif role in (ROLE_POINTS, ROLE_WEIGHT):
                has_points_column = True
                number = _decimal_value(text)
                if number is None and text:
                    item.flag(FLAG_AMBIGUOUS)  # printed, but not a number (／, 加分项 …)
                elif number is None and not row.own_only:  # a group's rule has none
                    missing = True
                elif role == ROLE_POINTS:
                    item.points = number
                else:
                    item.weight = number
            elif role in UNIT_ROLES and cell is not None:
                split = _split_units(cell.text)
                target = {
                    ROLE_ASSESSOR: item.lead_assessors,
                    ROLE_ASSESSED: item.assessed,
                    ROLE_LEAD: item.lead_units,
                    ROLE_RESPONSIBLE: item.responsible_units,
                }[role]
                target.extend(n for n in split[0] if n not in target)
                item.open_units = item.open_units or split[1]
            elif role == ROLE_DEADLINE and text:
                item.deadline_text = re.sub(r"\s+", "", text)  # 2023年 12月底前: a wrap
            elif role == ROLE_TARGET and text:
                item.target = text
            if cell is not None and _AS_NEEDED.search(clean_text(cell.text)):
                item.applicability = "as_needed"
        item.text = "\n".join(texts) if texts else (item.title or "")
        if item.points is None and title_points is not None:
            item.points = title_points
        if item.points is None and item.weight is None and not has_points_column:
            item.points = _points_from_rules(item.text)
        if item.deadline_text is None and ROLE_DEADLINE not in self.roles.values():
            # No 时限 column: the one deadline phrase the row's text states (年内至少3次);
            # not one inside a bracket, which explains a measure (指标=…截止年底前…).
            item.deadline_text = prose_deadline(_BRACKETED.sub("", item.text))
        if missing or not item.text or row.raw.absent:
            item.flag(FLAG_CUT_OFF)
            item.complete = False
        return item


@functools.lru_cache(maxsize=16384)
def _fit(text: str, role: str) -> float:
    """How well a cell's text reads as a value of a column role (higher is better)."""
    numeric = bool(_VALUE.match(text))
    if role in (ROLE_POINTS, ROLE_WEIGHT):
        return 4 if numeric else -6
    if numeric:
        return 1 if role == ROLE_TARGET else -3
    length = len(text)
    sentence = any(p in text for p in "。；;")
    if role in UNIT_ROLES:
        names = split_top_level(clean_units(text))
        if sentence or not names:
            return -4
        if all(looks_like_unit(n) for n in names):
            return 3
        if len(names) > 1 and all(looks_like_unit(n) for n in names[:-1]):
            return 2  # the last name is cut by a page break
        return -4 if length > 40 else -2
    if role == ROLE_DEADLINE:
        return 3 if _DATE_LIKE.search(text) and length <= 30 else -2
    if role == ROLE_TARGET:
        return 2 if re.search(r"\d", text) and length <= 20 else -1
    if role == ROLE_LEVEL:
        if length > 30 or sentence:
            return -3
        return 2 if _NAME_POINTS.match(text) else 1
    if role == ROLE_CONTENT:
        score = 1.0
        if length > 10:
            score += 1
        if sentence or "，" in text or "," in text:
            score += 1
        if length <= 4:
            score -= 1
        if _NAME_POINTS.match(text):
            score -= 1  # a name with its points is a heading, not the content
        return score
    if role == ROLE_REMARK:
        return 1 if _AS_NEEDED.search(text) else 0
    return 0


# -- helpers ------------------------------------------------------------------------------------


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


def _decimal_value(text: str) -> Decimal | None:
    """A points or weight cell (5 / 2.5 / 10% / 3分) as a number; percent signs dropped."""
    match = _VALUE.match(clean_text(text))
    return _decimal(match.group(1)) if match else None


def _name_and_points(text: str, points_in_names: bool) -> tuple[str, Decimal | None]:
    """An indicator name and the points printed after it: 组织保障 (2分) → 组织保障, 2; a bare
    (30) counts only in a table whose names carry 分 elsewhere."""
    name = clean_text(text)
    match = _NAME_POINTS.match(name)
    if match and (match.group("unit") or points_in_names) and match.group("name"):
        return match.group("name").strip(), _decimal(match.group("value"))
    return name, None


def _points_from_rules(text: str) -> Decimal | None:
    """The item's points from the rules in its text: 满分2分, or the parts （1）…得0.5分；
    （2）…得0.5分 added up. Alternatives (全部完成得2分，部分完成得1分) give the highest."""
    if match := _FULL_MARKS.search(text):
        return _decimal(match.group(1))
    gains = [_decimal(g) for g in _GAIN.findall(text)]
    values = [g for g in gains if g is not None]
    if not values or "扣" in text:
        return None
    if len(values) > 1 and len(_ENUMERATED.findall(text)) >= len(values):
        return sum(values, Decimal(0))
    return max(values)


@functools.lru_cache(maxsize=4096)
def _split_units(text: str) -> tuple[tuple[str, ...], bool]:
    """A unit cell's names as printed, and whether the list ends open (等有关单位)."""
    split = split_unit_names(clean_units(text))
    return tuple(split.names), split.open_rest is not None


def _is_name(text: str) -> bool:
    """A short name (an indicator or task heading), not a sentence."""
    return len(text) <= _NAME_MAX and not any(p in text for p in "。；;")


def _unit_open(text: str) -> bool:
    """A unit list cut mid-name (各县市区人民政府、市级各 …)."""
    names = _split_units(text)[0]
    return bool(names) and not looks_like_unit(names[-1])


def _children_points(section: DraftSection) -> Decimal | None:
    values = [s.points for s in section.sections] + [i.points for i in section.items]
    if not values or any(v is None for v in values):
        return None
    return sum((v for v in values if v is not None), Decimal(0))


def _outside(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        out.append(text[pos:start])
        pos = max(pos, end)
    out.append(text[pos:])
    return "\n".join(out)


def _stated_total(text: str, spans: list[tuple[int, int]]) -> Decimal | None:
    match = _TOTAL.search(_outside(text, spans))
    return _decimal(match.group(1)) if match else None


def _stated_assessors(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """The assessing body the prose names for the whole system (评估主体: 由X开展…评估)."""
    prose = _outside(text, spans)
    for match in _ASSESSOR_STATED.finditer(prose):
        names = split_unit_names(match.group("name")).names
        if names and all(looks_like_unit(n) for n in names):
            return names
    return []
