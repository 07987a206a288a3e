"""The import workbooks: sheet layouts, reading rows by header, cell conversions, templates.

Templates carry Chinese headers (the offices' language; the reader matches them), a frozen
header row, column widths, text-formatted code columns and a 说明 sheet describing each column.

openpyxl is imported by the functions that read or write a workbook (issue 17: a web worker
that never handles one does not load it).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask_babel import gettext as _

from taskhub.core.xlsx import workbook_bytes
from taskhub.units.names import SplitNames, split_top_level, split_unit_names

logger = logging.getLogger(__name__)

#: Most data rows a sheet may hold; a plan or contact list beyond this is split by the office.
MAX_ROWS = 5000
#: Name of the explanation sheet in every template (ignored when reading).
NOTES_SHEET = "说明"

#: The fill of header cells in templates (an openpyxl ``PatternFill("solid", …)``).
_HEADER_COLOR = "DDEBF7"


@dataclass(frozen=True)
class Column:
    """One template column: ``header`` is what the sheet shows and the reader matches."""

    key: str
    header: str
    required: bool = False
    note: str = ""
    width: int = 14
    #: Stored as text so Excel keeps leading zeros and long digits (codes, numbers, phones).
    is_text: bool = False
    #: Allowed values offered as a drop-down list in the template.
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class SheetSpec:
    name: str
    columns: tuple[Column, ...]

    def header(self, key: str) -> str:
        return next(c.header for c in self.columns if c.key == key)


@dataclass(frozen=True)
class RowError:
    """A problem the user fixes in the workbook: where (sheet, row, column) and what."""

    sheet: str
    row: int | None
    column: str | None
    message: str


@dataclass
class Row:
    """A non-empty data row: its number as Excel shows it and its cells by column key."""

    number: int
    values: dict[str, Any]

    def get(self, key: str) -> Any:
        return self.values.get(key)


@dataclass
class Sheet:
    spec: SheetSpec
    rows: list[Row]
    #: Keys of the columns found in the header (optional columns may be left out).
    present: frozenset[str] = field(default_factory=frozenset)


class WorkbookRejected(Exception):
    """The file as a whole is not a usable workbook; ``message`` tells the user why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- reading -------------------------------------------------------------------------------


def _normalise_header(value: Any) -> str:
    # Template headers mark required columns with *; people also add spaces or line breaks.
    return "".join(str(value or "").split()).rstrip("*＊")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_workbook(
    path: Path, specs: Sequence[SheetSpec], *, max_rows: int = MAX_ROWS
) -> list[Sheet]:
    """Read the named sheets (read-only mode) or raise WorkbookRejected naming the problem."""
    from openpyxl import load_workbook

    try:
        # A file object, not the path: openpyxl judges a path by its extension, and uploads
        # are kept under their digest without one.
        with path.open("rb") as fh, warnings.catch_warnings():
            # openpyxl warns about features it drops (extensions, styles); not our concern.
            warnings.simplefilter("ignore")
            book = load_workbook(fh, read_only=True, data_only=True)
            try:
                missing = [s.name for s in specs if s.name not in book.sheetnames]
                if missing:
                    raise WorkbookRejected(
                        _(
                            "The workbook has no sheet %(missing)s. Sheets expected: "
                            "%(expected)s. Start from the template.",
                            missing="、".join(f"「{m}」" for m in missing),
                            expected="、".join(s.name for s in specs),
                        )
                    )
                return [_read_sheet(book[spec.name], spec, max_rows) for spec in specs]
            finally:
                book.close()
    except WorkbookRejected:
        raise
    except Exception as exc:
        # Any damage in a user's file (zip, XML, styles) surfaces here, possibly mid-sheet
        # since read-only mode parses lazily: it is the file's problem, not a server error.
        logger.info("unreadable workbook %s: %r", path.name, exc)
        raise WorkbookRejected(
            _(
                "The file cannot be read as an Excel workbook. "
                "Open it in Excel or WPS and save it again as .xlsx."
            )
        )


def _read_sheet(ws: Any, spec: SheetSpec, max_rows: int) -> Sheet:
    rows = ws.iter_rows(values_only=True)
    try:
        header = next(rows)
    except StopIteration:
        raise WorkbookRejected(
            _("Sheet 「%(sheet)s」 is empty: row 1 must hold the headers.", sheet=spec.name)
        )
    by_header = {c.header: c for c in spec.columns}
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = by_header.get(_normalise_header(cell))
        if column is not None and column.key not in positions:
            positions[column.key] = index
    missing = [c.header for c in spec.columns if c.required and c.key not in positions]
    if missing:
        raise WorkbookRejected(
            _(
                "Sheet 「%(sheet)s」, row 1: the columns %(columns)s are missing. "
                "Keep the template's headers.",
                sheet=spec.name,
                columns="、".join(f"「{m}」" for m in missing),
            )
        )
    out: list[Row] = []
    for number, raw in enumerate(rows, start=2):
        values = {
            key: _clean(raw[index]) if index < len(raw) else None
            for key, index in positions.items()
        }
        if all(v is None for v in values.values()):
            continue
        if len(out) >= max_rows:
            raise WorkbookRejected(
                _(
                    "Sheet 「%(sheet)s」 has more than %(limit)d rows of data. "
                    "Split it into several files.",
                    sheet=spec.name,
                    limit=max_rows,
                )
            )
        out.append(Row(number, values))
    return Sheet(spec, out, frozenset(positions))


# -- cell conversions ----------------------------------------------------------------------


def as_text(value: Any) -> str | None:
    """A cell as text: 1 typed as a number reads "1", a date cell reads YYYY-MM-DD."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def as_decimal(value: Any) -> Decimal | None:
    """A cell as an exact non-negative number; ValueError when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool | date):
        raise ValueError(value)
    try:
        # repr of a float is its shortest exact spelling: 1.5 stays 1.5, not 1.4999….
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError(value)
    if not number.is_finite() or number < 0:
        raise ValueError(value)
    return number


def as_date(value: Any) -> date | None:
    """A date cell, or text such as 2024-03-01 / 2024/3/1 / 2024年3月1日; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", str(value))
    if not match:
        raise ValueError(value)
    return date(int(match[1]), int(match[2]), int(match[3]))


def as_names(value: Any) -> list[str]:
    """Several words in one cell, separated by 、，, ; or line breaks outside brackets
    (县(市、区) stays whole). Unit lists use :func:`as_unit_names`."""
    return split_top_level(as_text(value))


def as_unit_names(value: Any, known_names: Iterable[str]) -> SplitNames:
    """A cell listing units as documents write them (taskhub.units.names.split_unit_names)."""
    return split_unit_names(as_text(value), known_names)


# -- templates -----------------------------------------------------------------------------


def build_template(
    sheets: Sequence[tuple[SheetSpec, Sequence[dict[str, Any]]]],
    notes: Iterable[str],
    extra: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]] = (),
) -> bytes:
    """An .xlsx with one sheet per spec (headers + example rows), a 说明 sheet and extras."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    default = book.active
    for spec, examples in sheets:
        ws = book.create_sheet(spec.name)
        ws.append([c.header + ("*" if c.required else "") for c in spec.columns])
        for example in examples:
            ws.append([example.get(c.key) for c in spec.columns])
        _style_table(ws, [c.width for c in spec.columns])
        for index, column in enumerate(spec.columns, start=1):
            letter = get_column_letter(index)
            if column.is_text:
                ws.column_dimensions[letter].number_format = "@"
                for row in range(2, len(examples) + 2):
                    ws.cell(row, index).number_format = "@"
            if column.choices:
                check = DataValidation(
                    type="list", formula1='"' + ",".join(column.choices) + '"', allow_blank=True
                )
                ws.add_data_validation(check)
                check.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
    ws = book.create_sheet(NOTES_SHEET)
    for line in notes:
        ws.append([line])
    ws.append([])
    ws.append(["工作表", "列名", "必填", "说明"])
    header_row = ws.max_row
    for spec, _examples in sheets:
        for column in spec.columns:
            ws.append([spec.name, column.header, "是" if column.required else "", column.note])
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=_HEADER_COLOR)
    for letter, width in zip("ABCD", (12, 16, 6, 90), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=header_row + 1):
        row[3].alignment = Alignment(wrap_text=True, vertical="top")
    for name, headers, rows in extra:
        ws = book.create_sheet(name)
        ws.append(list(headers))
        for values in rows:
            ws.append(list(values))
        _style_table(ws, [24] * len(headers))
    book.remove(default)
    return workbook_bytes(book)


def _style_table(ws: Any, widths: Sequence[int]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=_HEADER_COLOR)
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    ws.freeze_panes = "A2"
