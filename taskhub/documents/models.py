"""A draft plan read from a document, kept while the office checks it (before the import)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.units.models import City


class DraftStatus(StrEnum):
    OPEN = "open"  #: being checked and corrected
    CONFIRMED = "confirmed"  #: imported through the plan importer (plan_id set)
    DISCARDED = "discarded"  #: dropped by the office


DRAFT_STATUSES = tuple(s.value for s in DraftStatus)


class PlanDraft(Base):
    """The draft of one document: its text, the parse (JSON) as corrected, and its fate."""

    __tablename__ = "plan_drafts"
    __table_args__ = (CheckConstraint(f"status IN {DRAFT_STATUSES!r}", name="status_valid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
    #: Optimistic locking: an edit based on an older version is refused, not lost.
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(default=DraftStatus.OPEN.value, index=True)
    #: The file name as uploaded, or 粘贴的文本.
    name: Mapped[str]
    #: docx | pdf | txt | md | html | text
    format: Mapped[str]
    #: The document as read: every source span points into it.
    source_text: Mapped[str]
    #: Draft.to_json() plus the head's ``code``, ``unknown_names`` and an ``id`` on every
    #: section ("s3") and item ("i17").
    data: Mapped[dict[str, Any]]
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"))

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    city: Mapped[City] = relationship()
    created_by: Mapped[User | None] = relationship()
