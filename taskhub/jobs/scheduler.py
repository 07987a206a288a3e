"""Build the APScheduler instance from the job registry; never started by create_app."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from taskhub.core.db import now_utc
from taskhub.core.outages import is_database_unavailable
from taskhub.core.timeutil import local_time, office_today
from taskhub.jobs.registry import JobSpec, all_jobs
from taskhub.jobs.services import (
    LEASE_SECONDS,
    acquire_lease,
    missed_daily_jobs,
    new_holder_id,
    release_lease,
    run_job,
)

logger = logging.getLogger(__name__)


class SchedulerRunner:
    """Holds the lease and runs each job inside an app context only while holding it."""

    def __init__(self, app: Flask, *, blocking: bool) -> None:
        self.app = app
        self.holder = new_holder_id()
        self.is_leader = False
        #: The lease's length (TASKHUB_SCHEDULER_LEASE_SECONDS): how long a standby waits
        #: after the active scheduler died; renewed every third of it.
        self.lease_seconds = int(app.config.get("SCHEDULER_LEASE_SECONDS") or LEASE_SECONDS)
        tz = app.config["TIMEZONE"]
        self.scheduler: BaseScheduler = (
            BlockingScheduler(timezone=tz) if blocking else BackgroundScheduler(timezone=tz)
        )
        self.scheduler.add_job(
            self.renew_lease,
            "interval",
            seconds=max(1, self.lease_seconds // 3),
            id="lease",
            coalesce=True,
            max_instances=1,
        )
        # Catch up, once, on daily runs missed while no scheduler was up.
        self.scheduler.add_job(self.catch_up, id="catch_up", max_instances=1)
        for job in all_jobs():
            self.scheduler.add_job(
                self._wrap(job),
                "cron",
                id=job.name,
                name=job.description,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
                **job.cron,
            )

    def renew_lease(self) -> bool:
        """Take or keep the lease; False (and no jobs run) while the database cannot say."""
        try:
            with self.app.app_context():
                held = acquire_lease(self.holder, seconds=self.lease_seconds)
        except SQLAlchemyError as error:
            # An outage (a restart, connections used up) must not stop the scheduler: step
            # down until the database answers again, then renew or take the lease as usual.
            if not is_database_unavailable(error):
                logger.exception("scheduler %s could not renew the lease", self.holder)
            else:
                logger.warning(
                    "scheduler %s could not renew the lease, the database is unavailable: %s",
                    self.holder,
                    type(error).__name__,
                )
            held = False
        if held != self.is_leader:
            logger.info("scheduler %s %s the lease", self.holder, "acquired" if held else "lost")
        taking_over = held and not self.is_leader
        self.is_leader = held
        if taking_over and self.scheduler.running:
            # A standby taking over from a scheduler that died: the daily jobs it had not run
            # yet today (or died running) are caught up now, not tomorrow. At start the
            # catch_up job added in __init__ does this.
            self.scheduler.add_job(
                self.catch_up, id="catch_up", max_instances=1, replace_existing=True
            )
        return held

    def run(self, job: JobSpec) -> None:
        if not self.renew_lease():
            logger.debug("job %s skipped: another scheduler holds the lease", job.name)
            return
        with self.app.app_context():
            try:
                result = run_job(job, office_today())
                logger.info("job %s done: %s", job.name, result)
            except Exception:
                logger.exception("job %s failed", job.name)

    def _wrap(self, job: JobSpec) -> Callable[[], None]:
        return lambda: self.run(job)

    def catch_up(self) -> None:
        if not self.renew_lease():
            return
        try:
            with self.app.app_context():
                missed = missed_daily_jobs(office_today(), local_time(now_utc()).time())
        except SQLAlchemyError as error:  # the database went away since the renewal
            logger.warning("scheduler could not look for missed jobs: %s", type(error).__name__)
            return
        for job in missed:
            logger.info("catching up on missed job %s", job.name)
            self.run(job)

    def start(self) -> None:
        self.renew_lease()
        logger.info("scheduler starting with jobs: %s", ", ".join(j.name for j in all_jobs()))
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        try:
            with self.app.app_context():
                release_lease(self.holder)
        except SQLAlchemyError as error:  # the lease then expires by itself
            logger.warning("scheduler %s could not release the lease: %s", self.holder, error)
