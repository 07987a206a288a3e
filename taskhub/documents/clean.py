"""What is not the plan, and scrape damage: the prose reader's working text.

The reader works on a ``Stream``: the document's paragraphs without web-page chrome, page
numbers, contact lines and the like, with scraped page chunks rejoined, one paragraph per line.
Every character of the stream knows its offset in the source text, so items keep true spans.

Rules (general, not per document):
- a line is *noise* when it is web-page chrome (索引号, 发布机构, 分享到, 相关资源, 备案号, 上传人,
  点击查看更多 …), a page number (``— 3 —``, ``第1页 / 共22页``, ``- 3 -``), a URL, a contact
  line (联系人 / 联系电话), a 抄送 / 印发 line, a date line, a 文号 line, or a signature (an
  issuing body alone on its line);
- *page chunks*: a scrape that cut a long text into pages prefixes each chunk with a counter
  ``1、 2、 3、…`` that cuts words and even numbers (``4`` | ``1 .`` = item 41). A run of at least
  three lines whose starts count up by one, mostly long and mostly ending mid-sentence, is such
  a run: the counters are dropped and the chunks joined without a break.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from taskhub.documents.readers import SourceDocument
from taskhub.units.names import looks_like_unit

_NOISE = re.compile(
    r"^(?:[•·●▪■◆◇\-*]\s*)?(?:"
    # web-page metadata and chrome
    r"(?:索引号|主题分类|分类|发布机构|发文机关|发文日期|成文日期|发布日期|名称|文号|关键字|关键词|"
    r"来源|信息来源|浏览次数|点击数|时效|有效性|主题词|责任编辑|作者|字号)\s*[:：]"
    r"|【?字体[:：]|分享到|打印本页|关闭窗口|收藏|无障碍|关怀版|长者模式|网站支持|扫一扫|关联稿件|"
    r"相关资源|猜你喜欢|相关搜索|资源标签|展开阅读全文|当前位置|备案号|经营许可证|.{0,8}公网安备|"
    r"上传人|返回\s*下载|点击查看更多|资源描述|您访问的链接|相关链接|相关文件|相关解读|政策解读|"
    r"上一篇|下一篇|Baidu$|map$|网站地图|版权所有|主办单位|承办单位|技术支持|"
    r"《[^》]*》由会员分享|.{0,40}_第\d+页$"
    # page numbers
    r"|[-—–－\s]*\d{1,4}[-—–－\s]*$|第\s*\d+\s*页\s*[/／]?\s*(?:共\s*\d+\s*页)?$"
    # URLs, contact lines, distribution lines
    r"|https?://|www\.|[（(]?.{0,20}联系人[:：]|联系人|联系电话|联系方式|电\s*话[:：]|传\s*真[:：]|"
    r"邮\s*箱[:：]|抄送[:：]|抄\s*送"
    r")"
)
#: A line that is only a date (2022年5月10日, 2022-05-10 15:00, 2022年510 as scraped), maybe
#: with 印发 / a body before it.
_DATE_LINE = re.compile(
    r"^(?:.{0,30}?\s)?(?:\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}-\d{1,2}-\d{1,2}(?:\s+\d{1,2}:\d{2})?"
    r"|\d{4}年\d{2,4})(?:\s*印发|\s*来源[:：].*)?$"
)
#: A line that is only a 文号 (鹤政发〔2022〕12号, or as scraped 鹤政发〔202212).
_DOCNO_LINE = re.compile(r"^[\u4e00-\u9fff]{1,10}[〔\[［【(（]\d{4}[〕\]］】)）]?\d*号?$")
#: An issuing body alone on its line (the signature): …人民政府 / …办公室 / …局.
_SIGNATURE = re.compile(
    r"^[\u4e00-\u9fff]{2,20}(?:人民政府|政府办公室|人民政府办公室|办公厅|办公室|委员会|领导小组)$"
)
_END_PUNCT = "。；;：:）)〕】」”!！?？"
_NUMBERED = re.compile(
    r"^(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十\d]{1,3}[)）]|\d{1,3}\s?[.．])"
)
_LABEL_START = re.compile(
    r"^(?:牵头|责任|配合|协办|参与)(?:考核)?(?:单位|部门)\s*[:：]|^(?:完成时限|时间节点|附\s*件)"
)
_CC = re.compile(r"^抄\s*送\s*[:：]|^(?:主送|分送)\s*[:：]")
_ATTACHMENT_LIST = re.compile(r"^(?P<word>附\s*件\s*[:：]?)\s*\d{1,2}\s*[.、．]")
_LIST_LINE = re.compile(r"^\d{1,2}\s*[.、．]")
#: A page-chunk counter at a line start: 12、 (the chunk text follows directly).
_COUNTER = re.compile(r"^(\d{1,3})、")


def is_noise(line: str) -> bool:
    """Whether a paragraph is page chrome or letter furniture, not part of the plan."""
    s = line.strip()
    if not s:
        return True
    if len(s) > 8 and _NUMBERED.match(s):
        return False  # a numbered paragraph is plan text even when it names a contact
    return bool(
        _NOISE.match(s)
        or _DATE_LINE.match(s)
        or _DOCNO_LINE.match(s)
        or _SIGNATURE.match(s)
        or _SITE_LINKS.match(s)
    )


#: A web page's link row or pager: 【发表评论】 【打印】, 第 [1] [2] 页 共[7]页, 相关文章, 查看全文.
_SITE_LINKS = re.compile(
    r"^(?:【[^】]{1,8}】\s*)+$|^第\s*(?:\[\d+\]\s*)+页|^相关(?:文章|阅读|新闻)$|.{0,40}查看全文$"
)


@dataclass
class Stream:
    """The working text: paragraphs joined by ``\\n``; ``pos[i]`` is the source offset of
    ``text[i]`` (a joining ``\\n`` takes the offset just after its paragraph)."""

    text: str = ""
    pos: list[int] = field(default_factory=list)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Source offsets (end exclusive) of stream range [start, end)."""
        if not self.pos:
            return 0, 0
        start = min(max(start, 0), len(self.pos) - 1)
        end = min(max(end, start + 1), len(self.pos))
        return self.pos[start], self.pos[end - 1] + 1


def chunk_runs(lines: list[str]) -> set[int]:
    """Indexes of lines that are page chunks (their counter to drop, joined to the previous).

    A run is at least three consecutive lines whose counters go up by one; it counts as page
    chunks (not a numbered list) when most of its lines are long and end mid-sentence.
    """
    out: set[int] = set()
    i, n = 0, len(lines)
    while i < n:
        m = _COUNTER.match(lines[i])
        if not m:
            i += 1
            continue
        run = [i]
        value = int(m.group(1))
        j = i + 1
        while j < n and (m2 := _COUNTER.match(lines[j])) and int(m2.group(1)) == value + 1:
            run.append(j)
            value += 1
            j += 1
        if len(run) >= 3:
            lengths = sorted(len(lines[k]) for k in run)
            open_ends = sum(1 for k in run[:-1] if lines[k].rstrip()[-1:] not in _END_PUNCT)
            if lengths[len(lengths) // 2] >= 120 and open_ends * 2 >= len(run) - 1:
                out.update(run)
        i = j
    return out


def hard_wraps(lines: list[str]) -> set[int]:
    """Indexes of lines a hard line break cut (text pasted from a PDF): the document's lines
    mostly share one width, and such a full-width line that does not end a sentence goes on in
    the next line (unless that line starts with a number or a role label)."""
    widths = Counter(len(line) for line in lines if len(line) >= 20)
    if not widths:
        return set()
    width, _ = widths.most_common(1)[0]
    near = sum(n for w, n in widths.items() if abs(w - width) <= 2)
    if width > 80 or near < 5 or near * 10 < len(lines) * 3:
        return set()
    out = set()
    for index, line in enumerate(lines[:-1]):
        following = lines[index + 1]
        unclosed = sum(line.count(c) for c in "（(〔【[") > sum(line.count(c) for c in "）)〕】]")
        if (
            len(line) >= width - 2
            and line[-1] not in "。；;！!？?"
            and (unclosed or not (_NUMBERED.match(following) or _LABEL_START.match(following)))
        ):
            out.add(index)
    return out


def build_stream(doc: SourceDocument, skip: list[tuple[int, int]]) -> Stream:
    """The prose paragraphs of ``doc`` (outside ``skip`` spans) as one stream."""
    paragraphs: list[tuple[int, str]] = []  # (source start, text)
    ordered_skip = sorted(skip)
    after_cc = in_list = False
    k = 0
    for block in doc.blocks:
        if block.kind != "paragraph":
            continue
        while k < len(ordered_skip) and ordered_skip[k][1] <= block.start:
            k += 1
        if k < len(ordered_skip) and ordered_skip[k][0] < block.end:
            continue  # a table took it
        for offset, line in _lines(block.text, block.start):
            if _CC.match(line):
                after_cc = True
            elif after_cc and _unit_list(line):
                continue  # the 抄送 list goes on
            else:
                after_cc = False
            if m := _ATTACHMENT_LIST.match(line):
                # 附件：1.… 2.… : a list of attachments; the word 附件 stays as a marker
                in_list = True
                paragraphs.append((offset, line[: m.end("word")]))
                continue
            if in_list and _LIST_LINE.match(line) and "。" not in line and len(line) <= 60:
                continue
            in_list = False
            if not is_noise(line):
                paragraphs.append((offset, line))
    lines = [text for _, text in paragraphs]
    chunks = chunk_runs(lines)
    wrapped = hard_wraps(lines)
    stream = Stream()
    parts: list[str] = []
    for index, (offset, line) in enumerate(paragraphs):
        glue = (index in chunks and index > 0 and (index - 1) in chunks) or (index - 1) in wrapped
        if index in chunks:
            m = _COUNTER.match(line)
            assert m is not None
            cut = m.end()
            line, offset = line[cut:], offset + cut
        if parts and not glue:
            parts.append("\n")
            stream.pos.append(stream.pos[-1] + 1)
        parts.append(line)
        stream.pos.extend(range(offset, offset + len(line)))
    stream.text = "".join(parts)
    return stream


def _unit_list(line: str) -> bool:
    pieces = [p for p in re.split(r"[,，、；;。]", line) if p.strip()]
    return bool(pieces) and all(looks_like_unit(p.strip()) for p in pieces)


def _lines(text: str, start: int) -> list[tuple[int, str]]:
    """A block's non-blank lines, stripped, with their source offsets."""
    out = []
    offset = start
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            out.append((offset + raw.index(stripped[0]), stripped))
        offset += len(raw) + 1
    return out
