"""Deciding reminders (into the outbox) and delivering them (out of it).

Deciding writes one digest per recipient per run, with a unique dedupe key, in the same
transaction that reads the state; delivering claims due rows in batches, sends them with no
transaction open, and records each result in a transaction of its own. A crash, a restart or a
second scheduler therefore never sends a reminder twice (beyond SMTP's usual window: a server
that accepted a message just before the sender died).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, partial
from queue import Empty, SimpleQueue
from threading import Event
from time import monotonic, sleep
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    String,
    and_,
    cast,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import UTCDateTime, db, now_utc
from taskhub.core.timeutil import local_time
from taskhub.plans.models import Item, ItemUnit, Plan, UnitRole
from taskhub.reminders.channels import (
    DeliveryError,
    SmtpSession,
    SmtpSettings,
    send_hook,
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
#: A digest (e-mail, robot, in-app; the reporting and co-handling reminders too) lists at most
#: this many entries, the most urgent first, then one line that counts the rest and links to the
#: recipient's full list. A reminder of 80 tasks is not read to the end, and each digest's text
#: is written once and rewritten by every claim and mark: unbounded, 762 digests were 8.3 MB
#: on the API bench ledger (bench/README.md, "Under load (issue 17)"). The subject keeps the
#: full counts.
DIGEST_ENTRIES = 20

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
    """What the decision needs from the calendar (taskhub.calendar.services.WorkingCalendar).

    ``ordinal`` (WorkingCalendar.working_day_ordinal) answers "how many working days apart"
    with two lookups; without it, the days in between are walked.
    """

    def __init__(
        self,
        add: Callable[[date, int], date],
        is_working: Callable[[date], bool],
        ordinal: Callable[[date], int] | None = None,
    ):
        # One run asks about the same few hundred days thousands of times; the calendar does
        # not change during a run (a WorkingDays lives for one run), so the answers are kept.
        self.add = cache(add)
        self.is_working = cache(is_working)
        self.ordinal = cache(ordinal) if ordinal is not None else None

    @classmethod
    def of(cls, calendar: WorkingCalendar) -> WorkingDays:
        return cls(calendar.add_working_days, calendar.is_working_day, calendar.working_day_ordinal)

    def between(self, start: date, end: date) -> int:
        """Working days in (start, end], for start <= end."""
        if self.ordinal is not None:
            return self.ordinal(end) - self.ordinal(start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working(day)
        return count


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
    # Both are working days: today is a repeat when it lies a multiple of ``repeat`` working
    # days after the first reminder.
    return days.between(first, today) % repeat == 0


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
    #: The assignment's unit and item: whether a unit's digest may link to it, and if not,
    #: which of the recipient unit's own tasks it links to instead.
    unit_id: int = 0
    item_id: int = 0


@dataclass
class Digest:
    channel: str
    recipient: str
    display: str
    entries: dict[tuple[int, int], Entry] = field(default_factory=dict)
    quiet: set[tuple[time, time]] = field(default_factory=set)
    #: An office user (e-mail or in-app): the full list is the deadline board, not "my tasks".
    office: bool = False
    #: The units whose contact or user the recipient is (none for the office; several when
    #: units share an address, e.g. one chat robot). A unit user opens only their own unit's
    #: assignments (Assignment.can_view): a lead unit's digest links to another unit's task
    #: through its own task of the item, or not at all.
    units: set[int] = field(default_factory=set)


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
    # Plain columns, not entities: thousands of rows, read once.
    rows = db.session.execute(
        select(
            Milestone.id,
            Milestone.title,
            Milestone.kind,
            effective,
            Assignment.id,
            Assignment.unit_id,
            Item.id,
            func.coalesce(Item.number, Item.code),
            Item.title,
            Item.text,
            Plan.title,
            Unit.name,
        )
        .join(Assignment, Assignment.id == Milestone.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Milestone.status == MilestoneStatus.OPEN.value, effective.in_(list(firing)))
    ).all()
    resolver = _Recipients([r[5] for r in rows], [r[6] for r in rows])
    quiet = {
        rule.id: (rule.quiet_from, rule.quiet_until)
        for rule in rules
        if rule.quiet_from and rule.quiet_until
    }
    digests: dict[tuple[str, str], Digest] = {}
    office = {(Channel.EMAIL.value, u.email) for u in resolver.office if u.email}
    office |= {(Channel.IN_APP.value, str(u.id)) for u in resolver.office}
    for (
        milestone_id,
        milestone_title,
        kind,
        due_on,
        assignment_id,
        unit_id,
        item_id,
        item_label,
        item_title,
        item_text,
        plan_title,
        unit_name,
    ) in rows:
        entry = Entry(
            assignment_id,
            plan_title,
            item_label,
            item_title or item_text[:30],
            unit_name,
            milestone_title or kind,
            due_on,
            due_on < today,
            unit_id,
            item_id,
        )
        for rule in firing[due_on]:
            window = quiet.get(rule.id)
            for channel, recipient, display, unit in resolver.for_rule(rule, unit_id, item_id):
                digest = digests.get((channel, recipient))
                if digest is None:
                    digest = digests[channel, recipient] = Digest(
                        channel,
                        recipient,
                        display,
                        office=(channel, recipient) in office,
                    )
                if unit is not None:
                    digest.units.add(unit)
                digest.entries[(assignment_id, milestone_id)] = entry
                if window:
                    digest.quiet.add(window)
    lines: dict[_LineKey, str] = {}  # an entry's line, shared by its digests
    own = resolver.own_assignments
    queued = len(
        _insert([_row(digest, today, base_url, lines, own) for digest in digests.values()])
    )
    audit.record(
        "reminders.decided",
        "job",
        "reminders",
        actor_id=None,
        after={"as_of": today, "digests": len(digests), "queued": queued, "milestones": len(rows)},
    )
    return {"digests": len(digests), "queued": queued, "milestones": len(rows)}


#: Where a digest goes: (channel, recipient, display, the recipient's unit or None for the
#: office).
_Target = tuple[str, str, str, int | None]


class _Recipients:
    """Contacts and users for the units in one run, loaded in a few queries."""

    def __init__(self, unit_ids: Iterable[int], item_ids: Iterable[int]) -> None:
        item_ids = set(item_ids)
        self.leads: dict[int, list[int]] = defaultdict(list)
        #: (item, lead unit) → the lead unit's own assignment of the item, where it has one:
        #: what its digest links to for the item's other units' tasks.
        self.own_assignments: dict[tuple[int, int], int] = {}
        # The lead units' own assignments come in the same query (one per (item, unit) at
        # most: assignments are unique on item and unit), so the job's query count stays flat.
        lead_rows = db.session.execute(
            select(ItemUnit.item_id, ItemUnit.role, ItemUnit.unit_id, Assignment.id)
            .outerjoin(
                Assignment,
                and_(
                    Assignment.item_id == ItemUnit.item_id, Assignment.unit_id == ItemUnit.unit_id
                ),
            )
            .where(
                ItemUnit.item_id.in_(item_ids),
                ItemUnit.unit_id.isnot(None),
                ItemUnit.role.in_([UnitRole.LEAD.value, UnitRole.LEAD_ASSESSOR.value]),
            )
            .order_by(ItemUnit.position)
        ).all()
        for item_id, _role, unit_id, assignment_id in lead_rows:
            if unit_id is not None:
                self.leads[item_id].append(unit_id)
                if assignment_id is not None:
                    self.own_assignments[item_id, unit_id] = assignment_id
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
        self._targets: dict[tuple[int, tuple[str, ...]], list[tuple[str, str, str]]] = {}
        self._tagged: dict[tuple[int, tuple[str, ...]], list[_Target]] = {}

    def unit_targets(self, unit_id: int, channels: list[str]) -> list[tuple[str, str, str]]:
        """Where a unit's messages go on ``channels`` (kept: one run asks thousands of times)."""
        key = (unit_id, tuple(channels))
        targets = self._targets.get(key)
        if targets is None:
            targets = self._targets[key] = list(self._unit_targets(unit_id, channels))
        return targets

    def tagged_targets(self, unit_id: int, channels: list[str]) -> list[_Target]:
        """:meth:`unit_targets`, each with the unit (kept too)."""
        key = (unit_id, tuple(channels))
        tagged = self._tagged.get(key)
        if tagged is None:
            tagged = self._tagged[key] = [
                (*target, unit_id) for target in self.unit_targets(unit_id, channels)
            ]
        return tagged

    def _unit_targets(self, unit_id: int, channels: list[str]) -> Iterable[tuple[str, str, str]]:
        for c in self.contacts.get(unit_id, []):
            if Channel.EMAIL.value in channels and c.email:
                yield Channel.EMAIL.value, c.email, c.name
            if Channel.WEBHOOK.value in channels and c.webhook_url:
                yield Channel.WEBHOOK.value, c.webhook_url, c.name
        if Channel.IN_APP.value in channels:
            for u in self.unit_users.get(unit_id, []):
                yield Channel.IN_APP.value, str(u.id), u.display_name

    def for_rule(self, rule: ReminderRule, unit_id: int, item_id: int) -> Iterable[_Target]:
        channels = rule.channels
        for who in rule.recipients:
            if who == Recipient.UNIT_CONTACTS.value:
                yield from self.tagged_targets(unit_id, channels)
            elif who == Recipient.LEAD_UNIT.value:
                for lead_id in self.leads.get(item_id, []):
                    yield from self.tagged_targets(lead_id, channels)
            elif who == Recipient.OFFICE.value:
                for u in self.office:
                    if Channel.EMAIL.value in channels and u.email:
                        yield Channel.EMAIL.value, u.email, u.display_name, None
                    if Channel.IN_APP.value in channels:
                        yield Channel.IN_APP.value, str(u.id), u.display_name, None


#: An entry's line in the shared cache: (assignment, milestone, the assignment it links to or
#: None). The link is what differs between digests (see :func:`_link`).
_LineKey = tuple[int, int, int | None]


def _link(digest: Digest, entry: Entry, own: Mapping[tuple[int, int], int]) -> int | None:
    """The assignment an entry of ``digest`` links to: its own, for the office and for the
    assignment's unit; for another unit (a lead unit told of the item's other units' tasks)
    that unit's own assignment of the item (``own``: (item, unit) → assignment), else none.
    A unit user cannot open another unit's assignment (Assignment.can_view)."""
    if digest.office or not digest.units or entry.unit_id in digest.units:
        return entry.assignment_id
    return next(
        (own[entry.item_id, u] for u in sorted(digest.units) if (entry.item_id, u) in own), None
    )


def _render(
    digest: Digest,
    today: date,
    base_url: str,
    lines: dict[_LineKey, str] | None = None,
    own: Mapping[tuple[int, int], int] | None = None,
) -> tuple[str, str]:
    """The digest's subject and text; ``lines`` keeps each entry's line for the next digest.

    The most urgent entries first: by due date, so the overdue ones lead (then plan, unit and
    the task, so that which ones make the first DIGEST_ENTRIES is decided, not left to the
    database's row order); the rest are counted on one line with a link to the full list.
    An entry about another unit's task (in a lead unit's digest) links to the recipient
    unit's own task of the item (``own``, see :func:`_link`) or nowhere, and asks the
    recipient to press that unit.
    """
    if lines is None:
        lines = {}
    own = own or {}
    base = base_url.rstrip("/")
    keyed = sorted(
        digest.entries.items(),
        key=lambda ke: (ke[1].due_on, ke[1].plan_title, ke[1].unit_name, ke[0]),
    )
    overdue = sum(1 for _, e in keyed if e.overdue)
    subject = f"【任务督办】{len(keyed)}项任务节点提醒" + (
        f"（{overdue}项已超期）" if overdue else ""
    )
    text = [f"{digest.display}：您好！截至{today:%Y年%m月%d日}，以下任务节点需要关注：", ""]
    for n, (key, e) in enumerate(keyed[:DIGEST_ENTRIES], start=1):
        link = _link(digest, e, own)
        line_key = (*key, link)
        line = lines.get(line_key)
        if line is None:
            state = "已超期" if e.overdue else "即将到期"
            line = (
                f"{e.plan_title} 第{e.item_label}项 {e.item_title}（{e.unit_name}）"
                f"—— {e.milestone_title}，到期日 {e.due_on:%Y年%m月%d日}，{state}。"
            )
            if link == e.assignment_id:
                line += f" 办理：{base}/assignments/{link}"
            elif link is not None:
                line += f"请督促该单位办理。 本单位该项任务：{base}/assignments/{link}"
            else:
                line += "请督促该单位办理。"
            lines[line_key] = line
        text.append(f"{n}. {line}")
    if len(keyed) > DIGEST_ENTRIES:
        text.append(_more(digest, [e for _, e in keyed], base_url))
    text += ["", "请及时报送进展和佐证材料。本邮件由任务督办平台自动发送。"]
    return subject, "\n".join(text)


def _more(digest: Digest, entries: list[Entry], base_url: str) -> str:
    """The line that counts a digest's entries beyond the first DIGEST_ENTRIES.

    The office's full list is the board, a unit's its own tasks (``/my``). A lead unit's
    digest may hold other units' tasks, which ``/my`` does not list: those are counted apart,
    and ``/my`` is offered for the unit's own only.
    """
    hidden = entries[DIGEST_ENTRIES:]
    if digest.office or not digest.units:
        mine, others = entries, 0
    else:
        mine = [e for e in entries if e.unit_id in digest.units]
        others = sum(1 for e in hidden if e.unit_id not in digest.units)
    view = "overdue" if mine and all(e.overdue for e in mine) else "open"
    if not others:
        page = f"/board?view={view}" if digest.office else f"/my?view={view}"
        return more_line(len(hidden), base_url, page)
    text = f"另有{len(hidden)}项未列出，其中{others}项为其他单位的任务，请督促相关单位办理"
    if others == len(hidden):
        return text + "。"
    return f"{text}；本单位的任务请登录平台查看：{base_url.rstrip('/')}/my?view={view}"


def more_line(hidden: int, base_url: str, page: str) -> str:
    """The line after a digest's first DIGEST_ENTRIES entries: how many more, and where.

    ``page`` is the recipient's full list: a unit's own tasks (``/my``, overdue first, then by
    due date) or, for the office, the deadline board (``/board``).
    """
    return f"另有{hidden}项未列出，请登录平台查看全部：{base_url.rstrip('/')}{page}"


def _quiet_until(now: datetime, windows: Iterable[tuple[time, time]]) -> datetime:
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


def _row(
    digest: Digest,
    today: date,
    base_url: str,
    lines: dict[_LineKey, str],
    own: Mapping[tuple[int, int], int],
) -> dict[str, Any]:
    subject, body = _render(digest, today, base_url, lines, own)
    key = f"reminder:{today.isoformat()}:{digest.channel}:{digest.recipient}"
    held_until = _quiet_until(now_utc(), sorted(digest.quiet))
    return _outbox_row(digest.channel, digest.recipient, subject, body, key, held_until)


def queue_cycle_reminder(plan: Plan, cutoff: date, offset: int, today: date) -> int:
    """One reminder per contact of every assessed unit before a monthly data cut-off."""
    from taskhub.plans.models import PlanAssessee
    from taskhub.units.services import member_ids_of

    unit_ids: set[int] = set()
    for a in db.session.scalars(select(PlanAssessee).where(PlanAssessee.plan_id == plan.id)):
        if a.unit_id:
            unit_ids.add(a.unit_id)
        else:
            assert a.group_id is not None
            unit_ids.update(db.session.scalars(member_ids_of(a.group_id)))
    resolver = _Recipients(unit_ids, [])
    moment = f"{cutoff:%Y年%m月%d日}24:00"
    when = f"今天（{moment}）" if today == cutoff else moment
    subject = f"【{plan.title}】{cutoff:%m月%d日}24:00月度数据采样提醒"
    rows: list[dict[str, Any]] = []
    channels = [c.value for c in Channel]
    for unit_id in sorted(unit_ids):
        for channel, recipient, display in resolver.unit_targets(unit_id, channels):
            body = (
                f"{display}：您好！{plan.title}的月度常态化监测将于{when}截止采样，"
                "请在此之前完成本单位相关数据和材料的更新。"
            )
            key = f"cycle:{plan.code}:{cutoff.isoformat()}:{offset}:{channel}:{recipient}"
            rows.append(
                _outbox_row(
                    channel,
                    recipient,
                    subject,
                    body,
                    key,
                    _quiet_until(now_utc(), [(time(22), time(8))]),
                )
            )
    return len(_insert(rows))


def _outbox_row(
    channel: str, recipient: str, subject: str, body: str, key: str, next_attempt_at: datetime
) -> dict[str, Any]:
    return {
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


def _insert(rows: list[dict[str, Any]]) -> list[int]:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id for many rows; the new ids.

    A second decision for the same day therefore queues nothing. Given a list of rows,
    SQLAlchemy sends multi-row VALUES statements ("insertmanyvalues"), sized to the driver's
    parameter limit.
    """
    if not rows:
        return []
    stmt = _OUTBOX_UPSERTS[db.session.get_bind().dialect.name == "postgresql"]
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT ... ON CONFLICT.
    return list(db.session.scalars(stmt, rows))


def _outbox_upsert(upsert: Callable[[Any], Any]) -> Any:
    table = OutboxMessage.__table__
    return upsert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)


#: :func:`_insert`'s statement for SQLite (False) and PostgreSQL (True), built once: a Core
#: INSERT (the ORM's bulk insert does more work for the same rows).
_OUTBOX_UPSERTS = {False: _outbox_upsert(sqlite_insert), True: _outbox_upsert(pg_insert)}


#: How long a claimed row is left alone before another sender may retry it.
CLAIM_MINUTES = 10
#: A batch stops sending this long before its claim runs out (the rest is released at once).
CLAIM_MARGIN = timedelta(minutes=1)
#: Due rows claimed by one statement.
CLAIM_BATCH = 500
#: SMTP connections that send a batch's e-mails side by side (a thread each), at most. One
#: keeps up with a mail server nearby (on loopback, 105 digests as fast as over 4) and has at
#: most one message in SMTP's window (accepted, not yet marked) when the sender dies; more
#: pay off against a distant server, where each message waits for round trips.
SMTP_CONNECTIONS = 1
#: With several connections allowed, one for every this many e-mails.
MAILS_PER_CONNECTION = 10
#: How often a write is tried when the database answers "locked" (after busy_timeout).
WRITE_ATTEMPTS = 5

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Message:
    """An outbox row this sender is delivering: what sending and recording it need."""

    id: int
    #: This attempt's number (the row holds it once claimed, one less until then).
    attempts: int
    channel: str
    recipient: str
    subject: str = ""
    body: str = ""
    #: In-app rows are delivered without a claim.
    claimed: bool = True


#: A sender thread's answer: the message and None when sent, else why not (_EXPIRED: not tried).
_Result = tuple[_Message, str | None]
_EXPIRED = "claim expired"


def deliver(
    config: Mapping[str, Any],
    *,
    now: datetime | None = None,
    limit: int = DELIVERY_BATCH,
    smtp_connections: int = SMTP_CONNECTIONS,
) -> dict[str, int]:
    """Send due outbox rows: claim a batch, send with no transaction open, record each result.

    The claim (a conditional UPDATE that pushes ``next_attempt_at`` past the claim period and
    counts the attempt) makes a concurrent sender skip the rows, so two schedulers or the
    reminders and deliver jobs together never send one message twice. A sender that dies after
    claiming leaves its rows to be retried once the claim expires.

    No read transaction is open while a message goes out, and every result is recorded in a
    transaction whose first statement is the write: SQLite then waits for its lock
    (busy_timeout) instead of failing a stale snapshot (SQLITE_BUSY_SNAPSHOT), and the write
    is retried if the database still answers "locked". A message that went out and was not
    marked would be sent again.

    - In-app notices need no claim: they are inserted and their rows marked sent in one
      transaction per batch (while the batch's e-mails go out), so exactly once.
    - E-mails go over ``smtp_connections`` SMTP connections, each kept open for the batch, in
      threads with no database work. Each "sent" mark is committed here as soon as the server
      has accepted the message (marks that arrive while a commit runs share the next one).
    - Robot webhooks and signed events are sent one by one.
    - A batch that is still sending when its claim is about to run out releases the rest
      untried, and the run ends.
    """
    smtp = SmtpSettings.from_config(config)
    allow = tuple(config.get("WEBHOOK_ALLOW") or ())
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    left = limit
    while left > 0:
        now_ = now or now_utc()
        due = db.session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.attempts,
                OutboxMessage.channel,
                OutboxMessage.recipient,
            )
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now_,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(min(CLAIM_BATCH, left))
        ).all()
        # End the read so the claim starts a fresh write (SQLite cannot upgrade a stale read).
        db.session.rollback()
        if not due:
            break
        left -= len(due)
        notices = [
            _Message(row.id, row.attempts + 1, row.channel, row.recipient, claimed=False)
            for row in due
            if row.channel == Channel.IN_APP.value
        ]
        others = [(row.id, row.attempts) for row in due if row.channel != Channel.IN_APP.value]
        deadline = monotonic() + (timedelta(minutes=CLAIM_MINUTES) - CLAIM_MARGIN).total_seconds()
        by_channel: dict[str, list[_Message]] = defaultdict(list)
        for message in _claim(others, now_) if others else []:
            by_channel[message.channel].append(message)
        mails = by_channel.pop(Channel.EMAIL.value, [])
        # The in-app transaction runs here while the first e-mails go out.
        _deliver_mails(
            mails,
            smtp,
            now_,
            counts,
            deadline=deadline,
            connections=smtp_connections,
            meanwhile=partial(_deliver_in_app, notices, now_, counts),
        )
        for message in (m for rest in by_channel.values() for m in rest):
            error = _EXPIRED if monotonic() > deadline else _send_one(message, allow)
            _record([(message, error)], now_, counts)
        if monotonic() > deadline:
            break  # a very slow run: what is left (released or not yet read) is for the next
    return counts


def _claim(due: list[tuple[int, int]], now: datetime) -> list[_Message]:
    """Take the rows (id, attempts as read) for this sender; rows another sender took or
    recorded since the read drop out. One statement and one commit, in the order given."""
    stmt = (
        update(OutboxMessage)
        .where(
            tuple_(OutboxMessage.id, OutboxMessage.attempts).in_(due),
            OutboxMessage.status == OutboxStatus.PENDING.value,
        )
        .values(
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=now + timedelta(minutes=CLAIM_MINUTES),
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.attempts,
            OutboxMessage.channel,
            OutboxMessage.recipient,
            OutboxMessage.subject,
            OutboxMessage.body,
        )
        .execution_options(synchronize_session=False)
    )
    claimed = {row[0]: _Message(*row) for row in _write(lambda: db.session.execute(stmt).all())}
    return [claimed[message_id] for message_id, _ in due if message_id in claimed]


def _write(work: Callable[[], _T]) -> _T:
    """Run ``work`` (its first statement a write) and commit, trying again a few times when the
    database is locked: after a send, losing the mark would mean sending the message again."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            result = work()
            db.session.commit()
            return result
        except OperationalError as exc:
            db.session.rollback()
            if attempt == WRITE_ATTEMPTS:
                raise
            logger.warning("outbox write failed (attempt %s), trying again: %s", attempt, exc.orig)
            sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def _mine(message: _Message) -> Any:
    """The row still as this sender claimed it (or read it, when it needs no claim)."""
    return and_(
        OutboxMessage.id == message.id,
        OutboxMessage.status == OutboxStatus.PENDING.value,
        OutboxMessage.attempts == message.attempts - (0 if message.claimed else 1),
    )


def _deliver_in_app(notices: list[_Message], now: datetime, counts: dict[str, int]) -> None:
    """Mark the rows sent and insert their notifications in one transaction: exactly once,
    with no claim. Rows another sender has taken since they were read are left to it."""
    if not notices:
        return

    def work() -> list[_Result]:
        # First the write: the rows still as read, whose user exists, become sent.
        sent = list(
            db.session.scalars(
                update(OutboxMessage)
                .where(
                    tuple_(OutboxMessage.id, OutboxMessage.attempts).in_(
                        [(m.id, m.attempts - 1) for m in notices]
                    ),
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                    select(User.id)
                    .where(cast(User.id, String) == OutboxMessage.recipient)
                    .exists(),
                )
                .values(
                    status=OutboxStatus.SENT.value,
                    attempts=OutboxMessage.attempts + 1,
                    sent_at=now_utc(),
                    last_error=None,
                )
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
        )
        if sent:  # copied inside the database: the texts need not pass through here
            db.session.execute(
                insert(Notification).from_select(
                    ["user_id", "title", "body", "link", "created_at"],
                    select(
                        cast(OutboxMessage.recipient, Integer),
                        OutboxMessage.subject,
                        OutboxMessage.body,
                        literal("/my"),
                        literal(now_utc(), UTCDateTime()),
                    )
                    .where(OutboxMessage.id.in_(sent))
                    .order_by(OutboxMessage.id),
                )
            )
        done = set(sent)
        missing = [(m, f"user {m.recipient} no longer exists") for m in notices if m.id not in done]
        return [(m, None) for m in notices if m.id in done] + _write_failures(missing, now)

    _count(_write(work), counts)


def _deliver_mails(
    mails: list[_Message],
    smtp: SmtpSettings,
    now: datetime,
    counts: dict[str, int],
    *,
    deadline: float,
    connections: int,
    meanwhile: Callable[[], None],
) -> None:
    """Send over a few SMTP connections (threads); record each result as it arrives, here.
    ``meanwhile`` runs on this thread once the senders have started."""
    if not mails:
        meanwhile()
        return
    work: SimpleQueue[_Message] = SimpleQueue()
    for message in mails:
        work.put(message)
    results: SimpleQueue[_Result] = SimpleQueue()
    stop = Event()  # set when results can no longer be recorded: send no more

    def sender() -> None:
        with SmtpSession(smtp, eight_bit=True) as session:
            while not stop.is_set():
                try:
                    message = work.get_nowait()
                except Empty:
                    return
                if monotonic() > deadline:
                    results.put((message, _EXPIRED))
                    continue
                try:
                    session.send(message.recipient, message.subject, message.body)
                except DeliveryError as exc:
                    results.put((message, str(exc)))
                else:
                    results.put((message, None))

    threads = max(1, min(connections, len(mails) // MAILS_PER_CONNECTION))
    with ThreadPoolExecutor(threads, thread_name_prefix="smtp") as pool:
        senders = [pool.submit(sender) for _ in range(threads)]
        failure: Exception | None = None
        try:
            meanwhile()
        except Exception as exc:  # the e-mails under way are recorded all the same
            db.session.rollback()
            failure = exc
        try:
            _collect(results, senders, len(mails), now, counts)
        finally:
            stop.set()  # if recording failed, unsent messages stay claimed, to be retried
        if failure is not None:
            raise failure
        for f in senders:
            f.result()  # a sender's unexpected error fails the job, as it would unthreaded


def _collect(
    results: SimpleQueue[_Result],
    senders: list[Future[None]],
    expected: int,
    now: datetime,
    counts: dict[str, int],
) -> None:
    """Record the senders' results as they arrive: what arrives during a commit shares the next."""
    while expected:
        try:
            done = [results.get(timeout=0.2)]
        except Empty:
            if all(f.done() for f in senders) and results.empty():
                return  # a sender died: its message stays claimed and is retried later
            continue
        while not results.empty():
            done.append(results.get())
        expected -= len(done)
        _record(done, now, counts)


def _send_one(message: _Message, allow: tuple[str, ...]) -> str | None:
    """Send a robot or event message (``allow``: TASKHUB_WEBHOOK_ALLOW); why it was not sent,
    or None."""
    try:
        if message.channel == Channel.WEBHOOK.value:
            markdown = f"### {message.subject}\n\n" + message.body.replace("\n", "\n\n")
            send_webhook(
                message.recipient,
                message.subject,
                markdown,
                kind=webhook_kind(message.recipient),
                allow=allow,
            )
        elif message.channel == Channel.HOOK.value:
            url, headers = webhooks.signed_request(
                OutboxMessage(id=message.id, recipient=message.recipient, body=message.body)
            )
            # No transaction stays open during the POST: a scheduled job's would hold SQLite's
            # write lock (BEGIN IMMEDIATE) and make every web writer wait for the endpoint.
            db.session.rollback()
            send_hook(url, message.body, headers, timeout=webhooks.DELIVERY_TIMEOUT, allow=allow)
        else:
            raise DeliveryError(f"unknown channel {message.channel}")
    except DeliveryError as exc:
        return str(exc)
    finally:
        db.session.rollback()  # end any read before the result is written
    return None


def _record(results: list[_Result], now: datetime, counts: dict[str, int]) -> None:
    """Mark what was sent and what failed, in one transaction that starts with the write."""
    sent = [m.id for m, error in results if error is None]

    def work() -> list[_Result]:
        if sent:  # sent is sent: whoever holds the row now, it must not go out again
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sent))
                .values(status=OutboxStatus.SENT.value, sent_at=now_utc(), last_error=None)
                .execution_options(synchronize_session=False)
            )
        failures = [(m, error) for m, error in results if error is not None]
        return [(m, None) for m, error in results if error is None] + _write_failures(failures, now)

    _count(_write(work), counts)


def _write_failures(failures: list[tuple[_Message, str]], now: datetime) -> list[_Result]:
    """Back off (or give up on) messages not sent; an expired claim is released untried.
    Only rows still as this sender claimed them change; those are returned."""
    changed: list[_Result] = []
    for message, error in failures:
        values: dict[str, Any]
        if error == _EXPIRED:
            values = {"attempts": message.attempts - 1, "next_attempt_at": now}
        elif message.attempts >= MAX_ATTEMPTS:
            values = {"status": OutboxStatus.FAILED.value, "last_error": error[:1000]}
            logger.warning("outbox %s failed for good: %s", message.id, error)
        else:
            delay = BACKOFF_BASE_MINUTES * 2 ** (message.attempts - 1)
            values = {
                "next_attempt_at": now + timedelta(minutes=delay),
                "last_error": error[:1000],
            }
        if not message.claimed:  # the claim did not count this attempt
            values["attempts"] = message.attempts
        hit = db.session.execute(
            update(OutboxMessage)
            .where(_mine(message))
            .values(**values)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).first()
        if hit is not None:
            changed.append((message, error))
    return changed


def _count(results: list[_Result], counts: dict[str, int]) -> None:
    for message, error in results:
        if error is None:
            counts["sent"] += 1
        elif error != _EXPIRED:
            counts["failed" if message.attempts >= MAX_ATTEMPTS else "retrying"] += 1


def retry_now(message: OutboxMessage, *, actor_id: int) -> None:
    """The office retries a failed message at once."""
    message.status = OutboxStatus.PENDING.value
    message.attempts = 0
    message.next_attempt_at = now_utc()
    db.session.flush()
    audit.record("outbox.retried", "outbox_message", message.id, actor_id=actor_id)


def notify_units(texts: Mapping[int, tuple[str, str]], *, link: str, key: str) -> int:
    """Tell units of a change at once: an in-app notification to each enabled user of the
    unit, and the same text to its contacts (e-mail, robot) through the outbox.

    ``texts`` maps unit id → (title, body); ``key`` makes the outbox rows unique (the same
    change never queues twice). Returns the number of notifications and messages written.
    """
    if not texts:
        return 0
    resolver = _Recipients(texts, [])
    channels = [Channel.EMAIL.value, Channel.WEBHOOK.value]
    rows: list[dict[str, Any]] = []
    written = 0
    for unit_id, (title, body) in texts.items():
        for user in resolver.unit_users.get(unit_id, []):
            db.session.add(Notification(user_id=user.id, title=title, body=body, link=link))
            written += 1
        for channel, recipient, _display in resolver.unit_targets(unit_id, channels):
            rows.append(
                _outbox_row(
                    channel,
                    recipient,
                    title,
                    body,
                    f"{key}:{channel}:{recipient}",
                    _quiet_until(now_utc(), [(time(22), time(8))]),
                )
            )
    db.session.flush()
    return written + len(_insert(rows))
