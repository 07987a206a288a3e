"""A large table as an .xlsx written straight into a streamed response.

The ledger export sent to leaders can hold a province's 100,000 assignments × 18 columns. Through
openpyxl, even its write-only mode, every cell is an object with a style copied, validated and
serialised: about 90% of the export's time (bench/bench_export.py; 100,000 rows took over 60 s).
Here each row is one string of SpreadsheetML, zipped as it is made and sent in pieces, so time
grows with the rows and memory stays flat. Everything else (small workbooks, reading) stays with
openpyxl; the layout matches ``taskhub.core.xlsx.add_table``: the header on row 1 (frozen,
autofiltered, repeated on printed pages), fixed widths, a number format per column kind, thin
borders, landscape A4 one page wide, and formula-like text kept as text (quote prefix).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from taskhub.core.xlsx import (
    CHANGE_FORMAT,
    DATE_FORMAT,
    DATETIME_FORMAT,
    FORMULA_TRIGGERS,
    INTEGER_FORMAT,
    PERCENT_FORMAT,
    Column,
    column_letter,
    decimal_format,
)

#: Bytes of the zip handed to the response at a time.
CHUNK = 256 * 1024
#: Rows turned into XML before they are zipped (one write per batch, not per row).
BATCH = 500

_EPOCH = date(1899, 12, 30)  # Excel's day 0 (it counts 1900 as a leap year)
#: Characters XML 1.0 cannot hold at all (openpyxl refuses them); they are dropped.
_ILLEGAL = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])

# Number formats by kind; 164+ are the workbook's own (below are Excel's built-in ids).
_FORMATS = {
    "integer": INTEGER_FORMAT,
    "decimal": decimal_format(2),
    "percent": PERCENT_FORMAT,
    "date": DATE_FORMAT,
    "datetime": DATETIME_FORMAT,
    "change": CHANGE_FORMAT,
}
_KINDS = ("text", "wrap", "center", "integer", "decimal", "percent", "date", "datetime", "change")
# Style ids (cellXfs): 0 Excel's default, 1 the header, then each kind, then each kind with a
# quote prefix (text that looks like a formula).
_HEAD = 1
_STYLE = {kind: 2 + i for i, kind in enumerate(_KINDS)}
_QUOTED = {kind: 2 + len(_KINDS) + i for i, kind in enumerate(_KINDS)}
_NOTES_KEY, _NOTES_VALUE = _HEAD, _STYLE["wrap"]


def _styles_xml() -> str:
    fmt_ids = {kind: 164 + i for i, kind in enumerate(_FORMATS)}
    num_fmts = "".join(
        f'<numFmt numFmtId="{fmt_ids[k]}" formatCode="{escape(code, {chr(34): "&quot;"})}"/>'
        for k, code in _FORMATS.items()
    )

    def xf(kind: str, quoted: bool) -> str:
        fmt = fmt_ids.get(kind, 0)
        align = {
            "wrap": '<alignment vertical="top" wrapText="1"/>',
            "center": '<alignment horizontal="center" vertical="top"/>',
        }.get(kind, '<alignment vertical="top"/>')
        quote = ' quotePrefix="1"' if quoted else ""
        return (
            f'<xf numFmtId="{fmt}" fontId="0" fillId="0" borderId="1" xfId="0"'
            f' applyNumberFormat="{int(bool(fmt))}" applyBorder="1" applyAlignment="1"{quote}>'
            f"{align}</xf>"
        )

    xfs = [
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>',
        '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1"'
        ' applyFill="1" applyBorder="1" applyAlignment="1"><alignment horizontal="center"'
        ' vertical="center" wrapText="1"/></xf>',
        *(xf(kind, False) for kind in _KINDS),
        *(xf(kind, True) for kind in _KINDS),
    ]
    side = '<{0} style="thin"><color rgb="FFA0A0A0"/></{0}>'
    border = "".join(side.format(s) for s in ("left", "right", "top", "bottom"))
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<numFmts count="{len(_FORMATS)}">{num_fmts}</numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="等线"/><family val="2"/></font>'
        '<font><b/><sz val="11"/><name val="等线"/><family val="2"/></font></fonts>'
        '<fills count="3"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill>'
        '<fill><patternFill patternType="solid"><fgColor rgb="FFDDE5F0"/></patternFill></fill>'
        "</fills>"
        f'<borders count="2"><border/><border>{border}<diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )


def _text(value: str, style: int, quoted: int) -> str:
    value = value.translate(_ILLEGAL)
    if value.startswith(FORMULA_TRIGGERS):
        style = quoted
    if value[:1].isspace() or value[-1:].isspace():
        return (
            f'<c s="{style}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'
        )
    return f'<c s="{style}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def _cell(value: Any, style: int, quoted: int) -> str:
    """One cell (its position follows from its place in the row)."""
    if value.__class__ is str and value:  # most cells: no isinstance chain
        return _text(value, style, quoted)
    if value is None or value == "":
        return f'<c s="{style}"/>'
    if isinstance(value, str):
        return _text(value, style, quoted)
    if isinstance(value, bool):
        return f'<c s="{style}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, datetime):
        days = (value - datetime(1899, 12, 30, tzinfo=value.tzinfo)).total_seconds() / 86400
        return f'<c s="{style}"><v>{days!r}</v></c>'
    if isinstance(value, date):
        return f'<c s="{style}"><v>{(value - _EPOCH).days}</v></c>'
    if isinstance(value, int | float | Decimal):
        return f'<c s="{style}"><v>{value}</v></c>'
    return _text(str(value), style, quoted)


def _sheet_head(columns: Sequence[Column], *, frozen: bool) -> str:
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{c.width}" customWidth="1"/>'
        for i, c in enumerate(columns, start=1)
    )
    pane = (
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        if frozen
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
        f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"<cols>{cols}</cols><sheetData>"
    )


_PAGE = (
    '<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
    '<pageSetup paperSize="9" orientation="{orientation}" fitToWidth="1" fitToHeight="0"/>'
)


def _workbook_xml(titles: Sequence[str], table_columns: int, rows: int) -> str:
    sheets = "".join(
        f'<sheet name="{escape(t)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, t in enumerate(titles, start=1)
    )
    quoted = "'" + titles[0].replace("'", "''") + "'"
    last = column_letter(table_columns)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f"<sheets>{sheets}</sheets><definedNames>"
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{escape(quoted)}!$A$1:${last}${rows + 1}</definedName>"
        f'<definedName name="_xlnm.Print_Titles" localSheetId="0">{escape(quoted)}!$1:$1'
        "</definedName></definedNames></workbook>"
    )


def _package_parts(count: int) -> dict[str, str]:
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{main}.worksheet+xml"/>'
        for i in range(1, count + 1)
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, count + 1)
    )
    style_rel = (
        f'<Relationship Id="rId{count + 1}" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    )
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return {
        "[Content_Types].xml": head
        + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{main}.styles+xml"/>'
        f"{sheets}</Types>",
        "_rels/.rels": head
        + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/_rels/workbook.xml.rels": head
        + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f"{rels}{style_rel}</Relationships>",
        "xl/styles.xml": _styles_xml(),
    }


class _Pipe:
    """A write-only, unseekable file the zip writes into; the response drains it."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        self.size = 0
        return data


def stream_table(
    title: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    notes_title: str,
    notes: Iterable[tuple[str, str]] = (),
    landscape: bool = True,
) -> Iterator[bytes]:
    """The workbook in pieces: a table sheet of ``rows`` (a generator is read as it goes) and
    a two-column notes sheet: ``notes``, then ``条数``, the row count."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        count = 0
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(_sheet_head(columns, frozen=True).encode())
            head = "".join(_text(c.header, _HEAD, _HEAD) for c in columns)
            sheet.write(f'<row r="1">{head}</row>'.encode())
            styles = [(_STYLE[c.kind], _QUOTED[c.kind]) for c in columns]
            batch: list[str] = []
            for row in rows:
                count += 1
                cells = "".join([_cell(v, s, q) for v, (s, q) in zip(row, styles, strict=True)])
                batch.append(f'<row r="{count + 1}">{cells}</row>')
                if len(batch) >= BATCH:
                    sheet.write("".join(batch).encode())
                    batch.clear()
                    if pipe.size >= CHUNK:
                        yield pipe.drain()
            last = column_letter(len(columns))
            orientation = "landscape" if landscape else "portrait"
            sheet.write(
                (
                    "".join(batch) + "</sheetData>"
                    f'<autoFilter ref="A1:{last}{count + 1}"/>'
                    + _PAGE.format(orientation=orientation)
                    + "</worksheet>"
                ).encode()
            )
        lines = [*notes, ("条数", str(count))]
        with book.open("xl/worksheets/sheet2.xml", "w") as sheet:
            two = (Column("", 16), Column("", 60))
            sheet.write(_sheet_head(two, frozen=False).encode())
            body = "".join(
                f'<row r="{i}">{_text(k, _NOTES_KEY, _NOTES_KEY)}'
                f"{_cell(v, _NOTES_VALUE, _QUOTED['wrap'])}</row>"
                for i, (k, v) in enumerate(lines, start=1)
            )
            sheet.write(
                (
                    body + "</sheetData>" + _PAGE.format(orientation="portrait") + "</worksheet>"
                ).encode()
            )
        for name, xml in _package_parts(2).items():
            book.writestr(name, xml)
        book.writestr("xl/workbook.xml", _workbook_xml((title, notes_title), len(columns), count))
    yield pipe.drain()
