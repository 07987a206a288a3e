"""A plan's reporting cadence (报送周期), optionally overridden for a section."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from taskhub.core.db import Base, now_utc


class CadenceKind(StrEnum):
    NONE = "none"  #: no fixed reporting (or, on a section, none for its items)
    MONTHLY = "monthly"  #: by day ``day`` of every month (31 = the month's last day)
    WEEKLY = "weekly"  #: every week by weekday ``day`` (0 = Monday … 6 = Sunday)


CADENCE_KINDS = tuple(k.value for k in CadenceKind)


class ReportingCadence(Base):
    """When every open assignment of a plan (or of one section's items) must report.

    The plan's row has no section; a section's row overrides it for the items below that
    section (the nearest section with a row wins). Windows and 未按时报送 are computed from
    these dates at read time (taskhub.cadence.services), never stored.
    """

    __tablename__ = "reporting_cadences"
    __table_args__ = (
        CheckConstraint(f"kind IN {CADENCE_KINDS!r}", name="kind_valid"),
        CheckConstraint(
            "(kind = 'none') OR (kind = 'monthly' AND day BETWEEN 1 AND 31) "
            "OR (kind = 'weekly' AND day BETWEEN 0 AND 6)",
            name="day_valid",
        ),
        CheckConstraint("remind_days_before >= 0", name="remind_non_negative"),
        # One plan-wide row per plan; one row per section.
        Index(
            "uq_reporting_cadences_plan_id",
            "plan_id",
            unique=True,
            sqlite_where=text("section_id IS NULL"),
            postgresql_where=text("section_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    #: NULL: the plan's own cadence; else an override for this section's items.
    section_id: Mapped[int | None] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(default=CadenceKind.NONE.value)
    #: Day of month (1..31, clamped to the month's end) or weekday (0 = Monday); NULL for none.
    day: Mapped[int | None]
    #: The first window starts here; NULL: the day the cadence was set.
    starts_on: Mapped[date | None]
    #: A due day on a weekend or holiday moves to the next working day (顺延).
    is_shifted_to_working_day: Mapped[bool] = mapped_column(default=True)
    #: "Report due" reminders go out this many working days before a window's due day.
    remind_days_before: Mapped[int] = mapped_column(default=3)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
