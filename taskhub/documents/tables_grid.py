"""A table as the readers found it, before its rows are read as indicators."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from taskhub.documents.tables_header import Column

#: A 序号 cell: 1 / 1. / 1、 / （1）.
NUMBER_CELL = re.compile(r"^\s*[（(]?(\d{1,4})[)）]?\s*[.、．]?\s*$")


@dataclass
class Cell:
    text: str  # as printed (cleaned later, by role)
    start: int  # offsets into SourceDocument.text, end exclusive
    end: int


@dataclass
class RawRow:
    #: ``positional``: one entry per column (None = empty cell, read as covered by the cell
    #: above); otherwise the row's printed cells in order, some columns missing.
    cells: list[Cell | None]
    positional: bool = False
    start: int = 0
    end: int = 0
    #: Columns the row stops short of (a pasted line that ends early): not covered from above.
    absent: set[int] = field(default_factory=set)
    #: Columns whose cell repeats a merged cell from the row above (read as covered): a 序号
    #: merged over rows that each have their own points is each row's number.
    repeats: set[int] = field(default_factory=set)


@dataclass
class RawTable:
    columns: list[Column]
    rows: list[RawRow] = field(default_factory=list)
    start: int = 0
    end: int = 0
    caption: str | None = None  # the line above the header (表一 …)


def number_of(text: str | None) -> str | None:
    """The 序号 a cell holds, or None."""
    if text is None:
        return None
    match = NUMBER_CELL.match(text)
    return match.group(1) if match else None
