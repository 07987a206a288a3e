"""Excel tables an office accepts as is: Chinese headers, frozen header row, widths, formats.

Workbooks are written with openpyxl's write-only mode, so a sheet of 100,000 rows streams
through without keeping every cell in memory. Every table sheet has its header on row 1
(frozen, with an autofilter), fixed column widths and a number format per column.

Every cell goes through :func:`as_text_if_formula` (write-only cells in :func:`add_table` and
:func:`add_notes`, other workbooks in :func:`workbook_bytes`): text from the database that
starts like a formula (``=1+2``, ``@SUM(…)``) stays text, so a spreadsheet never runs it.

openpyxl (lxml and PIL with it, some 20 MiB per process) is imported by the functions that
build or read a workbook, not by this module: a web worker that never exports Excel never
loads it (issue 17; tests/test_lazy_imports.py).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: 2022年6月30日: the date style of Chinese office documents (Excel's own zh-CN long date).
DATE_FORMAT = 'yyyy"年"m"月"d"日"'
#: 2022年6月30日 14:05, for timestamps already converted to the office's time zone.
DATETIME_FORMAT = 'yyyy"年"m"月"d"日" hh:mm'
#: Fractions (0.45) shown as 45%.
PERCENT_FORMAT = "0%"
INTEGER_FORMAT = "0"

#: First characters that make a spreadsheet read typed text as a formula (OWASP "CSV
#: injection"): text starting with one of them is written as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

#: Cell kinds a column can have; each is one named style of the workbook.
KINDS = ("text", "wrap", "center", "integer", "decimal", "percent", "date", "datetime", "change")


def decimal_format(places: int) -> str:
    """The number format that shows ``places`` decimals (0 → "0", 2 → "0.00")."""
    return "0." + "0" * places if places > 0 else "0"


def column_letter(index: int) -> str:
    """Excel's name of the 1-based column ``index`` (1 → A, 27 → AA): openpyxl's
    ``get_column_letter``, for code that writes SpreadsheetML without openpyxl."""
    if not 1 <= index <= 18278:  # XFD, Excel's last column
        raise ValueError(f"Invalid column index {index}")
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


#: A rank change (places gained): ↑2, ↓1, 持平 — the number stays sortable.
CHANGE_FORMAT = '"↑"0;"↓"0;"持平"'


@dataclass(frozen=True)
class Column:
    """One column of a table sheet: its Chinese header, width (characters) and cell kind."""

    header: str
    width: float = 12
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}; one of {KINDS}")


def new_workbook(*, decimals: int = 2) -> Workbook:
    """A write-only workbook with the table styles (``decimals`` places for decimal columns)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side

    wb = Workbook(write_only=True)
    thin = Side(style="thin", color="A0A0A0")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    top = Alignment(vertical="top")
    wb.add_named_style(
        NamedStyle(
            "xlsx_head",
            font=Font(bold=True),
            fill=PatternFill("solid", fgColor="DDE5F0"),
            alignment=Alignment(horizontal="center", vertical="center", wrap_text=True),
            border=border,
        )
    )
    formats = {
        "text": None,
        "wrap": None,
        "center": None,
        "integer": INTEGER_FORMAT,
        "decimal": decimal_format(decimals),
        "percent": PERCENT_FORMAT,
        "date": DATE_FORMAT,
        "datetime": DATETIME_FORMAT,
        "change": CHANGE_FORMAT,
    }
    for kind, number_format in formats.items():
        alignment = {
            "wrap": Alignment(vertical="top", wrap_text=True),
            "center": Alignment(horizontal="center", vertical="top"),
        }.get(kind, top)
        style = NamedStyle(f"xlsx_{kind}", alignment=alignment, border=border)
        if number_format:
            style.number_format = number_format
        wb.add_named_style(style)
    return wb


def add_table(
    wb: Workbook,
    title: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    landscape: bool = True,
) -> int:
    """Write a table sheet (header on row 1, frozen, autofiltered); returns the data row count.

    ``rows`` may be a generator: rows are written as they come.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    ws = wb.create_sheet(title)
    # Widths, panes and print setup are written before the first row in write-only mode.
    for index, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.append([_cell(ws, column.header, "xlsx_head") for column in columns])
    # Each column's style, resolved once: setting a named style looks it up by name on every
    # cell, a third of the time of a large sheet; a copy of the resolved style array is cheap.
    styles = [_cell(ws, None, f"xlsx_{column.kind}")._style for column in columns]
    count = 0
    for row in rows:
        ws.append(
            [
                _styled(WriteOnlyCell, ws, value, style)
                for value, style in zip(row, styles, strict=True)
            ]
        )
        count += 1
    last = get_column_letter(len(columns))
    ws.auto_filter.ref = f"A1:{last}{count + 1}"
    return count


def add_notes(wb: Workbook, title: str, lines: Iterable[tuple[str, str]]) -> None:
    """A small two-column sheet (what, value): the filters used, the export time."""
    ws = wb.create_sheet(title)
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 60
    for key, value in lines:
        ws.append([_cell(ws, key, "xlsx_head"), _cell(ws, value, "xlsx_wrap")])


def _cell(ws: Any, value: Any, style: str) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    cell.style = style
    return as_text_if_formula(cell)


def _styled(cell_type: type[WriteOnlyCell], ws: Any, value: Any, style: Any) -> WriteOnlyCell:
    # The class comes from the caller: an import here would cost as much as the cell itself.
    cell = cell_type(ws, value=value)
    cell._style = copy(style)
    return as_text_if_formula(cell)


def looks_like_formula(value: object) -> bool:
    """True for text a spreadsheet would take as a formula if typed (numbers never are)."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def as_text_if_formula(cell: Any) -> Any:
    """Keep formula-like text as text: string type (openpyxl makes ``=…`` a formula) and
    Excel's quote prefix (editing the cell keeps it text); the value is unchanged."""
    if cell.data_type == "f" or looks_like_formula(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def workbook_bytes(wb: Workbook) -> bytes:
    """Save the workbook into memory (no cell of it is a formula)."""
    from openpyxl.cell import Cell

    if not wb.write_only:  # write-only cells were guarded as they were made (_cell)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell, Cell):
                        as_text_if_formula(cell)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def safe_file_name(text: str) -> str:
    """Replace characters that file systems or headers refuse; Chinese stays."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", text).strip("_")


def xlsx_response(data: bytes | Iterable[bytes], name: str, ascii_name: str) -> Response:
    """A download response with the UTF-8 file name and an ASCII fallback (RFC 6266/5987);
    ``data`` may be an iterable of pieces, sent as they come (a streamed response)."""
    response = Response(data, mimetype=XLSX_MIMETYPE)
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
