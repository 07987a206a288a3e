"""Reminders of a missing co-handling part (协办意见), decided by the daily reminders job into the
outbox, like the reporting cadence's (taskhub.cadence.reminders).

From *remind days before* working days before a round's due day until the due day itself (the
cadence's setting when the round is a reporting period, else 3), each co-handling unit whose part
of an open lead task's round is still missing is reminded: one digest per recipient, plan and
round due day, listing that unit's tasks, to its contacts (e-mail, chat robot) and its users
(in-app), held by quiet hours 22:00-08:00. The outbox key holds no run date
(``co-report:<plan>:<due day>:<channel>:<recipient>``), so a rerun the same day or later in the
round never queues it twice, and a day the job missed is caught up on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from taskhub.audit import services as audit
from taskhub.cadence.reminders import CHANNELS, DUE, QUIET, _fires
from taskhub.core.db import db, now_utc
from taskhub.plans.models import ACTIVE_PLAN_STATUSES, Item, Plan
from taskhub.reminders import services as reminders
from taskhub.supervision import cohandle
from taskhub.tracking.models import Assignment, AssignmentRole, AssignmentStatus


@dataclass(frozen=True)
class _Missing:
    lead: Assignment
    due_on: date
    unit_id: int


def _open_leads() -> list[Assignment]:
    """Open lead tasks of published plans whose item has co-handling (responsible) units."""
    co_items = select(Assignment.item_id).where(Assignment.role == AssignmentRole.RESPONSIBLE.value)
    return list(
        db.session.scalars(
            select(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(
                Plan.status.in_(ACTIVE_PLAN_STATUSES),
                Assignment.role == AssignmentRole.LEAD.value,
                Assignment.status != AssignmentStatus.COMPLETED.value,
                Assignment.item_id.in_(co_items),
            )
            .options(joinedload(Assignment.item).joinedload(Item.plan), joinedload(Assignment.unit))
            .order_by(Assignment.id)
        ).unique()
    )


def decide(today: date, days: reminders.WorkingDays, *, base_url: str) -> dict[str, int]:
    """Queue today's reminders of missing co-handling parts; idempotent per round."""
    picked: list[_Missing] = []
    leads = _open_leads()
    memo: dict[Any, Any] = {}  # cadences and their rounds, found once for all the leads
    for lead, found in zip(leads, cohandle.rounds_of(leads, today, memo), strict=True):
        if found.due_on is None or not found.missing:
            continue
        if _fires(DUE, found.due_on, cohandle.remind_days_before(lead, memo), today, days):
            picked += [_Missing(lead, found.due_on, unit.id) for unit in found.missing]
    if not picked:
        return {"co_report_queued": 0}
    # The co-handling unit's own task of the item: its page holds the part's form.
    own = dict(
        ((item_id, unit_id), assignment_id)
        for assignment_id, item_id, unit_id in db.session.execute(
            select(Assignment.id, Assignment.item_id, Assignment.unit_id).where(
                Assignment.item_id.in_({m.lead.item_id for m in picked}),
                Assignment.role == AssignmentRole.RESPONSIBLE.value,
            )
        ).all()
    )
    resolver = reminders._Recipients({m.unit_id for m in picked}, [])
    digests: dict[tuple[int, date, str, str], dict[str, Any]] = {}
    for m in picked:
        link = own.get((m.lead.item_id, m.unit_id), m.lead.id)
        for channel, recipient, display in resolver.unit_targets(m.unit_id, CHANNELS):
            key = (m.lead.item.plan_id, m.due_on, channel, recipient)
            digest = digests.setdefault(key, {"display": display, "plan": m.lead.item.plan})
            digest.setdefault("tasks", {})[m.lead.id] = (m.lead, link)
    rows = [
        _row(due_on, channel, recipient, digest, base_url)
        for (_plan, due_on, channel, recipient), digest in digests.items()
    ]
    queued = len(reminders._insert(rows))
    audit.record(
        "reminders.co_report_decided",
        "job",
        "reminders",
        actor_id=None,
        after={"as_of": today, "digests": len(rows), "queued": queued, "parts": len(picked)},
    )
    return {"co_report_queued": queued}


def _row(
    due_on: date, channel: str, recipient: str, digest: dict[str, Any], base_url: str
) -> dict[str, Any]:
    plan: Plan = digest["plan"]
    tasks = sorted(digest["tasks"].values(), key=lambda pair: pair[0].id)
    subject = f"【协办意见提醒】{plan.title}：{len(tasks)}项任务请于{due_on:%m月%d日}前提交协办意见"
    lines = [
        f"{digest['display']}：您好！以下任务本轮报送截止{due_on:%Y年%m月%d日}，尚缺贵单位的协办意见：",
        "",
    ]
    for number, (lead, link) in enumerate(tasks[: reminders.DIGEST_ENTRIES], start=1):
        item = lead.item
        lines.append(
            f"{number}. 第{item.number or item.code}项 {item.title or item.text[:30]}"
            f"（牵头单位：{lead.unit.name}） 填写：{base_url.rstrip('/')}/assignments/{link}"
        )
    if len(tasks) > reminders.DIGEST_ENTRIES:  # the unit's own tasks hold the parts' forms
        hidden = len(tasks) - reminders.DIGEST_ENTRIES
        lines.append(reminders.more_line(hidden, base_url, "/my?view=open"))
    lines += ["", "本邮件由任务督办平台按报送轮次自动发送。"]
    key = f"co-report:{plan.code}:{due_on.isoformat()}:{channel}:{recipient}"
    held = reminders._quiet_until(now_utc(), QUIET)
    return reminders._outbox_row(channel, recipient, subject, "\n".join(lines), key, held)
