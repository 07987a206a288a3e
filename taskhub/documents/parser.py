"""Read a plan document into a draft plan: rules we write and test, offline.

The pieces, in order:
- ``head``: title, 文号, issue date, plan year, kind, 考评对象 and total points;
- ``tables``: indicator tables (a 序号 column, first- and second-level indicators, content,
  points or weight, lead assessment unit, deadline) become sections and items;
- ``flow``: numbered prose (一、 / （一） / 1. / （1） / ①) becomes sections and items, with
  units by role, deadline phrases and points read from each item's text;
- checks that flag, never fix: numbering gaps, points that do not add up, tasks without a lead.
"""

from __future__ import annotations

from taskhub.documents import flow, head, tables
from taskhub.documents.model import Draft, DraftItem, DraftSection
from taskhub.documents.readers import SourceDocument, from_text


def parse(doc: SourceDocument, *, year: int | None = None) -> Draft:
    """The draft plan of a document; ``year`` overrides the year read from the document."""
    draft = Draft(source_text=doc.text)
    head.read_head(doc, draft)
    if year is not None:
        draft.year = year
    consumed = tables.read_tables(doc, draft)
    flow.read_flow(doc, draft, skip=consumed)
    # tables and prose each add theirs: the draft follows the document's order
    draft.sections.sort(key=_position)
    draft.items.sort(key=_position)
    flow.check(draft)
    return draft


def _position(part: DraftSection | DraftItem) -> int:
    """Where a part starts in the source; parts without a span keep their place at the end."""
    return part.source.start if part.source is not None else 1 << 62


def parse_text(text: str, *, year: int | None = None) -> Draft:
    """The draft plan of plain text (pasted, or a .txt/.md file's content)."""
    return parse(from_text(text), year=year)
