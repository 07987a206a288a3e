"""A user's in-app notifications (站内通知): the unread ones the menu counts."""

from __future__ import annotations

from sqlalchemy import ScalarSelect, func, select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.reminders.models import Notification


def unread(user: User) -> ScalarSelect[int]:
    """How many of the user's notifications are unread, as a COUNT on the (user, read) index
    that another statement can hold."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .scalar_subquery()
    )


def unread_count(user: User) -> int:
    return int(db.session.scalar(select(unread(user))) or 0)
