"""Personal API tokens: created and revoked by their owner (or an admin), stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate
from sqlalchemy import bindparam, func, or_, select, update

from taskhub.accounts.models import ApiToken, User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc, reads_only
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.limits import limit

#: Every token starts with this, so secret scanners and people recognise one.
TOKEN_PREFIX = "thk_"
#: ``last_used_at`` is refreshed at most this often (one write per minute, not per request).
TOUCH_EVERY = timedelta(minutes=1)
#: Longest token name.
MAX_NAME = limit("token.name")
#: Longest expiry that may be asked for at creation (ten years).
MAX_EXPIRY_DAYS = 3650


class TokenState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class TokenArgs(Schema):
    """A new token as entered in the form: a name and, optionally, days until it expires."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME))
    expires_in_days = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=False,
        validate=validate.Range(min=1, max=MAX_EXPIRY_DAYS),
    )

    @pre_load
    def blank_to_none(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        """HTML forms send empty strings for empty fields."""
        out: dict[str, Any] = {}
        for key in ("name", "expires_in_days"):
            value = data.get(key)
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None:
                out[key] = value
        return out


def expiry_after(days: int | None, *, now: datetime | None = None) -> datetime | None:
    """The moment a token created now with ``days`` of life expires (None: never)."""
    if days is None:
        return None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ValidationFailed(f"the expiry must be 1 to {MAX_EXPIRY_DAYS} days", problems=[])
    return (now or now_utc()) + timedelta(days=days)


def token_state(token: ApiToken, *, now: datetime | None = None) -> TokenState:
    """Whether the token still works, and if not, why."""
    if token.revoked_at is not None:
        return TokenState.REVOKED
    if token.expires_at is not None and token.expires_at <= (now or now_utc()):
        return TokenState.EXPIRED
    return TokenState.ACTIVE


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    user: User, name: str, *, actor: User, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token for ``user``; the plain token is returned once and never stored."""
    if actor.id != user.id and not actor.is_admin:
        raise PermissionDenied("only the user or an admin may create their tokens")
    name = name.strip()
    if not name:
        raise ValidationFailed("a token needs a name", problems=[])
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"a token name has at most {MAX_NAME} characters", problems=[])
    if expires_at is not None and expires_at <= now_utc():
        raise ValidationFailed("the expiry must be in the future", problems=[])
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=digest(plain),
        prefix=plain[: len(TOKEN_PREFIX) + 6],
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token.created",
        "api_token",
        token.id,
        actor_id=actor.id,
        after={"user_id": user.id, "name": name, "prefix": token.prefix},
    )
    return token, plain


def revoke_token(token: ApiToken, *, actor: User) -> None:
    """Revoke a token at once (every worker checks on each request)."""
    if actor.id != token.user_id and not actor.is_admin:
        raise PermissionDenied("only the token's owner or an admin may revoke it")
    if token.revoked_at is not None:
        return
    token.revoked_at = now_utc()
    audit.record(
        "api_token.revoked",
        "api_token",
        token.id,
        actor_id=actor.id,
        before={"revoked_at": None},
        after={"revoked_at": token.revoked_at},
    )


def user_tokens(user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones included, marked)."""
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return list(db.session.scalars(query))


def tokens_with_state(user: User) -> list[tuple[ApiToken, TokenState]]:
    """The user's tokens, newest first, each with whether it still works."""
    now = now_utc()
    return [(token, token_state(token, now=now)) for token in user_tokens(user)]


def active_token_counts() -> dict[int, int]:
    """How many working (not revoked, not expired) tokens each user has."""
    now = now_utc()
    rows = db.session.execute(
        select(ApiToken.user_id, func.count())
        .where(
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
        .group_by(ApiToken.user_id)
    ).all()
    return {user_id: count for user_id, count in rows}


#: A working (unrevoked) token's user, with what the check needs of the token, in one query;
#: built once, as every API request runs it.
_TOKEN_USER = reads_only(
    select(User, ApiToken.id, ApiToken.expires_at, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)


def user_for_token(plain: str) -> User | None:
    """The enabled user a valid token belongs to, or None (unknown, revoked or expired)."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 200:
        return None
    row = db.session.execute(_TOKEN_USER, {"token_hash": digest(plain)}).first()
    if row is None:
        return None
    user, token_id, expires_at, last_used_at = row
    now = now_utc()
    if (expires_at is not None and expires_at <= now) or not user.is_enabled:
        return None
    if last_used_at is None or now - last_used_at >= TOUCH_EVERY:
        _touch(token_id, now)
    return user


def _touch(token_id: int, now: datetime) -> None:
    """Record the token's use in a write of its own (a read-only request commits nothing).

    The read that found the token ends first: on SQLite a read transaction cannot become a
    write once another connection has committed since it began (it fails at once, "database
    is locked"), while a transaction that starts with the write waits for the lock.
    """
    db.session.rollback()
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    db.session.commit()
