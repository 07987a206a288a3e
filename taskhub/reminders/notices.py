"""Immediate notices: a review, an extension decision or a new report tells the people
concerned at once, not at the next daily reminder run.

In-app notifications are written in the same transaction as the decision (so the 站内通知
page shows them as soon as it is committed). E-mails and chat-robot messages go into the
outbox in that transaction too, and the ``deliver`` job sends them (retries, quiet hours): the
request never sends anything itself, and a decision that is rolled back notifies no one.

Which outside channels are used follows the reminder rules the office keeps at 提醒规则: a
unit's notices use the channels of the enabled rules addressed to the unit's contacts, the
office's and lead assessor's those of the rules addressed to the office or the lead unit (with
those rules' quiet hours). Each person may further turn events and their own channels (in-app,
e-mail) off at 我的账户 (``NotificationPreference``); a unit's robot and its contacts' e-mail
are the unit's, not a person's, and follow the rules alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import time
from typing import Any, Protocol, cast

from flask import current_app, has_app_context
from sqlalchemy import Table, and_, bindparam, delete, insert, or_, select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, now_utc
from taskhub.plans.models import ItemUnit, UnitRole
from taskhub.reminders.models import (
    PERSONAL_CHANNELS,
    Channel,
    NoticeEvent,
    Notification,
    NotificationPreference,
    Recipient,
    ReminderRule,
)
from taskhub.reminders.services import _insert, _outbox_row, _quiet_until
from taskhub.tracking.models import Assignment, ExtensionRequest, ProgressReport, Review
from taskhub.units.models import Contact

#: The events each role hears about (the settings page offers these).
EVENTS_FOR_ROLE: dict[str, tuple[str, ...]] = {
    "unit": (
        NoticeEvent.REPORT_ACCEPTED.value,
        NoticeEvent.REPORT_RETURNED.value,
        NoticeEvent.EXTENSION_DECIDED.value,
    ),
    "office": (NoticeEvent.REPORT_SUBMITTED.value,),
    "assessor": (NoticeEvent.REPORT_SUBMITTED.value,),
}


#: Set while generated history is written (the demo's months of reports): no one is told.
_QUIET: ContextVar[bool] = ContextVar("taskhub_notices_quiet", default=False)


@contextmanager
def quiet() -> Iterator[None]:
    """Write changes without notices: for generated data, never for people's own actions."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


# -- preferences --------------------------------------------------------------------------------


def events_for(user: User) -> tuple[str, ...]:
    return EVENTS_FOR_ROLE.get(user.role, ())


def preferences(user_ids: Iterable[int]) -> dict[tuple[int, str, str], bool]:
    """(user id, event, channel) → on/off for the rows stored; missing means on."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            NotificationPreference.user_id,
            NotificationPreference.event,
            NotificationPreference.channel,
            NotificationPreference.enabled,
        ).where(NotificationPreference.user_id.in_(ids))
    )
    return {(uid, event, channel): enabled for uid, event, channel, enabled in rows}


def choices_of(user: User) -> dict[tuple[str, str], bool]:
    """The user's settings for the events of their role, defaults filled in."""
    stored = preferences([user.id])
    return {
        (event, channel): stored.get((user.id, event, channel), True)
        for event in events_for(user)
        for channel in PERSONAL_CHANNELS
    }


def set_choices(user: User, chosen: set[tuple[str, str]], *, actor: User) -> None:
    """Store the user's choices: ``chosen`` holds the (event, channel) pairs left on; every
    other pair of the user's events is turned off. Audited."""
    before = choices_of(user)
    db.session.execute(
        delete(NotificationPreference).where(NotificationPreference.user_id == user.id)
    )
    for event in events_for(user):
        for channel in PERSONAL_CHANNELS:
            db.session.add(
                NotificationPreference(
                    user_id=user.id,
                    event=event,
                    channel=channel,
                    enabled=(event, channel) in chosen,
                )
            )
    db.session.flush()
    after = choices_of(user)
    audit.record(
        "notifications.preferences_changed",
        "user",
        user.id,
        actor_id=actor.id,
        before={"off": sorted(f"{e}:{c}" for (e, c), on in before.items() if not on)},
        after={"off": sorted(f"{e}:{c}" for (e, c), on in after.items() if not on)},
    )


# -- which channels the rules use ---------------------------------------------------------------


@dataclass(frozen=True)
class RuleChannels:
    channels: frozenset[str]
    quiet: tuple[tuple[time, time], ...]


#: The enabled rules' addressees, channels and quiet hours (built once: every notice reads it).
_ENABLED_RULES = select(
    ReminderRule.recipients,
    ReminderRule.channels,
    ReminderRule.quiet_from,
    ReminderRule.quiet_until,
).where(ReminderRule.is_enabled)


def rule_channels(recipients: Iterable[str]) -> RuleChannels:
    """The channels (and quiet hours) of the enabled reminder rules addressed to any of
    ``recipients`` (Recipient codes)."""
    wanted = set(recipients)
    channels: set[str] = set()
    quiet: set[tuple[time, time]] = set()
    for rule in db.session.execute(_ENABLED_RULES):
        if wanted & set(rule.recipients or []):
            channels.update(rule.channels or [])
            if rule.quiet_from and rule.quiet_until:
                quiet.add((rule.quiet_from, rule.quiet_until))
    return RuleChannels(frozenset(channels), tuple(sorted(quiet)))


# -- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    event: str
    #: Unique per change: the outbox never queues the same message twice.
    key: str
    title: str
    body: str
    #: Where the in-app notification leads (a path in TaskHub).
    link: str


def _base_url() -> str:
    base = current_app.config.get("BASE_URL") if has_app_context() else None
    return str(base or "").rstrip("/")


def _with_link(notice: Notice) -> str:
    return f"{notice.body}\n\n办理：{_base_url()}{notice.link}"


#: In-app notifications as a Core INSERT built once (the ORM's bulk insert does more work to
#: give back nothing this needs).
_NEW_NOTIFICATIONS = insert(cast(Table, Notification.__table__))


class Person(Protocol):
    """Whom :func:`_send` tells: a ``User``, or a row with the same two columns."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str | None: ...


def _send(
    notice: Notice,
    users: Sequence[Person],
    rules: RuleChannels,
    *,
    contacts: Iterable[Contact] = (),
    prefs: dict[tuple[int, str, str], bool] | None = None,
) -> int:
    """Notify ``users`` (in-app now; e-mail through the outbox) and a unit's ``contacts``
    (e-mail, robot through the outbox), as the rules' channels and each user's choices allow
    (``prefs`` as :func:`preferences` gives them, read here unless the caller read them).
    Returns how many notifications and outbox rows were written."""
    if _QUIET.get():
        return 0
    if prefs is None:
        prefs = preferences(u.id for u in users)

    def wants(user: Person, channel: str) -> bool:
        return prefs.get((user.id, notice.event, channel), True)

    in_app = [
        {"user_id": user.id, "title": notice.title, "body": notice.body, "link": notice.link}
        for user in users
        if wants(user, Channel.IN_APP.value)
    ]
    if in_app:  # one multi-row INSERT (created_at from the column's default, row by row)
        db.session.execute(_NEW_NOTIFICATIONS, in_app)
    written = len(in_app)
    held = _quiet_until(now_utc(), rules.quiet)
    body = _with_link(notice)
    targets: dict[tuple[str, str], None] = {}  # ordered, without repeats
    contacts = list(contacts)
    if Channel.EMAIL.value in rules.channels:
        for c in contacts:
            if c.email:
                targets[(Channel.EMAIL.value, c.email.strip())] = None
        for user in users:
            if user.email and wants(user, Channel.EMAIL.value):
                targets[(Channel.EMAIL.value, user.email.strip())] = None
    if Channel.WEBHOOK.value in rules.channels:
        for c in contacts:
            if c.webhook_url:
                targets[(Channel.WEBHOOK.value, c.webhook_url.strip())] = None
    rows: list[dict[str, Any]] = [
        _outbox_row(
            channel,
            recipient,
            notice.title,
            body,
            f"notice:{notice.key}:{channel}:{recipient}",
            held,
        )
        for channel, recipient in targets
    ]
    db.session.flush()
    return written + len(_insert(rows))


def _unit_users(unit_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.unit_id == unit_id, User.role == "unit", User.is_enabled)
            .order_by(User.id)
        )
    )


def _unit_contacts(unit_id: int) -> list[Contact]:
    return list(
        db.session.scalars(select(Contact).where(Contact.unit_id == unit_id).order_by(Contact.id))
    )


def _notify_unit(assignment: Assignment, notice: Notice) -> int:
    unit_id = assignment.unit_id
    return _send(
        notice,
        _unit_users(unit_id),
        rule_channels([Recipient.UNIT_CONTACTS.value]),
        contacts=_unit_contacts(unit_id),
    )


def _where(assignment: Assignment) -> str:
    item = assignment.item
    title = item.title or item.text[:30]
    return f"{item.plan.title} 第{item.label}项 {title}"


def report_reviewed(review: Review) -> int:
    """Tell the unit its report was accepted or returned (with the reason)."""
    if _QUIET.get():
        return 0
    report = review.report
    assignment = report.assignment
    where = _where(assignment)
    unit = assignment.unit.name
    if review.decision == "accept" and report.is_closing:
        event = NoticeEvent.REPORT_ACCEPTED.value
        title = f"【任务督办】任务已销号：{where}"
        body = f"{unit}：您单位报送的办结报告已审核通过，任务已销号。\n{where}"
    elif review.decision == "accept":
        event = NoticeEvent.REPORT_ACCEPTED.value
        title = f"【任务督办】报告已审核通过：{where}"
        body = f"{unit}：您单位报送的进展报告（{report.percent}%）已审核通过。\n{where}"
    elif report.is_closing:
        event = NoticeEvent.REPORT_RETURNED.value
        title = f"【任务督办】办结申请被退回：{where}"
        body = (
            f"{unit}：您单位报送的办结报告被退回，任务继续办理，"
            f"退回理由：{review.reason}。\n{where}"
        )
    else:
        event = NoticeEvent.REPORT_RETURNED.value
        title = f"【任务督办】报告被退回：{where}"
        body = (
            f"{unit}：您单位报送的进展报告（{report.percent}%）被退回，"
            f"退回理由：{review.reason}。请修改后重新报送。\n{where}"
        )
    notice = Notice(event, f"review:{review.id}", title, body, f"/assignments/{assignment.id}")
    return _notify_unit(assignment, notice)


def assignment_reopened(assignment: Assignment, reason: str) -> int:
    """Tell the unit the office reopened its completed (销号) task, with the reason. Sent as a
    returned report is (the task comes back to the unit); keyed on the version so each
    reopening is told once."""
    if _QUIET.get():
        return 0
    where = _where(assignment)
    unit = assignment.unit.name
    title = f"【任务督办】任务已重新打开：{where}"
    body = f"{unit}：您单位已销号的任务被重新打开，理由：{reason}。请继续办理并报送进展。\n{where}"
    key = f"reopen:{assignment.id}:{assignment.version}"
    notice = Notice(
        NoticeEvent.REPORT_RETURNED.value, key, title, body, f"/assignments/{assignment.id}"
    )
    return _notify_unit(assignment, notice)


def extension_decided(ext: ExtensionRequest) -> int:
    """Tell the unit its extension request was approved or rejected (with the reason)."""
    if _QUIET.get():
        return 0
    milestone = ext.milestone
    assignment = milestone.assignment
    where = _where(assignment)
    step = milestone.title or milestone.kind
    unit = assignment.unit.name
    if ext.status == "approved":
        title = f"【任务督办】延期申请已批准：{where}"
        body = (
            f"{unit}：节点“{step}”（原定{milestone.due_on:%Y年%m月%d日}）"
            f"已延期至{ext.requested_due_on:%Y年%m月%d日}。\n{where}"
        )
    else:
        title = f"【任务督办】延期申请未批准：{where}"
        body = (
            f"{unit}：节点“{step}”申请延至{ext.requested_due_on:%Y年%m月%d日}未获批准，"
            f"理由：{ext.decision_reason}。仍按{milestone.effective_due_on:%Y年%m月%d日}办理。"
            f"\n{where}"
        )
    notice = Notice(
        NoticeEvent.EXTENSION_DECIDED.value,
        f"extension:{ext.id}",
        title,
        body,
        f"/assignments/{assignment.id}",
    )
    return _notify_unit(assignment, notice)


def _choice(channel: str) -> Any:
    """A user's stored choice for the event ``:event`` on ``channel`` (NULL: none, so on)."""
    return (
        select(NotificationPreference.enabled)
        .where(
            NotificationPreference.user_id == User.id,
            NotificationPreference.event == bindparam("event"),
            NotificationPreference.channel == channel,
        )
        .scalar_subquery()
        .label(f"wants_{channel}")
    )


#: Who reviews a report on item ``:item_id``, with their choices for the event ``:event``, in
#: one query (built once): the office and the item's lead assessors, enabled, each by id.
_REVIEWERS = (
    select(
        User.id,
        User.role,
        User.email,
        *(_choice(channel) for channel in PERSONAL_CHANNELS),
    )
    .where(
        User.is_enabled,
        or_(
            User.role == "office",
            and_(
                User.role == "assessor",
                User.unit_id.in_(
                    select(ItemUnit.unit_id).where(
                        ItemUnit.item_id == bindparam("item_id"),
                        ItemUnit.role == UnitRole.LEAD_ASSESSOR.value,
                        ItemUnit.unit_id.is_not(None),
                    )
                ),
            ),
        ),
    )
    .order_by(User.id)
)


def report_submitted(report: ProgressReport) -> int:
    """Tell the office and the item's lead assessor that a report awaits review."""
    if _QUIET.get():
        return 0
    assignment = report.assignment
    where = _where(assignment)
    unit = assignment.unit.name
    event = NoticeEvent.REPORT_SUBMITTED.value
    notice = Notice(
        event,
        f"report:{report.id}",
        f"【任务督办】新报告待审核：{unit} {where}",
        f"{unit}报送了进展报告（{report.percent}%），请审核。\n{where}",
        f"/assignments/{assignment.id}#reports",
    )
    people = db.session.execute(_REVIEWERS, {"item_id": assignment.item_id, "event": event}).all()
    prefs = {
        (person.id, event, channel): choice
        for person in people
        for channel, choice in zip(PERSONAL_CHANNELS, person[3:], strict=True)
        if choice is not None
    }
    # The office first, then the lead assessors; whoever sent it (the office may report for
    # a unit) is not told of their own report.
    told = [p for p in people if p.role == "office"] + [p for p in people if p.role != "office"]
    told = [p for p in told if p.id != report.author_id]
    rules = rule_channels([Recipient.OFFICE.value, Recipient.LEAD_UNIT.value])
    return _send(notice, told, rules, prefs=prefs)
