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


def test_a_standby_taking_over_the_lease_catches_up_on_the_day(app, session):
    """The active scheduler died before (or while) running a daily job: the standby runs the
    missed jobs once it holds the lease, not only at its own start."""
    from taskhub.jobs.scheduler import SchedulerRunner

    runner = SchedulerRunner(app, blocking=False)
    assert runner.lease_seconds == app.config["SCHEDULER_LEASE_SECONDS"] == 90
    assert acquire_lease("the-active-one") is True
    runner.scheduler.start(paused=True)  # nothing runs; the jobs can be looked at
    try:
        runner.scheduler.remove_job("catch_up")  # the start's own catch-up has been done
        assert runner.renew_lease() is False and runner.scheduler.get_job("catch_up") is None
        db.session.execute(
            update(SchedulerLease).values(expires_at=now_utc() - timedelta(seconds=1))
        )
        db.session.commit()  # the active one died: its lease ran out
        assert runner.renew_lease() is True
        assert runner.scheduler.get_job("catch_up") is not None
        runner.scheduler.remove_job("catch_up")
        assert runner.renew_lease() is True  # a renewal is no takeover
        assert runner.scheduler.get_job("catch_up") is None
    finally:
        runner.scheduler.shutdown(wait=False)
