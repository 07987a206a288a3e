"""The outbox: one row per message to send, deduplicated by a unique key."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from taskhub.core.db import Base, now_utc


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"  #: DingTalk / WeCom robot
    IN_APP = "in_app"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  #: gave up after the last retry; stays visible


class OutboxMessage(Base):
    """A message decided in the same transaction as the state that caused it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"channel IN {tuple(c.value for c in Channel)!r}", name="channel_valid"),
        CheckConstraint(f"status IN {tuple(s.value for s in OutboxStatus)!r}", name="status_valid"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        # The sender polls unsent rows by due time.
        Index(
            "ix_outbox_messages_pending",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str]
    #: Email address, webhook URL or user id, by channel.
    recipient: Mapped[str]
    subject: Mapped[str]
    body: Mapped[str]
    #: Unique: the same reminder is never queued, and so never sent, twice.
    dedupe_key: Mapped[str] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=now_utc)
    last_error: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    sent_at: Mapped[datetime | None]
