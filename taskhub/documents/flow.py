"""Numbered prose: headings and items from the numbering, units, deadlines and points."""

from __future__ import annotations

from taskhub.documents.model import Draft
from taskhub.documents.readers import SourceDocument


def read_flow(doc: SourceDocument, draft: Draft, *, skip: list[tuple[int, int]]) -> None:
    """Add the sections and items of the document's numbered prose to the draft."""


def check(draft: Draft) -> None:
    """Flag what needs a look: numbering gaps, points that do not add up, tasks without a lead."""
