"""The scheduled jobs, in one explicit list (name, function of the office day, schedule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
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


def all_jobs() -> list[JobSpec]:
    from taskhub.audit.jobs import checkpoint
    from taskhub.evidence.jobs import evidence_gc
    from taskhub.leaders.jobs import leader_digest
    from taskhub.reminders import jobs as reminder_jobs
    from taskhub.supervision.jobs import escalate
    from taskhub.tracking.jobs import scan_overdue

    return [
        JobSpec(
            "overdue",
            scan_overdue,
            "Flag overdue milestones and assignments",
            {"hour": 0, "minute": 30},
        ),
        JobSpec(
            "reminders",
            reminder_jobs.reminders,
            "Decide reminder digests and deliver them",
            {"hour": 9, "minute": 0},
        ),
        JobSpec(
            "monthly_cycle",
            reminder_jobs.monthly_cycle,
            "Remind assessed units before a monthly data cut-off",
            {"hour": 9, "minute": 5},
        ),
        JobSpec(
            "deliver",
            reminder_jobs.deliver,
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
