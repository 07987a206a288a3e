"""The scheduler lease: one row per lease name, held by one process until it expires."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Mapped, mapped_column

from taskhub.core.db import Base


class SchedulerLease(Base):
    """Only the holder of an unexpired lease runs jobs, so two schedulers never both act."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(primary_key=True)
    #: host:pid:random of the holding process.
    holder: Mapped[str]
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


class JobRun(Base):
    """The last run of each scheduled job, so runs missed while down are caught up once."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(primary_key=True)
    #: The office day the job last ran for.
    last_run_on: Mapped[date | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: ok or error.
    status: Mapped[str | None]
    message: Mapped[str | None]
