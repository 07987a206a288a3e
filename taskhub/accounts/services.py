"""Account rules: creating users, signing in and out, and the user lifecycle (disable, enable,
role and unit, password reset and change, ending sessions)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Select, func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from taskhub.accounts import passwords, throttle
from taskhub.accounts.models import ROLES, UNIT_ROLES, Role, User
from taskhub.accounts.passwords import MIN_PASSWORD_LENGTH, WeakPassword
from taskhub.accounts.throttle import LoginLimits, LoginThrottled
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.limits import check_texts
from taskhub.units.models import Unit

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountRefused",
    "LoginLimits",
    "LoginThrottled",
    "WeakPassword",
]

logger = logging.getLogger(__name__)


class AccountRefused(ValidationFailed):
    """A lifecycle rule refused the change; ``code`` says which (views translate it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def generate_password() -> str:
    """A random password that is easy to type once (16 characters; passes the rule)."""
    return secrets.token_urlsafe(12)


def _check_role(role: str, unit: Unit | None) -> None:
    if role not in ROLES:
        raise AccountRefused(
            "unknown_role", f"unknown role {role!r}; choose one of {', '.join(ROLES)}"
        )
    if role in UNIT_ROLES and unit is None:
        raise AccountRefused("needs_unit", f"role {role!r} needs a unit (--unit)")


def create_user(
    *,
    username: str,
    password: str | None,
    role: str,
    display_name: str | None = None,
    unit: Unit | None = None,
    email: str | None = None,
    mobile: str | None = None,
    actor_id: int | None = None,
) -> User:
    """Create a user after checking role, unit and password rules.

    Without a password the account cannot sign in until its owner sets one through an
    invitation (taskhub.accounts.invitations); the stored hash is of a random secret.
    """
    username = username.strip()
    if not username:
        raise AccountRefused("username_required", "username is required")
    _check_role(role, unit)
    check_texts(
        "user",
        {
            "username": username,
            "display_name": display_name,
            "email": email,
            "mobile": mobile,
            "password": password,
        },
    )
    if password is not None:
        passwords.check_password(password, username=username, context=(display_name, email))
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountRefused("exists", f"user {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        unit=unit if role in UNIT_ROLES or unit is not None else None,
        email=email,
        mobile=mobile,
        has_password=password is not None,
    )
    user.set_password(password if password is not None else secrets.token_urlsafe(32))
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.created",
        "user",
        user.id,
        actor_id=actor_id,
        after={
            "username": username,
            "role": role,
            "unit_id": user.unit_id,
            "has_password": user.has_password,
        },
    )
    return user


# --- signing in and out -----------------------------------------------------------------------


@cache
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def _credentials(username: str, password: str) -> tuple[User | None, str]:
    """The user the name belongs to (if any) and whether the password signs them in: "ok",
    or why not ("wrong_password", "unknown_user", "disabled") for the audit trail."""
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        # Hash anyway, so the answer for an unknown name takes as long as for a wrong password.
        if len(password) <= passwords.MAX_PASSWORD_LENGTH:
            check_password_hash(_decoy_hash(), password)
        return None, "unknown_user"
    if len(password) > passwords.MAX_PASSWORD_LENGTH or not user.check_password(password):
        return user, "wrong_password"  # (an overlong one is never hashed)
    if not user.is_enabled:
        return user, "disabled"
    return user, "ok"


def authenticate(username: str, password: str) -> User | None:
    """The enabled user with these credentials, or None (same answer for every failure)."""
    user, reason = _credentials(username, password)
    if user is None or reason != "ok":
        return None
    user.last_login_at = now_utc()
    return user


def sign_in(username: str, password: str, *, address: str, limits: LoginLimits) -> User | None:
    """Check the throttle, then the credentials; records the attempt (the caller commits).

    Raises LoginThrottled without looking at the password while attempts for this name from
    this address are delayed (see taskhub.accounts.throttle). A failure is also written to the
    audit trail with the name as typed, the address and why (never the password).
    """
    throttle.check(username, address, limits=limits)
    if not username.strip() or not password:
        return None  # an empty form is a slip, not a guess: not counted
    user, reason = _credentials(username, password)
    throttle.record_attempt(username, address, succeeded=reason == "ok", limits=limits)
    if user is not None and reason == "ok":
        user.last_login_at = now_utc()
        return user
    logger.info("sign-in failed (address %s)", address)
    audit.record(
        "user.sign_in_failed",
        "user" if user is not None else "sign_in",
        user.id if user is not None else throttle.attempt_name(username),
        actor_id=None,
        after={
            "username": username.strip()[: throttle.MAX_ATTEMPT_NAME],
            "address": address,
            "reason": reason,
        },
    )
    return None


def session_user(session_id: str) -> User | None:
    """The user of a session id ("<id>:<generation>", see User.get_id), if still valid."""
    user_id, _, generation = session_id.partition(":")
    if not user_id.isdigit() or not generation.isdigit():
        return None  # a session from before generations (or forged): signed out
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_enabled or user.session_generation != int(generation):
        return None
    return user


def _end_sessions(user: User) -> None:
    """Raise the user's session generation: every session signed in before ends at once.

    An SQL increment, so two concurrent requests cannot both write the same new value.
    """
    user.session_generation = User.session_generation + 1
    db.session.flush()
    db.session.refresh(user, ["session_generation"])


def sign_out(user: User) -> None:
    """The user signs out: every session of theirs ends, not only this browser's."""
    _end_sessions(user)
    audit.record("user.signed_out", "user", user.id, actor_id=user.id)


# --- the user lifecycle -----------------------------------------------------------------------


def _require_admin(actor: User | None) -> None:
    """Admins act on other users; None is the command line (the operator)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("only an administrator may change users")


def _actor_id(actor: User | None) -> int | None:
    return actor.id if actor is not None else None


def _keep_an_admin(user: User, *, role: str, enabled: bool) -> None:
    """Refuse a change that would leave no enabled administrator.

    The other admins' rows are locked first (PostgreSQL), so two admins demoting each other
    at the same moment cannot both succeed; SQLite serialises writers anyway.
    """
    if not (user.role == Role.ADMIN and user.is_enabled) or (role == Role.ADMIN and enabled):
        return
    others = db.session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.is_enabled.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    if not others:
        raise AccountRefused(
            "last_admin", "the last enabled administrator cannot be disabled or demoted"
        )


def disable_user(user: User, *, actor: User | None) -> None:
    """Disable a user who left: their sessions end and their API tokens stop working at once."""
    _require_admin(actor)
    if not user.is_enabled:
        return
    _keep_an_admin(user, role=user.role, enabled=False)
    user.is_enabled = False
    _end_sessions(user)
    audit.record(
        "user.disabled",
        "user",
        user.id,
        actor_id=_actor_id(actor),
        before={"is_enabled": True},
        after={"is_enabled": False, "session_generation": user.session_generation},
    )


def enable_user(user: User, *, actor: User | None) -> None:
    """Enable a disabled user again (their old sessions stay ended)."""
    _require_admin(actor)
    if user.is_enabled:
        return
    user.is_enabled = True
    audit.record(
        "user.enabled",
        "user",
        user.id,
        actor_id=_actor_id(actor),
        before={"is_enabled": False},
        after={"is_enabled": True},
    )


def change_role(user: User, *, role: str, unit: Unit | None, actor: User | None) -> None:
    """Give a user another role and/or unit (unit staff and assessors need a unit)."""
    _require_admin(actor)
    _check_role(role, unit)
    unit_id = unit.id if unit is not None else None
    if (user.role, user.unit_id) == (role, unit_id):
        return
    _keep_an_admin(user, role=role, enabled=user.is_enabled)
    before = {"role": user.role, "unit_id": user.unit_id}
    user.role, user.unit = role, unit
    db.session.flush()
    audit.record(
        "user.role_changed",
        "user",
        user.id,
        actor_id=_actor_id(actor),
        before=before,
        after={"role": role, "unit_id": unit_id},
    )


def update_profile(
    user: User,
    *,
    display_name: str,
    mobile: str | None,
    email: str | None,
    actor: User | None,
) -> None:
    """Change a user's name, mobile and e-mail (the users import; never the password)."""
    _require_admin(actor)
    display_name = display_name.strip()
    if not display_name:
        raise AccountRefused("name_required", "the name is required")
    check_texts("user", {"display_name": display_name, "mobile": mobile, "email": email})
    before = {"display_name": user.display_name, "mobile": user.mobile, "email": user.email}
    after = {"display_name": display_name, "mobile": mobile, "email": email}
    if before == after:
        return
    user.display_name, user.mobile, user.email = display_name, mobile, email
    db.session.flush()
    audit.record(
        "user.updated", "user", user.id, actor_id=_actor_id(actor), before=before, after=after
    )


def _set_password(user: User, password: str) -> None:
    passwords.check_password(
        password, username=user.username, context=(user.display_name, user.email)
    )
    user.set_password(password)
    user.has_password = True
    _end_sessions(user)


def set_first_password(user: User, password: str) -> None:
    """The user sets their first password through an invitation (the caller checked the link;
    taskhub.accounts.invitations audits it)."""
    _set_password(user, password)


def reset_password(user: User, password: str, *, actor: User | None) -> None:
    """An admin (or the operator) sets a new password; every session of the user ends.

    Not for the admin's own password: that needs the current one (change_own_password), so
    a session left open cannot be turned into a new password.
    """
    _require_admin(actor)
    if actor is not None and actor.id == user.id:
        raise AccountRefused("own_password", "change your own password on your account page")
    _set_password(user, password)
    audit.record(
        "user.password_reset",
        "user",
        user.id,
        actor_id=_actor_id(actor),
        after={"session_generation": user.session_generation},
    )


def change_own_password(
    user: User, *, current: str, new: str, address: str, limits: LoginLimits
) -> None:
    """The signed-in user changes their password, proving the current one first.

    A wrong current password counts as a failed sign-in (a stolen session must not become a
    way to guess it at leisure); every other session of the user ends.
    """
    throttle.check(user.username, address, limits=limits)
    if len(current) > passwords.MAX_PASSWORD_LENGTH or not user.check_password(current):
        throttle.record_attempt(user.username, address, succeeded=False, limits=limits)
        audit.record(
            "user.password_change_failed",
            "user",
            user.id,
            actor_id=user.id,
            after={"address": address, "reason": "wrong_password"},
        )
        raise AccountRefused("wrong_current", "the current password is wrong")
    if new == current:
        raise AccountRefused("unchanged", "the new password is the current one")
    _set_password(user, new)
    audit.record(
        "user.password_changed",
        "user",
        user.id,
        actor_id=user.id,
        after={"session_generation": user.session_generation},
    )


def sign_out_everywhere(user: User, *, actor: User | None) -> None:
    """End every session of a user now (an admin's "sign out everywhere")."""
    _require_admin(actor)
    _end_sessions(user)
    audit.record(
        "user.signed_out_everywhere",
        "user",
        user.id,
        actor_id=_actor_id(actor),
        after={"session_generation": user.session_generation},
    )


def clear_throttle(
    scope: throttle.Scope, *, username: str | None, address: str | None, actor: User | None
) -> int:
    """Forget the failed sign-ins one throttle counts (admin); returns how many."""
    _require_admin(actor)
    removed = throttle.clear(scope, username=username, address=address)
    audit.record(
        "sign_in_throttle.cleared",
        "sign_in_throttle",
        f"{scope.value}:{username or ''}@{address or ''}",
        actor_id=_actor_id(actor),
        after={
            "scope": scope.value,
            "username": username,
            "address": address,
            "failures_removed": removed,
        },
    )
    return removed


# --- finding users ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserFilters:
    """The user list's search: text in the name, a role, enabled or disabled."""

    text: str = ""
    role: str = ""
    state: str = ""  #: "enabled", "disabled" or "" for both


def query_users(filters: UserFilters) -> Select[tuple[User]]:
    """Users matching ``filters``, admins first, then by user name."""
    query = select(User)
    text = filters.text.strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.outerjoin(Unit, Unit.id == User.unit_id).where(
            or_(
                User.username.ilike(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
                func.coalesce(User.email, "").ilike(pattern, escape="\\"),
                func.coalesce(Unit.name, "").ilike(pattern, escape="\\"),
            )
        )
    if filters.role in ROLES:
        query = query.where(User.role == filters.role)
    if filters.state in ("enabled", "disabled"):
        query = query.where(User.is_enabled.is_(filters.state == "enabled"))
    return query.order_by(User.role, User.username)


def user_named(username: str) -> User | None:
    """The user with exactly this name."""
    return db.session.scalar(select(User).where(User.username == username))
