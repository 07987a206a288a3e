"""Leaders (分管领导) of a city, and which units and items each is responsible for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc
from taskhub.units.models import City


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
