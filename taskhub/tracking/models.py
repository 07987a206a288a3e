"""The tracked work: an item assigned to one unit, and what happens to it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    role: Mapped[str]
    status: Mapped[str] = mapped_column(default=AssignmentStatus.NEW.value)
    #: Last reported completion percentage.
    percent: Mapped[int] = mapped_column(default=0)
    #: Set by the overdue scan; cleared when the overdue milestones are done or extended.
    is_overdue: Mapped[bool] = mapped_column(default=False)
    #: Not applicable to this unit (按需 indicators): excluded from score and maximum.
    is_not_applicable: Mapped[bool] = mapped_column(default=False)
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
        Index("ix_evidence_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("progress_reports.id"), index=True)
    sha256: Mapped[str]
    #: The uploader's file name, kept for download.
    original_name: Mapped[str]
    #: Detected from the content, not from the name.
    content_type: Mapped[str]
    size_bytes: Mapped[int]
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=now_utc)

    report: Mapped[ProgressReport] = relationship(back_populates="evidence")


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
