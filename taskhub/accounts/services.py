"""Account rules: creating users, authenticating, changing roles."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from taskhub.accounts.models import ROLES, UNIT_ROLES, User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import ValidationFailed
from taskhub.units.models import Unit

MIN_PASSWORD_LENGTH = 10


def generate_password() -> str:
    """A random password that is easy to type once."""
    return secrets.token_urlsafe(12)


def create_user(
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    unit: Unit | None = None,
    email: str | None = None,
    actor_id: int | None = None,
) -> User:
    """Create a user after checking role, unit and password rules."""
    username = username.strip()
    if not username:
        raise ValidationFailed("username is required")
    if role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role in UNIT_ROLES and unit is None:
        raise ValidationFailed(f"role {role!r} needs a unit (--unit)")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationFailed(f"user {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        unit=unit if role in UNIT_ROLES or unit is not None else None,
        email=email,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.created",
        "user",
        user.id,
        actor_id=actor_id,
        after={"username": username, "role": role, "unit_id": user.unit_id},
    )
    return user


def authenticate(username: str, password: str) -> User | None:
    """The enabled user with these credentials, or None (same answer for every failure)."""
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.is_enabled or not user.check_password(password):
        return None
    user.last_login_at = now_utc()
    return user
