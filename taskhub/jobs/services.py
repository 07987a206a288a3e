"""Acquire and renew the scheduler lease with one conditional UPDATE (safe across processes)."""

from __future__ import annotations

import json
import os
import secrets
import socket
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from taskhub.core.db import db, now_utc, writing
from taskhub.jobs.models import JobRun, SchedulerLease
from taskhub.jobs.registry import JobSpec, all_jobs

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


def run_job(spec: JobSpec, today: date) -> dict[str, Any]:
    """Run one job as of ``today``, recording its run (the job commits its own work).

    Jobs write while web workers do, so on SQLite their transactions take the write lock at
    BEGIN (``writing``) and wait for it rather than fail when a read turns into a write.
    """
    with writing():
        return _run_job(spec, today)


def _run_job(spec: JobSpec, today: date) -> dict[str, Any]:
    run = db.session.get(JobRun, spec.name) or JobRun(name=spec.name)
    run.started_at, run.status, run.message = now_utc(), "running", None
    db.session.add(run)
    db.session.commit()
    try:
        result = spec.func(today)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        run = db.session.get(JobRun, spec.name) or JobRun(name=spec.name)
        run.status, run.message, run.finished_at = (
            "error",
            f"{type(exc).__name__}: {exc}"[:1000],
            now_utc(),
        )
        db.session.add(run)
        db.session.commit()
        raise
    run = db.session.get(JobRun, spec.name) or JobRun(name=spec.name)
    # A run for an earlier day (`jobs run --today` in the past) never moves the date back, or
    # the start-up catch-up would run the days since again.
    if run.last_run_on is None or today > run.last_run_on:
        run.last_run_on = today
    run.finished_at, run.status = now_utc(), "ok"
    run.message = json.dumps(result, ensure_ascii=False, default=str)[:1000]
    db.session.add(run)
    db.session.commit()
    return result


def missed_daily_jobs(today: date, now_local_time: time) -> list[JobSpec]:
    """Daily jobs whose time today has passed but that have not run for today."""
    missed = []
    for spec in all_jobs():
        if not spec.is_daily:
            continue
        at = time(int(spec.cron.get("hour", 0)), int(spec.cron.get("minute", 0)))
        run = db.session.get(JobRun, spec.name)
        last = run.last_run_on if run else None
        if now_local_time >= at and (last is None or last < today):
            missed.append(spec)
    return missed
