"""Reading plan documents into text blocks: .docx (with merged table cells), .pdf with a text
layer, .txt/.md in the encodings offices use, .html (rowspan/colspan), pasted text; and the
clear refusals of what cannot be read (.wps, .ofd, .doc, scans, pictures, empty files)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest

from taskhub.documents import readers
from taskhub.documents.readers import UnreadableDocument, read

FIXTURES = Path(__file__).parent / "fixtures" / "documents"
PLAN = [
    "某市数字政府建设2024年工作要点",
    "一、政务服务",
    "1. 推进政务服务事项标准化。（牵头单位：市政务服务中心；责任单位：市公安局）6月底前完成。",
]


def docx_bytes() -> bytes:
    """A .docx: two paragraphs, an indicator table with a cell merged down and one merged
    across, then a closing paragraph."""
    document = docx.Document()
    for line in PLAN[:2]:
        document.add_paragraph(line)
    table = document.add_table(rows=4, cols=4)
    for column, header in enumerate(["序号", "指标", "分值", "牵头考核单位"]):
        table.cell(0, column).text = header
    for row, (number, name) in enumerate([("1", "一网通办"), ("2", "一网统管")], start=1):
        table.cell(row, 0).text = number
        table.cell(row, 1).text = name
        table.cell(row, 2).text = "5"
    lead = table.cell(1, 3).merge(table.cell(2, 3))  # down: 牵头考核单位 of both rows
    lead.text = "市数据局"
    note = table.cell(3, 0).merge(table.cell(3, 3))  # across: a note row
    note.text = "合计10分"
    document.add_paragraph(PLAN[2])
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_paragraphs_and_tables_in_document_order() -> None:
    doc = read("要点.docx", docx_bytes())
    assert doc.format == "docx"
    assert [b.kind for b in doc.blocks] == ["paragraph", "paragraph", "table", "paragraph"]
    table = doc.blocks[2]
    assert table.rows[0] == ["序号", "指标", "分值", "牵头考核单位"]
    # A cell merged down repeats its text in each row it covers, and one merged across in
    # each column.
    assert table.rows[1] == ["1", "一网通办", "5", "市数据局"]
    assert table.rows[2] == ["2", "一网统管", "5", "市数据局"]
    assert table.rows[3] == ["合计10分"] * 4
    # The table is in the text too, one line per row, so spans point at it.
    for row, start in zip(table.rows, table.row_starts, strict=True):
        line = " | ".join(row)
        assert doc.text[start : start + len(line)] == line
    for block in doc.blocks:
        assert doc.text[block.start : block.end] == block.text
    assert doc.blocks[3].text == PLAN[2]


def test_a_docx_is_known_by_its_content_not_its_name() -> None:
    assert read("方案", docx_bytes()).format == "docx"
    assert read("方案.doc", docx_bytes()).format == "docx"


def test_pdf_text_layer_without_page_numbers_and_wrapped_lines_joined() -> None:
    doc = read("要点.pdf", (FIXTURES / "plan-text-layer.pdf").read_bytes())
    assert doc.format == "pdf"
    lines = doc.text.split("\n")
    assert lines[0] == "某市数字政府建设2024年工作要点"
    assert lines[1] == "一、政务服务"
    # The item was printed over three lines: one paragraph again, its deadline whole.
    assert lines[2].startswith("1. 推进政务服务事项标准化")
    assert lines[2].endswith("2024年6月底前完成。")
    assert not any("—" in line for line in lines), "page numbers (— 1 —) are dropped"
    assert lines[-1] == "3. 开展数字政府建设培训。持续推进。"


def test_pdf_ruled_tables_with_merged_cells_in_reading_order() -> None:
    doc = read("指标.pdf", (FIXTURES / "indicator-table.pdf").read_bytes())
    assert [b.kind for b in doc.blocks] == [
        "paragraph",
        "paragraph",
        "table",
        "paragraph",
        "paragraph",
    ]
    table = doc.blocks[2]
    assert table.rows == [
        ["序号", "一级指标", "分值", "牵头考核单位"],
        ["1", "政务服务", "5", "市数据局"],
        # 政务服务 is one cell over two rows, 合计15分 one cell over four columns.
        ["2", "政务服务", "10", "市政务服务中心"],
        ["合计15分"] * 4,
    ]
    for row, start in zip(table.rows, table.row_starts, strict=True):
        assert doc.text[start:].startswith(" | ".join(row))
    assert doc.blocks[3].text == "二、考评方式"


@pytest.mark.parametrize(
    ("line", "edge", "dropped"),
    [
        ("— 3 —", False, True),
        ("- 12 -", False, True),
        ("第 3 页 共 20 页", False, True),
        ("3", True, True),
        ("3", False, False),
        ("2024年", True, False),
        ("1. 推进标准化", True, False),
    ],
)
def test_page_number_lines(line: str, edge: bool, dropped: bool) -> None:
    assert readers._is_page_number(line, edge=edge) is dropped


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_text_files_in_the_encodings_offices_use(encoding: str) -> None:
    text = "\n".join(PLAN)
    doc = read("要点.txt", text.encode(encoding))
    assert doc.format == "txt"
    assert doc.text == text
    assert [b.text for b in doc.blocks] == PLAN


def test_markdown_headings_read_as_their_words() -> None:
    doc = read("要点.md", "# 某市工作要点\n\n## 一、政务服务\n\n**1. 推进**标准化。\n".encode())
    assert doc.format == "md"
    assert [b.text for b in doc.blocks] == ["某市工作要点", "一、政务服务", "1. 推进标准化。"]


HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>门户</title><style>p {color: red}</style></head>
<body>
<nav><a href="/">首页</a> <a href="/zwgk">政务公开</a></nav>
<div class="content">
  <h1>某市数字政府建设2024年工作要点</h1>
  <p>一、政务服务</p>
  <p>1. 推进政务服务事项标准化。<br>（牵头单位：市政务服务中心）</p>
  <table>
    <tr><th>序号</th><th>指标</th><th>牵头考核单位</th></tr>
    <tr><td>1</td><td>一网通办</td><td rowspan="2">市数据局</td></tr>
    <tr><td>2</td><td>一网统管</td></tr>
    <tr><td colspan="3">合计</td></tr>
  </table>
</div>
<script>var tracker = 1;</script>
<footer>主办单位：某市人民政府办公室</footer>
</body></html>"""


def test_html_blocks_and_spanned_table_cells() -> None:
    doc = read("要点.html", HTML.encode("utf-8"))
    assert doc.format == "html"
    paragraphs = [b.text for b in doc.blocks if b.kind == "paragraph"]
    assert paragraphs == [
        "某市数字政府建设2024年工作要点",
        "一、政务服务",
        "1. 推进政务服务事项标准化。",
        "（牵头单位：市政务服务中心）",
    ]
    (table,) = [b for b in doc.blocks if b.kind == "table"]
    assert table.rows == [
        ["序号", "指标", "牵头考核单位"],
        ["1", "一网通办", "市数据局"],
        ["2", "一网统管", "市数据局"],
        ["合计", "合计", "合计"],
    ]
    assert "tracker" not in doc.text and "首页" not in doc.text and "主办单位" not in doc.text


def test_html_in_gbk_and_without_its_extension() -> None:
    doc = read("page", HTML.replace('charset="utf-8"', 'charset="gbk"').encode("gbk"))
    assert doc.format == "html"
    assert "某市数字政府建设2024年工作要点" in doc.text


def test_pasted_text() -> None:
    doc = readers.from_pasted("\r\n".join(PLAN))
    assert doc.format == "text"
    assert [b.text for b in doc.blocks] == PLAN
    with pytest.raises(UnreadableDocument):
        readers.from_pasted("  \n ")


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
#: A PDF page with nothing printed on it: what a scan without OCR reads as.
NO_TEXT_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"\0" * 40


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("方案.wps", OLE2, "WPS"),
        ("方案.doc", OLE2, ".docx"),
        ("方案.xls", OLE2, "Excel"),
        ("方案.ofd", _zip({"OFD.xml": b"<ofd/>"}), "PDF"),
        ("方案.ofd", b"not a zip at all \0\0", "PDF"),
        ("方案.xlsx", _zip({"xl/workbook.xml": b"<x/>"}), "Excel"),
        ("扫描件.pdf", NO_TEXT_PDF, "text layer"),
        ("照片.png", PNG, "picture"),
        ("空.docx", b"", "empty"),
        ("方案.rtf", b"{\\rtf1 hello}", ".docx"),
        ("坏.docx", b"PK\x03\x04 broken", ".docx"),
        ("空白.txt", b"   \n\n", "no text"),
    ],
)
def test_what_cannot_be_read_says_what_to_save_it_as(name: str, content: bytes, says: str) -> None:
    with pytest.raises(UnreadableDocument) as refused:
        read(name, content)
    assert says in refused.value.message


def test_refusals_are_in_chinese_for_the_office(app: Any) -> None:
    with app.test_request_context():
        with pytest.raises(UnreadableDocument) as wps:
            read("方案.wps", OLE2)
        assert wps.value.message == ".wps 文件请在 WPS 中另存为 .docx 后上传。"
        with pytest.raises(UnreadableDocument) as scan:
            read("扫描件.pdf", NO_TEXT_PDF)
        assert scan.value.message == (
            "此 PDF 没有文字层（可能是扫描件），请上传原始 .docx 或复制文字粘贴。"
        )


def test_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_DOCUMENT_BYTES", 100)
    with pytest.raises(UnreadableDocument, match="MB"):
        read("大.txt", "一、".encode() * 100)
    monkeypatch.setattr(readers, "MAX_DOCUMENT_BYTES", 20 * 1024 * 1024)
    from taskhub.core.limits import TEXT_LIMITS

    monkeypatch.setitem(TEXT_LIMITS, "document.text", 10)
    with pytest.raises(UnreadableDocument, match="10"):
        read("长.txt", "\n".join(PLAN).encode())


def _numbered_docx() -> bytes:
    """Headings and tasks numbered by Word itself (一、 then 1. 2., restarting under each)."""
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    document = docx.Document()
    numbering = document.part.numbering_part.element
    numbering.insert(
        0,
        parse_xml(
            f'<w:abstractNum {nsdecls("w")} w:abstractNumId="90">'
            '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/>'
            '<w:lvlText w:val="%1、"/></w:lvl>'
            '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/>'
            '<w:lvlText w:val="%2."/></w:lvl>'
            '<w:lvl w:ilvl="2"><w:start w:val="1"/><w:numFmt w:val="decimalEnclosedCircle"/>'
            '<w:lvlText w:val="%3"/></w:lvl>'
            "</w:abstractNum>"
        ),
    )
    numbering.append(
        parse_xml(f'<w:num {nsdecls("w")} w:numId="90"><w:abstractNumId w:val="90"/></w:num>')
    )

    def numbered(text: str, level: int) -> None:
        paragraph = document.add_paragraph(text)
        paragraph._p.get_or_add_pPr().append(
            parse_xml(
                f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{level}"/><w:numId w:val="90"/></w:numPr>'
            )
        )

    document.add_paragraph("某市数字政府建设2024年工作要点")
    numbered("政务服务", 0)
    numbered("推进事项标准化。", 1)
    numbered("建设数据底座。", 1)
    numbered("汇聚人口数据。", 2)
    numbered("保障措施", 0)
    numbered("开展培训。", 1)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_automatic_list_numbers_are_read_as_printed() -> None:
    doc = read("要点.docx", _numbered_docx())
    assert [b.text for b in doc.blocks] == [
        "某市数字政府建设2024年工作要点",
        "一、政务服务",
        "1.推进事项标准化。",
        "2.建设数据底座。",
        "①汇聚人口数据。",
        "二、保障措施",
        "1.开展培训。",
    ]


def test_a_pasted_table_arrives_tab_separated_and_reads_as_a_table() -> None:
    text = "一、指标\n序号\t指标\t分值\n1\t一网通办\t5\n\t一网统管\t5\n二、说明"
    doc = readers.from_pasted(text)
    assert [b.kind for b in doc.blocks] == ["paragraph", "table", "paragraph"]
    table = doc.blocks[1]
    assert table.rows == [["序号", "指标", "分值"], ["1", "一网通办", "5"], ["", "一网统管", "5"]]
    assert [doc.text[s : s + 2] for s in table.row_starts] == ["序号", "1\t", "\t一"]
    assert doc.text == text


def test_html_layout_tables_read_as_paragraphs() -> None:
    page = (
        "<html><body><table><tr><td><table><tr><td>导航</td></tr></table></td></tr>"
        "<tr><td><p>一、政务服务</p><p>1. 推进标准化。</p>"
        "<table><tr><td>序号</td><td>指标</td></tr><tr><td>1</td><td>一网通办</td></tr></table>"
        "</td></tr></table></body></html>"
    )
    doc = read("page.htm", page.encode())
    assert [(b.kind, b.text) for b in doc.blocks if b.kind == "paragraph"] == [
        ("paragraph", "导航"),
        ("paragraph", "一、政务服务"),
        ("paragraph", "1. 推进标准化。"),
    ]
    (table,) = [b for b in doc.blocks if b.kind == "table"]
    assert table.rows == [["序号", "指标"], ["1", "一网通办"]]
