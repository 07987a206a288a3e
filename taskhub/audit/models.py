"""Audit events: who changed what, before and after, chained by hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from taskhub.core.db import Base, now_utc


class AuditEvent(Base):
    """One state change; ``digest`` covers the fields and the previous event's digest."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=now_utc)
    #: None for the system (seed loader, scheduler).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str]
    object_type: Mapped[str]
    object_id: Mapped[str]
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    prev_digest: Mapped[str | None]
    digest: Mapped[str] = mapped_column(unique=True)
