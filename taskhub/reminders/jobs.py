"""Scheduled reminder jobs: decide and deliver, and the monthly data cycle (Shanwei's 25th)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db
from taskhub.plans.models import Plan
from taskhub.reminders import services
from taskhub.scoring.models import Scheme
from taskhub.tracking.deadlines import month_end

#: Remind this many working days before a monthly data cut-off, and on the day.
CYCLE_OFFSETS = (-3, 0)


def _calendar(today: date) -> services.WorkingDays:
    cal = WorkingCalendar.load(today - timedelta(days=400), today + timedelta(days=120))
    return services.WorkingDays.of(cal)


def reminders(today: date) -> dict[str, Any]:
    """Decide today's reminder digests (milestones, the reporting cadence, missing co-handling
    parts), then deliver what is due."""
    from taskhub.cadence import reminders as cadence_reminders
    from taskhub.supervision import co_reminders

    days, base_url = _calendar(today), current_app.config["BASE_URL"]
    decided = services.decide(today, days, base_url=base_url)
    decided.update(cadence_reminders.decide(today, days, base_url=base_url))
    decided.update(co_reminders.decide(today, days, base_url=base_url))
    db.session.commit()
    delivered = services.deliver(current_app.config)
    return {**decided, **delivered}


def deliver(today: date) -> dict[str, Any]:
    """Send pending outbox rows that are due (retries, and digests held by quiet hours)."""
    return services.deliver(current_app.config)


def monthly_cycle(today: date) -> dict[str, Any]:
    """Before each monthly data cut-off in a scheme (e.g. the 25th), remind the assessed units."""
    days = _calendar(today)
    queued = 0
    for plan, scheme in db.session.execute(select(Plan, Scheme).join(Scheme)).all():
        cutoff_day = _cutoff_day(scheme.definition)
        if cutoff_day is None:
            continue
        # A cut-off day past the month's end (31 in a 30-day month) falls on its last day.
        last = month_end(today.year, today.month)
        cutoff = last if cutoff_day > last.day else date(today.year, today.month, cutoff_day)
        # A cut-off on a holiday is reminded on the working day before it.
        anchor = cutoff if days.is_working(cutoff) else days.add(cutoff, -1)
        for offset in CYCLE_OFFSETS:
            if (days.add(anchor, offset) if offset else anchor) == today:
                queued += services.queue_cycle_reminder(plan, cutoff, offset, today)
    db.session.commit()
    return {"queued": queued, "delivered": services.deliver(current_app.config)}


def _cutoff_day(definition: dict[str, Any]) -> int | None:
    for period in definition.get("periods") or []:
        if isinstance(period, dict) and isinstance(period.get("cutoff_day"), int):
            return int(period["cutoff_day"])
    return None
