"""Indicator tables: one indicator per row (序号, 指标, 内容, 分值/权重, 牵头考核单位, 时限)."""

from __future__ import annotations

from taskhub.documents.model import Draft
from taskhub.documents.readers import SourceDocument


def read_tables(doc: SourceDocument, draft: Draft) -> list[tuple[int, int]]:
    """Add the sections and items of the document's indicator tables to the draft.

    Returns the text spans (start, end) the tables took, for the prose reader to skip.
    """
    return []
