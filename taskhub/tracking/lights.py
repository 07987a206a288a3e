"""Traffic lights (红 / 黄 / 绿, and 灰 before a task has a date) for assignments, always shown
with a text label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

from taskhub.tracking.models import Assignment, AssignmentStatus, MilestoneStatus

#: Due within this many working days turns the light yellow.
DUE_SOON_WORKING_DAYS = 3
#: Reported percent may trail the time-elapsed pace (序时进度) by this much before it is yellow.
PACE_TOLERANCE = 10


class Calendar(Protocol):
    def working_days_between(self, start: date, end: date) -> int: ...


@dataclass(frozen=True)
class Light:
    color: str  #: red | yellow | green | grey (no milestone yet: nothing to be late or on time for)
    reason: str  #: overdue | due_soon | behind_pace | on_track | completed | no_milestones


def light_for(
    assignment: Assignment, today: date, calendar: Calendar, *, year_start: date
) -> Light:
    """Red when a milestone is overdue; yellow when one is due soon or progress trails the pace;
    grey while the task has no milestone (no date, so neither late nor on time)."""
    if assignment.status == AssignmentStatus.COMPLETED.value:
        return Light("green", "completed")
    milestones = assignment.milestones
    open_ms = [m for m in milestones if m.status == MilestoneStatus.OPEN.value]
    if any(m.effective_due_on < today for m in open_ms):
        return Light("red", "overdue")
    if open_ms:
        next_due = min(m.effective_due_on for m in open_ms)
        if calendar.working_days_between(today, next_due) <= DUE_SOON_WORKING_DAYS:
            return Light("yellow", "due_soon")
    if not milestones:
        return Light("grey", "no_milestones")
    end = max(m.effective_due_on for m in milestones)
    if end > year_start and today > year_start:
        elapsed = min(1.0, (today - year_start).days / (end - year_start).days)
        if assignment.percent + PACE_TOLERANCE < elapsed * 100:
            return Light("yellow", "behind_pace")
    return Light("green", "on_track")
