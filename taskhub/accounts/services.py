"""Account rules: creating users, authenticating, changing roles."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from taskhub.accounts.models import ROLES, UNIT_ROLES, LoginAttempt, User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import DomainError, ValidationFailed
from taskhub.core.limits import check_texts
from taskhub.units.models import Unit

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
#: Sign-in attempts are kept this long (at least the throttling window), then pruned.
KEEP_ATTEMPTS = timedelta(days=1)
#: Longest username stored with an attempt (whatever was typed is cut to this).
MAX_ATTEMPT_NAME = 150


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
    check_texts(
        "user",
        {"username": username, "display_name": display_name, "email": email, "password": password},
    )
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


@cache
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def authenticate(username: str, password: str) -> User | None:
    """The enabled user with these credentials, or None (same answer for every failure)."""
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        # Hash anyway, so the answer for an unknown name takes as long as for a wrong password.
        check_password_hash(_decoy_hash(), password)
        return None
    if not user.check_password(password) or not user.is_enabled:
        return None
    user.last_login_at = now_utc()
    return user


@dataclass(frozen=True)
class LoginLimits:
    """How many failed sign-ins a username and a client address may have within ``window``.

    Attempts are counted in the database, so every web worker sees the same counts; 0 turns a
    limit off.
    """

    max_failures: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoginLimits:
        """Read LOGIN_MAX_FAILURES, LOGIN_MAX_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MINUTES."""
        per_name = int(config.get("LOGIN_MAX_FAILURES", cls.max_failures))
        per_address = int(
            config.get("LOGIN_MAX_FAILURES_PER_ADDRESS", cls.max_failures_per_address)
        )
        minutes = int(config.get("LOGIN_WINDOW_MINUTES", cls.window.total_seconds() // 60))
        if per_name < 0 or per_address < 0:
            raise ValueError("LOGIN_MAX_FAILURES and LOGIN_MAX_FAILURES_PER_ADDRESS must be >= 0")
        if minutes < 1:
            raise ValueError("LOGIN_WINDOW_MINUTES must be at least 1")
        return cls(per_name, per_address, timedelta(minutes=minutes))


class LoginThrottled(DomainError):
    """Too many failed sign-ins for this username or from this address; ``wait`` until retrying."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__("too many failed sign-in attempts")
        self.wait = wait


def _attempt_name(username: str) -> str:
    # Counted case-insensitively: "Admin" and "admin" are the same guess target.
    return username.strip().lower()[:MAX_ATTEMPT_NAME]


def _blocked_until(
    match: ColumnElement[bool], limit: int, *, window: timedelta, now: datetime
) -> datetime | None:
    """When the ``limit``-th newest failure in the window ages out, if there are that many."""
    if limit <= 0:
        return None
    at = db.session.scalar(
        select(LoginAttempt.occurred_at)
        .where(match, LoginAttempt.succeeded.is_(False), LoginAttempt.occurred_at > now - window)
        .order_by(LoginAttempt.occurred_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    return at + window if at is not None else None


def login_wait(username: str, address: str, *, limits: LoginLimits) -> timedelta | None:
    """How long sign-ins for ``username`` or from ``address`` are refused; None if allowed.

    Attempts against names that do not exist count the same, so the answer never tells
    whether an account exists.
    """
    now = now_utc()
    ends = [
        until
        for until in (
            _blocked_until(
                LoginAttempt.username == _attempt_name(username),
                limits.max_failures,
                window=limits.window,
                now=now,
            ),
            _blocked_until(
                LoginAttempt.address == address,
                limits.max_failures_per_address,
                window=limits.window,
                now=now,
            ),
        )
        if until is not None and until > now
    ]
    return max(ends) - now if ends else None


def sign_in(username: str, password: str, *, address: str, limits: LoginLimits) -> User | None:
    """Check the throttle, then the credentials; records the attempt (the caller commits).

    Raises LoginThrottled without looking at the password while the username or the address
    has too many recent failures; refused attempts are not recorded, so a guesser cannot keep
    an account locked for longer than the window after they stop.
    """
    wait = login_wait(username, address, limits=limits)
    if wait is not None:
        logger.warning("sign-in refused: too many recent failures (address %s)", address)
        raise LoginThrottled(wait)
    if not username.strip() or not password:
        return None  # an empty form is a slip, not a guess: not counted
    user = authenticate(username, password)
    now = now_utc()
    db.session.add(
        LoginAttempt(
            username=_attempt_name(username),
            address=address,
            succeeded=user is not None,
            occurred_at=now,
        )
    )
    # Pruned here rather than by a job: sign-ins are rare and the table stays small.
    keep = max(KEEP_ATTEMPTS, limits.window)
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.occurred_at < now - keep))
    db.session.flush()
    if user is None:
        logger.info("sign-in failed (address %s)", address)
    return user
