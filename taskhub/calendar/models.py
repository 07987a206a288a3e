"""Admin overrides of the official working-day calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.accounts.models import User


class CalendarOverride(Base):
    """One day whose working status an admin set; it wins over the official calendar."""

    __tablename__ = "calendar_overrides"
    __table_args__ = (CheckConstraint("note <> ''", name="note_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The office-local date (Asia/Shanghai by default), not a timestamp.
    day: Mapped[date] = mapped_column(unique=True)
    #: True: staff work that day (e.g. a 调休 Saturday); False: a day off.
    is_working_day: Mapped[bool]
    #: Why, in the office's words, e.g. "2027年春节调休".
    note: Mapped[str]
    #: None when set by the system (e.g. an import of a new year's calendar).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)

    created_by: Mapped[User | None] = relationship()
