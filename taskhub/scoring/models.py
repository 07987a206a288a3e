"""Scoring data: the scheme of a plan, its periods, entered/computed scores, snapshots."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.plans.models import Plan


class PeriodKind(StrEnum):
    MONTH = "month"  #: code 2021-11
    HALF_YEAR = "half_year"  #: code 2022-H1
    YEAR = "year"  #: code 2022


class ScoreSource(StrEnum):
    COMPUTED = "computed"  #: from completion by the scheme's mapping
    ASSESSOR = "assessor"  #: entered by an assessor, with a reason
    IMPORT = "import"  #: imported from a file


def _in(values: type[StrEnum]) -> str:
    return repr(tuple(v.value for v in values))


class Scheme(Base):
    """A plan's scoring scheme, declared in its seed data (periods, components, weights)."""

    __tablename__ = "schemes"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), unique=True)
    definition: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)

    plan: Mapped[Plan] = relationship()


class Period(Base):
    """An assessment period of a plan; closing it freezes a snapshot."""

    __tablename__ = "periods"
    __table_args__ = (
        UniqueConstraint("plan_id", "code"),
        CheckConstraint(f"kind IN {_in(PeriodKind)}", name="kind_valid"),
        CheckConstraint("starts_on <= ends_on", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    code: Mapped[str]
    kind: Mapped[str]
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    is_closed: Mapped[bool] = mapped_column(default=False)
    closed_at: Mapped[datetime | None]
    #: The bulletin's document number (文号), e.g. 包数政办发〔2022〕3号; set on closing.
    doc_number: Mapped[str | None]


class ItemScore(Base):
    """An assessor's (or an import's) score of one assignment in a period, with a reason.

    It overrides the completion-based score. Several lead assessment units may each score the
    same assignment (``scorer_key``); the scheme says how they combine (Baotou: the mean).
    """

    __tablename__ = "item_scores"
    __table_args__ = (
        UniqueConstraint("period_id", "assignment_id", "scorer_key"),
        CheckConstraint(f"source IN {_in(ScoreSource)}", name="source_valid"),
        CheckConstraint("value >= 0", name="value_non_negative"),
        CheckConstraint("reason <> ''", name="reason_required"),
        Index("ix_item_scores_period_id_unit_id", "period_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    #: Denormalised from the assignment for one-pass aggregates.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    #: "unit:<id>" for a lead assessment unit, "office" for the coordinating office.
    scorer_key: Mapped[str]
    scorer_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: Points earned (not a fraction).
    value: Mapped[Decimal]
    #: For rate indicators: what the value was computed from.
    numerator: Mapped[Decimal | None]
    denominator: Mapped[Decimal | None]
    source: Mapped[str]
    reason: Mapped[str]
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(default=now_utc)


class ComponentScore(Base):
    """A unit-level component entered per period (Baotou's field check, survey, third party)."""

    __tablename__ = "component_scores"
    __table_args__ = (
        UniqueConstraint("period_id", "unit_id", "component"),
        CheckConstraint(f"source IN {_in(ScoreSource)}", name="source_valid"),
        CheckConstraint("reason <> ''", name="reason_required"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: Component code of the scheme, e.g. field, survey, third_party, key_apps, bonus.
    component: Mapped[str]
    value: Mapped[Decimal]
    source: Mapped[str]
    reason: Mapped[str]
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(default=now_utc)


class PointAllocation(Base):
    """Points a lead assessment unit allocated to an item that has none of its own."""

    __tablename__ = "point_allocations"
    __table_args__ = (CheckConstraint("points >= 0", name="points_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), unique=True)
    points: Mapped[Decimal]
    allocated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    allocated_at: Mapped[datetime] = mapped_column(default=now_utc)


class Snapshot(Base):
    """Frozen scores and ranks of a closed period; corrections are new revisions."""

    __tablename__ = "snapshots"
    __table_args__ = (
        UniqueConstraint("period_id", "revision"),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"))
    revision: Mapped[int]
    data: Mapped[dict[str, Any]]
    reason: Mapped[str | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
