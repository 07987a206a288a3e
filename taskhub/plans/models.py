"""Plans (source documents), sections and items with their units by role."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.units.models import City, Unit, UnitGroup


class PlanKind(StrEnum):
    TASKS = "tasks"  #: 实施方案 / 行动方案: tasks with lead and responsible units
    INDICATORS = "indicators"  #: 考评指标体系: indicators scored for every assessed unit


class PlanStatus(StrEnum):
    """A plan's life: edited as a draft, published (assignments exist), then closed/archived."""

    DRAFT = "draft"  #: being written or imported; no assignments yet
    PUBLISHED = "published"  #: assignments and milestones exist; changes are numbered revisions
    CLOSED = "closed"  #: the plan's work is over; read-only, still shown in rankings and history
    ARCHIVED = "archived"  #: hidden from everyday lists; kept for the record


PLAN_STATUSES = tuple(s.value for s in PlanStatus)
#: Plans whose work is under way: shown first and chosen as the default plan.
ACTIVE_PLAN_STATUSES = (PlanStatus.PUBLISHED.value,)


class UnitRole(StrEnum):
    LEAD = "lead"  #: 牵头单位
    RESPONSIBLE = "responsible"  #: 责任单位
    LEAD_ASSESSOR = "lead_assessor"  #: 牵头考核单位


class Applicability(StrEnum):
    ALL = "all"
    AS_NEEDED = "as_needed"  #: 按需: applies only where relevant


PLAN_KINDS = tuple(k.value for k in PlanKind)
UNIT_ROLES = tuple(r.value for r in UnitRole)
APPLICABILITIES = tuple(a.value for a in Applicability)


class Plan(Base):
    """One source document: a task plan or an indicator system."""

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(f"kind IN {PLAN_KINDS!r}", name="kind_valid"),
        CheckConstraint("points IS NULL OR points >= 0", name="points_non_negative"),
        CheckConstraint(f"status IN {PLAN_STATUSES!r}", name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    title: Mapped[str]
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    #: 文号, e.g. 鹤政发〔2022〕12号
    document_number: Mapped[str | None]
    issued_on: Mapped[date | None]
    #: The year deadline phrases are read in.
    year: Mapped[int]
    kind: Mapped[str]
    points: Mapped[Decimal | None]
    #: The source document's file name (for maintainers; pages show ``source_label``).
    source: Mapped[str | None]
    notes: Mapped[str | None]
    #: SHA-256 of the seed file last loaded, so an unchanged file loads as a no-op.
    seed_digest: Mapped[str | None]
    #: draft / published / closed / archived (PlanStatus); plans made before this column are
    #: published.
    status: Mapped[str] = mapped_column(default=PlanStatus.PUBLISHED.value, index=True)
    #: The number of the last revision (修订) of the published plan; 0 = as first published.
    revision: Mapped[int] = mapped_column(default=0)
    #: Sub-task reports (分解任务) go to the office for a second review after the lead unit's.
    subtask_second_review: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)

    city: Mapped[City] = relationship()
    sections: Mapped[list[Section]] = relationship(
        back_populates="plan", order_by="Section.position", cascade="all, delete-orphan"
    )
    items: Mapped[list[Item]] = relationship(
        back_populates="plan", order_by="Item.position", cascade="all, delete-orphan"
    )
    assessees: Mapped[list[PlanAssessee]] = relationship(
        back_populates="plan", order_by="PlanAssessee.position", cascade="all, delete-orphan"
    )

    @property
    def source_label(self) -> str:
        """The source as users read it: 《title》（文号）, never a transcription file name."""
        title = self.title if self.title.startswith("《") else f"《{self.title}》"
        return f"{title}（{self.document_number}）" if self.document_number else title

    @property
    def top_sections(self) -> list[Section]:
        return [s for s in self.sections if s.parent_id is None]


class PlanAssessee(Base):
    """A unit or group an indicator system assesses (考评对象)."""

    __tablename__ = "plan_assessees"
    __table_args__ = (
        UniqueConstraint("plan_id", "position"),
        CheckConstraint("(unit_id IS NULL) <> (group_id IS NULL)", name="exactly_one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    position: Mapped[int]
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("unit_groups.id"))

    plan: Mapped[Plan] = relationship(back_populates="assessees")
    unit: Mapped[Unit | None] = relationship()
    group: Mapped[UnitGroup | None] = relationship()


class Section(Base):
    """A level of the plan's hierarchy (一、 / (一) / first-level indicator) with a budget."""

    __tablename__ = "sections"
    __table_args__ = (
        UniqueConstraint("plan_id", "path"),
        CheckConstraint("points IS NULL OR points >= 0", name="points_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id", ondelete="CASCADE"))
    #: Order within the whole plan (depth-first), so one ORDER BY renders the tree.
    position: Mapped[int]
    #: 1 for top-level sections.
    depth: Mapped[int]
    #: Stable key within the plan, e.g. "2/1" for the first sub-section of the second section.
    path: Mapped[str]
    number: Mapped[str | None]
    title: Mapped[str]
    points: Mapped[Decimal | None]
    #: Unit kinds the items below apply to (inherited unless an item overrides it).
    applies_to: Mapped[list[Any] | None]

    plan: Mapped[Plan] = relationship(back_populates="sections")
    parent: Mapped[Section | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Section]] = relationship(
        back_populates="parent", order_by="Section.position"
    )
    items: Mapped[list[Item]] = relationship(back_populates="section", order_by="Item.position")


class Item(Base):
    """A numbered task or indicator: the unit of assignment, tracking and scoring."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("plan_id", "code"),
        CheckConstraint("points IS NULL OR points >= 0", name="points_non_negative"),
        CheckConstraint("weight IS NULL OR weight >= 0", name="weight_non_negative"),
        CheckConstraint(f"applicability IN {APPLICABILITIES!r}", name="applicability_valid"),
        # The ledger's default order (plan, position, id), read in index order (issue 17).
        Index("ix_items_plan_id_position_id", "plan_id", "position", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int | None] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    #: The number as printed (may be empty for unnumbered rows).
    number: Mapped[str | None]
    #: Unique key within the plan (the number unless the plan needs another).
    code: Mapped[str]
    title: Mapped[str | None]
    text: Mapped[str]
    points: Mapped[Decimal | None]
    weight: Mapped[Decimal | None]
    #: The deadline phrase verbatim, e.g. 5月底取得明显成效并持续推进.
    deadline_phrase: Mapped[str | None]
    #: The phrase could not be read into milestones: kept verbatim and listed for the office.
    is_deadline_unparsed: Mapped[bool] = mapped_column(default=False)
    target: Mapped[str | None]
    #: How a rate, count or rubric indicator is measured (read by the scoring engine).
    measure: Mapped[dict[str, Any] | None]
    applicability: Mapped[str] = mapped_column(default=Applicability.ALL.value)
    #: Unit kinds this item applies to; None inherits from the section (or means all).
    applies_to: Mapped[list[Any] | None]
    #: The open end of the document's unit list (等有关单位, 及其他有关单位): more units than named.
    open_units: Mapped[str | None]

    plan: Mapped[Plan] = relationship(back_populates="items")
    section: Mapped[Section | None] = relationship(back_populates="items")
    units: Mapped[list[ItemUnit]] = relationship(
        back_populates="item", order_by="ItemUnit.position", cascade="all, delete-orphan"
    )

    def units_by_role(self, role: str) -> list[ItemUnit]:
        return [u for u in self.units if u.role == role]

    @property
    def is_unassigned(self) -> bool:
        """待分配: a task whose document names no lead unit yet."""
        return self.plan.kind == PlanKind.TASKS.value and not self.units_by_role(UnitRole.LEAD)

    @property
    def label(self) -> str:
        return self.number or self.code


class ItemUnit(Base):
    """A unit or group named for an item in one role, as the document names it."""

    __tablename__ = "item_units"
    __table_args__ = (
        UniqueConstraint("item_id", "role", "position"),
        CheckConstraint(f"role IN {UNIT_ROLES!r}", name="role_valid"),
        CheckConstraint("(unit_id IS NULL) <> (group_id IS NULL)", name="exactly_one_target"),
        Index("ix_item_units_unit_id_role", "unit_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    role: Mapped[str]
    position: Mapped[int]
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("unit_groups.id"))

    item: Mapped[Item] = relationship(back_populates="units")
    unit: Mapped[Unit | None] = relationship()
    group: Mapped[UnitGroup | None] = relationship()

    @property
    def name(self) -> str:
        target = self.unit or self.group
        assert target is not None
        return target.name


class RevisionKind(StrEnum):
    PUBLISHED = "published"  #: first published (the starting point of later revisions)
    REVISED = "revised"  #: a numbered revision (修订) of the published plan
    COPIED = "copied"  #: made as a draft by copying another year's plan (年度复制)


REVISION_KINDS = tuple(k.value for k in RevisionKind)


class PlanRevision(Base):
    """One entry of a plan's revision record (修订记录): what changed, why, by whom."""

    __tablename__ = "plan_revisions"
    __table_args__ = (CheckConstraint(f"kind IN {REVISION_KINDS!r}", name="kind_valid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    #: The plan's revision number after this entry (0 for publishing and copying).
    number: Mapped[int]
    kind: Mapped[str]
    #: 修订理由 as the person gave it.
    reason: Mapped[str]
    #: What changed, in words (from the editor or the import, or written here).
    summary: Mapped[str]
    #: items added/removed/changed (codes), assignments added/removed ([item code, unit name]),
    #: and for a copy the deadline phrases to review.
    changes: Mapped[dict[str, Any]]
    #: The plan as seed data after this entry, so the next revision can say what changed.
    snapshot: Mapped[dict[str, Any] | None]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)

    actor: Mapped[User | None] = relationship()
