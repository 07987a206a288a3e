"""Users and their roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from taskhub.core.db import Base, now_utc

if TYPE_CHECKING:
    from taskhub.units.models import Unit


class Role(StrEnum):
    ADMIN = "admin"  #: everything
    OFFICE = "office"  #: all plans: assign, review, configure reminders
    ASSESSOR = "assessor"  #: scores the items their unit leads the assessment of
    UNIT = "unit"  #: sees and updates only their unit's assignments
    VIEWER = "viewer"  #: reads everything, changes nothing


ROLES = tuple(r.value for r in Role)
#: Roles that act for a unit and so must have one.
UNIT_ROLES = (Role.UNIT.value, Role.ASSESSOR.value)


class User(UserMixin, Base):
    """Someone who signs in; unit staff and assessors belong to a unit."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="role_valid"),
        CheckConstraint(
            f"role NOT IN {UNIT_ROLES!r} OR unit_id IS NOT NULL", name="unit_roles_have_unit"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(unique=True)
    display_name: Mapped[str]
    email: Mapped[str | None]
    password_hash: Mapped[str]
    role: Mapped[str]
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: Disabled users cannot sign in; they are never deleted so the audit trail keeps its actors.
    is_enabled: Mapped[bool] = mapped_column(default=True)
    #: Preferred UI language (zh or en); None follows the browser.
    locale: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    last_login_at: Mapped[datetime | None]

    unit: Mapped[Unit | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_enabled

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_staff(self) -> bool:
        """Office or admin: may act on every plan."""
        return self.role in (Role.ADMIN, Role.OFFICE)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"
