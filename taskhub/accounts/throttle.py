"""Sign-in throttling: growing delays against password guessing that never lock the owner out.

Failed sign-ins are counted in the database (``login_attempts``), so every web worker sees the
same counts, in three scopes:

* the (name, address) pair: after ``max_failures`` failures each further attempt from that
  address for that name waits ``first_delay``, then twice as long after every further failure
  (up to ``max_delay``); a successful sign-in of the pair starts it afresh;
* the name across addresses (``max_failures_per_user``) and the address across names
  (``max_failures_per_address``), with the same growing delays, but *not* for an address the
  name has signed in from successfully within ``known_for``: the owner at their usual desk
  (or behind their office's NAT) is not slowed by a guesser elsewhere.

Names are counted as typed, lower-cased, whether or not the account exists, so the answers
never tell which accounts exist. Refused attempts are not counted, so delays end at most
``max_delay`` after the guessing stops, and failures older than ``window`` no longer count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select

from taskhub.accounts.models import LoginAttempt
from taskhub.core.db import db, now_utc
from taskhub.core.errors import DomainError

logger = logging.getLogger(__name__)

#: Failed attempts are kept this long (at least the window), then pruned.
KEEP_FAILURES = timedelta(days=1)
#: Longest username stored with an attempt (whatever was typed is cut to this).
MAX_ATTEMPT_NAME = 150
#: Delays stop doubling after this many steps (2**30 × the first delay is past any cap).
MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class LoginLimits:
    """The throttling settings; a threshold of 0 turns that scope off."""

    max_failures: int = 5
    max_failures_per_user: int = 10
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=60)
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    known_for: timedelta = timedelta(days=30)

    @classmethod
    def defaults(cls) -> dict[str, int]:
        """The configuration keys this class reads, with their defaults."""
        d = cls()
        return {
            "LOGIN_MAX_FAILURES": d.max_failures,
            "LOGIN_MAX_FAILURES_PER_USER": d.max_failures_per_user,
            "LOGIN_MAX_FAILURES_PER_ADDRESS": d.max_failures_per_address,
            "LOGIN_WINDOW_MINUTES": int(d.window.total_seconds() // 60),
            "LOGIN_DELAY_SECONDS": int(d.first_delay.total_seconds()),
            "LOGIN_MAX_DELAY_MINUTES": int(d.max_delay.total_seconds() // 60),
            "LOGIN_KNOWN_ADDRESS_DAYS": d.known_for.days,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoginLimits:
        """Read the LOGIN_* keys (see ``defaults``); ValueError names a bad one."""
        values = {key: int(config.get(key, default)) for key, default in cls.defaults().items()}
        for key, value in values.items():
            lowest = 0 if key.startswith("LOGIN_MAX_FAILURES") else 1
            if value < lowest:
                raise ValueError(f"{key} must be at least {lowest}")
        return cls(
            max_failures=values["LOGIN_MAX_FAILURES"],
            max_failures_per_user=values["LOGIN_MAX_FAILURES_PER_USER"],
            max_failures_per_address=values["LOGIN_MAX_FAILURES_PER_ADDRESS"],
            window=timedelta(minutes=values["LOGIN_WINDOW_MINUTES"]),
            first_delay=timedelta(seconds=values["LOGIN_DELAY_SECONDS"]),
            max_delay=timedelta(minutes=values["LOGIN_MAX_DELAY_MINUTES"]),
            known_for=timedelta(days=values["LOGIN_KNOWN_ADDRESS_DAYS"]),
        )

    def delay(self, failures: int, threshold: int) -> timedelta | None:
        """The wait after the newest of ``failures`` failures, or None under ``threshold``."""
        if threshold <= 0 or failures < threshold:
            return None
        steps = min(failures - threshold, MAX_DOUBLINGS)
        return min(self.first_delay * 2**steps, self.max_delay)


class LoginThrottled(DomainError):
    """Sign-ins for this name from this address are delayed; ``wait`` until retrying."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__("too many failed sign-in attempts")
        self.wait = wait


class Scope(StrEnum):
    PAIR = "pair"  #: one name from one address
    USER = "user"  #: one name from addresses it has not signed in from
    ADDRESS = "address"  #: one address, for names that have not signed in from it


@dataclass(frozen=True)
class Throttle:
    """One scope with enough recent failures to delay attempts."""

    scope: Scope
    username: str | None
    address: str | None
    failures: int
    last_failure_at: datetime
    #: Attempts in this scope are refused until then (it may be past: the next failure
    #: then brings a longer delay).
    until: datetime

    def is_delaying(self, now: datetime) -> bool:
        return self.until > now


def attempt_name(username: str) -> str:
    """How a typed name is counted: "Admin" and " admin " are the same guess target."""
    return username.strip().lower()[:MAX_ATTEMPT_NAME]


def _failed(match: ColumnElement[bool], since: datetime) -> tuple[int, datetime | None]:
    """How many failures match since ``since``, and when the newest was."""
    count, newest = db.session.execute(
        select(func.count(), func.max(LoginAttempt.occurred_at)).where(
            match, LoginAttempt.succeeded.is_(False), LoginAttempt.occurred_at > since
        )
    ).one()
    return int(count), newest


def _last_success(name: str, address: str) -> datetime | None:
    return db.session.scalar(
        select(func.max(LoginAttempt.occurred_at)).where(
            LoginAttempt.username == name,
            LoginAttempt.address == address,
            LoginAttempt.succeeded.is_(True),
        )
    )


def _throttle(
    scope: Scope,
    name: str | None,
    address: str | None,
    threshold: int,
    *,
    limits: LoginLimits,
    since: datetime,
) -> Throttle | None:
    """The throttle of one scope (name and/or address), if it has reached its threshold."""
    if threshold <= 0:
        return None
    conditions = []
    if name is not None:
        conditions.append(LoginAttempt.username == name)
    if address is not None:
        conditions.append(LoginAttempt.address == address)
    count, newest = _failed(and_(*conditions), since)
    delay = limits.delay(count, threshold)
    if delay is None or newest is None:
        return None
    return Throttle(scope, name, address, count, newest, newest + delay)


def throttles_for(username: str, address: str, *, limits: LoginLimits) -> list[Throttle]:
    """The throttles that apply to a sign-in for ``username`` from ``address`` now."""
    now = now_utc()
    name = attempt_name(username)
    since = now - limits.window
    last_success = _last_success(name, address)
    # A successful sign-in of the pair starts its count afresh.
    pair_since = max(since, last_success) if last_success is not None else since
    found = [
        _throttle(Scope.PAIR, name, address, limits.max_failures, limits=limits, since=pair_since)
    ]
    if last_success is None or last_success <= now - limits.known_for:
        # An address the name has not signed in from lately: the softer wide scopes apply.
        found.append(
            _throttle(
                Scope.USER, name, None, limits.max_failures_per_user, limits=limits, since=since
            )
        )
        found.append(
            _throttle(
                Scope.ADDRESS,
                None,
                address,
                limits.max_failures_per_address,
                limits=limits,
                since=since,
            )
        )
    return [t for t in found if t is not None]


def login_wait(username: str, address: str, *, limits: LoginLimits) -> timedelta | None:
    """How long sign-ins for ``username`` from ``address`` are still delayed; None if allowed."""
    now = now_utc()
    ends = [t.until for t in throttles_for(username, address, limits=limits) if t.until > now]
    return max(ends) - now if ends else None


def check(username: str, address: str, *, limits: LoginLimits) -> None:
    """Raise LoginThrottled while sign-ins for ``username`` from ``address`` are delayed."""
    wait = login_wait(username, address, limits=limits)
    if wait is not None:
        logger.warning("sign-in refused: too many recent failures (address %s)", address)
        raise LoginThrottled(wait)


def record_attempt(username: str, address: str, *, succeeded: bool, limits: LoginLimits) -> None:
    """Count one attempt (flushes; the caller commits), and prune what no longer counts.

    A success keeps only the pair's newest success: it is what makes the address "usual" for
    the name. Pruned here rather than by a job: sign-ins are rare and the table stays small.
    """
    now = now_utc()
    name = attempt_name(username)
    if succeeded:
        db.session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.username == name,
                LoginAttempt.address == address,
                LoginAttempt.succeeded.is_(True),
            )
        )
    db.session.add(
        LoginAttempt(username=name, address=address, succeeded=succeeded, occurred_at=now)
    )
    keep_failures = max(KEEP_FAILURES, limits.window)
    db.session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.succeeded.is_(False), LoginAttempt.occurred_at < now - keep_failures
        )
    )
    db.session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.succeeded.is_(True), LoginAttempt.occurred_at < now - limits.known_for
        )
    )
    db.session.flush()


def active_throttles(*, limits: LoginLimits, username: str | None = None) -> list[Throttle]:
    """Every scope that has reached its threshold within the window, newest failure first
    (only those involving ``username`` when given): what an admin sees and may clear."""
    now = now_utc()
    since = now - limits.window
    recent = and_(LoginAttempt.succeeded.is_(False), LoginAttempt.occurred_at > since)
    if username is not None:
        recent = and_(recent, LoginAttempt.username == attempt_name(username))
    found: list[Throttle | None] = []
    groups: list[tuple[Scope, tuple[Any, ...], int]] = [
        (Scope.PAIR, (LoginAttempt.username, LoginAttempt.address), limits.max_failures),
        (Scope.USER, (LoginAttempt.username,), limits.max_failures_per_user),
    ]
    if username is None:
        groups.append((Scope.ADDRESS, (LoginAttempt.address,), limits.max_failures_per_address))
    for scope, columns, threshold in groups:
        if threshold <= 0:
            continue
        keys = db.session.execute(
            select(*columns).where(recent).group_by(*columns).having(func.count() >= threshold)
        ).all()
        for key in keys:
            name = key[0] if scope in (Scope.PAIR, Scope.USER) else None
            address = key[-1] if scope in (Scope.PAIR, Scope.ADDRESS) else None
            pair_since = since
            if scope is Scope.PAIR:
                assert name is not None and address is not None
                last_success = _last_success(name, address)
                if last_success is not None:
                    pair_since = max(since, last_success)
            found.append(
                _throttle(scope, name, address, threshold, limits=limits, since=pair_since)
            )
    return sorted(
        (t for t in found if t is not None), key=lambda t: t.last_failure_at, reverse=True
    )


def clear(scope: Scope, *, username: str | None, address: str | None) -> int:
    """Forget the failures counted by one scope; returns how many were removed (flushes)."""
    conditions: list[ColumnElement[bool]] = [LoginAttempt.succeeded.is_(False)]
    if scope in (Scope.PAIR, Scope.USER):
        if not username:
            raise ValueError("a user throttle needs the name")
        conditions.append(LoginAttempt.username == attempt_name(username))
    if scope in (Scope.PAIR, Scope.ADDRESS):
        if not address:
            raise ValueError("an address throttle needs the address")
        conditions.append(LoginAttempt.address == address)
    result = db.session.execute(delete(LoginAttempt).where(*conditions))
    db.session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
