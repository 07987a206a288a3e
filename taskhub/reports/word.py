"""The bulletin (通报) as a Word document laid out by GB/T 9704-2012 (党政机关公文格式).

The first pages are portrait text: the red issuer line (发文机关标志) with the document number
(文号) and a red rule under it, the 小标宋 title, and 仿宋 三号 body at 22 lines a page. The tables
follow in a landscape section: the ranking, the per-area scores, and each unit's overdue items
(how many, the few most overdue); the full list is the attached workbook. The issuer and the
date close the document. Page numbers read — 1 — at the foot.

Column widths are computed from the longest text of each column (a unit name is never broken)
and the table's font size is the largest that lets every column fit the type area.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt, RGBColor

from taskhub.reports.services import (
    ATTACHMENT_NOTE,
    OVERDUE_SHOWN,
    STANDING_NAMES,
    Bulletin,
    UnitOverdue,
    cn_ordinal,
    date_cn,
    shown,
)

#: Fonts by GB/T 9704, with the fallbacks Word and LibreOffice try when one is missing.
TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING_FONT = "黑体"
PAGE_NUMBER_FONT = "宋体"
FALLBACKS = {
    TITLE_FONT: ("华文中宋", "宋体"),
    BODY_FONT: ("仿宋", "FangSong"),
    HEADING_FONT: ("SimHei",),
    PAGE_NUMBER_FONT: ("SimSun",),
}
#: Latin text and digits of the body: 仿宋_GB2312 has no proper Latin, so Times New Roman.
LATIN_FONT = "Times New Roman"
RED = RGBColor(0xE6, 0x00, 0x12)
RED_HEX = "E60012"
#: 三号 body with 22 lines in the 225 mm type area.
BODY_PT = 16.0
LINE_PITCH_PT = 28.95
TITLE_PT = 22.0
#: The issuer line: at most this size, smaller for a long name so it stays on one line.
ISSUER_MAX_PT = 36.0
#: Table text: the largest of these sizes at which every column fits.
TABLE_SIZES = (10.5, 9.0, 8.0, 7.5)
#: Type area (版心) 156 × 225 mm; portrait margins top 37, bottom 35, left 28, right 26 mm.
TYPE_WIDTH_MM = 156.0
TYPE_HEIGHT_MM = 225.0
PORTRAIT_MARGINS_MM = (37.0, 35.0, 28.0, 26.0)
#: A landscape page keeps the type area turned: 225 mm wide, 156 mm tall.
LANDSCAPE_MARGINS_MM = (28.0, 26.0, 37.0, 35.0)
#: Cell padding left and right (mm) and the slack a column keeps beyond its longest text.
CELL_PAD_MM = 1.0
SLACK_MM = 1.5


def bulletin_docx(b: Bulletin) -> bytes:
    document = Document()
    _declare_fonts(document)
    portrait = document.sections[0]
    _page(portrait, landscape=False)
    normal = document.styles["Normal"]
    _set_font(normal.element, BODY_FONT, BODY_PT)
    body = normal.paragraph_format
    body.line_spacing = Pt(LINE_PITCH_PT)  # a Length: exact spacing
    body.first_line_indent = Pt(2 * BODY_PT)  # two characters
    body.space_before = body.space_after = Pt(0)
    body.widow_control = False  # GB/T 9704 fills every page to its 22 lines

    _head(document, b)
    _text(document, b)

    landscape = document.add_section(WD_SECTION.NEW_PAGE)
    _page(landscape, landscape=True)
    tables = _tables(b)
    width = _type_width(document)
    # One font size for all the tables: the largest at which each of them fits.
    size = min(_layout(headers, rows, spec, width)[0] for _, headers, rows, spec in tables)
    for n, (caption, headers, rows, spec) in enumerate(tables, start=1):
        _caption(document, f"表{n}　{caption}")
        _table(document, headers, rows, spec, size)
    _closing(document, b)

    _page_numbers(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# -- the page -------------------------------------------------------------------------------------


def _page(section: Any, *, landscape: bool) -> None:
    top, bottom, left, right = LANDSCAPE_MARGINS_MM if landscape else PORTRAIT_MARGINS_MM
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    width, height = (297, 210) if landscape else (210, 297)
    section.page_width, section.page_height = Mm(width), Mm(height)
    section.top_margin, section.bottom_margin = Mm(top), Mm(bottom)
    section.left_margin, section.right_margin = Mm(left), Mm(right)
    # The page number's line sits 7 mm below the type area (one 4号 line is about 5 mm).
    section.footer_distance = Mm(bottom - 7 - 5)
    section.header_distance = Mm(15)


def _type_width(document: Any) -> float:
    section = document.sections[-1]
    return float(Emu(section.page_width - section.left_margin - section.right_margin).mm)


# -- the head: issuer, document number, red rule, title -------------------------------------------


def _head(document: Any, b: Bulletin) -> None:
    issuer = document.add_paragraph()
    _plain(issuer, WD_ALIGN_PARAGRAPH.CENTER)
    size = min(ISSUER_MAX_PT, _fit_size(b.issuer, TYPE_WIDTH_MM))
    issuer.paragraph_format.line_spacing = Pt(size * 1.3)
    issuer.paragraph_format.space_before = Pt(LINE_PITCH_PT)
    run = issuer.add_run(b.issuer)
    _set_font(run._element, TITLE_FONT, size)
    run.font.color.rgb = RED

    # 文号 two lines under the issuer, the red rule 4 mm under it (one paragraph's border).
    number = document.add_paragraph()
    _plain(number, WD_ALIGN_PARAGRAPH.CENTER)
    number.paragraph_format.space_before = Pt(2 * LINE_PITCH_PT)
    if b.doc_number:
        number.add_run(b.doc_number)
    _red_rule(number)

    document.add_paragraph()
    title = document.add_paragraph()
    _plain(title, WD_ALIGN_PARAGRAPH.CENTER)
    title.paragraph_format.line_spacing = Pt(35)
    capacity = TYPE_WIDTH_MM / (TITLE_PT * 25.4 / 72)
    for n, line in enumerate(title_lines(b.title, capacity)):
        run = title.add_run(line)
        _set_font(run._element, TITLE_FONT, TITLE_PT)
        if n:
            run._element.addprevious(_line_break())
    document.add_paragraph()
    addressee = document.add_paragraph("各有关单位：")
    addressee.paragraph_format.first_line_indent = Pt(0)


def title_lines(title: str, capacity_em: float) -> list[str]:
    """The title in as few lines as fit, broken where the sense allows (before 《, after 》)
    and as even as possible (GB/T 9704 7.3.1: 回行时词意完整，排列对称)."""
    parts = [p for p in re.split(r"(?=《)|(?<=》)", title) if p]
    if _text_width_em(title) <= capacity_em or any(_text_width_em(p) > capacity_em for p in parts):
        return [title]
    best: list[str] | None = None
    for mask in range(1, 2 ** (len(parts) - 1)):
        lines, current = [], parts[0]
        for i, part in enumerate(parts[1:]):
            if mask >> i & 1:
                lines.append(current)
                current = part
            else:
                current += part
        lines.append(current)
        widths = [_text_width_em(line) for line in lines]
        if max(widths) > capacity_em:
            continue
        key = (len(lines), max(widths) - min(widths))
        if best is None or key < (len(best), _spread(best)):
            best = lines
    return best or [title]


def _spread(lines: list[str]) -> float:
    widths = [_text_width_em(line) for line in lines]
    return max(widths) - min(widths)


def _line_break() -> Any:
    run = OxmlElement("w:r")
    run.append(OxmlElement("w:br"))
    return run


def _red_rule(paragraph: Any) -> None:
    """A red line across the type area under the paragraph (GB/T 9704 版头中的分隔线)."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    bottom.set(qn("w:val"), "single")
    bottom.set(qn("w:sz"), "12")  # eighths of a point: 1.5 pt
    bottom.set(qn("w:space"), "11")  # points between the text and the line: about 4 mm
    bottom.set(qn("w:color"), RED_HEX)
    borders.append(bottom)
    ppr.append(borders)


# -- the text -------------------------------------------------------------------------------------


def _text(document: Any, b: Bulletin) -> None:
    def heading(number: int, text: str) -> None:
        p = document.add_paragraph()
        _set_font(p.add_run(f"{cn_ordinal(number)}、{text}")._element, HEADING_FONT, BODY_PT)

    heading(1, "总体情况")
    document.add_paragraph(b.summary)
    if b.closed_reason:
        document.add_paragraph(f"修订说明：{b.closed_reason}")

    heading(2, "考评排名")
    areas = "，分项得分见表2" if b.areas else ""
    document.add_paragraph(f"各单位考评得分及排名见表1{areas}。{b.movers_text}")

    heading(3, "进度情况")
    document.add_paragraph(_standings_text(b))
    # The supervision facts, where the plan has them: 报送率 and the tasks settled (销号).
    for line in (b.reporting_rate_line, b.settled_text):
        if line:
            document.add_paragraph(line)

    heading(4, "超期事项")
    document.add_paragraph(_overdue_text(b))
    if b.escalations:
        document.add_paragraph(b.escalation_text)


def _standings_text(b: Bulletin) -> str:
    """超进度单位1个：…；达进度单位2个：…；欠进度单位33个（见表1）。"""
    parts = []
    for key, names in b.standing_lists().items():
        label = f"{STANDING_NAMES[key]}单位{len(names)}个"
        if not names:
            parts.append(label)
        elif len(names) <= 6:
            parts.append(f"{label}：{'、'.join(names)}")
        else:
            parts.append(f"{label}（见表1“进度”列）")
    return "；".join(parts) + "。"


def _overdue_text(b: Bulletin) -> str:
    if not b.overdue_by_unit:
        return "本期无超期未完成事项。"
    summary = b.overdue_summary
    most = max(summary, key=lambda u: u.count)  # the first of equals, in ranking order
    table = 3 if b.areas else 2
    return (
        f"截至{date_cn(b.issued_on)}，超期未完成事项共{b.overdue_total}项，涉及{len(summary)}个单位，"
        f"其中{most.unit}最多（{most.count}项）。各单位超期事项数及超期时间最长的事项见表{table}，"
        "全部超期事项见附件。请各单位对照清单抓紧整改，按期报送整改情况。"
    )


def _closing(document: Any, b: Bulletin) -> None:
    """The attachment note, then the issuer and the date, 右空四字 (GB/T 9704 7.3.5)."""
    document.add_paragraph()
    document.add_paragraph(ATTACHMENT_NOTE)
    document.add_paragraph()
    issued = date_cn(b.issued_on)
    date_width = _text_width_em(issued)
    issuer_width = _text_width_em(b.issuer)
    # The issuer is centred over the date; a longer issuer ends four characters in as well.
    issuer_indent = 4 + max(0.0, (date_width - issuer_width) / 2)
    for text, indent in ((b.issuer, issuer_indent), (issued, 4.0)):
        p = document.add_paragraph(text)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.first_line_indent = Pt(0)
        p.paragraph_format.right_indent = Pt(indent * BODY_PT)


# -- the tables -----------------------------------------------------------------------------------


#: A table cell: its text, or a function of the width (ems) the layout leaves it.
Cell = str | Callable[[float], str]


@dataclass(frozen=True)
class Spec:
    """How a table's columns are laid out: which one holds unit names, which are left-aligned."""

    unit_column: int
    left: tuple[int, ...] = ()
    #: Columns whose header may wrap onto several lines (long area names).
    wrapping_headers: bool = False


def _tables(b: Bulletin) -> list[tuple[str, list[str], list[list[Cell]], Spec]]:
    label = b.period_label
    standing = {**STANDING_NAMES}
    ranking_headers = [
        "名次",
        "较上期",
        "单位",
        "总分",
        *(name for _, name in b.scores),
        "已完成",
        "达进度",
        "欠进度",
        "超期",
        "进度",
    ]
    ranking: list[list[Cell]] = [
        [
            "" if r.rank is None else str(r.rank),
            r.change_label.replace("↑ ", "↑").replace("↓ ", "↓"),
            r.unit,
            str(r.total),
            *(shown(r.components.get(code)) for code, _ in b.scores),
            str(r.completed),
            str(r.on_schedule),
            str(r.behind),
            str(r.overdue),
            standing[r.standing],
        ]
        for r in b.rows
    ] or [["", "", "本期暂无考评结果", "", *("" for _ in b.scores), "", "", "", "", ""]]
    tables = [(f"{label}各单位考评排名", ranking_headers, ranking, Spec(unit_column=2))]
    if b.areas:
        area_headers = ["名次", "单位", *(name for _, name in b.areas)]
        area_rows: list[list[Cell]] = [
            [
                "" if r.rank is None else str(r.rank),
                r.unit,
                *(shown(r.components.get(code)) for code, _ in b.areas),
            ]
            for r in b.rows
        ]
        tables.append(
            (
                f"{label}各单位分项得分",
                area_headers,
                area_rows,
                Spec(unit_column=1, wrapping_headers=True),
            )
        )
    overdue_headers = ["单位", "超期项数", "最长超期", f"超期时间最长的事项（前{OVERDUE_SHOWN}项）"]
    overdue_rows: list[list[Cell]] = [_overdue_row(u) for u in b.overdue_summary] or [
        ["本期无超期未完成事项", "", "", ""]
    ]
    tables.append(
        (
            "各单位超期事项（全部超期事项见附件）",
            overdue_headers,
            overdue_rows,
            Spec(unit_column=0, left=(3,)),
        )
    )
    return tables


def _overdue_row(u: UnitOverdue) -> list[Cell]:
    def days(days: int) -> str:
        # The longest is in its own column: an item says its days only when fewer.
        return f"（{days}天）" if 0 < days < u.oldest_days else ""

    def fit(budget_em: float) -> str:
        """The most overdue items on one line of ``budget_em``: titles shortened to fit."""
        fixed = [_text_width_em(f"{i.number}. …{days(i.days)}") for i in u.worst]
        spare = budget_em - sum(fixed) - len(u.worst) + 1  # the separators
        keep = max(2, int(spare / max(len(u.worst), 1)))
        return "；".join(f"{i.number}. {_cut(i.title, keep)}{days(i.days)}" for i in u.worst)

    return [u.unit, str(u.count), f"{u.oldest_days}天" if u.oldest_days else "—", fit]


def _cut(text: str, chars: int) -> str:
    text = text.rstrip("…")
    return text if len(text) <= chars else text[: max(1, chars - 1)] + "…"


def _table(
    document: Any, headers: list[str], rows: list[list[Cell]], spec: Spec, size: float
) -> None:
    size, widths = _layout(headers, rows, spec, _type_width(document), sizes=(size,))
    em_mm = size * 25.4 / 72
    texts = [
        [
            c if isinstance(c, str) else c((widths[i] - 2 * CELL_PAD_MM - SLACK_MM) / em_mm)
            for i, c in enumerate(row)
        ]
        for row in rows
    ]
    table = document.add_table(rows=1 + len(rows), cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    _fixed_layout(table, sum(widths))
    for index, width in enumerate(widths):
        table.columns[index].width = Mm(width)
    line = Pt(size + 1.5)  # exact: CJK fonts would add half a line of leading
    for r, (row, values) in enumerate(zip(table.rows, [headers, *texts], strict=True)):
        _keep_row_together(row)
        for c, (cell, text) in enumerate(zip(row.cells, values, strict=True)):
            cell.width = Mm(widths[c])
            p = cell.paragraphs[0]
            p.paragraph_format.first_line_indent = Pt(0)
            p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
            p.paragraph_format.line_spacing = line
            p.alignment = (
                WD_ALIGN_PARAGRAPH.LEFT
                if r and (c in spec.left or c == spec.unit_column)
                else WD_ALIGN_PARAGRAPH.CENTER
            )
            run = p.add_run(text)
            _set_font(run._element, HEADING_FONT if r == 0 else BODY_FONT, size)
            if c == spec.unit_column or (r == 0 and not spec.wrapping_headers):
                _no_wrap(cell)
    _repeat_header(table.rows[0])


def _layout(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    spec: Spec,
    available: float,
    *,
    sizes: Sequence[float] = TABLE_SIZES,
) -> tuple[float, list[float]]:
    """The largest table font size at which every column fits, and the widths (mm).

    A column is as wide as its longest cell (a header that may wrap counts with four
    characters a line); the width left over goes to the widest left-aligned text column, or
    is shared among the others.
    """
    needs_em = []
    for c, header in enumerate(headers):
        cells = [_text_width_em(t) if isinstance(t := row[c], str) else 4.0 for row in rows]
        head = _text_width_em(header)
        if spec.wrapping_headers and c != spec.unit_column:
            head = min(head, 4.0)
        needs_em.append(max([head, *cells]))
    for size in sizes:
        em_mm = size * 25.4 / 72
        widths = [w * em_mm + 2 * CELL_PAD_MM + SLACK_MM for w in needs_em]
        if sum(widths) <= available or size == sizes[-1]:
            break
    spare = max(0.0, available - sum(widths))
    if spec.left:
        # Long text columns wrap within their width: they take the space left.
        target = spec.left[-1]
        cap = available - (sum(widths) - widths[target])
        widths[target] = max(cap, 20.0) if sum(widths) > available else widths[target] + spare
    else:
        others = [i for i in range(len(widths)) if i != spec.unit_column]
        for i in others:
            widths[i] += spare / len(others)
    return size, widths


def _text_width_em(text: str) -> float:
    """Width in ems: CJK and full-width characters 1, others (digits, Latin, dots) 0.55."""
    return sum(1.0 if _is_wide(ch) else 0.55 for ch in text)


_WIDE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f\u2014\u2190-\u21ff]")


def _is_wide(ch: str) -> bool:
    return bool(_WIDE.match(ch))


def _fit_size(text: str, width_mm: float) -> float:
    """The font size (pt, whole) at which ``text`` fills at most ``width_mm``."""
    em = max(_text_width_em(text), 1.0)
    return float(int(width_mm / em * 72 / 25.4))


def _fixed_layout(table: Any, width_mm: float) -> None:
    """Fixed column widths (LibreOffice and Word keep them instead of fitting the text)."""
    tbl_pr = table._tbl.tblPr
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    tbl_pr.append(layout)
    width = tbl_pr.find(qn("w:tblW"))
    if width is None:
        width = OxmlElement("w:tblW")
        tbl_pr.append(width)
    width.set(qn("w:type"), "dxa")
    width.set(qn("w:w"), str(round(width_mm / 25.4 * 1440)))
    margins = OxmlElement("w:tblCellMar")
    for side, value in (("top", 0), ("bottom", 0), ("left", CELL_PAD_MM), ("right", CELL_PAD_MM)):
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:w"), str(round(value / 25.4 * 1440)))
        edge.set(qn("w:type"), "dxa")
        margins.append(edge)
    tbl_pr.append(margins)


def _no_wrap(cell: Any) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    tc_pr.append(OxmlElement("w:noWrap"))


def _keep_row_together(row: Any) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:cantSplit"))


def _repeat_header(row: Any) -> None:
    """The header row repeats on every page the table spans."""
    tr_pr = row._tr.get_or_add_trPr()
    marker = OxmlElement("w:tblHeader")
    marker.set(qn("w:val"), "true")
    tr_pr.append(marker)


def _caption(document: Any, text: str) -> None:
    p = document.add_paragraph()
    _plain(p, WD_ALIGN_PARAGRAPH.CENTER)
    p.paragraph_format.line_spacing = Pt(22)
    p.paragraph_format.space_before = Pt(6)
    p.paragraph_format.keep_with_next = True
    _set_font(p.add_run(text)._element, HEADING_FONT, 14)


# -- fonts and page numbers -----------------------------------------------------------------------


def _plain(paragraph: Any, alignment: Any) -> None:
    paragraph.alignment = alignment
    paragraph.paragraph_format.first_line_indent = Pt(0)


def _set_font(element: Any, name: str, size: float) -> None:
    """Set a run's or style's font and size: the Chinese font for East Asian text (eastAsia),
    digits and Latin in Times New Roman (宋体 for page numbers)."""
    rpr = element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    latin = PAGE_NUMBER_FONT if name == PAGE_NUMBER_FONT else LATIN_FONT
    for attr, value in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", name)):
        fonts.set(qn(attr), value)
    fonts.set(qn("w:cs"), latin)
    fonts.set(qn("w:hint"), "eastAsia")
    # Theme fonts would win over the names set above.
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    rpr.get_or_add_sz().set(qn("w:val"), str(round(size * 2)))  # half-points
    cs = rpr.find(qn("w:szCs"))
    if cs is None:
        cs = OxmlElement("w:szCs")
        rpr.append(cs)
    cs.set(qn("w:val"), str(round(size * 2)))


def _declare_fonts(document: Any) -> None:
    """Name each font's fallbacks in the font table (w:altName), with its Chinese charset and
    family, so a reader without 方正小标宋简体 or 仿宋_GB2312 gets 华文中宋/宋体 or 仿宋."""
    from lxml import etree

    part = next(
        (p for p in document.part.package.iter_parts() if p.partname.endswith("fontTable.xml")),
        None,
    )
    if part is None:
        return
    root = etree.fromstring(part.blob)
    ns = root.nsmap.get("w") or "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    def w(tag: str) -> str:
        return f"{{{ns}}}{tag}"

    for name, alternatives in FALLBACKS.items():
        font = etree.SubElement(root, w("font"))
        font.set(w("name"), name)
        alt = etree.SubElement(font, w("altName"))
        alt.set(w("val"), alternatives[0])
        charset = etree.SubElement(font, w("charset"))
        charset.set(w("val"), "86")  # GB2312
        family = etree.SubElement(font, w("family"))
        family.set(w("val"), "modern" if name == HEADING_FONT else "roman")
        pitch = etree.SubElement(font, w("pitch"))
        pitch.set(w("val"), "variable")
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _page_numbers(document: Any) -> None:
    """— 1 — in 4号 半角宋体 at the foot: odd pages right, even pages left, one character in
    (GB/T 9704 7.5). Every section shares the first section's footers."""
    document.settings.odd_and_even_pages_header_footer = True
    section = document.sections[0]
    for footer, align in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        p = footer.paragraphs[0]
        p.alignment = align
        p.paragraph_format.first_line_indent = Pt(0)
        p.paragraph_format.line_spacing = Pt(20)
        p.paragraph_format.left_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.LEFT else Pt(0)
        p.paragraph_format.right_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.RIGHT else Pt(0)
        parts: list[tuple[str, str | None]] = [
            ("text", "— "),
            ("begin", None),
            ("instr", " PAGE "),
            ("separate", None),
            ("text", "1"),
            ("end", None),
            ("text", " —"),
        ]
        for kind, text in parts:
            run = p.add_run(text if kind == "text" else None)
            _set_font(run._element, PAGE_NUMBER_FONT, 14)
            if kind == "instr":
                instr = OxmlElement("w:instrText")
                instr.set(qn("xml:space"), "preserve")
                instr.text = text
                run._element.append(instr)
            elif kind != "text":
                mark = OxmlElement("w:fldChar")
                mark.set(qn("w:fldCharType"), kind)
                run._element.append(mark)
    for later in document.sections[1:]:
        later.footer.is_linked_to_previous = True
        later.even_page_footer.is_linked_to_previous = True
