"""Leaders (分管领导) of a city, and which units and items each is responsible for."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc
from taskhub.units.models import City

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.tracking.models import Assignment


class Leader(Base):
    """A city leader with a portfolio (分管领导), e.g. 副市长 in charge of 数字政府."""

    __tablename__ = "leaders"
    __table_args__ = (UniqueConstraint("city_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str]
    #: 市长, 副市长, 秘书长 …
    title: Mapped[str | None]
    #: What the leader is in charge of (分管工作), free text as the city writes it.
    portfolio: Mapped[str | None]
    #: Where escalations copied to the 分管领导 (and later digests) go.
    email: Mapped[str | None]
    #: The leader's chat robot (DingTalk / WeCom webhook) for the weekly summary.
    webhook_url: Mapped[str | None]
    #: The account the leader (or their secretary) signs in with, to read the leader's view.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)

    city: Mapped[City] = relationship()


class UnitLeader(Base):
    """The 分管领导 of a unit: its items are the leader's unless an item names its own."""

    __tablename__ = "unit_leaders"

    #: A link table, not a column of ``units``: the units model stays untouched.
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id", ondelete="CASCADE"), index=True)


class ItemLeader(Base):
    """An item's own 分管领导, overriding its units' leaders."""

    __tablename__ = "item_leaders"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id", ondelete="CASCADE"), index=True)


class DigestSetting(Base):
    """When and how a leader's weekly summary (每周摘要) is sent: a leader's own setting, else
    their city's. No setting at all: no digest."""

    __tablename__ = "leader_digest_settings"
    __table_args__ = (
        CheckConstraint("(leader_id IS NULL) <> (city_id IS NULL)", name="one_owner"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The city's setting (for every leader without their own) …
    city_id: Mapped[int | None] = mapped_column(
        ForeignKey("cities.id", ondelete="CASCADE"), unique=True
    )
    #: … or one leader's own.
    leader_id: Mapped[int | None] = mapped_column(
        ForeignKey("leaders.id", ondelete="CASCADE"), unique=True
    )
    #: 0 = Monday … 6 = Sunday.
    weekday: Mapped[int]
    #: Office-local time from which the job sends it that day.
    send_at: Mapped[time]
    #: Channel codes: "email" and/or "webhook" (the leader's chat robot).
    channels: Mapped[list[Any]]
    is_enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)


class InstructionState(StrEnum):
    OPEN = "open"  #: 待落实: the unit's answer (反馈) awaited
    ANSWERED = "answered"  #: 已反馈


class Instruction(Base):
    """A leader's instruction (领导批示) on an item, or on one report of it."""

    __tablename__ = "leader_instructions"
    __table_args__ = (Index("ix_leader_instructions_item_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    #: Set when the instruction is written on a progress report (then only its unit answers).
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("progress_reports.id", ondelete="SET NULL")
    )
    #: The instruction's words (批示内容).
    text: Mapped[str]
    #: The day the leader wrote it (the office may record it later).
    instructed_on: Mapped[date]
    #: Answer (反馈) by this office day; NULL: no date set.
    answer_due_on: Mapped[date | None]
    #: Who recorded it: the office on the leader's behalf, or the leader's own account.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=now_utc)

    leader: Mapped[Leader] = relationship()
    targets: Mapped[list[InstructionTarget]] = relationship(
        back_populates="instruction", order_by="InstructionTarget.id"
    )

    @property
    def is_open(self) -> bool:
        return any(t.state == InstructionState.OPEN.value for t in self.targets)


class InstructionTarget(Base):
    """One task concerned by an instruction, and its unit's answer (反馈)."""

    __tablename__ = "leader_instruction_targets"
    __table_args__ = (
        UniqueConstraint("instruction_id", "assignment_id"),
        CheckConstraint("state IN ('open', 'answered')", name="state_valid"),
        Index("ix_leader_instruction_targets_assignment_id", "assignment_id"),
        Index("ix_leader_instruction_targets_unit_id_state", "unit_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instruction_id: Mapped[int] = mapped_column(
        ForeignKey("leader_instructions.id", ondelete="CASCADE")
    )
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    #: The unit that answers: the assignment's unit when the instruction was recorded (a task
    #: handed over later is answered by its new unit, which reads the assignment's).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    state: Mapped[str] = mapped_column(default=InstructionState.OPEN.value)
    answer: Mapped[str | None]
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Answered after the instruction's answer date; NULL while open or with no date.
    is_answered_late: Mapped[bool | None]

    instruction: Mapped[Instruction] = relationship(back_populates="targets")
    assignment: Mapped[Assignment] = relationship()
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])
