"""A user's in-app notifications (站内通知): the unread ones the menu counts."""

from __future__ import annotations

from sqlalchemy import ScalarSelect, func, literal, select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.reminders.models import Notification


def unread(user: User, cap: int | None = None) -> ScalarSelect[int]:
    """How many of the user's notifications are unread (on the (user, read) index), as a COUNT
    another statement can hold; with ``cap``, counting stops there."""
    rows = select(literal(1)).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if cap is not None:
        rows = rows.limit(cap)
    return select(func.count()).select_from(rows.subquery()).scalar_subquery()


def unread_count(user: User) -> int:
    return int(db.session.scalar(select(unread(user))) or 0)
