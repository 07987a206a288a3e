"""Escalation levels (提醒 → 催办 → 督办 → 约谈) per city, and the numbered notices (督办单)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.tracking.models import Assignment, Evidence
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
    #: Who receives it: the unit's contacts (and its users), the unit's principal leaders (its
    #: contacts marked is_unit_leader; named on the 抄送 line), the 分管领导 (taskhub.leaders).
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


# -- decompose (分解) and co-handle (协办) -------------------------------------------------------


class SubtaskStatus(StrEnum):
    NEW = "new"  #: not yet acknowledged (未签收)
    ACKNOWLEDGED = "acknowledged"  #: 已签收, nothing reported yet
    IN_PROGRESS = "in_progress"  #: 推进中 (a report was accepted below 100%)
    SUBMITTED = "submitted"  #: a report awaits the lead unit's (or the office's) review
    RETURNED = "returned"  #: the last report was returned
    COMPLETED = "completed"  #: a 100% report was accepted (by the last review stage)
    CLOSED = "closed"  #: the lead unit closed it with a reason (not completed)


SUBTASK_STATUSES = tuple(s.value for s in SubtaskStatus)
#: A sub-task in one of these holds its parent open.
SUBTASK_OPEN = tuple(
    s.value for s in SubtaskStatus if s not in (SubtaskStatus.COMPLETED, SubtaskStatus.CLOSED)
)


class SubtaskReportStatus(StrEnum):
    SUBMITTED = "submitted"  #: awaits the lead unit's review (first stage)
    LEAD_ACCEPTED = "lead_accepted"  #: the lead unit accepted; awaits the office (second stage)
    ACCEPTED = "accepted"  #: accepted by the last stage
    RETURNED = "returned"  #: returned by either stage, with a reason


SUBTASK_REPORT_STATUSES = tuple(s.value for s in SubtaskReportStatus)


class Subtask(Base):
    """分解任务: a part of an assignment, handled by another unit or by a department (承办处室)
    of the assignment's own unit, with its own text, milestones, target and weight.

    ``unit_id`` is the unit whose users acknowledge and report it: another unit, or the parent's
    own unit when ``department`` names one of its departments (departments are free text).
    """

    __tablename__ = "subtasks"
    __table_args__ = (
        CheckConstraint(f"status IN {SUBTASK_STATUSES!r}", name="status_valid"),
        CheckConstraint("percent >= 0 AND percent <= 100", name="percent_range"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint(
            "status <> 'closed' OR (close_reason IS NOT NULL AND close_reason <> '')",
            name="closed_has_reason",
        ),
        Index("ix_subtasks_unit_id_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The parent task (the assignment decomposed).
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    #: 承办单位: the unit that acknowledges and reports.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    #: 承办处室: a department of the parent's unit, when the sub-task stays in-house.
    department: Mapped[str | None]
    text: Mapped[str]
    #: The target (目标) in words, e.g. 完成80%以上.
    target: Mapped[str | None]
    #: The sub-task's weight in the parent's roll-up (a share of the sum of weights).
    weight: Mapped[Decimal] = mapped_column(Numeric(9, 2), default=Decimal(1))
    status: Mapped[str] = mapped_column(default=SubtaskStatus.NEW.value)
    #: The percent of the last report accepted by the last review stage (the roll-up reads it).
    percent: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    acknowledged_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Why the lead unit closed it without completion (required, audited).
    close_reason: Mapped[str | None]

    assignment: Mapped[Assignment] = relationship()
    unit: Mapped[Unit] = relationship()
    milestones: Mapped[list[SubtaskMilestone]] = relationship(
        back_populates="subtask", order_by="SubtaskMilestone.due_on", cascade="all, delete-orphan"
    )
    reports: Mapped[list[SubtaskReport]] = relationship(
        back_populates="subtask", order_by="SubtaskReport.id", cascade="all, delete-orphan"
    )

    @property
    def is_open(self) -> bool:
        return self.status in SUBTASK_OPEN

    @property
    def owner_label(self) -> str:
        """承办单位 as read: the unit, and its department when one is named."""
        return f"{self.unit.name}·{self.department}" if self.department else self.unit.name


class SubtaskMilestone(Base):
    """A dated step (节点) of a sub-task; done when a report for it (or a 100% one) is accepted."""

    __tablename__ = "subtask_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    subtask_id: Mapped[int] = mapped_column(
        ForeignKey("subtasks.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str]
    due_on: Mapped[date]
    completed_on: Mapped[date | None]
    #: Accepted after ``due_on``.
    is_late: Mapped[bool] = mapped_column(default=False)

    subtask: Mapped[Subtask] = relationship(back_populates="milestones")


class SubtaskReport(Base):
    """A sub-task unit's report (工作进展 / 存在问题 / 下步计划, percent); its evidence files
    are ``Evidence`` rows (``subtask_report_id``). Reviewed by the lead unit, then by the office
    when the plan asks for a second review."""

    __tablename__ = "subtask_reports"
    __table_args__ = (
        CheckConstraint(f"status IN {SUBTASK_REPORT_STATUSES!r}", name="status_valid"),
        CheckConstraint("percent >= 0 AND percent <= 100", name="percent_range"),
        CheckConstraint(
            "status <> 'returned' OR (return_reason IS NOT NULL AND return_reason <> '')",
            name="return_has_reason",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subtask_id: Mapped[int] = mapped_column(
        ForeignKey("subtasks.id", ondelete="CASCADE"), index=True
    )
    milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("subtask_milestones.id", ondelete="SET NULL")
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    progress: Mapped[str]
    problems: Mapped[str | None]
    next_steps: Mapped[str | None]
    percent: Mapped[int]
    status: Mapped[str] = mapped_column(default=SubtaskReportStatus.SUBMITTED.value)
    submitted_at: Mapped[datetime] = mapped_column(default=now_utc)
    lead_reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lead_reviewed_at: Mapped[datetime | None]
    office_reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    office_reviewed_at: Mapped[datetime | None]
    return_reason: Mapped[str | None]

    subtask: Mapped[Subtask] = relationship(back_populates="reports")
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    evidence: Mapped[list[Evidence]] = relationship(order_by="Evidence.id", viewonly=True)


class CoReport(Base):
    """协办意见: a co-handling unit's part of the lead unit's report for one reporting round,
    the round named by its due date (the cadence period's, else the lead task's next due date).
    """

    __tablename__ = "co_reports"
    __table_args__ = (UniqueConstraint("assignment_id", "unit_id", "round_due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The lead unit's assignment the part belongs to.
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    #: The co-handling unit (配合/协办单位).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    round_due_on: Mapped[date]
    text: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)

    unit: Mapped[Unit] = relationship()
    author: Mapped[User] = relationship()
