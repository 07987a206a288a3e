"""Deciding reminders (into the outbox) and delivering them (out of it).

Deciding writes one digest per recipient per run, with a unique dedupe key, in the same
transaction that reads the state; delivering claims rows one at a time and records the result.
A crash, a restart or a second scheduler therefore never sends a reminder twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.core.timeutil import local_time
from taskhub.plans.models import Item, ItemUnit, Plan, UnitRole
from taskhub.reminders.channels import (
    DeliveryError,
    SmtpSettings,
    send_email,
    send_webhook,
    webhook_kind,
)
from taskhub.reminders.models import (
    Channel,
    Notification,
    OutboxMessage,
    OutboxStatus,
    Recipient,
    ReminderRule,
)
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus
from taskhub.units.models import Contact, Unit
from taskhub.webhooks import services as webhooks

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
#: Retry after 2, 4, 8, 16, 32 minutes, then give up and show the failure to the office.
BACKOFF_BASE_MINUTES = 2
#: How many outbox rows one delivery run sends at most.
DELIVERY_BATCH = 500

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "3个工作日前提醒",
        "offset_working_days": -3,
        "repeat_every_working_days": None,
        "recipients": ["unit_contacts"],
        "channels": ["email", "webhook", "in_app"],
    },
    {
        "name": "到期当日提醒",
        "offset_working_days": 0,
        "repeat_every_working_days": None,
        "recipients": ["unit_contacts"],
        "channels": ["email", "webhook", "in_app"],
    },
    {
        "name": "超期催办（每3个工作日）",
        "offset_working_days": 1,
        "repeat_every_working_days": 3,
        "recipients": ["unit_contacts"],
        "channels": ["email", "webhook", "in_app"],
    },
    {
        "name": "超期5个工作日升级",
        "offset_working_days": 5,
        "repeat_every_working_days": 3,
        "recipients": ["lead_unit", "office"],
        "channels": ["email", "in_app"],
    },
]


class WorkingDays:
    """What the decision needs from the calendar (taskhub.calendar.services.WorkingCalendar)."""

    def __init__(self, add: Callable[[date, int], date], is_working: Callable[[date], bool]):
        self.add = add
        self.is_working = is_working


def ensure_default_rules() -> int:
    """Create the shipped rules when there are none; returns how many were created."""
    if db.session.scalar(select(func.count()).select_from(ReminderRule)):
        return 0
    for position, rule in enumerate(DEFAULT_RULES):
        db.session.add(
            ReminderRule(position=position, quiet_from=time(22), quiet_until=time(8), **rule)
        )
    db.session.flush()
    return len(DEFAULT_RULES)


def fires_today(due: date, rule: ReminderRule, today: date, days: WorkingDays) -> bool:
    """Whether ``rule`` fires today for a milestone due on ``due`` (always on working days)."""
    if not days.is_working(today):
        return False
    offset = rule.offset_working_days
    if offset <= 0:
        # A due date on a holiday is reminded on the working day before it.
        anchor = due if days.is_working(due) else days.add(due, -1)
        return days.add(due, offset) == today if offset else anchor == today
    first = days.add(due, offset)
    if today == first:
        return True
    repeat = rule.repeat_every_working_days
    if not repeat or today < first:
        return False
    # Walk forward in steps of ``repeat`` working days (overdue lists are short).
    step = first
    while step < today:
        step = days.add(step, repeat)
    return step == today


@dataclass
class Entry:
    assignment_id: int
    plan_title: str
    item_label: str
    item_title: str
    unit_name: str
    milestone_title: str
    due_on: date
    overdue: bool


@dataclass
class Digest:
    channel: str
    recipient: str
    display: str
    entries: dict[tuple[int, int], Entry] = field(default_factory=dict)
    quiet: list[tuple[time, time]] = field(default_factory=list)


def decide(today: date, days: WorkingDays, *, base_url: str) -> dict[str, int]:
    """Queue today's digests (one per recipient and channel) in the outbox; idempotent per day."""
    rules = list(
        db.session.scalars(
            select(ReminderRule).where(ReminderRule.is_enabled).order_by(ReminderRule.position)
        )
    )
    if not rules:
        return {"digests": 0, "queued": 0, "milestones": 0}
    effective = func.coalesce(Milestone.extended_to, Milestone.due_on)
    due_dates = db.session.scalars(
        select(effective).where(Milestone.status == MilestoneStatus.OPEN.value).distinct()
    ).all()
    firing: dict[date, list[ReminderRule]] = {}
    for due in due_dates:
        hits = [r for r in rules if fires_today(due, r, today, days)]
        if hits:
            firing[due] = hits
    if not firing:
        return {"digests": 0, "queued": 0, "milestones": 0}
    rows = db.session.execute(
        select(Milestone, Assignment, Item, Plan.title, Unit.name)
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Milestone.status == MilestoneStatus.OPEN.value, effective.in_(list(firing)))
    ).all()
    resolver = _Recipients([a.unit_id for _, a, _, _, _ in rows], [i.id for _, _, i, _, _ in rows])
    digests: dict[tuple[str, str], Digest] = {}
    for milestone, assignment, item, plan_title, unit_name in rows:
        entry = Entry(
            assignment.id,
            plan_title,
            item.label,
            item.title or item.text[:30],
            unit_name,
            milestone.title or milestone.kind,
            milestone.effective_due_on,
            milestone.effective_due_on < today,
        )
        for rule in firing[milestone.effective_due_on]:
            for channel, recipient, display in resolver.for_rule(rule, assignment, item.id):
                digest = digests.setdefault(
                    (channel, recipient), Digest(channel, recipient, display)
                )
                digest.entries[(assignment.id, milestone.id)] = entry
                if rule.quiet_from and rule.quiet_until:
                    digest.quiet.append((rule.quiet_from, rule.quiet_until))
    queued = 0
    for digest in digests.values():
        queued += _queue(digest, today, base_url)
    audit.record(
        "reminders.decided",
        "job",
        "reminders",
        actor_id=None,
        after={"as_of": today, "digests": len(digests), "queued": queued, "milestones": len(rows)},
    )
    return {"digests": len(digests), "queued": queued, "milestones": len(rows)}


class _Recipients:
    """Contacts and users for the units in one run, loaded in a few queries."""

    def __init__(self, unit_ids: Iterable[int], item_ids: Iterable[int]) -> None:
        item_ids = set(item_ids)
        self.leads: dict[int, list[int]] = defaultdict(list)
        lead_rows = db.session.execute(
            select(ItemUnit.item_id, ItemUnit.role, ItemUnit.unit_id)
            .where(
                ItemUnit.item_id.in_(item_ids),
                ItemUnit.unit_id.isnot(None),
                ItemUnit.role.in_([UnitRole.LEAD.value, UnitRole.LEAD_ASSESSOR.value]),
            )
            .order_by(ItemUnit.position)
        ).all()
        for item_id, _role, unit_id in lead_rows:
            if unit_id is not None:
                self.leads[item_id].append(unit_id)
        all_units = set(unit_ids) | {u for ids in self.leads.values() for u in ids}
        self.contacts: dict[int, list[Contact]] = defaultdict(list)
        for c in db.session.scalars(select(Contact).where(Contact.unit_id.in_(all_units))):
            self.contacts[c.unit_id].append(c)
        self.unit_users: dict[int, list[User]] = defaultdict(list)
        for u in db.session.scalars(
            select(User).where(User.unit_id.in_(all_units), User.is_enabled, User.role == "unit")
        ):
            self.unit_users[u.unit_id or 0].append(u)
        self.office = list(
            db.session.scalars(select(User).where(User.role == "office", User.is_enabled))
        )

    def unit_targets(self, unit_id: int, channels: list[str]) -> Iterable[tuple[str, str, str]]:
        for c in self.contacts.get(unit_id, []):
            if Channel.EMAIL.value in channels and c.email:
                yield Channel.EMAIL.value, c.email, c.name
            if Channel.WEBHOOK.value in channels and c.webhook_url:
                yield Channel.WEBHOOK.value, c.webhook_url, c.name
        if Channel.IN_APP.value in channels:
            for u in self.unit_users.get(unit_id, []):
                yield Channel.IN_APP.value, str(u.id), u.display_name

    def for_rule(
        self, rule: ReminderRule, assignment: Assignment, item_id: int
    ) -> Iterable[tuple[str, str, str]]:
        channels = list(rule.channels)
        for who in rule.recipients:
            if who == Recipient.UNIT_CONTACTS.value:
                yield from self.unit_targets(assignment.unit_id, channels)
            elif who == Recipient.LEAD_UNIT.value:
                for unit_id in self.leads.get(item_id, []):
                    yield from self.unit_targets(unit_id, channels)
            elif who == Recipient.OFFICE.value:
                for u in self.office:
                    if Channel.EMAIL.value in channels and u.email:
                        yield Channel.EMAIL.value, u.email, u.display_name
                    if Channel.IN_APP.value in channels:
                        yield Channel.IN_APP.value, str(u.id), u.display_name


def _render(digest: Digest, today: date, base_url: str) -> tuple[str, str]:
    entries = sorted(digest.entries.values(), key=lambda e: (e.due_on, e.plan_title, e.unit_name))
    overdue = sum(1 for e in entries if e.overdue)
    subject = f"【任务督办】{len(entries)}项任务节点提醒" + (
        f"（{overdue}项已超期）" if overdue else ""
    )
    lines = [f"{digest.display}：您好！截至{today:%Y年%m月%d日}，以下任务节点需要关注：", ""]
    for n, e in enumerate(entries, start=1):
        state = "已超期" if e.overdue else "即将到期"
        lines.append(
            f"{n}. {e.plan_title} 第{e.item_label}项 {e.item_title}（{e.unit_name}）"
            f"—— {e.milestone_title}，到期日 {e.due_on:%Y年%m月%d日}，{state}。"
            f" 办理：{base_url.rstrip('/')}/assignments/{e.assignment_id}"
        )
    lines += ["", "请及时报送进展和佐证材料。本邮件由任务督办平台自动发送。"]
    return subject, "\n".join(lines)


def _quiet_until(now: datetime, windows: list[tuple[time, time]]) -> datetime:
    """The first moment at or after ``now`` outside every quiet window (local time)."""
    moment = local_time(now)
    for _ in range(3):  # windows can chain; a few passes settle them
        for start, end in windows:
            t = moment.time()
            inside = (start <= t < end) if start < end else (t >= start or t < end)
            if inside:
                candidate = moment.replace(
                    hour=end.hour, minute=end.minute, second=0, microsecond=0
                )
                if candidate <= moment:
                    candidate += timedelta(days=1)
                moment = candidate
    return moment.astimezone(now.tzinfo)


def _queue(digest: Digest, today: date, base_url: str) -> int:
    subject, body = _render(digest, today, base_url)
    key = f"reminder:{today.isoformat()}:{digest.channel}:{digest.recipient}"
    return _insert_once(
        digest.channel, digest.recipient, subject, body, key, _quiet_until(now_utc(), digest.quiet)
    )


def queue_cycle_reminder(plan: Plan, cutoff: date, offset: int, today: date) -> int:
    """One reminder per contact of every assessed unit before a monthly data cut-off."""
    from taskhub.plans.models import PlanAssessee
    from taskhub.units.models import unit_group_members as ugm

    unit_ids: set[int] = set()
    for a in db.session.scalars(select(PlanAssessee).where(PlanAssessee.plan_id == plan.id)):
        if a.unit_id:
            unit_ids.add(a.unit_id)
        else:
            unit_ids.update(
                db.session.scalars(select(ugm.c.unit_id).where(ugm.c.group_id == a.group_id))
            )
    resolver = _Recipients(unit_ids, [])
    moment = f"{cutoff:%Y年%m月%d日}24:00"
    when = f"今天（{moment}）" if today == cutoff else moment
    subject = f"【{plan.title}】{cutoff:%m月%d日}24:00月度数据采样提醒"
    queued = 0
    channels = [c.value for c in Channel]
    for unit_id in sorted(unit_ids):
        for channel, recipient, display in resolver.unit_targets(unit_id, channels):
            body = (
                f"{display}：您好！{plan.title}的月度常态化监测将于{when}截止采样，"
                "请在此之前完成本单位相关数据和材料的更新。"
            )
            key = f"cycle:{plan.code}:{cutoff.isoformat()}:{offset}:{channel}:{recipient}"
            queued += _insert_once(
                channel,
                recipient,
                subject,
                body,
                key,
                _quiet_until(now_utc(), [(time(22), time(8))]),
            )
    return queued


def _insert_once(
    channel: str, recipient: str, subject: str, body: str, key: str, next_attempt_at: datetime
) -> int:
    values = {
        "channel": channel,
        "recipient": recipient,
        "subject": subject,
        "body": body,
        "dedupe_key": key,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": next_attempt_at,
        "created_at": now_utc(),
    }
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # ON CONFLICT DO NOTHING: a second decision for the same day queues nothing.
    stmt = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT ... ON CONFLICT.
    return 1 if db.session.execute(stmt).scalar_one_or_none() is not None else 0


def deliver(
    config: Mapping[str, Any], *, now: datetime | None = None, limit: int = DELIVERY_BATCH
) -> dict[str, int]:
    """Send due outbox rows; each is claimed in its own commit before it is sent.

    The claim (a conditional UPDATE that pushes ``next_attempt_at`` past the claim period)
    makes a concurrent sender skip the row, so two schedulers or the reminders and deliver
    jobs together never send one message twice. A sender that dies after claiming leaves the
    row to be retried once the claim expires.
    """
    smtp = SmtpSettings.from_config(config)
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    for _ in range(limit):
        now_ = now or now_utc()
        row = db.session.execute(
            select(OutboxMessage.id, OutboxMessage.attempts)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now_,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
        ).first()
        # End the read so the claim starts a fresh write (SQLite cannot upgrade a stale read).
        db.session.rollback()
        if row is None:
            break
        if not _claim(row.id, row.attempts, now_):
            continue
        message = db.session.get(OutboxMessage, row.id)
        assert message is not None
        try:
            _send(message, smtp)
        except DeliveryError as exc:
            message.last_error = str(exc)[:1000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxStatus.FAILED.value
                counts["failed"] += 1
                logger.warning("outbox %s failed for good: %s", message.id, exc)
            else:
                delay = BACKOFF_BASE_MINUTES * 2 ** (message.attempts - 1)
                message.next_attempt_at = now_ + timedelta(minutes=delay)
                counts["retrying"] += 1
        else:
            message.status = OutboxStatus.SENT.value
            message.sent_at = now_utc()
            message.last_error = None
            counts["sent"] += 1
        db.session.commit()
    return counts


#: How long a claimed row is left alone before another sender may retry it.
CLAIM_MINUTES = 10


def _claim(message_id: int, attempts: int, now: datetime) -> bool:
    """Take the row for this sender, or False when another sender took it first."""
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.attempts == attempts,
        )
        .values(
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=now + timedelta(minutes=CLAIM_MINUTES),
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return bool(claimed)


def _send(message: OutboxMessage, smtp: SmtpSettings) -> None:
    if message.channel == Channel.EMAIL.value:
        send_email(smtp, message.recipient, message.subject, message.body)
    elif message.channel == Channel.WEBHOOK.value:
        markdown = f"### {message.subject}\n\n" + message.body.replace("\n", "\n\n")
        send_webhook(
            message.recipient, message.subject, markdown, kind=webhook_kind(message.recipient)
        )
    elif message.channel == Channel.IN_APP.value:
        user_id = int(message.recipient)
        if db.session.get(User, user_id) is None:
            raise DeliveryError(f"user {user_id} no longer exists")
        db.session.add(
            Notification(user_id=user_id, title=message.subject, body=message.body, link="/my")
        )
    elif message.channel == Channel.HOOK.value:
        webhooks.deliver(message)  # signed at send time with the endpoint's current secret
    else:
        raise DeliveryError(f"unknown channel {message.channel}")


def retry_now(message: OutboxMessage, *, actor_id: int) -> None:
    """The office retries a failed message at once."""
    message.status = OutboxStatus.PENDING.value
    message.attempts = 0
    message.next_attempt_at = now_utc()
    db.session.flush()
    audit.record("outbox.retried", "outbox_message", message.id, actor_id=actor_id)
