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


class Score(Base):
    """One unit's score for an item (or a unit-level component) in a period."""

    __tablename__ = "scores"
    __table_args__ = (
        UniqueConstraint("period_id", "unit_id", "component", "item_id"),
        CheckConstraint(f"source IN {_in(ScoreSource)}", name="source_valid"),
        CheckConstraint(
            "source = 'computed' OR (reason IS NOT NULL AND reason <> '')",
            name="entered_has_reason",
        ),
        Index("ix_scores_period_id_unit_id", "period_id", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    #: The item scored; None for unit-level components (field check, survey...).
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    #: Component code of the scheme, e.g. monitoring, field, survey.
    component: Mapped[str]
    value: Mapped[Decimal]
    #: For rate indicators: the numerator and denominator the value came from.
    numerator: Mapped[Decimal | None]
    denominator: Mapped[Decimal | None]
    source: Mapped[str]
    reason: Mapped[str | None]
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(default=now_utc)


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
