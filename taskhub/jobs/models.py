"""The scheduler lease: one row per lease name, held by one process until it expires."""

from __future__ import annotations

from datetime import datetime

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
