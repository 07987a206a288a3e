"""Build the APScheduler instance from an explicit job list; never started by create_app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from taskhub.jobs.services import LEASE_SECONDS, acquire_lease, new_holder_id, release_lease

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[], Any]
    trigger: str
    trigger_args: dict[str, Any]
    description: str


#: The scheduled jobs. Later features append theirs here (overdue scan, reminders...).
JOBS: list[JobSpec] = []


class SchedulerRunner:
    """Holds the lease and runs each job inside an app context only while holding it."""

    def __init__(self, app: Flask, *, blocking: bool) -> None:
        self.app = app
        self.holder = new_holder_id()
        self.is_leader = False
        tz = app.config["TIMEZONE"]
        self.scheduler: BaseScheduler = (
            BlockingScheduler(timezone=tz) if blocking else BackgroundScheduler(timezone=tz)
        )
        self.scheduler.add_job(
            self.renew_lease,
            "interval",
            seconds=LEASE_SECONDS // 3,
            id="lease",
            coalesce=True,
            max_instances=1,
        )
        for job in JOBS:
            self.scheduler.add_job(
                self._wrap(job),
                job.trigger,
                id=job.name,
                name=job.description,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
                **job.trigger_args,
            )

    def renew_lease(self) -> bool:
        with self.app.app_context():
            held = acquire_lease(self.holder)
        if held != self.is_leader:
            logger.info("scheduler %s %s the lease", self.holder, "acquired" if held else "lost")
        self.is_leader = held
        return held

    def _wrap(self, job: JobSpec) -> Callable[[], None]:
        def run() -> None:
            if not self.renew_lease():
                logger.debug("job %s skipped: another scheduler holds the lease", job.name)
                return
            with self.app.app_context():
                job.func()

        return run

    def start(self) -> None:
        self.renew_lease()
        logger.info("scheduler starting with jobs: %s", ", ".join(j.name for j in JOBS) or "none")
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        with self.app.app_context():
            release_lease(self.holder)
