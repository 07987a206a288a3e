"""Turn an uploaded document into text blocks the parser reads.

Every format becomes one ``SourceDocument``: its text (what source spans point into) and its
blocks in reading order — paragraphs, and tables as rows of cell texts (a merged cell repeats its
text in every cell it covers). Formats we cannot read get ``UnreadableDocument`` with a message
saying what to save the file as.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
