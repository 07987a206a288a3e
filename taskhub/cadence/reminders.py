"""Reminders of the reporting cadence, decided by the daily reminders job into the outbox.

Two messages per window, each queued once whatever day the job first sees it due:

- *report due* (定期报送提醒): from ``remind_days_before`` working days before the window's due
  day until the due day, to the units of open assignments with no report in the window yet;
- *report missed* (未按时报送): after the due day, to the units of assignments flagged
  未按时报送 (taskhub.cadence.services.missing).

One digest per recipient, plan, window and stage lists that unit's tasks; its dedupe key holds
no run date (``cadence:<plan>:<due day>:<stage>:<channel>:<recipient>``), so running the job
again the same day or on the following days never queues it twice. Messages go to the unit's
contacts (e-mail, chat robot) and its users (in-app), held by the usual quiet hours (22:00-08:00).
A digest lists at most ``reminders.DIGEST_ENTRIES`` tasks; one more line counts the rest and
links to the unit's open tasks (``/my``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from sqlalchemy import func, select

from taskhub.audit import services as audit
from taskhub.cadence import services as cadence
from taskhub.cadence.models import CadenceKind, ReportingCadence
from taskhub.core.db import db, now_utc
from taskhub.plans.models import ACTIVE_PLAN_STATUSES, Item, Plan
from taskhub.reminders import services as reminders
from taskhub.reminders.models import Channel
from taskhub.tracking.models import Assignment
from taskhub.units.models import Unit

DUE = "due"
MISSED = "missed"
CHANNELS = [Channel.EMAIL.value, Channel.WEBHOOK.value, Channel.IN_APP.value]
QUIET = [(time(22), time(8))]


@dataclass(frozen=True)
class _Task:
    assignment_id: int
    plan_id: int
    plan_code: str
    plan_title: str
    item_label: str
    item_title: str
    unit_name: str


def _fires(stage: str, due_on: date, remind: int, today: date, days: reminders.WorkingDays) -> bool:
    """Whether a window's reminder is due today (on working days only; later days catch up)."""
    if not days.is_working(today):
        return False
    if stage == MISSED:
        return today > due_on
    anchor = due_on if days.is_working(due_on) else days.add(due_on, -1)
    first = days.add(anchor, -remind) if remind else anchor
    return first <= today <= due_on


def decide(today: date, days: reminders.WorkingDays, *, base_url: str) -> dict[str, int]:
    """Queue today's cadence digests in the outbox; idempotent per window."""
    plan_ids = list(
        db.session.scalars(
            select(ReportingCadence.plan_id)
            .join(Plan, Plan.id == ReportingCadence.plan_id)
            .where(
                Plan.status.in_(ACTIVE_PLAN_STATUSES),
                ReportingCadence.kind != CadenceKind.NONE.value,
            )
            .distinct()
        )
    )
    if not plan_ids:
        return {"cadence_queued": 0}
    found = cadence.facts(today, plan_ids=plan_ids)
    remind_of = dict(
        db.session.execute(
            select(ReportingCadence.id, ReportingCadence.remind_days_before).where(
                ReportingCadence.plan_id.in_(plan_ids)
            )
        ).all()
    )
    picked: list[tuple[str, cadence.WindowFact]] = []
    for fact in found:
        if fact.is_completed or fact.is_closed or fact.is_reported:
            continue
        if _fires(DUE, fact.window.due_on, remind_of[fact.cadence_id], today, days):
            picked.append((DUE, fact))
    latest = cadence.latest_closed(found)
    for assignment_id, window in cadence.missing(found).items():
        if _fires(MISSED, window.due_on, 0, today, days):
            picked.append((MISSED, latest[assignment_id]))
    if not picked:
        return {"cadence_queued": 0}
    tasks = _tasks([f.assignment_id for _, f in picked])
    resolver = reminders._Recipients({f.unit_id for _, f in picked}, [])
    digests: dict[tuple[int, date, str, str, str], dict[str, Any]] = {}
    for stage, fact in picked:
        task = tasks[fact.assignment_id]
        for channel, recipient, display in resolver.unit_targets(fact.unit_id, CHANNELS):
            key = (task.plan_id, fact.window.due_on, stage, channel, recipient)
            digest = digests.setdefault(key, {"display": display, "tasks": {}, "plan": task})
            digest["tasks"][fact.assignment_id] = (task, fact.window)
    rows = [
        _row(plan_id, due_on, stage, channel, recipient, digest, base_url)
        for (plan_id, due_on, stage, channel, recipient), digest in digests.items()
    ]
    queued = len(reminders._insert(rows))
    audit.record(
        "reminders.cadence_decided",
        "job",
        "reminders",
        actor_id=None,
        after={"as_of": today, "digests": len(rows), "queued": queued, "tasks": len(picked)},
    )
    return {"cadence_queued": queued}


def _tasks(assignment_ids: list[int]) -> dict[int, _Task]:
    rows = db.session.execute(
        select(
            Assignment.id,
            Plan.id,
            Plan.code,
            Plan.title,
            func.coalesce(Item.number, Item.code),
            func.coalesce(Item.title, func.substr(Item.text, 1, 30)),
            Unit.name,
        )
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.id.in_(set(assignment_ids)))
    ).all()
    return {row[0]: _Task(*row) for row in rows}


def _row(
    plan_id: int,
    due_on: date,
    stage: str,
    channel: str,
    recipient: str,
    digest: dict[str, Any],
    base_url: str,
) -> dict[str, Any]:
    plan: _Task = digest["plan"]
    entries = sorted(digest["tasks"].values(), key=lambda tw: (tw[0].item_label, tw[0].unit_name))
    n = len(entries)
    if stage == DUE:
        subject = f"【定期报送提醒】{plan.plan_title}：{n}项任务请于{due_on:%m月%d日}前报送进展"
        opening = f"本报送期截止日为{due_on:%Y年%m月%d日}，以下任务本期尚未报送进展："
    else:
        subject = f"【未按时报送】{plan.plan_title}：{n}项任务未在{due_on:%m月%d日}前报送进展"
        opening = f"以下任务在截至{due_on:%Y年%m月%d日}的报送期内未报送进展，请尽快补报："
    lines = [f"{digest['display']}：您好！{opening}", ""]
    by_unit: dict[str, list[str]] = defaultdict(list)
    for task, _window in entries:
        by_unit[task.unit_name].append(
            f"第{task.item_label}项 {task.item_title}（{task.unit_name}）"
            f" 报送：{base_url.rstrip('/')}/assignments/{task.assignment_id}"
        )
    listed = [line for unit_lines in by_unit.values() for line in unit_lines]
    for number, line in enumerate(listed[: reminders.DIGEST_ENTRIES], start=1):
        lines.append(f"{number}. {line}")
    if n > reminders.DIGEST_ENTRIES:
        lines.append(reminders.more_line(n - reminders.DIGEST_ENTRIES, base_url, "/my?view=open"))
    lines += ["", "本邮件由任务督办平台按报送周期自动发送。"]
    key = f"cadence:{plan.plan_code}:{due_on.isoformat()}:{stage}:{channel}:{recipient}"
    held = reminders._quiet_until(now_utc(), QUIET)
    return reminders._outbox_row(channel, recipient, subject, "\n".join(lines), key, held)
