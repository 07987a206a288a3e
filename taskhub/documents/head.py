"""The document's head: title, 文号, issue date, plan year, kind, 考评对象, total points."""

from __future__ import annotations

from taskhub.documents.model import Draft
from taskhub.documents.readers import SourceDocument


def read_head(doc: SourceDocument, draft: Draft) -> None:
    """Fill the draft's head fields from the document (what is not found stays None)."""
