"""Webhook endpoints registered by an admin."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from taskhub.core.db import Base, now_utc


class WebhookEvent(StrEnum):
    REPORT_SUBMITTED = "report.submitted"
    REVIEW_DONE = "review.done"
    MILESTONE_OVERDUE = "milestone.overdue"
    PERIOD_CLOSED = "period.closed"
    AUDIT_CHECKPOINT = "audit.checkpoint"


WEBHOOK_EVENTS = tuple(e.value for e in WebhookEvent)


class WebhookEndpoint(Base):
    """A receiver of event notifications (a city's own dashboard, for instance)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str]
    description: Mapped[str] = mapped_column(default="")
    #: Shared secret for the HMAC-SHA256 signature; the receiver holds a copy, so it is kept
    #: readable (never logged, never shown again after creation).
    secret: Mapped[str]
    #: Event codes (see WebhookEvent) this endpoint receives.
    events: Mapped[list[Any]]
    is_enabled: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
