"""The scheduled jobs, in one explicit list (name, function of the office day, schedule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[date], dict[str, Any]]
    description: str
    #: APScheduler cron fields in the office's time zone.
    cron: dict[str, Any] = field(default_factory=dict)
    #: Daily jobs missed while the scheduler was down run once at start (not once per day).
    is_daily: bool = True


@cache
def _job(target: str) -> Callable[[date], dict[str, Any]]:
    """The job function at ``module:name``, imported when the job first runs: listing the jobs
    (`taskhub jobs list`, the scheduler's start) imports no job module and what they need.
    One wrapper per target, so that specs from two calls of ``all_jobs`` compare equal."""
    module_name, _, name = target.partition(":")

    def run(today: date) -> dict[str, Any]:
        func: Callable[[date], dict[str, Any]] = getattr(import_module(module_name), name)
        return func(today)

    run.__name__ = run.__qualname__ = name
    return run


def all_jobs() -> list[JobSpec]:
    checkpoint = _job("taskhub.audit.jobs:checkpoint")
    evidence_gc = _job("taskhub.evidence.jobs:evidence_gc")
    escalate = _job("taskhub.supervision.jobs:escalate")
    scan_overdue = _job("taskhub.tracking.jobs:scan_overdue")
    reminders = _job("taskhub.reminders.jobs:reminders")
    monthly_cycle = _job("taskhub.reminders.jobs:monthly_cycle")
    deliver = _job("taskhub.reminders.jobs:deliver")
    leader_digest = _job("taskhub.leaders.jobs:leader_digest")

    return [
        JobSpec(
            "overdue",
            scan_overdue,
            "Flag overdue milestones and assignments",
            {"hour": 0, "minute": 30},
        ),
        JobSpec(
            "reminders",
            reminders,
            "Decide reminder digests and deliver them",
            {"hour": 9, "minute": 0},
        ),
        JobSpec(
            "monthly_cycle",
            monthly_cycle,
            "Remind assessed units before a monthly data cut-off",
            {"hour": 9, "minute": 5},
        ),
        JobSpec(
            "deliver",
            deliver,
            "Send due outbox messages (retries, quiet hours)",
            {"minute": "*/5"},
            is_daily=False,
        ),
        JobSpec(
            "evidence_gc",
            evidence_gc,
            "Remove evidence files no report refers to and stale partial uploads",
            {"hour": 3, "minute": 30},
        ),
        JobSpec(
            "audit_checkpoint",
            checkpoint,
            "Sign a checkpoint of the audit trail outside the database",
            {"minute": 55},
            is_daily=False,
        ),
        JobSpec(
            "escalations",
            escalate,
            "Issue escalation notices for tasks overdue past a level's trigger",
            {"hour": 8, "minute": 50},
        ),
        JobSpec(
            "leader_digest",
            leader_digest,
            "Send the leaders' weekly summaries on their set day and time",
            {"minute": "*/15"},
            is_daily=False,
        ),
    ]


def get_job(name: str) -> JobSpec | None:
    return next((j for j in all_jobs() if j.name == name), None)
