"""A user's in-app notifications (站内通知): the unread ones the menu counts."""

from __future__ import annotations

from sqlalchemy import func, select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.reminders.models import Notification


def unread_count(user: User) -> int:
    """How many of the user's notifications are unread (one COUNT on the user/read index)."""
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )
