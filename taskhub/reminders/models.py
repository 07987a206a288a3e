"""The outbox: one row per message to send, deduplicated by a unique key."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from taskhub.core.db import Base, now_utc
from taskhub.reminders.channels import public_error


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"  #: DingTalk / WeCom robot
    IN_APP = "in_app"
    #: An outgoing event webhook (taskhub.webhooks), signed with HMAC-SHA256.
    HOOK = "hook"


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

    @property
    def error_shown(self) -> str | None:
        """last_error as pages and the API show it: never a receiver's own words."""
        return public_error(self.last_error)


class Recipient(StrEnum):
    UNIT_CONTACTS = "unit_contacts"  #: contacts of the assignment's unit
    LEAD_UNIT = "lead_unit"  #: contacts of the item's lead (or lead assessment) units
    OFFICE = "office"  #: users with the office role


class ReminderRule(Base):
    """When and whom to remind, as data the office edits.

    ``offset_working_days`` counts working days from the (effective) due date: -3 is three
    working days before, 0 the day itself, 5 five working days overdue. With
    ``repeat_every_working_days`` the rule fires again every N working days after that.
    """

    __tablename__ = "reminder_rules"
    __table_args__ = (
        CheckConstraint(
            "repeat_every_working_days IS NULL OR repeat_every_working_days > 0",
            name="repeat_positive",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    offset_working_days: Mapped[int]
    repeat_every_working_days: Mapped[int | None]
    #: Recipient codes (see Recipient).
    recipients: Mapped[list[Any]]
    #: Channel codes (see Channel).
    channels: Mapped[list[Any]]
    #: No messages are delivered between these local times (e.g. 22:00-08:00); they wait.
    quiet_from: Mapped[time | None]
    quiet_until: Mapped[time | None]
    is_enabled: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)


class Notification(Base):
    """An in-app notification for one user."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_read_at", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str]
    body: Mapped[str]
    link: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    read_at: Mapped[datetime | None]


class NoticeEvent(StrEnum):
    """Events that notify people at once (not through the daily reminder run)."""

    REPORT_SUBMITTED = "report_submitted"  #: to the office and the lead assessor
    REPORT_ACCEPTED = "report_accepted"  #: to the unit
    REPORT_RETURNED = "report_returned"  #: to the unit
    EXTENSION_DECIDED = "extension_decided"  #: approved or rejected, to the unit


#: The channels a person chooses for themself; a unit's chat robot and its contacts' e-mail
#: belong to the unit and follow the reminder rules.
PERSONAL_CHANNELS = (Channel.IN_APP.value, Channel.EMAIL.value)


class NotificationPreference(Base):
    """One user's choice for one event and channel; no row means the default (on)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (
        CheckConstraint(f"event IN {tuple(e.value for e in NoticeEvent)!r}", name="event_valid"),
        CheckConstraint(f"channel IN {PERSONAL_CHANNELS!r}", name="channel_valid"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    event: Mapped[str] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(primary_key=True)
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
