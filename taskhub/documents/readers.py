"""Turn an uploaded document into text blocks the parser reads.

Every format becomes one ``SourceDocument``: its text (what source spans point into) and its
blocks in reading order — paragraphs, and tables as rows of cell texts (a merged cell repeats its
text in every cell it covers). Formats we cannot read get ``UnreadableDocument`` with a message
saying what to save the file as.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

import filetype
from flask_babel import gettext as _

from taskhub.core.errors import DomainError


class UnreadableDocument(DomainError):
    """The file cannot be read as a plan document; the message says what to do instead."""


@dataclass
class Block:
    kind: Literal["paragraph", "table"]
    start: int  # offsets into SourceDocument.text, end exclusive
    end: int
    text: str  # the paragraph; for a table, its rows as written into the text
    #: Table rows of cell texts (tables only).
    rows: list[list[str]] = field(default_factory=list)
    #: Each row's start offset in SourceDocument.text (tables only).
    row_starts: list[int] = field(default_factory=list)
    #: (row, column) of the cells that repeat a cell spanning rows from above (tables whose
    #: reader knows the spans, else None): a value printed again is not such a repeat.
    covered: set[tuple[int, int]] | None = None


@dataclass
class SourceDocument:
    name: str
    format: str  # docx | pdf | txt | md | html | text (pasted)
    text: str
    blocks: list[Block]


def from_text(text: str, *, name: str = "", format: str = "text") -> SourceDocument:
    """Plain text (a .txt/.md file or pasted): one paragraph block per non-blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    blocks: list[Block] = []
    offset = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = offset + line.index(stripped[0])
            blocks.append(Block("paragraph", start, start + len(stripped), stripped))
        offset += len(line) + 1
    return SourceDocument(name=name, format=format, text=text, blocks=blocks)


# -- reading files --------------------------------------------------------------------------

#: Largest document file read (a 300-page plan as a PDF is a few MB).
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
#: Most PDF pages read; a longer file is split by the office.
MAX_PDF_PAGES = 500
#: Most bytes a .docx may expand to, and most entries it may hold (zip bombs).
MAX_EXPANDED = 200 * 1024 * 1024
MAX_ENTRIES = 5_000
#: The longest text read from a document or pasted, in characters (TEXT_LIMITS too).
TEXT_LIMIT_NAME = "document.text"

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PDF = b"%PDF-"
_RTF = b"{\\rtf"
_SPREADSHEETS = ("xls", "xlsx", "et", "csv", "ods")
#: Page-number lines of a PDF: — 3 —, - 3 -, 第3页, 第 3 页 共 20 页, 3/20.
_PAGE_NUMBER = re.compile(
    r"[-—–－~～\s]*(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*(?:/|共)\s*\d{1,4}\s*页?)?[-—–－~～\s]*"
)
_DASHED_NUMBER = re.compile(
    r"[-—–－~～]+\s*\d{1,4}\s*[-—–－~～]+|第\s*\d{1,4}\s*页.*|\d{1,4}\s*/\s*\d{1,4}"
)
#: Where a printed line ends a paragraph (the next line starts a new one).
_LINE_END = re.compile(r"[。；;：:！!？?]$|[)）]$")
#: A line starting with a heading or item number starts a new paragraph.
_NUMBERED = re.compile(
    r"^\s*(?:[一二三四五六七八九十百]+\s*[、.．]|[（(]\s*[一二三四五六七八九十百\d]+\s*[)）]|"
    r"\d{1,3}\s*[、.．](?!\d)|[①-⑳]|附件|第[一二三四五六七八九十百\d]+[章节条部分])"
)
_HTML_SNIFF = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|div|p|table)\b", re.I | re.S
)
_HTML_DROP = frozenset(
    {
        "script",
        "style",
        "nav",
        "noscript",
        "iframe",
        "form",
        "header",
        "footer",
        "select",
        "button",
        "template",
        "svg",
        "head",
    }
)
_HTML_BLOCKS = frozenset(
    {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "pre",
        "blockquote",
        "section",
        "article",
        "main",
        "aside",
        "center",
        "address",
        "figure",
        "figcaption",
        "hr",
        "tr",
        "caption",
        "body",
    }
)
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")


def _extension(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _shown(name: str) -> str:
    return (name.replace("\\", "/").rsplit("/", 1)[-1] or "?")[:80]


def read(name: str, data: bytes) -> SourceDocument:
    """Read an uploaded document into text blocks, judging its format by its content.

    .docx, .pdf with a text layer, .txt/.md (UTF-8, UTF-8 with BOM, UTF-16 with BOM,
    GB18030/GBK) and .html/.htm are read; anything else raises UnreadableDocument saying what
    to save the file as.
    """
    shown = _shown(name)
    extension = _extension(name)
    if not data:
        raise UnreadableDocument(
            _(
                "「%(name)s」 is empty: upload the plan document itself, or paste its text.",
                name=shown,
            )
        )
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UnreadableDocument(
            _(
                "「%(name)s」 is %(size)d MB, more than the %(limit)d MB a document may have; "
                "split it, or paste its text.",
                name=shown,
                size=-(-len(data) // (1024 * 1024)),
                limit=MAX_DOCUMENT_BYTES // (1024 * 1024),
            )
        )
    if data.startswith(_ZIP):
        return _read_zip(shown, extension, data)
    if data.startswith(_PDF) or data[:1024].find(_PDF) >= 0:
        return _read_pdf(shown, data)
    if data.startswith(_OLE2):
        raise UnreadableDocument(_old_office(extension))
    if data.startswith(_RTF):
        raise UnreadableDocument(
            _(
                "「%(name)s」 is an RTF file: open it in Word or WPS, save it as .docx and upload "
                "that.",
                name=shown,
            )
        )
    kind = filetype.guess(data[:8192])
    if kind is not None and kind.mime.startswith(("image/", "video/", "audio/", "application/")):
        if kind.mime.startswith("image/"):
            raise UnreadableDocument(
                _(
                    "「%(name)s」 is a picture: its text cannot be read. Upload the original .docx "
                    "or PDF, or copy the text and paste it.",
                    name=shown,
                )
            )
        raise UnreadableDocument(_unknown_format(shown))
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableDocument(_refusal_by_extension(shown, extension))
    text = decode_text(data)
    if text is None:
        raise UnreadableDocument(_refusal_by_extension(shown, extension))
    if extension in ("html", "htm", "xhtml", "mht", "shtml") or _HTML_SNIFF.match(
        text[:2048].encode("utf-8", "ignore")
    ):
        return _checked(read_html(text, name=shown))
    if extension in ("wps", "ofd", "doc") or extension in _SPREADSHEETS:
        raise UnreadableDocument(_refusal_by_extension(shown, extension))
    if extension in ("md", "markdown"):
        return _checked(from_text(_plain_markdown(text), name=shown, format="md"))
    return _checked(tab_tables(from_text(text, name=shown, format="txt")))


def from_pasted(text: str) -> SourceDocument:
    """Text pasted into the box (checked against the text limit; empty text is refused)."""
    if not text.strip():
        raise UnreadableDocument(_("Paste the plan's text first: the box is empty."))
    return _checked(tab_tables(from_text(text, name="", format="text")))


def tab_tables(doc: SourceDocument) -> SourceDocument:
    """Runs of two or more tab-separated lines become table blocks: a table copied from Word,
    WPS or a web page and pasted arrives with its cells separated by tabs, its rows by lines.
    The text is unchanged (spans still point into it); each row starts at its line."""
    blocks: list[Block] = []
    run: list[Block] = []

    def close_run() -> None:
        if len(run) < 2:
            blocks.extend(run)
        else:
            rows, starts = [], []
            for block in run:
                start = doc.text.rfind("\n", 0, block.start) + 1
                end = doc.text.find("\n", block.end)
                line = doc.text[start : end if end >= 0 else len(doc.text)]
                rows.append([_one_line(cell) for cell in line.split("\t")])
                starts.append(start)
            end = run[-1].end
            blocks.append(Block("table", starts[0], end, doc.text[starts[0] : end], rows, starts))
        run.clear()

    for block in doc.blocks:
        if block.kind == "paragraph" and "\t" in block.text:
            run.append(block)
            continue
        close_run()
        blocks.append(block)
    close_run()
    return SourceDocument(doc.name, doc.format, doc.text, blocks)


def decode_text(data: bytes) -> str | None:
    """Text in UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 (covers GBK/GB2312)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _checked(doc: SourceDocument) -> SourceDocument:
    """Refuse a document with no text, or with more than the text limit."""
    from taskhub.core.limits import limit

    if not doc.text.strip() or not doc.blocks:
        raise UnreadableDocument(
            _(
                "「%(name)s」 holds no text to read; upload the plan document itself, or paste its "
                "text.",
                name=doc.name or _("The text"),
            )
        )
    if len(doc.text) > limit(TEXT_LIMIT_NAME):
        raise UnreadableDocument(
            _(
                "The document has %(length)d characters of text, more than the %(limit)d a plan "
                "may have; split it.",
                length=len(doc.text),
                limit=limit(TEXT_LIMIT_NAME),
            )
        )
    return doc


def _old_office(extension: str) -> str:
    if extension in ("wps", "wpt"):
        return _(".wps files: open it in WPS, save it as .docx and upload that.")
    if extension in ("xls", "et"):
        return _spreadsheet()
    return _(
        "This is an old Word file (.doc): open it in Word or WPS, save it as .docx and upload that."
    )


def _spreadsheet() -> str:
    return _(
        "This is a spreadsheet: a plan kept in Excel is imported with the Excel template "
        "(Excel 导入)."
    )


def _unknown_format(shown: str) -> str:
    return _(
        "「%(name)s」 cannot be read as a plan document. Upload a .docx, a PDF with text, a "
        ".txt, .md or .html file, or copy the text and paste it.",
        name=shown,
    )


def _refusal_by_extension(shown: str, extension: str) -> str:
    if extension == "wps":
        return _old_office("wps")
    if extension == "ofd":
        return _ofd()
    if extension == "doc":
        return _old_office("doc")
    if extension in _SPREADSHEETS:
        return _spreadsheet()
    return _unknown_format(shown)


def _ofd() -> str:
    return _(
        ".ofd files: open it in an OFD reader, save or print it as a PDF with text (or copy the "
        "text and paste it) and upload that."
    )


# -- .docx ---------------------------------------------------------------------------------


def _read_zip(shown: str, extension: str, data: bytes) -> SourceDocument:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            names = {e.filename for e in entries}
            if len(entries) > MAX_ENTRIES or sum(e.file_size for e in entries) > MAX_EXPANDED:
                raise UnreadableDocument(_damaged(shown))
    except zipfile.BadZipFile:
        if extension in ("wps", "ofd", "doc") or extension in _SPREADSHEETS:
            raise UnreadableDocument(_refusal_by_extension(shown, extension))
        raise UnreadableDocument(_damaged(shown))
    if "word/document.xml" in names:
        return _checked(_read_docx(shown, data))
    if "OFD.xml" in names or any(n.lower().endswith("ofd.xml") for n in names):
        raise UnreadableDocument(_ofd())
    if any(n.startswith("xl/") for n in names):
        raise UnreadableDocument(_spreadsheet())
    if extension == "wps":
        raise UnreadableDocument(_old_office("wps"))
    raise UnreadableDocument(_unknown_format(shown))


def _damaged(shown: str) -> str:
    return _(
        "「%(name)s」 cannot be read as a .docx file (it may be damaged): open it in Word or WPS, "
        "save it again as .docx and upload that.",
        name=shown,
    )


def _read_docx(shown: str, data: bytes) -> SourceDocument:
    import docx
    from docx.oxml.ns import qn

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception:  # any damage inside the package is the file's problem
        raise UnreadableDocument(_damaged(shown))
    builder = _Builder(shown, "docx")
    numbering = _Numbering(document)
    for element in document.element.body.iterchildren():
        if element.tag == qn("w:p"):
            builder.paragraph(numbering.label(element) + _docx_paragraph_text(element))
        elif element.tag == qn("w:tbl"):
            builder.table(_docx_table(element))
        elif element.tag == qn("w:sdt"):  # content controls wrap paragraphs (a cover, a TOC)
            for p in element.iter(qn("w:p")):
                builder.paragraph(numbering.label(p) + _docx_paragraph_text(p))
    return builder.document()


_CHINESE_DIGITS = "〇一二三四五六七八九"


def _chinese_number(n: int) -> str:
    """一 … 十 … 九十九 (Word's chineseCounting), plainly beyond."""
    if n <= 0 or n >= 100:
        return str(n)
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _CHINESE_DIGITS[ones]
    return (
        ("" if tens == 1 else _CHINESE_DIGITS[tens])
        + "十"
        + (_CHINESE_DIGITS[ones] if ones else "")
    )


def _roman(n: int) -> str:
    out = ""
    for value, letters in (
        (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
        (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
    ):  # fmt: skip
        while n >= value:
            out, n = out + letters, n - value
    return out


def _format_number(n: int, fmt: str) -> str:
    if fmt in ("chineseCounting", "chineseCountingThousand", "taiwaneseCounting",
               "japaneseCounting", "ideographTraditional"):  # fmt: skip
        return _chinese_number(n)
    if fmt == "ideographDigital":
        return "".join(_CHINESE_DIGITS[int(d)] for d in str(n))
    if fmt.startswith("decimalEnclosedCircle") and 1 <= n <= 20:
        return chr(0x2460 + n - 1)
    if fmt == "decimalFullWidth":
        return "".join(chr(ord(d) + 0xFEE0) for d in str(n))
    if fmt in ("upperLetter", "lowerLetter"):
        letter = chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return letter if fmt == "upperLetter" else letter.lower()
    if fmt in ("upperRoman", "lowerRoman"):
        return _roman(n) if fmt == "upperRoman" else _roman(n).lower()
    return str(n)


class _Numbering:
    """Word's automatic list numbers (一、 / （一） / 1. typed by Word, not in the text): each
    numbered paragraph gets its label as Word would print it. Bullets get none."""

    def __init__(self, document: Any) -> None:
        from docx.oxml.ns import qn

        self.qn = qn
        #: numId -> {ilvl: (numFmt, lvlText, start)}
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        #: style id -> (numId, ilvl) for styles that carry numbering (heading styles).
        self.styles: dict[str, tuple[str, int]] = {}
        self.counters: dict[str, dict[int, int]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        for node in root.iterchildren(qn("w:abstractNum")):
            abstract[node.get(qn("w:abstractNumId"))] = {
                int(lvl.get(qn("w:ilvl")) or 0): self._level(lvl)
                for lvl in node.iterchildren(qn("w:lvl"))
            }
        for num in root.iterchildren(qn("w:num")):
            ref = num.find(qn("w:abstractNumId"))
            levels = dict(abstract.get(ref.get(qn("w:val")) if ref is not None else "", {}))
            for override in num.iterchildren(qn("w:lvlOverride")):
                ilvl = int(override.get(qn("w:ilvl")) or 0)
                lvl = override.find(qn("w:lvl"))
                if lvl is not None:
                    levels[ilvl] = self._level(lvl)
                start = override.find(qn("w:startOverride"))
                if start is not None and ilvl in levels:
                    fmt, text, _start = levels[ilvl]
                    levels[ilvl] = (fmt, text, int(start.get(qn("w:val")) or 1))
            self.levels[num.get(qn("w:numId"))] = levels
        for style in document.styles.element.iterchildren(qn("w:style")):
            found = self._num_pr(style.find(qn("w:pPr")))
            if found is not None:
                self.styles[style.get(qn("w:styleId"))] = found

    def _level(self, lvl: Any) -> tuple[str, str, int]:
        qn = self.qn

        def value(tag: str, default: str) -> str:
            node = lvl.find(qn(tag))
            return node.get(qn("w:val")) if node is not None else default

        return value("w:numFmt", "decimal"), value("w:lvlText", ""), int(value("w:start", "1"))

    def _num_pr(self, ppr: Any) -> tuple[str, int] | None:
        qn = self.qn
        if ppr is None:
            return None
        num_pr = ppr.find(qn("w:numPr"))
        if num_pr is None:
            return None
        num_id = num_pr.find(qn("w:numId"))
        ilvl = num_pr.find(qn("w:ilvl"))
        if num_id is None:
            return None
        return num_id.get(qn("w:val")), int(ilvl.get(qn("w:val")) if ilvl is not None else 0)

    def label(self, p: Any) -> str:
        """The paragraph's list label ("一、", "（二）", "3.") or ""; counts it."""
        if not self.levels:
            return ""
        qn = self.qn
        ppr = p.find(qn("w:pPr"))
        found = self._num_pr(ppr)
        if found is None and ppr is not None:
            style = ppr.find(qn("w:pStyle"))
            if style is not None:
                found = self.styles.get(style.get(qn("w:val")))
        if found is None:
            return ""
        num_id, ilvl = found
        levels = self.levels.get(num_id)
        if not levels or ilvl not in levels or num_id == "0":
            return ""
        fmt, text, start = levels[ilvl]
        counters = self.counters.setdefault(num_id, {})
        counters[ilvl] = counters.get(ilvl, start - 1) + 1
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]
        if fmt in ("bullet", "none") or not text:
            return ""

        def number(match: re.Match[str]) -> str:
            level = int(match.group(1)) - 1
            level_fmt, _text, level_start = levels.get(level, ("decimal", "", 1))
            return _format_number(counters.get(level, level_start), level_fmt)

        return re.sub(r"%([1-9])", number, text)


def _docx_paragraph_text(p: Any) -> str:
    from docx.oxml.ns import qn

    parts: list[str] = []
    for node in p.iter(qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")):
        if node.tag == qn("w:t"):
            parts.append(node.text or "")
        else:
            parts.append(" ")
    return "".join(parts)


def _docx_table(tbl: Any) -> list[list[str]]:
    """Rows of cell texts; a merged cell (gridSpan across, vMerge down) repeats its text."""
    from docx.oxml.ns import qn

    rows: list[list[str]] = []
    for tr in tbl.iterchildren(qn("w:tr")):
        row: list[str] = []
        for tc in tr.iterchildren(qn("w:tc")):
            props = tc.find(qn("w:tcPr"))
            span, continues = 1, False
            if props is not None:
                grid = props.find(qn("w:gridSpan"))
                if grid is not None:
                    span = max(1, int(grid.get(qn("w:val")) or 1))
                merge = props.find(qn("w:vMerge"))
                continues = merge is not None and merge.get(qn("w:val")) in (None, "continue")
            column = len(row)
            if continues and rows and column < len(rows[-1]):
                text = rows[-1][column]
            else:
                text = " ".join(
                    t for t in (_docx_paragraph_text(p).strip() for p in tc.iter(qn("w:p"))) if t
                )
            row.extend([_one_line(text)] * span)
        rows.append(row)
    return rows


# -- .pdf ----------------------------------------------------------------------------------


#: One page's content in reading order: ("line", top, text, full) or ("table", top, rows, _).
_PageElement = tuple[str, float, Any, bool]


def _read_pdf(shown: str, data: bytes) -> SourceDocument:
    """Text by pdfium (fast, C); a page with enough ruling to hold a table is read again by
    pdfplumber, which finds ruled tables and their merged cells."""
    import pypdfium2 as pdfium

    pages: list[list[_PageElement]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pdf = pdfium.PdfDocument(data)
            try:
                if len(pdf) > MAX_PDF_PAGES:
                    raise UnreadableDocument(
                        _(
                            "The PDF has %(pages)d pages, more than the %(limit)d a document may "
                            "have; split it.",
                            pages=len(pdf),
                            limit=MAX_PDF_PAGES,
                        )
                    )
                candidates: list[int] = []
                for index in range(len(pdf)):
                    page = pdf[index]
                    textpage = page.get_textpage()
                    try:
                        pages.append(_pdfium_page(textpage.get_text_range()))
                        if _ruled(page):
                            candidates.append(index)
                    finally:
                        textpage.close()
                        page.close()
            finally:
                pdf.close()
            if candidates:
                _read_tables(data, candidates, pages)
    except UnreadableDocument:
        raise
    except Exception:
        raise UnreadableDocument(
            _(
                "「%(name)s」 cannot be read as a PDF (it may be damaged or encrypted): upload the "
                "original .docx, or copy the text and paste it.",
                name=shown,
            )
        )
    if not any(kind == "table" or text.strip() for page in pages for kind, _t, text, _f in page):
        raise UnreadableDocument(
            _(
                "This PDF has no text layer (it may be a scan): upload the original .docx, or "
                "copy the text and paste it."
            )
        )
    builder = _Builder(shown, "pdf")
    run: list[tuple[str, bool]] = []
    for page_elements in pages:
        for kind, _top, content, full in page_elements:
            if kind == "line":
                run.append((content, full))
                continue
            for paragraph in join_lines(run).split("\n"):
                builder.paragraph(paragraph)
            run = []
            builder.table(content)
    for paragraph in join_lines(run).split("\n"):
        builder.paragraph(paragraph)
    return _checked(builder.document())


#: Spaces a PDF's layout puts between Chinese characters and digits or letters (2024 年 6 月).
_LAYOUT_SPACE = re.compile(
    r"(?<=[\u2e80-\u9fff\uff00-\uffef])[ \t\u3000]+(?=[\u2e80-\u9fff\uff00-\uffef0-9A-Za-z])"
    r"|(?<=[0-9A-Za-z%])[ \t\u3000]+(?=[\u2e80-\u9fff\uff00-\uffef])"
)


def _tidy_pdf_line(line: str) -> str:
    return _LAYOUT_SPACE.sub("", line.strip())


def _ruled(page: Any) -> bool:
    """Whether a page has enough drawn lines or boxes to hold a ruled table."""
    import pypdfium2.raw as pdfium_c

    paths = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=2)
    return any(count >= 4 for count, _obj in enumerate(paths, start=1))


def _page_lines(lines: list[tuple[float, str]]) -> list[_PageElement]:
    """A page's lines without page numbers, each marked full when it was wrapped."""
    lines = [(top, _tidy_pdf_line(text)) for top, text in lines]
    lines = [(top, text) for top, text in lines if text]
    # Page numbers stand alone on the first or last line of a page.
    while lines and _is_page_number(lines[-1][1], edge=True):
        lines.pop()
    while lines and _is_page_number(lines[0][1], edge=True):
        lines.pop(0)
    lines = [(top, text) for top, text in lines if not _is_page_number(text, edge=False)]
    # A line as wide as the page's widest was wrapped: its paragraph goes on.
    widest = max((_width(text) for _top, text in lines), default=0)
    return [("line", top, text, _width(text) >= widest * 0.85) for top, text in lines]


def _pdfium_page(text: str) -> list[_PageElement]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return _page_lines([(float(i), line) for i, line in enumerate(lines)])


def _read_tables(data: bytes, indexes: list[int], pages: list[list[_PageElement]]) -> None:
    """Read the ruled pages again with pdfplumber: where it finds tables, the page becomes its
    lines and tables in reading order."""
    import logging

    import pdfplumber

    # pdfminer logs about every odd font or object; the text is what matters.
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for index in indexes:
            page = pdf.pages[index]
            try:
                elements = _pdf_page(page)
            finally:
                page.close()
            if elements is not None:
                pages[index] = elements


def _pdf_page(page: Any) -> list[_PageElement] | None:
    """A page's text lines and ruled tables, top to bottom (None: no table found on it)."""
    try:
        tables = [t for t in page.find_tables() if len(t.rows) >= 2]
    except Exception:  # a table we cannot make out is read as its lines
        return None
    if not tables:
        return None
    boxes = [t.bbox for t in tables]

    def outside(obj: dict[str, Any]) -> bool:
        x = (obj.get("x0", 0) + obj.get("x1", 0)) / 2
        y = (obj.get("top", 0) + obj.get("bottom", 0)) / 2
        return not any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)

    lines = [
        (float(line["top"]), line["text"])
        for line in page.filter(outside).extract_text_lines(return_chars=False)
    ]
    elements = _page_lines(lines)
    elements += [("table", float(t.bbox[1]), _pdf_table(t), False) for t in tables]
    elements.sort(key=lambda e: e[1])
    return elements


def _pdf_table(table: Any) -> list[list[str]]:
    """A ruled table's grid; a merged cell repeats its text in every grid cell it covers."""
    grid = table.extract()
    texts: dict[tuple[float, ...], str] = {}
    columns: dict[int, tuple[float, float]] = {}
    for row, values in zip(table.rows, grid, strict=False):
        for j, (box, value) in enumerate(zip(row.cells, values, strict=False)):
            if box is not None:
                texts[tuple(box)] = _one_line(value or "")
                columns.setdefault(j, (box[0], box[2]))
    out: list[list[str]] = []
    for row, values in zip(table.rows, grid, strict=False):
        cells: list[str] = []
        cy = (row.bbox[1] + row.bbox[3]) / 2
        for j, value in enumerate(values):
            if value is not None:
                cells.append(_one_line(value))
                continue
            x0, x1 = columns.get(j, (0.0, 0.0))
            cx = (x0 + x1) / 2
            covering = next(
                (
                    text
                    for box, text in texts.items()
                    if box[0] <= cx <= box[2] and box[1] <= cy <= box[3]
                ),
                "",
            )
            cells.append(covering)
        out.append(cells)
    return out


def _is_page_number(line: str, *, edge: bool) -> bool:
    """A page-number line: dashed (— 3 —) or 第3页 anywhere; a bare number at a page's edge."""
    if _DASHED_NUMBER.fullmatch(line.strip()):
        return True
    return edge and bool(_PAGE_NUMBER.fullmatch(line)) and any(c.isdigit() for c in line)


def _width(line: str) -> int:
    """A printed line's width in half-width characters (a Chinese character counts two)."""
    return sum(1 if ord(c) < 0x2E80 else 2 for c in line)


def join_lines(lines: list[tuple[str, bool]]) -> str:
    """Printed lines back into paragraphs. A line runs on into the next when it was wrapped
    (``full``: as wide as the page's lines get) unless it ends a sentence or clause
    (。；：！？ or a closing bracket) or the next line starts a number (一、 （一） 1. ①)."""
    paragraphs: list[str] = []
    current, running_on = "", False
    for line, full in lines:
        if current and (not running_on or _LINE_END.search(current) or _NUMBERED.match(line)):
            paragraphs.append(current)
            current = ""
        current += line
        running_on = full
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs)


# -- .html ---------------------------------------------------------------------------------


def read_html(html: str, *, name: str = "") -> SourceDocument:
    """Paragraphs from block elements and tables (rowspan/colspan repeated), in page order;
    scripts, styles, navigation, headers, footers and forms are dropped."""
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bs4 warns about markup that looks like a file name
        soup = BeautifulSoup(html, "html.parser")
    builder = _Builder(name, "html")
    root = soup.body or soup
    buffer: list[str] = []

    def flush() -> None:
        builder.paragraph("".join(buffer))
        buffer.clear()

    def walk(node: Any) -> None:
        from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

        for child in node.children:
            if isinstance(child, Comment | Doctype | Declaration | ProcessingInstruction):
                continue
            if isinstance(child, NavigableString):
                buffer.append(str(child))
            elif isinstance(child, Tag):
                tag = child.name.lower()
                if tag in _HTML_DROP:
                    continue
                if tag == "table" and _layout_table(child):
                    # Old portals lay the page out in tables: read it as blocks.
                    flush()
                    walk(child)
                    flush()
                elif tag == "table":
                    flush()
                    caption = child.find("caption")
                    if caption is not None and caption.find_parent("table") is child:
                        builder.paragraph(caption.get_text(" ", strip=True))  # shown above
                    covered: set[tuple[int, int]] = set()
                    builder.table(_html_table(child, covered), covered)
                elif tag in ("td", "th"):
                    flush()
                    walk(child)
                    flush()
                elif tag == "br":
                    flush()
                elif tag in _HTML_BLOCKS:
                    flush()
                    walk(child)
                    flush()
                else:
                    walk(child)

    walk(root)
    flush()
    return builder.document()


def _layout_table(table: Any) -> bool:
    """A table used for page layout, not data: it holds another table, or has one column."""
    if table.find("table") is not None:
        return True
    rows = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
    return all(len(tr.find_all(["td", "th"], recursive=False)) <= 1 for tr in rows)


def _html_table(table: Any, covered: set[tuple[int, int]] | None = None) -> list[list[str]]:
    """The table's grid: a cell spanning rows or columns repeats its text in each. ``covered``
    receives the (row, column) of the repeats from a rowspan above (rows as returned)."""
    rows: list[list[str]] = []
    spanned: set[tuple[int, int]] = set()
    pending: dict[tuple[int, int], str] = {}  # (row, column) filled from a rowspan above
    trs = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
    for r, tr in enumerate(trs):
        row: list[str] = []
        column = 0
        for cell in tr.find_all(["td", "th"], recursive=False):
            while (r, column) in pending:
                spanned.add((r, column))
                row.append(pending.pop((r, column)))
                column += 1
            text = _one_line(cell.get_text(" ", strip=True))
            colspan = _span(cell.get("colspan"))
            rowspan = _span(cell.get("rowspan"))
            for _c in range(colspan):
                row.append(text)
                for below in range(1, rowspan):
                    pending[(r + below, column)] = text
                column += 1
        while (r, column) in pending:
            spanned.add((r, column))
            row.append(pending.pop((r, column)))
            column += 1
        rows.append(row)
    kept = [r for r, row in enumerate(rows) if any(row)]
    if covered is not None:
        index = {r: n for n, r in enumerate(kept)}
        covered.update((index[r], c) for r, c in spanned if r in index)
    return [rows[r] for r in kept]


def _span(value: Any) -> int:
    try:
        return max(1, min(int(str(value).strip()), 100))
    except (TypeError, ValueError):
        return 1


def _plain_markdown(text: str) -> str:
    """Markdown's heading marks and emphasis dropped (the parser reads the words)."""
    text = re.sub(r"(?m)^\s{0,3}#{1,6}\s+", "", text)
    return re.sub(r"\*\*|__", "", text)


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class _Builder:
    """Builds SourceDocument text and blocks: one line per paragraph and per table row."""

    def __init__(self, name: str, format: str) -> None:
        self.name, self.format = name, format
        self.parts: list[str] = []
        self.length = 0
        self.blocks: list[Block] = []

    def _append(self, line: str) -> int:
        if self.parts:
            self.parts.append("\n")
            self.length += 1
        start = self.length
        self.parts.append(line)
        self.length += len(line)
        return start

    def paragraph(self, text: str) -> None:
        line = _one_line(text.replace("\u3000", " "))
        if not line:
            return
        start = self._append(line)
        self.blocks.append(Block("paragraph", start, start + len(line), line))

    def table(self, rows: list[list[str]], covered: set[tuple[int, int]] | None = None) -> None:
        kept = [r for r, row in enumerate(rows) if any(cell for cell in row)]
        if covered is not None:
            index = {r: n for n, r in enumerate(kept)}
            covered = {(index[r], c) for r, c in covered if r in index}
        rows = [rows[r] for r in kept]
        if not rows:
            return
        starts = [self._append(" | ".join(row)) for row in rows]
        end = self.length
        text = "".join(self.parts)[starts[0] : end]
        self.blocks.append(
            Block("table", starts[0], end, text, rows=rows, row_starts=starts, covered=covered)
        )

    def document(self) -> SourceDocument:
        return SourceDocument(self.name, self.format, "".join(self.parts), self.blocks)
