"""The streamed table workbook (taskhub.core.xlsx_stream) reads back as the office expects."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from taskhub.core.xlsx import Column
from taskhub.core.xlsx_stream import CHUNK, stream_table

COLUMNS = (
    Column("序号", 7, "integer"),
    Column("具体内容", 50, "wrap"),
    Column("完成状态", 10, "center"),
    Column("进度", 8, "percent"),
    Column("下一节点时限", 16, "date"),
    Column("导出时间", 18, "datetime"),
)


def _book(rows: list[list[object]], **kwargs: object) -> bytes:
    return b"".join(
        stream_table("任务台账", COLUMNS, iter(rows), notes_title="导出说明", **kwargs)  # type: ignore[arg-type]
    )


def test_values_formats_and_layout_read_back() -> None:
    rows: list[list[object]] = [
        [1, "推进“一网通办”<全程网办>&", "推进中", Decimal(45) / 100, date(2022, 6, 30), None],
        [2, "  前后有空格  ", "已完成", 1, date(2024, 2, 29), datetime(2026, 12, 7, 4, 58)],
    ]
    wb = load_workbook(io.BytesIO(_book(rows, notes=[("方案", "全部方案")])))
    assert wb.sheetnames == ["任务台账", "导出说明"]
    ws = wb["任务台账"]
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    assert ws["A1"].font.b
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:F3"
    assert ws.column_dimensions["B"].width == 50
    assert ws["B2"].value == "推进“一网通办”<全程网办>&"
    assert ws["B2"].alignment.wrap_text
    assert ws["B3"].value == "  前后有空格  "
    assert ws["D2"].value == 0.45 and ws["D2"].number_format == "0%"
    assert ws["E2"].value == datetime(2022, 6, 30) and ws["E2"].is_date
    assert ws["E3"].value == datetime(2024, 2, 29)
    assert ws["F3"].value == datetime(2026, 12, 7, 4, 58)
    assert ws["F2"].value is None
    assert ws.page_setup.orientation == "landscape"
    notes = wb["导出说明"]
    assert [(r[0].value, r[1].value) for r in notes.iter_rows()] == [
        ("方案", "全部方案"),
        ("条数", "2"),
    ]


def test_formula_like_text_stays_text_and_illegal_characters_are_dropped() -> None:
    rows: list[list[object]] = [
        [1, "=1+2", "@SUM(A1)", 0, None, None],
        [2, "-3 节点\x07提前", "+86", 0, None, None],
    ]
    wb = load_workbook(io.BytesIO(_book(rows)))
    ws = wb["任务台账"]
    for ref, text in (("B2", "=1+2"), ("C2", "@SUM(A1)"), ("C3", "+86")):
        assert ws[ref].value == text
        assert ws[ref].data_type == "s"
        assert ws[ref].quotePrefix
    assert ws["B3"].value == "-3 节点提前"
    with zipfile.ZipFile(io.BytesIO(_book(rows))) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()


def test_large_tables_arrive_in_pieces_before_the_last_row_is_read() -> None:
    """The response starts while rows are still being read (memory stays flat)."""
    read = 0

    def rows():  # type: ignore[no-untyped-def]
        nonlocal read
        for n in range(1, 20_001):
            read = n
            # Digests: text that does not compress away, like real task texts.
            text = hashlib.sha256(str(n).encode()).hexdigest()
            yield [n, f"第{n}项任务：{text}", "推进中", 0.5, None, None]

    pieces = stream_table("任务台账", COLUMNS, rows(), notes_title="导出说明")
    first = next(pieces)
    assert len(first) >= CHUNK
    assert read < 20_000
    data = first + b"".join(pieces)
    ws = load_workbook(io.BytesIO(data), read_only=True)["任务台账"]
    values = [r[0] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert values == list(range(1, 20_001))
