"""Leaders (分管领导): keeping a city's list, linking units and items, and a leader's view.

An assignment is a leader's when its item names the leader (``ItemLeader``) or, failing that,
its unit does (``UnitLeader``): the item overrides the unit. Changes are audited and flushed,
never committed (the request commits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.permissions import STAFF
from taskhub.leaders.models import ItemLeader, Leader, UnitLeader
from taskhub.ledger.lights import COLOR_OF, due_soon_before, light_reason
from taskhub.ledger.services import days_overdue
from taskhub.plans.models import Item, Plan, PlanStatus
from taskhub.supervision.models import Escalation, EscalationState
from taskhub.tracking.models import Assignment
from taskhub.units.models import City, Unit

#: Who reads every leader's view besides the leader's own account.
VIEW_ROLES = ("admin", "office", "viewer")
#: Text fields and their longest accepted length.
TEXT_FIELDS = {"name": 100, "title": 100, "portfolio": 1000, "email": 254, "webhook_url": 2000}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The leader's view lists at most this many tasks (red and yellow come first).
ROW_LIMIT = 500
#: Overdue tasks the printed summary lists.
OVERDUE_TOP = 10


class LeaderRefused(DomainError):
    """A leader change was refused (the field says which input)."""


def can_manage(user: Any) -> bool:
    return getattr(user, "role", None) in STAFF


def can_view(leader: Leader, user: Any) -> bool:
    """Admins, the office and viewers read every leader's view; a leader reads their own."""
    return user.role in VIEW_ROLES or (leader.user_id is not None and leader.user_id == user.id)


def _state(leader: Leader) -> dict[str, Any]:
    return {
        "name": leader.name,
        "title": leader.title,
        "portfolio": leader.portfolio,
        "email": leader.email,
        "webhook_url": leader.webhook_url,
        "user_id": leader.user_id,
        "is_active": leader.is_active,
    }


def _clean(data: dict[str, Any], leader: Leader | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, limit in TEXT_FIELDS.items():
        if name not in data:
            continue
        value = (data[name] or "").strip() or None
        if value is not None and len(value) > limit:
            raise LeaderRefused(_("At most %(n)d characters.", n=limit), field=name)
        out[name] = value
    if ("name" in out or leader is None) and not out.get("name"):
        raise LeaderRefused(_("Write the leader's name."), field="name")
    if out.get("email") and not EMAIL.match(out["email"]):
        raise LeaderRefused(
            _("Write an e-mail address such as name@example.gov.cn."), field="email"
        )
    if out.get("webhook_url") and not out["webhook_url"].startswith(("https://", "http://")):
        raise LeaderRefused(
            _("Write the robot's address, starting with https://."), field="webhook_url"
        )
    if "user_id" in data:
        user_id = data["user_id"] or None
        if user_id is not None and db.session.get(User, user_id) is None:
            raise LeaderRefused(_("No such user."), field="user_id")
        out["user_id"] = user_id
    if "is_active" in data:
        out["is_active"] = bool(data["is_active"])
    return out


def _check_name_free(city_id: int, name: str, leader: Leader | None) -> None:
    query = select(Leader.id).where(Leader.city_id == city_id, Leader.name == name)
    if leader is not None:
        query = query.where(Leader.id != leader.id)
    if db.session.scalar(query) is not None:
        raise LeaderRefused(_("The city already has a leader of this name."), field="name")


def leaders_of(city_id: int, *, active_only: bool = False) -> list[Leader]:
    """A city's leaders by name (the active ones only, for pickers)."""
    query = select(Leader).where(Leader.city_id == city_id)
    if active_only:
        query = query.where(Leader.is_active.is_(True))
    return list(db.session.scalars(query.order_by(Leader.is_active.desc(), Leader.name)))


def create_leader(city: City, data: dict[str, Any], *, actor: User | None) -> Leader:
    """A new leader of a city (name required; title, portfolio, e-mail, account optional)."""
    values = _clean(data, None)
    _check_name_free(city.id, values["name"], None)
    leader = Leader(city_id=city.id, **values)
    db.session.add(leader)
    db.session.flush()
    audit.record(
        "leader.created",
        "leader",
        leader.id,
        actor_id=actor.id if actor else None,
        after=_state(leader),
    )
    return leader


def update_leader(leader: Leader, data: dict[str, Any], *, actor: User | None) -> Leader:
    """Change the fields given; a leader who left is made inactive, not deleted (history)."""
    values = _clean(data, leader)
    if "name" in values:
        _check_name_free(leader.city_id, values["name"], leader)
    before = _state(leader)
    for key, value in values.items():
        setattr(leader, key, value)
    db.session.flush()
    if _state(leader) != before:
        audit.record(
            "leader.updated",
            "leader",
            leader.id,
            actor_id=actor.id if actor else None,
            before=before,
            after=_state(leader),
        )
    return leader


def _leader_of_city(city_id: int, leader_id: int | None) -> Leader | None:
    if leader_id is None:
        return None
    leader = db.session.get(Leader, leader_id)
    if leader is None or leader.city_id != city_id:
        raise LeaderRefused(_("Choose a leader of the city from the list."), field="leader_id")
    return leader


def unit_leader_id(unit_id: int) -> int | None:
    return db.session.scalar(select(UnitLeader.leader_id).where(UnitLeader.unit_id == unit_id))


def item_leader_id(item_id: int) -> int | None:
    return db.session.scalar(select(ItemLeader.leader_id).where(ItemLeader.item_id == item_id))


def set_unit_leader(unit: Unit, leader_id: int | None, *, actor: User | None) -> None:
    """Name (or clear, with None) the unit's 分管领导; audited when it changes."""
    leader = _leader_of_city(unit.city_id, leader_id)
    before = unit_leader_id(unit.id)
    if before == leader_id:
        return
    link = db.session.get(UnitLeader, unit.id)
    if leader is None and link is not None:
        db.session.delete(link)
    elif leader is not None and link is None:
        db.session.add(UnitLeader(unit_id=unit.id, leader_id=leader.id))
    elif leader is not None and link is not None:
        link.leader_id = leader.id
    db.session.flush()
    audit.record(
        "unit.leader_set",
        "unit",
        unit.id,
        actor_id=actor.id if actor else None,
        before={"leader_id": before},
        after={"leader_id": leader_id},
    )


def set_item_leader(item: Item, leader_id: int | None, *, actor: User | None) -> None:
    """Name (or clear) an item's own 分管领导, which overrides its units' leaders."""
    city_id = db.session.scalar(select(Plan.city_id).where(Plan.id == item.plan_id))
    assert city_id is not None
    leader = _leader_of_city(city_id, leader_id)
    before = item_leader_id(item.id)
    if before == leader_id:
        return
    link = db.session.get(ItemLeader, item.id)
    if leader is None and link is not None:
        db.session.delete(link)
    elif leader is not None and link is None:
        db.session.add(ItemLeader(item_id=item.id, leader_id=leader.id))
    elif leader is not None and link is not None:
        link.leader_id = leader.id
    db.session.flush()
    audit.record(
        "item.leader_set",
        "item",
        item.id,
        actor_id=actor.id if actor else None,
        before={"leader_id": before},
        after={"leader_id": leader_id},
    )


def leader_of(assignment: Assignment) -> Leader | None:
    """The assignment's 分管领导: its item's own, else its unit's (None when neither names one)."""
    leader_id = item_leader_id(assignment.item_id) or unit_leader_id(assignment.unit_id)
    return db.session.get(Leader, leader_id) if leader_id is not None else None


def responsible_leader() -> ColumnElement[int | None]:
    """The assignment's 分管领导 id (needs the ItemLeader and UnitLeader outer joins)."""
    return func.coalesce(ItemLeader.leader_id, UnitLeader.leader_id)


def leader_assignments(leader_id: int) -> Any:
    """SELECT of the ids of the leader's assignments in published plans."""
    return (
        select(Assignment.id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .outerjoin(ItemLeader, ItemLeader.item_id == Item.id)
        .outerjoin(UnitLeader, UnitLeader.unit_id == Assignment.unit_id)
        .where(Plan.status == PlanStatus.PUBLISHED.value, responsible_leader() == leader_id)
    )


@dataclass(frozen=True)
class Row:
    """One task on the leader's view."""

    assignment_id: int
    plan_code: str
    plan_title: str
    number: str
    title: str
    unit: str
    status: str
    percent: int
    next_due: date | None
    reason: str
    days_overdue: int | None

    @property
    def color(self) -> str:
        return COLOR_OF[self.reason]


RANK = {"red": 0, "yellow": 1, "green": 2, "grey": 3}


@dataclass
class View:
    """A leader's tasks, red and yellow first, with the week's summary."""

    rows: list[Row]
    counts: dict[str, int]
    overdue: list[Row]
    #: The escalation notices (督办单) issued in the summary's seven days on the leader's tasks.
    escalations: list[Escalation] = field(default_factory=list)
    #: The first of the summary's seven days (the last is today): see ``summary_period``.
    week_start: date | None = None
    truncated: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_period(today: date) -> tuple[date, date]:
    """The seven days the weekly summary covers: the six days before ``today`` and today, the
    same whatever the weekday (on Monday 2026-12-07: 12月1日至12月7日), in the page, the print
    and the digest."""
    return today - timedelta(days=6), today


def leader_view(leader: Leader, today: date) -> View:
    """The leader's tasks across published plans with their lights (the ledger's SQL rules)."""
    calendar = WorkingCalendar.load(today - timedelta(days=7), today + timedelta(days=30))
    reason = light_reason(today, due_soon_before(today, calendar)).label("reason")
    query = (
        select(
            Assignment.id,
            Plan.code,
            Plan.title,
            Item.number,
            Item.code,
            Item.title,
            Item.text,
            Unit.name,
            Assignment.status,
            Assignment.percent,
            Assignment.next_due_on,
            reason,
        )
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.id.in_(leader_assignments(leader.id)))
        .order_by(Assignment.next_due_on.asc().nulls_last(), Assignment.id)
    )
    rows = [
        Row(
            assignment_id=r[0],
            plan_code=r[1],
            plan_title=r[2],
            number=r[3] or r[4] or "",
            title=r[5] or _shorten(r[6] or ""),
            unit=r[7],
            status=r[8],
            percent=r[9],
            next_due=r[10],
            reason=r[11],
            days_overdue=days_overdue(r[8], r[10], today),
        )
        for r in db.session.execute(query)
    ]
    # Red, then yellow, green, grey; by next due date within a colour (the SQL order).
    rows.sort(key=lambda r: RANK[r.color])
    counts = {c: 0 for c in RANK}
    for row in rows:
        counts[row.color] += 1
    overdue = sorted(
        (r for r in rows if r.days_overdue), key=lambda r: (-(r.days_overdue or 0), r.assignment_id)
    )
    week_start, _end = summary_period(today)
    escalations = list(
        db.session.scalars(
            select(Escalation)
            .where(
                Escalation.assignment_id.in_(leader_assignments(leader.id)),
                Escalation.issued_on >= week_start,
                Escalation.issued_on <= today,
                Escalation.state != EscalationState.WITHDRAWN.value,
            )
            .order_by(Escalation.issued_on, Escalation.id)
        )
    )
    return View(
        rows=rows[:ROW_LIMIT],
        counts=counts,
        overdue=overdue[:OVERDUE_TOP],
        escalations=escalations,
        week_start=week_start,
        truncated=len(rows) > ROW_LIMIT,
    )
