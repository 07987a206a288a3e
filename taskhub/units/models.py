"""Cities, units, aliases, groups and contacts."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Table, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.accounts.models import User


class UnitKind(StrEnum):
    COUNTY = "county"  #: county/district/banner government or a zone committee at that level
    TOWNSHIP = "township"  #: township, town or street
    DEPARTMENT = "department"  #: municipal department or public institution
    ENTERPRISE = "enterprise"  #: company or branch office
    OTHER = "other"


UNIT_KINDS = tuple(k.value for k in UnitKind)
DEFAULT_TIMEZONE = "Asia/Shanghai"


class City(Base):
    """A city whose plans and units are managed here; unit names are unique per city."""

    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    #: Where the city's unit and group lists came from (documents, public facts).
    sources: Mapped[list[Any]] = mapped_column(default=list)
    province: Mapped[str | None]
    #: IANA time zone of the city's offices (deadlines are dates in this zone).
    timezone: Mapped[str] = mapped_column(default=DEFAULT_TIMEZONE, server_default=DEFAULT_TIMEZONE)

    units: Mapped[list[Unit]] = relationship(back_populates="city", order_by="Unit.id")


unit_group_members = Table(
    "unit_group_members",
    Base.metadata,
    Column("group_id", ForeignKey("unit_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
)


class Unit(Base):
    """An accountable body: a government, township, department or enterprise branch."""

    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("city_id", "name"),
        CheckConstraint(f"kind IN {UNIT_KINDS!r}", name="kind_valid"),
        # The ledger sorted by unit: units in name order, then their assignments (keyset).
        Index("ix_units_name_id", "name", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    name: Mapped[str]
    kind: Mapped[str]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    #: The day the unit stopped existing (机构改革); NULL while active. A retired unit keeps
    #: its history but gets no new assignments and is hidden from pickers.
    retired_on: Mapped[date | None]
    #: The unit that took over this one's work and names when they were merged.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))

    city: Mapped[City] = relationship(back_populates="units")
    parent: Mapped[Unit | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    merged_into: Mapped[Unit | None] = relationship(remote_side=[id], foreign_keys=[merged_into_id])
    aliases: Mapped[list[UnitAlias]] = relationship(
        back_populates="unit", order_by="UnitAlias.name", overlaps="group"
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="unit", order_by="Contact.id", cascade="all, delete-orphan"
    )
    groups: Mapped[list[UnitGroup]] = relationship(
        secondary=unit_group_members, back_populates="members", order_by="UnitGroup.name"
    )

    @property
    def is_retired(self) -> bool:
        return self.retired_on is not None

    def can_view_contacts(self, user: User) -> bool:
        """Contacts are personal data: staff, assessors, viewers and the unit itself."""
        return user.role in ("admin", "office", "assessor", "viewer") or user.unit_id == self.id

    def can_edit_contacts(self, user: User) -> bool:
        """The office keeps every unit's contacts; unit staff keep their own."""
        return user.role in ("admin", "office") or (user.role == "unit" and user.unit_id == self.id)

    def __repr__(self) -> str:
        return f"<Unit {self.id} {self.name}>"


class UnitGroup(Base):
    """A named set of units such as 各县(区)政府; assigning a group assigns each member.

    Its members are either a stored list (``members``) or a rule: every unit of ``rule_kind``,
    optionally only those directly under ``rule_parent_id``, read when asked
    (``taskhub.units.services.group_member_ids``), so units added later belong at once.
    """

    __tablename__ = "unit_groups"
    __table_args__ = (
        UniqueConstraint("city_id", "name"),
        CheckConstraint(
            f"rule_kind IS NULL OR rule_kind IN {UNIT_KINDS!r}", name="rule_kind_valid"
        ),
        CheckConstraint(
            "rule_parent_id IS NULL OR rule_kind IS NOT NULL", name="rule_parent_has_kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), index=True)
    name: Mapped[str]
    #: Where the member list came from: the document, or a public fact.
    source: Mapped[str | None]
    #: A rule group: all units of this kind (None: the members are the stored list).
    rule_kind: Mapped[str | None]
    #: A rule group limited to the units directly under this unit (e.g. a county's townships).
    rule_parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))

    city: Mapped[City] = relationship()
    rule_parent: Mapped[Unit | None] = relationship(foreign_keys=[rule_parent_id])
    #: The stored list of a list group; read members through ``group_member_ids``.
    members: Mapped[list[Unit]] = relationship(
        secondary=unit_group_members, back_populates="groups", order_by="Unit.id"
    )

    @property
    def is_rule(self) -> bool:
        return self.rule_kind is not None

    def can_edit(self, user: User) -> bool:
        """The office keeps the city's groups."""
        return user.role in ("admin", "office")


class UnitAlias(Base):
    """One name (canonical or variant) that resolves to exactly one unit or one group of a city."""

    __tablename__ = "unit_aliases"
    __table_args__ = (
        UniqueConstraint("city_id", "name"),
        CheckConstraint("(unit_id IS NULL) <> (group_id IS NULL)", name="exactly_one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"))
    name: Mapped[str]
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("unit_groups.id", ondelete="CASCADE"))

    unit: Mapped[Unit | None] = relationship(back_populates="aliases")
    group: Mapped[UnitGroup | None] = relationship()


class Contact(Base):
    """A person at a unit who receives reminders (联系人)."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_unit_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    name: Mapped[str]
    position: Mapped[str | None]
    office_phone: Mapped[str | None]
    mobile: Mapped[str | None]
    email: Mapped[str | None]
    #: DingTalk / WeCom robot URL for chat reminders.
    webhook_url: Mapped[str | None]
    #: The unit's principal leader (单位主要负责人): escalation levels "to the unit's leader"
    #: (约谈 …) send their notice to these contacts too. A unit may mark several (党委书记 and
    #: 局长 of a 双主官 unit) or none.
    is_unit_leader: Mapped[bool] = mapped_column(default=False, server_default=false())
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)
    #: The user account of this person, when they have one (taskhub.accounts.people).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    unit: Mapped[Unit] = relationship(back_populates="contacts")
    user: Mapped[User | None] = relationship()
