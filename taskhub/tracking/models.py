"""The tracked work: an item assigned to one unit, and what happens to it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    UniqueConstraint,
    and_,
    delete,
    event,
    false,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, scoped_session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnElement

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.plans.models import Item
    from taskhub.units.models import Unit


class AssignmentRole(StrEnum):
    LEAD = "lead"  #: the unit leads the task
    RESPONSIBLE = "responsible"  #: the unit is responsible for its share
    ASSESSED = "assessed"  #: an indicator the unit is assessed on


class AssignmentStatus(StrEnum):
    NEW = "new"  #: not yet acknowledged (未签收)
    ACKNOWLEDGED = "acknowledged"  #: 已签收, nothing reported yet
    IN_PROGRESS = "in_progress"  #: 推进中
    SUBMITTED = "submitted"  #: a report awaits review
    RETURNED = "returned"  #: the last report was returned
    COMPLETED = "completed"  #: 已完成 (accepted as complete)


class MilestoneKind(StrEnum):
    STAGE = "stage"  #: 取得阶段性成效
    NOTABLE = "notable"  #: 取得明显成效
    COMPLETE = "complete"  #: 完成
    CHECKPOINT = "checkpoint"  #: recurring checkpoint of 持续推进 work
    STEP = "step"  #: a dated step named in the item's own text


class MilestoneSource(StrEnum):
    PHRASE = "phrase"  #: parsed from the item's deadline phrase
    OFFICE = "office"  #: set by the coordinating office


class MilestoneStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    WAIVED = "waived"


class ReportStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class ReviewDecision(StrEnum):
    ACCEPT = "accept"
    RETURN = "return"


class ExtensionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def _in(values: type[StrEnum]) -> str:
    return repr(tuple(v.value for v in values))


class Assignment(Base):
    """An item for one accountable unit: what status, progress and score are tracked on."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "unit_id"),
        CheckConstraint(f"role IN {_in(AssignmentRole)}", name="role_valid"),
        CheckConstraint(f"status IN {_in(AssignmentStatus)}", name="status_valid"),
        CheckConstraint("percent >= 0 AND percent <= 100", name="percent_range"),
        Index("ix_assignments_unit_id_status", "unit_id", "status"),
        # The ledger's red / due-date filters and due sort: a range on the next due date whose
        # status and item (for the plan join) come from the index, no row lookups.
        Index("ix_assignments_next_due_on_status_item_id", "next_due_on", "status", "item_id"),
        # An item's assignments in id order: the ledger's default order without a sort of
        # every row (after the plan and position, from ix_items_plan_id_position_id).
        Index("ix_assignments_item_id_id", "item_id", "id"),
        # The ledger page's keyset paging by unit (after ix_units_name_id), progress and next
        # due date: one page read from an index at any depth.
        Index("ix_assignments_unit_id_id", "unit_id", "id"),
        Index("ix_assignments_percent_id", "percent", "id"),
        Index("ix_assignments_next_due_on_id", "next_due_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    role: Mapped[str]
    status: Mapped[str] = mapped_column(default=AssignmentStatus.NEW.value)
    #: Last reported completion percentage.
    percent: Mapped[int] = mapped_column(default=0)
    #: Set by the overdue scan; cleared when the overdue milestones are done or extended.
    #: Pages read ``overdue_on(today)`` instead, which needs no scan (the API and events keep
    #: this flag).
    is_overdue: Mapped[bool] = mapped_column(default=False)
    #: Not applicable to this unit (按需 indicators): excluded from score and maximum.
    is_not_applicable: Mapped[bool] = mapped_column(default=False)
    #: The earliest (extended) due date of the open milestones, NULL when none is open. Derived:
    #: kept by ``refresh_next_due`` on every milestone change, so the ledger filters and sorts
    #: on an index instead of a subquery per row.
    next_due_on: Mapped[date | None]
    acknowledged_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
    #: Optimistic locking: concurrent updates are detected, not lost.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    item: Mapped[Item] = relationship()
    unit: Mapped[Unit] = relationship()
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="assignment", order_by="Milestone.due_on", cascade="all, delete-orphan"
    )
    reports: Mapped[list[ProgressReport]] = relationship(
        back_populates="assignment",
        order_by="ProgressReport.submitted_at",
        cascade="all, delete-orphan",
    )

    @classmethod
    def overdue_on(cls, today: date) -> ColumnElement[bool]:
        """Overdue as of ``today``, from the dates at read time (the red light): not completed
        and the earliest open milestone (extended if so) is before today. A plan imported or
        published with past dates counts at once, not after the night's overdue scan."""
        return and_(
            cls.status != AssignmentStatus.COMPLETED.value,
            cls.next_due_on.is_not(None),
            cls.next_due_on < today,
        )

    def is_overdue_on(self, today: date) -> bool:
        """``overdue_on`` for a loaded assignment."""
        return (
            self.status != AssignmentStatus.COMPLETED.value
            and self.next_due_on is not None
            and self.next_due_on < today
        )

    def can_view(self, user: User) -> bool:
        if user.role in ("admin", "office", "viewer", "assessor"):
            return True
        return user.unit_id == self.unit_id

    def can_edit(self, user: User) -> bool:
        if user.role in ("admin", "office"):
            return True
        return user.role == "unit" and user.unit_id == self.unit_id


class ItemMilestone(Base):
    """An item's schedule step; every assignment of the item gets a Milestone from it."""

    __tablename__ = "item_milestones"
    __table_args__ = (
        UniqueConstraint("item_id", "kind", "due_on"),
        CheckConstraint(f"kind IN {_in(MilestoneKind)}", name="kind_valid"),
        CheckConstraint(f"source IN {_in(MilestoneSource)}", name="source_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str]
    title: Mapped[str]
    due_on: Mapped[date]
    source: Mapped[str]
    #: For phrase steps: the date the phrase gave. It stays when the office moves the step, so
    #: re-reading the same phrase recognises the moved step instead of adding it again.
    origin_due_on: Mapped[date | None]
    #: A staged target (2023年底完成80%以上): the percent due by ``due_on``; None for whole steps.
    target_percent: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class Milestone(Base):
    """A dated step of an assignment; ``due_on`` never moves, extensions set ``extended_to``."""

    __tablename__ = "milestones"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(MilestoneKind)}", name="kind_valid"),
        CheckConstraint(f"status IN {_in(MilestoneStatus)}", name="status_valid"),
        # The overdue scan reads open milestones by due date.
        Index(
            "ix_milestones_open_due",
            "due_on",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        # The timeline reads a page of milestones in (effective due date, id) order: those
        # not extended by due_on, the few extended ones by extended_to.
        Index("ix_milestones_due_on_id", "due_on", "id"),
        Index(
            "ix_milestones_extended_to_id",
            "extended_to",
            "id",
            sqlite_where=text("extended_to IS NOT NULL"),
            postgresql_where=text("extended_to IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    #: The item schedule step this comes from; None for a step set on this assignment only.
    item_milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("item_milestones.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str]
    title: Mapped[str | None]
    #: The original due date: kept for scoring and reports even when extended.
    due_on: Mapped[date]
    #: The approved extended due date, if any.
    extended_to: Mapped[date | None]
    status: Mapped[str] = mapped_column(default=MilestoneStatus.OPEN.value)
    completed_on: Mapped[date | None]
    #: Whether the accepting review came after the (original) due date.
    is_late: Mapped[bool] = mapped_column(default=False)
    #: Flagged by the overdue scan.
    is_overdue: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)

    assignment: Mapped[Assignment] = relationship(back_populates="milestones")

    @property
    def effective_due_on(self) -> date:
        return self.extended_to or self.due_on


class ProgressReport(Base):
    """A unit's report: 工作进展 / 存在问题 / 下步计划, percent and evidence."""

    __tablename__ = "progress_reports"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(ReportStatus)}", name="status_valid"),
        CheckConstraint("percent >= 0 AND percent <= 100", name="percent_range"),
        Index(
            "ix_progress_reports_awaiting",
            "submitted_at",
            sqlite_where=text("status = 'submitted'"),
            postgresql_where=text("status = 'submitted'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("milestones.id", ondelete="SET NULL")
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    progress: Mapped[str]  #: 工作进展
    problems: Mapped[str | None]  #: 存在问题
    next_steps: Mapped[str | None]  #: 下步计划
    percent: Mapped[int]
    #: 办结报告: the unit applies to close the task; accepting it is the office's 销号.
    is_closing: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(default=ReportStatus.SUBMITTED.value)
    submitted_at: Mapped[datetime] = mapped_column(default=now_utc)

    assignment: Mapped[Assignment] = relationship(back_populates="reports")
    author: Mapped[User] = relationship()
    evidence: Mapped[list[Evidence]] = relationship(back_populates="report", order_by="Evidence.id")
    reviews: Mapped[list[Review]] = relationship(back_populates="report", order_by="Review.id")


class Evidence(Base):
    """An evidence file (佐证材料); the content is stored once under its SHA-256."""

    __tablename__ = "evidence"
    __table_args__ = (
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
        CheckConstraint(
            "(report_id IS NULL) <> (subtask_report_id IS NULL)", name="exactly_one_report"
        ),
        Index("ix_evidence_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The progress report it supports; NULL for a sub-task report's file.
    report_id: Mapped[int | None] = mapped_column(ForeignKey("progress_reports.id"), index=True)
    #: The sub-task report (分解任务的报送) it supports, when not a progress report's.
    subtask_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("subtask_reports.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str]
    #: The uploader's file name, kept for download.
    original_name: Mapped[str]
    #: Detected from the content, not from the name.
    content_type: Mapped[str]
    size_bytes: Mapped[int]
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=now_utc)

    report: Mapped[ProgressReport | None] = relationship(back_populates="evidence")


class Review(Base):
    """An accept or return decision on a report; a return needs a reason."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(f"decision IN {_in(ReviewDecision)}", name="decision_valid"),
        CheckConstraint(
            "decision <> 'return' OR (reason IS NOT NULL AND reason <> '')",
            name="return_has_reason",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("progress_reports.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str]
    reason: Mapped[str | None]
    reviewed_at: Mapped[datetime] = mapped_column(default=now_utc)

    report: Mapped[ProgressReport] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class ExtensionRequest(Base):
    """A request to move a milestone (延期); the original due date stays on record."""

    __tablename__ = "extension_requests"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(ExtensionStatus)}", name="status_valid"),
        CheckConstraint("reason <> ''", name="reason_required"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(
        ForeignKey("milestones.id", ondelete="CASCADE"), index=True
    )
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str]
    requested_due_on: Mapped[date]
    status: Mapped[str] = mapped_column(default=ExtensionStatus.PENDING.value)
    requested_at: Mapped[datetime] = mapped_column(default=now_utc)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None]

    milestone: Mapped[Milestone] = relationship()


class PeriodCount(Base):
    """Derived: an assignment's milestones due in one assessment period, by outcome.

    The scoring roll-up divides each assignment's points by its own due count, which would need
    a per-assignment aggregate over every milestone of the plan on each roll-up. Kept here
    instead, by the same upkeep as ``Assignment.next_due_on`` (every milestone change, every
    bulk schedule change) and filled for a period when the period is created, the roll-up is one
    aggregate over these rows. Waived milestones are not counted; no row means nothing is due.
    """

    __tablename__ = "period_counts"
    __table_args__ = (
        Index("ix_period_counts_assignment_id", "assignment_id"),
        # The roll-up reads one period's rows item by item.
        Index("ix_period_counts_period_id_item_id", "period_id", "item_id"),
        # The live totals (taskhub.scoring.live) read a few units' rows of one period.
        Index("ix_period_counts_period_id_unit_id", "period_id", "unit_id"),
    )

    period_id: Mapped[int] = mapped_column(
        ForeignKey("periods.id", ondelete="CASCADE"), primary_key=True
    )
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), primary_key=True
    )
    #: Copied from the assignment (never changes), so the roll-up reads this table alone.
    unit_id: Mapped[int]
    item_id: Mapped[int]
    #: Milestones due in the period (not waived); done on time; done late.
    due: Mapped[int]
    on_time: Mapped[int]
    late: Mapped[int]


# -- Assignment.next_due_on upkeep ------------------------------------------------------------

#: Assignment ids per chunk of one refresh UPDATE (well under every driver's parameter limit).
_REFRESH_CHUNK = 500


def next_due_subquery() -> Any:
    """The earliest open milestone date of the assignment row in the enclosing statement."""
    return (
        select(func.min(func.coalesce(Milestone.extended_to, Milestone.due_on)))
        .where(
            Milestone.assignment_id == Assignment.id,
            Milestone.status == MilestoneStatus.OPEN.value,
        )
        .correlate(Assignment)
        .scalar_subquery()
    )


def refresh_next_due(
    session: Session | scoped_session[Any],
    *,
    assignment_ids: Iterable[int] = (),
    item_ids: Iterable[int] = (),
) -> None:
    """Recompute ``Assignment.next_due_on`` for these assignments and every assignment of these
    items (for the bulk statements that change milestones behind the ORM's back)."""
    session.flush()
    for column, values in ((Assignment.id, assignment_ids), (Assignment.item_id, item_ids)):
        ids = sorted(set(values))
        for start in range(0, len(ids), _REFRESH_CHUNK):
            _refresh_where(session, column.in_(ids[start : start + _REFRESH_CHUNK]))
    # Loaded assignments would otherwise show the value from before.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Assignment) and "next_due_on" in obj.__dict__:
            session.expire(obj, ["next_due_on"])


def _refresh_where(session: Session | scoped_session[Any], where: ColumnElement[bool]) -> None:
    connection = session.connection()
    connection.execute(
        update(Assignment)
        .where(where)
        # A derived value is not an edit: no version bump (optimistic locking stays quiet)
        # and updated_at stays as it was (the column's onupdate would otherwise fire).
        .values(next_due_on=next_due_subquery(), updated_at=Assignment.updated_at)
    )
    chosen = select(Assignment.id).where(where)
    connection.execute(delete(PeriodCount).where(PeriodCount.assignment_id.in_(chosen)))
    connection.execute(period_counts_insert(where))


def period_counts_insert(
    where: ColumnElement[bool] | None = None, *, period_id: int | None = None
) -> Any:
    """INSERT … SELECT of the period counts of the assignments matching ``where`` (all: None),
    for every period of their plan (or only ``period_id``)."""
    from taskhub.plans.models import Item
    from taskhub.scoring.models import Period

    done = Milestone.status == MilestoneStatus.DONE.value
    query = (
        select(
            Period.id,
            Assignment.id,
            Assignment.unit_id,
            Assignment.item_id,
            func.count(),
            func.count().filter(and_(done, ~Milestone.is_late)),
            func.count().filter(and_(done, Milestone.is_late)),
        )
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Period, Period.plan_id == Item.plan_id)
        .join(
            Milestone,
            and_(
                Milestone.assignment_id == Assignment.id,
                Milestone.due_on >= Period.starts_on,
                Milestone.due_on <= Period.ends_on,
                Milestone.status != MilestoneStatus.WAIVED.value,
            ),
        )
        .group_by(Period.id, Assignment.id, Assignment.unit_id, Assignment.item_id)
    )
    if where is not None:
        query = query.where(where)
    if period_id is not None:
        query = query.where(Period.id == period_id)
    columns = ["period_id", "assignment_id", "unit_id", "item_id", "due", "on_time", "late"]
    return insert(PeriodCount).from_select(columns, query)


_PENDING_KEY = "tracking.next_due_pending"
_EXPIRE_KEY = "tracking.next_due_expire"


def _touched_assignments(session: Session, *, load: bool) -> set[Any]:
    """Assignment ids (or Assignment objects not yet flushed) whose milestones change."""
    found: set[Any] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, Milestone):
            continue
        state = inspect(obj)
        if load and state.persistent:
            found.add(obj.assignment_id)  # may load it: a deleted row is still there
        for attr in ("assignment_id", "assignment"):
            history = state.attrs[attr].history  # never loads
            found.update((*history.added, *history.unchanged, *history.deleted))
    found.discard(None)
    return found


@event.listens_for(Session, "before_flush")
def _collect_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    # Before the flush, deleted and orphaned milestones still know their assignment.
    session.info.setdefault(_PENDING_KEY, set()).update(_touched_assignments(session, load=True))


@event.listens_for(Session, "after_flush")
def _refresh_after_flush(session: Session, flush_context: Any) -> None:
    touched = session.info.pop(_PENDING_KEY, set()) | _touched_assignments(session, load=False)
    ids = sorted({v.id if isinstance(v, Assignment) else v for v in touched} - {None})
    if not ids:
        return
    for start in range(0, len(ids), _REFRESH_CHUNK):
        _refresh_where(session, Assignment.id.in_(ids[start : start + _REFRESH_CHUNK]))
    session.info.setdefault(_EXPIRE_KEY, set()).update(ids)


@event.listens_for(Session, "after_flush_postexec")
def _expire_after_flush(session: Session, flush_context: Any) -> None:
    # After the flush's own bookkeeping, which would otherwise keep the old value.
    for aid in session.info.pop(_EXPIRE_KEY, set()):
        obj = session.identity_map.get(identity_key(Assignment, aid))
        if obj is not None and "next_due_on" in obj.__dict__:
            session.expire(obj, ["next_due_on"])
