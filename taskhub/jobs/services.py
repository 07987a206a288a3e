"""Acquire and renew the scheduler lease with one conditional UPDATE (safe across processes)."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from taskhub.core.db import db, now_utc
from taskhub.jobs.models import SchedulerLease

LEASE_NAME = "scheduler"
LEASE_SECONDS = 90


def new_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def acquire_lease(holder: str, *, name: str = LEASE_NAME, seconds: int = LEASE_SECONDS) -> bool:
    """Take or renew the lease; True when ``holder`` holds it afterwards. Commits."""
    now = now_utc()
    expires = now + timedelta(seconds=seconds)
    result = db.session.execute(
        update(SchedulerLease)
        .where(
            SchedulerLease.name == name,
            or_(SchedulerLease.holder == holder, SchedulerLease.expires_at < now),
        )
        .values(holder=holder, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        db.session.commit()
        return True
    if db.session.get(SchedulerLease, name) is not None:
        db.session.rollback()
        return False
    try:
        db.session.add(
            SchedulerLease(name=name, holder=holder, expires_at=expires, acquired_at=now)
        )
        db.session.commit()
    except IntegrityError:  # another process inserted it first
        db.session.rollback()
        return False
    return True


def release_lease(holder: str, *, name: str = LEASE_NAME) -> None:
    """Give the lease up at shutdown so a standby scheduler can take over at once."""
    db.session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
        .values(expires_at=now_utc())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
