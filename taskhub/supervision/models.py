"""Escalation levels (提醒 → 催办 → 督办 → 约谈) per city, and the numbered notices (督办单)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.tracking.models import Assignment
    from taskhub.units.models import City, Unit


class EscalationState(StrEnum):
    ISSUED = "issued"  #: sent, the unit's answer (反馈) awaited
    ANSWERED = "answered"  #: the unit answered
    CLOSED = "closed"  #: the office closed it (销号)
    WITHDRAWN = "withdrawn"  #: the office withdrew it (issued by mistake)


ESCALATION_STATES = tuple(s.value for s in EscalationState)


class EscalationLevel(Base):
    """One rung of a city's escalation ladder, as data the office keeps.

    ``overdue_working_days``: the scheduled job issues this level once a task is that many
    working days overdue; NULL means the office issues it by decision only.
    """

    __tablename__ = "escalation_levels"
    __table_args__ = (
        UniqueConstraint("city_id", "code"),
        UniqueConstraint("city_id", "rank"),
        CheckConstraint("rank > 0", name="rank_positive"),
        CheckConstraint(
            "overdue_working_days IS NULL OR overdue_working_days > 0", name="trigger_positive"
        ),
        CheckConstraint("answer_working_days > 0", name="answer_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    #: Stable code for the API (remind, urge, supervise, interview, blue, …).
    code: Mapped[str]
    #: The name on pages and on the notice: 提醒, 催办, 督办, 约谈, 红色督办单 …
    name: Mapped[str]
    #: 1 is the mildest; the job only ever moves up.
    rank: Mapped[int]
    overdue_working_days: Mapped[int | None]
    #: The unit answers within this many working days of the day of issue.
    answer_working_days: Mapped[int] = mapped_column(default=5)
    #: Who receives it: the unit's contacts (and its users), its leader, the 分管领导 (by e-mail,
    #: taskhub.leaders). Unit leaders are not modelled yet: that flag is printed only (抄送).
    to_contacts: Mapped[bool] = mapped_column(default=True)
    to_unit_leader: Mapped[bool] = mapped_column(default=False)
    to_responsible_leader: Mapped[bool] = mapped_column(default=False)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)

    city: Mapped[City] = relationship()

    @property
    def is_automatic(self) -> bool:
        return self.overdue_working_days is not None


class Escalation(Base):
    """A numbered escalation notice (督办单) on one assignment, and the unit's answer."""

    __tablename__ = "escalations"
    __table_args__ = (
        # The number 督办〔year〕serial号 is unique per city and year: concurrent issues retry.
        UniqueConstraint("city_id", "year", "serial"),
        CheckConstraint(f"state IN {ESCALATION_STATES!r}", name="state_valid"),
        CheckConstraint("serial > 0", name="serial_positive"),
        # A level is issued once per assignment (a withdrawn one does not count).
        Index(
            "uq_escalations_assignment_level_live",
            "assignment_id",
            "level_id",
            unique=True,
            sqlite_where=text("state <> 'withdrawn'"),
            postgresql_where=text("state <> 'withdrawn'"),
        ),
        Index("ix_escalations_assignment_id", "assignment_id"),
        Index("ix_escalations_unit_id_state", "unit_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    level_id: Mapped[int] = mapped_column(ForeignKey("escalation_levels.id"))
    #: Copied from the assignment (never changes): the unit's page and counts read this alone.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"))
    year: Mapped[int]
    serial: Mapped[int]
    #: 督办〔2026〕7号
    number: Mapped[str]
    issued_at: Mapped[datetime] = mapped_column(default=now_utc)
    #: The office day of issue (the notice's date).
    issued_on: Mapped[date]
    #: NULL: issued by the scheduled job.
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The task's (extended) due date and working days overdue when issued.
    due_on: Mapped[date | None]
    overdue_working_days: Mapped[int] = mapped_column(default=0)
    #: What the unit must do (the notice's 督办要求).
    required_action: Mapped[str]
    answer_due_on: Mapped[date]
    state: Mapped[str] = mapped_column(default=EscalationState.ISSUED.value)
    answer: Mapped[str | None]
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Answered after ``answer_due_on`` (office day); NULL while unanswered.
    is_answered_late: Mapped[bool | None]
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The office's note when closing or withdrawing.
    close_note: Mapped[str | None]

    assignment: Mapped[Assignment] = relationship()
    level: Mapped[EscalationLevel] = relationship()
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])

    def is_answer_overdue_on(self, today: date) -> bool:
        """Still unanswered after its answer date."""
        return self.state == EscalationState.ISSUED.value and self.answer_due_on < today


class HandoverState(StrEnum):
    PENDING = "pending"  #: the unit asked to send the task back (退回), the office decides
    REASSIGNED = "reassigned"  #: the office handed it to another unit (转办)
    REJECTED = "rejected"  #: the office refused: the task stays with the unit


HANDOVER_STATES = tuple(s.value for s in HandoverState)


class HandoverRequest(Base):
    """A unit's request to send its task back (退回), and the office's decision (转办 or not).

    Reassigning moves the assignment itself to the receiving unit (its reports, milestones and
    scores stay one record); ``from_unit_id`` and ``to_unit_id`` keep the chain.
    """

    __tablename__ = "handover_requests"
    __table_args__ = (
        CheckConstraint(f"state IN {HANDOVER_STATES!r}", name="state_valid"),
        # One pending request per assignment: a second ask waits for the decision.
        Index(
            "uq_handover_requests_assignment_pending",
            "assignment_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_handover_requests_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    #: The unit that asked (the assignment's unit when it asked).
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=now_utc)
    reason: Mapped[str]
    state: Mapped[str] = mapped_column(default=HandoverState.PENDING.value)
    #: The receiving unit when reassigned.
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: The office restarted the clock: open milestones moved by this many days.
    restart_days: Mapped[int | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    #: The office's note (required when rejecting).
    note: Mapped[str | None]

    assignment: Mapped[Assignment] = relationship()
    from_unit: Mapped[Unit] = relationship(foreign_keys=[from_unit_id])
    to_unit: Mapped[Unit | None] = relationship(foreign_keys=[to_unit_id])
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
