"""Indicator tables in plain text: rebuild the rows of a table flattened into lines.

Scraped web pages and pasted text write a table as lines of cells separated by `` | `` or tabs.
The scrape breaks rows: a row spread over several lines, a cell covering several rows printed
only in its first row (the row's other cells shift left and the line is padded with empty
cells), the header printed again on each page, ``---|---`` lines, and a cell cut by a page
break continued in a row of its own. The rules here are general:

- a table starts at a line whose cells read as a header (序号 / 指标 / 内容 / 分值 …);
- a row starts with a 序号 cell; a line that holds a whole row (as many cells as the header)
  or that ends in empty padding cells ends the row;
- a number where the row still lacks its points or weight is that value, not the next row;
- the table ends at a line without cells that is not inside a cell (a caption, prose, a footer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from taskhub.documents.clean import is_noise
from taskhub.documents.readers import Block, SourceDocument
from taskhub.documents.tables_grid import Cell, RawRow, RawTable, number_of
from taskhub.documents.tables_header import (
    ROLE_CONTENT,
    ROLE_NUMBER,
    ROLE_POINTS,
    ROLE_WEIGHT,
    Column,
    clean_text,
    is_header_row,
    read_header,
    role_of,
)

_SEPARATOR_LINE = re.compile(r"^[\s|:：\-—=+]*$")
#: A caption above a table: 表一 … / 附表2 … / 附件1 ….
CAPTION = re.compile(r"^(?:附表|附件|表)\s*[一二三四五六七八九十\d]+")
#: A caption is one short line (表一 …); a longer line is prose.
CAPTION_MAX = 60
#: A page number (— 3 —, 第3页, 3/20) or 续表 between two parts of a table.
_PAGE_LINE = re.compile(
    r"^(?:[-—–－~～\s]*(?:第\s*)?\d{1,4}\s*页?[-—–－~～\s]*|\d{1,4}\s*/\s*\d{1,4}|"
    r"(?:附表\s*\d*\s*)?[（(]?续(?:表|上表)?[)）]?.{0,30}?|.{0,30}?[（(]续(?:表)?[)）])$"
)
#: A web page's footer after the table (主办 / 备案 / 网站标识码 …).
_FOOTER = re.compile(
    r"主办[:：\s]|承办[:：\s]|主办\S*承办|版权所有|[网公]安备|ICP备|网站标识码|技术支持[:：]|Copyright|©"
)
#: A numbered heading of the prose (一、 / （一） / 1.): above a table, but not its caption.
_HEADING = re.compile(
    r"^\s*(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]|\d+[.、．](?!\d))"
)
PROSE_END = ("。", "：", ":", "；", ";")


@dataclass
class _Line:
    text: str  # the paragraph's text
    start: int  # offset of text[0]
    block: int  # index into the document's blocks
    cells: list[Cell] | None = None  # the line's cells, once split
    #: A row joined from a cell-per-lines web table: every cell is printed (an empty one is
    #: empty, not covered from above) and a row that stops short was cut off.
    whole_cells: bool = False


def _pieces(line: _Line, sep: str) -> list[Cell]:
    """The cells of a line, with offsets (a final separator closes the last cell)."""
    if line.cells is None:
        line.cells = _split(line, sep)
    return list(line.cells)


def _split(line: _Line, sep: str) -> list[Cell]:
    out: list[Cell] = []
    text = line.text
    pos = 0
    parts = text.split(sep)
    if text.rstrip().endswith(sep):
        parts = parts[:-1]
    for part in parts:
        stripped = part.strip()
        offset = line.start + pos + (part.index(stripped) if stripped else 0)
        out.append(Cell(stripped, offset, offset + len(stripped)))
        pos += len(part) + len(sep)
    return out


def _separator(text: str) -> str | None:
    if "\t" in text:
        return "\t"
    if "|" in text:
        return "|"
    return None


def read_text_tables(doc: SourceDocument) -> list[RawTable]:
    """The indicator tables written as lines of the document's paragraph blocks."""
    lines = [_raw_line(doc, b, i) for i, b in enumerate(doc.blocks) if b.kind == "paragraph"]
    lines = _join_scattered_rows(doc, lines)
    tables: list[RawTable] = []
    i = 0
    while i < len(lines):
        found = _header_at(lines, i)
        if found is None:
            flat = _flat_header_at(lines, i)
            if flat is not None:
                columns, used = flat
                points = _points_index(columns)
                if _row_start(lines[i + used].text) != 1 and points is not None:
                    table, i = _read_flat_unnumbered(lines, i, columns, used, points)
                else:
                    table, i = _read_flat(lines, i, columns, used)
                tables.append(table)
            else:
                i += 1
            continue
        columns, sep, used = found
        table, i = _read_table(lines, i, used, columns, sep)
        tables.append(table)
    return tables


def _join_scattered_rows(doc: SourceDocument, lines: list[_Line]) -> list[_Line]:
    """Rows of a web table flattened with each cell over several indented lines: a bare ``|``
    at the start of a line opens the row, each cell's lines end with an indented ``|``
    (``|\n    1\n    |\n    工作任务\n    | …``). Each such row becomes one line (the
    document's text from the opener to the row's last line), so that the row reads as
    ``| 1 | 工作任务 | …`` with its line breaks kept inside the cells."""

    def opener(k: int) -> bool:
        start = lines[k].start
        return lines[k].text.strip() == "|" and (start == 0 or doc.text[start - 1] == "\n")

    if not any(opener(k) for k in range(len(lines))):
        return lines
    out: list[_Line] = []
    width = 0  # the most cells a joined row had: a row is whole at that many
    i = 0
    while i < len(lines):
        line = lines[i]
        if not opener(i):
            out.append(line)
            i += 1
            continue
        j = i + 1
        cells = 0
        while j < len(lines) and not opener(j):
            text = lines[j].text.strip()
            after_closer = lines[j - 1].text.rstrip().endswith("|")
            if "|" not in text and after_closer and width and cells >= width:
                break  # a whole row, then text after the table
            cells += text.count("|")
            j += 1
        last = lines[j - 1]
        end = last.start + len(last.text)
        out.append(_Line(doc.text[line.start : end], line.start, line.block, whole_cells=True))
        width = max(width, cells)
        i = j
    return out


def _raw_line(doc: SourceDocument, block: Block, index: int) -> _Line:
    """A paragraph's whole line: leading and trailing tabs are empty cells, not margins."""
    if "\n" in block.text or "\t" not in block.text:
        return _Line(block.text, block.start, index)
    start = doc.text.rfind("\n", 0, block.start) + 1
    end = doc.text.find("\n", block.end)
    end = len(doc.text) if end < 0 else end
    return _Line(doc.text[start:end].rstrip("\r "), start, index)


def _header_at(lines: list[_Line], i: int) -> tuple[list[Column], str, int] | None:
    """The header starting at line i: its columns, separator and number of lines (1 or 2:
    a header cell broken over two lines, 牵头考核\\n单位)."""
    sep = _separator(lines[i].text)
    if sep is None:
        return None
    cells = [c.text for c in _pieces(lines[i], sep)]
    if sep == "|" and lines[i].text.lstrip().startswith("|"):
        cells = cells[1:]
    if not any(role_of(c) for c in cells):
        return None
    nxt = lines[i + 1] if i + 1 < len(lines) else None
    if nxt is not None and _separator(nxt.text) == sep and _header_goes_on(lines[i], nxt, sep):
        # A header cell broken over two lines (牵头考核\n单位 |): the line's last cell goes on
        # in the next line's first.
        more = [c.text for c in _pieces(nxt, sep)]
        if cells and more and not number_of(more[0]):
            joined = [*cells[:-1], cells[-1] + more[0], *more[1:]]
            if (columns := read_header(joined)) is not None:
                return columns, sep, 2
    columns = read_header(cells)
    if columns is not None:
        return columns, sep, 1
    if nxt is not None and _separator(nxt.text) == sep:
        more = [c.text for c in _pieces(nxt, sep)]
        # Or a header of two rows, each column's name split between them.
        if len(more) == len(cells):
            stacked = [a + b for a, b in zip(cells, more, strict=True)]
            if (columns := read_header(stacked)) is not None:
                return columns, sep, 2
    return None


#: A row's first cell in a table flattened one cell per line: 3 / 3. / 3.电子政务内外网建设(10分).
_ROW_START = re.compile(r"^\s*[（(]?(\d{1,3})(?:[)）]|[.、．](?!\d)|\s*$)")
_FLAT_CELL_MAX = 500


def _row_start(text: str) -> int | None:
    match = _ROW_START.match(text)
    return int(match.group(1)) if match else None


def _flat_header_at(lines: list[_Line], i: int) -> tuple[list[Column], int] | None:
    """A header flattened one name per line (考核项目 / 考核内容 / 计分办法), followed by a
    numbered first row, or by an unnumbered row (指标名 / 20分) when the header has points.
    A name without a role between two that have one (… / 责任科室 / 得分) is a column too."""
    names: list[str] = []
    j = i

    def header_line(k: int) -> bool:
        return _separator(lines[k].text) is None and bool(role_of(lines[k].text))

    while j < len(lines) and (
        header_line(j)
        or (names and j + 1 < len(lines) and _is_name_line(lines[j]) and header_line(j + 1))
    ):
        names.append(lines[j].text.strip())
        j += 1
    if len(names) < 3 or j >= len(lines):
        return None
    columns = read_header(names, anchored=False)
    if columns is None:
        return None
    if _row_start(lines[j].text) == 1:
        return columns, j - i
    if _points_index(columns) is not None and _unnumbered_row_at(lines, j):
        return columns, j - i
    return None


#: The name of an indicator in a flattened row: a short line without sentence punctuation.
_NAME_MAX = 12
_SENTENCE = re.compile(r"[。，,；;：:！？!?]")


def _points_index(columns: list[Column]) -> int | None:
    """The points column of a header whose columns before it name the indicator (指标 | 分值)."""
    for column in columns:
        if column.role == ROLE_POINTS:
            return column.index if column.index >= 1 else None
    return None


def _is_name_line(line: _Line) -> bool:
    text = line.text.strip()
    return 0 < len(text) <= _NAME_MAX and not _SENTENCE.search(text) and not _VALUE.match(text)


def _unnumbered_row_at(lines: list[_Line], j: int) -> int:
    """The number of name lines (1 or 2: a name printed over two lines) of an unnumbered row
    starting at line j (指标 / 20分 / 内容 …), or 0."""
    for names in (1, 2):
        k = j + names
        if k >= len(lines) or not all(_is_name_line(lines[n]) for n in range(j, k)):
            return 0
        if _VALUE.match(lines[k].text.strip()):
            return names
    return 0


def _read_flat_unnumbered(
    lines: list[_Line], i: int, columns: list[Column], used: int, points: int
) -> tuple[RawTable, int]:
    """Rows of an unnumbered table flattened one cell per line, empty cells left out: a row
    starts at its name (one or two short lines) followed by its points; the lines after the
    points fill the text columns in turn, the last taking the rest. The table ends at page
    furniture, a caption or a line with cells."""
    width = len(columns)
    texts = [c.index for c in columns if c.index > points and c.role == ROLE_CONTENT]
    table = RawTable(columns=columns, start=lines[i].start, caption=_caption(lines, i))
    if table.caption is not None and not _HEADING.match(table.caption):
        table.start = lines[i - 1].start
    j = i + used
    while j < len(lines) and (names := _unnumbered_row_at(lines, j)):
        name_lines = lines[j : j + names]
        value = lines[j + names]
        body: list[_Line] = []
        j += names + 1
        while j < len(lines) and not _unnumbered_row_at(lines, j):
            text = lines[j].text.strip()
            if (
                _separator(text) is not None
                or CAPTION.match(text)
                or len(text) > _FLAT_CELL_MAX
                or is_noise(text)
                or _FOOTER.search(text)
            ):
                break
            body.append(lines[j])
            j += 1
        cells: list[Cell | None] = [None] * width
        first, last = name_lines[0], name_lines[-1]
        name = "".join(n.text.strip() for n in name_lines)
        cells[points - 1] = Cell(name, first.start, last.start + len(last.text))
        cells[points] = Cell(value.text.strip(), value.start, value.start + len(value.text))
        for n, column in enumerate(texts):
            chunk = body[n:] if n == len(texts) - 1 else body[n : n + 1]
            if chunk:
                joined = "\n".join(c.text.strip() for c in chunk)
                end = chunk[-1].start + len(chunk[-1].text)
                cells[column] = Cell(joined, chunk[0].start, end)
        end_line = body[-1] if body else value
        row_end = end_line.start + len(end_line.text)
        # Cells left out are empty, not covered by the row above.
        filled = [c if c is not None else Cell("", row_end, row_end) for c in cells]
        table.rows.append(RawRow(list(filled), True, first.start, row_end))
        table.end = row_end
        if j < len(lines) and not _unnumbered_row_at(lines, j):
            break
    return table, j


def _read_flat(
    lines: list[_Line], i: int, columns: list[Column], used: int
) -> tuple[RawTable, int]:
    """Rows of a table flattened one cell per line: a row starts at its number (the next in
    turn) or after as many cells as the header has; a full row followed by a line that does
    not start the next row ends the table."""
    width = len(columns)
    numeric = _numeric_columns(columns)
    table = RawTable(columns=columns, start=lines[i].start, caption=_caption(lines, i))
    if table.caption is not None and not _HEADING.match(table.caption):
        table.start = lines[i - 1].start
    current: list[Cell] = []
    expected = 1
    j = i + used
    while j < len(lines):
        line = lines[j]
        text = line.text.strip()
        if _separator(text) is not None or CAPTION.match(text) or len(text) > _FLAT_CELL_MAX:
            break
        number = _row_start(text)
        starts = number == expected and (
            not current or (len(current) >= 2 and not _lacks_value(current, numeric))
        )
        if current and (starts or len(current) >= width):
            if not starts:
                break  # a whole row, then something else: the table has ended
            table.rows.append(_flat_row(current, width))
            current = []
        if starts:
            expected += 1
        current.append(Cell(text, line.start, line.start + len(text)))
        j += 1
    if current:
        table.rows.append(_flat_row(current, width))
    end_line = lines[j - 1]
    table.end = end_line.start + len(end_line.text)
    return table, j


def _lacks_value(current: list[Cell], numeric: int) -> bool:
    """The row has fewer points/weight values than the table has such columns: a number now
    is its value, not the next row's 序号."""
    return sum(1 for c in current[1:] if _VALUE.match(c.text)) < numeric


def _flat_row(cells: list[Cell], width: int) -> RawRow:
    row_cells: list[Cell | None] = list(cells)
    return RawRow(row_cells, len(cells) == width, cells[0].start, cells[-1].end)


def _header_goes_on(line: _Line, nxt: _Line, sep: str) -> bool:
    """The header's last cell goes on in the next line: ``… | 牵头考核`` then ``单位 |``, or a
    tab line followed by a shorter line of header words (no 序号)."""
    if sep == "|":
        return not line.text.rstrip().endswith(sep)
    ours, theirs = _pieces(line, sep), _pieces(nxt, sep)
    return len(theirs) < len(ours) and not any(number_of(p.text) for p in theirs)


def _caption(lines: list[_Line], i: int) -> str | None:
    if i <= 0:
        return None
    text = lines[i - 1].text.strip()
    if (sep := _separator(text)) is not None:
        # A row of one cell spanning the table (| 附件2 关于…分工 | ||||): its caption.
        filled = [c.text for c in _pieces(lines[i - 1], sep) if c.text]
        if len(filled) != 1:
            return None
        text = clean_text(filled[0])
    if len(text) > CAPTION_MAX or text.endswith(PROSE_END):
        return None
    return text


def _read_table(
    lines: list[_Line], i: int, used: int, columns: list[Column], sep: str
) -> tuple[RawTable, int]:
    """Rows of the table whose header is at line i; returns it and the line after it."""
    markdown = sep == "|" and lines[i].text.lstrip().startswith("|")
    stream = sep == "|" and lines[i + used - 1].text.rstrip().endswith("|") and not markdown
    table = RawTable(columns=columns, start=lines[i].start, caption=_caption(lines, i))
    if table.caption is not None and not _HEADING.match(table.caption):
        table.start = lines[i - 1].start  # the caption is the table's (a heading is the prose's)
    last = lines[i + used - 1]
    table.end = last.start + len(last.text)
    body: list[_Line] = []
    j = i + used
    while j < len(lines):
        line = lines[j]
        text = line.text.strip()
        if _separator(line.text) != sep and _FOOTER.search(text):
            break  # the web page's footer
        if _separator(line.text) == sep:
            if (
                _may_be_header(line.text, sep)
                and _header_at(lines, j) is not None
                and not _repeats(lines[j], sep, columns, markdown)
            ):
                break  # the next table
            body.append(line)
            j += 1
            continue
        k = j
        while k < len(lines) and k - j < 3 and _PAGE_LINE.match(lines[k].text.strip()):
            k += 1
        if k > j and k < len(lines) and _separator(lines[k].text) == sep:
            after = lines[k]
            if not _may_be_header(after.text, sep) or _repeats(after, sep, columns, markdown):
                j = k  # page numbers or 续表 between two parts of the table
                continue
        nxt = lines[j + 1] if j + 1 < len(lines) else None
        # A line without cells: inside a cell when the next line goes on with the table.
        if (
            nxt is None
            or _separator(nxt.text) != sep
            or CAPTION.match(text)
            or (_header_at(lines, j + 1) is not None and not _repeats(nxt, sep, columns, markdown))
        ):
            break
        body.append(line)
        j += 1
    if body:
        table.end = body[-1].start + len(body[-1].text)
    reader = _StreamRows(columns) if stream else _LineRows(columns, sep, markdown)
    table.rows = reader.rows(body, sep)
    return table, j


def _may_be_header(text: str, sep: str) -> bool:
    """A cheap test before reading a line as a header: a row starts with its 序号."""
    first = text.strip().lstrip("|").split(sep, 1)[0]
    return number_of(first) is None


def _repeats(line: _Line, sep: str, columns: list[Column], markdown: bool) -> bool:
    cells = [c.text for c in _pieces(line, sep)]
    if markdown:
        cells = cells[1:]
    return is_header_row(cells, columns)


def _numeric_columns(columns: list[Column]) -> int:
    return sum(1 for c in columns if c.role in (ROLE_POINTS, ROLE_WEIGHT))


_VALUE = re.compile(r"^\d+(?:\.\d+)?\s*[%％分]?$")


class _StreamRows:
    """Lines ending in ``|``: the cells of a row may run over several lines."""

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns
        self.width = len(columns)
        self.numeric = _numeric_columns(columns)
        self.has_number = any(c.role == ROLE_NUMBER for c in columns)

    def rows(self, body: list[_Line], sep: str) -> list[RawRow]:
        out: list[RawRow] = []
        current: list[Cell] = []
        open_cell = False  # the previous line's last cell goes on in this line

        def flush() -> None:
            nonlocal current
            cells = [c for c in current if c.text]
            if cells:
                out.append(RawRow(list(cells), False, cells[0].start, cells[-1].end))
            current = []

        for line in body:
            text = line.text.strip()
            if _SEPARATOR_LINE.match(text) and "-" in text:
                continue
            if _separator(text) != sep:  # a line of one cell's text
                if current and open_cell:
                    _extend(current[-1], line.start, line.text.strip(), line.start + len(line.text))
                else:
                    current.append(Cell(text, line.start, line.start + len(line.text)))
                open_cell = True
                continue
            pieces = _pieces(line, sep)
            closes = text.endswith(sep)
            if open_cell and current and pieces:
                first = pieces.pop(0)
                if first.text:
                    _extend(current[-1], first.start, first.text, first.end)
            if closes and len(pieces) == self.width and not open_cell:
                # The whole row on one line (padded with empty cells).
                flush()
                if not is_header_row([p.text for p in pieces], self.columns):
                    current = pieces
                    flush()
                open_cell = False
                continue
            filled = [p.text for p in pieces if p.text]
            for index, piece in enumerate(pieces):
                if not piece.text:
                    continue
                if current and self._starts_row(current, piece, pieces[index + 1 :]):
                    flush()
                current.append(piece)
                if len([c for c in current if c.text]) >= self.width:
                    flush()
            open_cell = not closes
            padded = closes and len(pieces) > len(filled) and pieces and not pieces[-1].text
            if padded and not open_cell:
                flush()
        flush()
        return out

    def _starts_row(self, current: list[Cell], piece: Cell, after: list[Cell]) -> bool:
        number = number_of(piece.text)
        if number is None or not self.has_number:
            return False
        filled = [c for c in current if c.text]
        if not filled:
            return False
        if self.numeric == 0:
            return True
        values = sum(1 for c in filled[1:] if _VALUE.match(c.text))
        if values >= self.numeric:
            return True  # the row has its points: this is the next row's 序号
        current_number = number_of(filled[0].text)
        if current_number is not None and int(number) == int(current_number) + 1:
            # The next 序号 or this row's points: the next row goes on on the same line.
            return any(c.text and not _VALUE.match(c.text) for c in after)
        return False


def _extend(cell: Cell, start: int, text: str, end: int) -> None:
    cell.text = f"{cell.text}\n{text}" if cell.text else text
    if not cell.text.strip():
        cell.start = start
    cell.end = max(cell.end, end)


class _LineRows:
    """One row a line (tab-separated, or ``a | b | c`` without a closing bar). Empty cells
    stand in place (a merged cell pasted from a word processor leaves them empty below it)."""

    def __init__(self, columns: list[Column], sep: str, markdown: bool) -> None:
        self.columns = columns
        self.width = len(columns)
        self.markdown = markdown

    def rows(self, body: list[_Line], sep: str) -> list[RawRow]:
        out: list[RawRow] = []
        pending: list[Cell] | None = None  # a numbered row short of cells: a cell broke
        for line in body:
            text = line.text.strip()
            if _SEPARATOR_LINE.match(text) and "-" in text:
                continue
            if _separator(text) != sep:
                pieces = [Cell(text, line.start, line.start + len(line.text))]
            else:
                pieces = _pieces(line, sep)
                if self.markdown and pieces and not pieces[0].text:
                    pieces = pieces[1:]
                if is_header_row([p.text for p in pieces], self.columns):
                    continue
                while len(pieces) > self.width and not pieces[-1].text:
                    pieces.pop()
            if line.whole_cells and _separator(text) == sep:
                out.append(self._positional(pieces[: self.width], every_cell=True))
                continue
            numbered = bool(pieces) and number_of(pieces[0].text) is not None
            if (
                pending is not None
                and not numbered
                and len(pending) + len(pieces) - 1 <= self.width
            ):
                # The rest of a row whose cell held a line break.
                last = pending[-1]
                first = pieces[0]
                pending[-1] = Cell(f"{last.text}\n{first.text}", last.start, first.end)
                pending.extend(pieces[1:])
                if len(pending) == self.width:
                    out.append(self._positional(pending))
                    pending = None
                continue
            if pending is not None:
                out.append(self._positional(pending))
                pending = None
            if len(pieces) == self.width:
                out.append(self._positional(pieces))
            elif numbered and sep == "\t" and len(pieces) < self.width:
                pending = pieces  # empty cells stand in place: the missing ones are at the end
            else:
                cells = [p for p in pieces if p.text]
                if cells:
                    out.append(RawRow(list(cells), False, cells[0].start, cells[-1].end))
        if pending is not None:
            out.append(self._positional(pending))
        return out

    def _positional(self, pieces: list[Cell], *, every_cell: bool = False) -> RawRow:
        cells: list[Cell | None] = [p if p.text else None for p in pieces]
        absent = set(range(len(cells), self.width))
        if every_cell:
            # A cell printed empty is empty: not covered from above, not a cut.
            cells = [
                c if c is not None else Cell("", p.start, p.start)
                for c, p in zip(cells, pieces, strict=True)
            ]
        cells += [None] * len(absent)
        present = [p for p in pieces if p.text]
        start = present[0].start if present else 0
        end = present[-1].end if present else 0
        return RawRow(cells, True, start, end, absent)
