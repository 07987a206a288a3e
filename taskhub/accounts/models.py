"""Users and their roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, true
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
    #: Mobile phone, as the users import gives it (links the user to a contact of their unit).
    mobile: Mapped[str | None]
    password_hash: Mapped[str]
    #: False while the account waits for its owner to set a password through an invitation
    #: (the stored hash is then of a random secret nobody knows).
    has_password: Mapped[bool] = mapped_column(default=True, server_default=true())
    role: Mapped[str]
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: Disabled users cannot sign in; they are never deleted so the audit trail keeps its actors.
    is_enabled: Mapped[bool] = mapped_column(default=True)
    #: Preferred UI language (zh or en); None follows the browser.
    locale: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    last_login_at: Mapped[datetime | None]
    #: Raised to end every session of the user at once (sign-out, disabling, a new password):
    #: a session is valid only while it carries the current generation (see ``get_id``).
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    unit: Mapped[Unit | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_enabled

    def get_id(self) -> str:
        """The session's user id with the generation: Flask-Login stores it in the session
        (and in a remember-me cookie), so raising the generation invalidates every copy."""
        return f"{self.id}:{self.session_generation}"

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


class ApiToken(Base):
    """A personal API token: the holder acts as ``user`` with that user's permissions.

    Only a SHA-256 digest is kept (tokens are long random strings, so a fast hash is enough and
    lets each request find its token by an indexed lookup); the token is shown once, at creation.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: What the holder calls it ("城市大脑对接").
    name: Mapped[str]
    #: Hex SHA-256 of the whole token.
    token_hash: Mapped[str] = mapped_column(unique=True)
    #: The token's first characters, so people can tell their tokens apart.
    prefix: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    #: Updated at most once a minute (a write per request would serialise readers on SQLite).
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """One sign-in attempt, kept for throttling password guessing across all workers."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "occurred_at"),
        Index("ix_login_attempts_address_at", "address", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: As typed, lower-cased (attempts against unknown names count too).
    username: Mapped[str]
    #: The client's IP address (behind nginx: the first X-Forwarded-For hop it set).
    address: Mapped[str]
    succeeded: Mapped[bool]
    occurred_at: Mapped[datetime] = mapped_column(default=now_utc)


class Invitation(Base):
    """A one-time link for a user to set their own password (taskhub.accounts.invitations).

    Like API tokens, only the SHA-256 digest of the link's secret is kept; the link itself is
    shown once to whoever created it (and e-mailed to the user when they have an address).
    A user has at most one usable invitation: a new one revokes the older.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: Hex SHA-256 of the secret in the link.
    token_hash: Mapped[str] = mapped_column(unique=True)
    #: The admin who created it (None: the command line).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    expires_at: Mapped[datetime]
    #: When the link was e-mailed to the user (None: not e-mailed, or the mail failed).
    emailed_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
