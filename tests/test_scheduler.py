"""One scheduler acts at a time: a database lease with expiry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from taskhub.core.db import db, now_utc
from taskhub.jobs.models import SchedulerLease
from taskhub.jobs.services import acquire_lease, release_lease


def test_only_one_holder_until_the_lease_expires(session):
    assert acquire_lease("a") is True
    assert acquire_lease("b") is False
    assert acquire_lease("a") is True  # renewal
    db.session.execute(update(SchedulerLease).values(expires_at=now_utc() - timedelta(seconds=1)))
    db.session.commit()
    assert acquire_lease("b") is True
    assert acquire_lease("a") is False


def test_release_lets_a_standby_take_over_at_once(session):
    assert acquire_lease("a") is True
    release_lease("a")
    assert acquire_lease("b") is True


def test_scheduler_runner_builds_without_starting(app, session):
    from taskhub.jobs.scheduler import SchedulerRunner

    runner = SchedulerRunner(app, blocking=False)
    assert runner.scheduler.get_job("lease") is not None
    assert not runner.scheduler.running
    assert runner.renew_lease() is True and runner.is_leader
