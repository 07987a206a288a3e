"""Where each role lands, and the pages that make a landing: the current plan, the setup
checklist of an empty installation, an assessor's 待评分 list and a leader's overview."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import url_for
from sqlalchemy import case, exists, func, select

from taskhub.accounts.models import User
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.plans.models import ACTIVE_PLAN_STATUSES, Item, ItemUnit, Plan, PlanStatus, UnitRole
from taskhub.scoring.models import ItemScore, Period
from taskhub.scoring.services import period_codes
from taskhub.tracking.models import Assignment, AssignmentStatus
from taskhub.units.models import City, Unit

# -- the current plan ---------------------------------------------------------------------------


def newest_active(plans: Sequence[Plan]) -> Plan | None:
    """The plan a page opens on: the newest active (published) one by year then id; when none
    is active, the newest of all."""
    active = [p for p in plans if p.status in ACTIVE_PLAN_STATUSES]
    return max(active or plans, key=lambda p: (p.year, p.id), default=None)


def active_plans() -> list[Plan]:
    """Active plans, newest first (by year, then id)."""
    return list(
        db.session.scalars(
            select(Plan)
            .where(Plan.status.in_(ACTIVE_PLAN_STATUSES))
            .order_by(Plan.year.desc(), Plan.id.desc())
        )
    )


def current_plan() -> Plan | None:
    """The newest active plan (None when no plan is active)."""
    plans = active_plans()
    return plans[0] if plans else None


# -- the setup checklist ------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupStep:
    key: str  #: city | units | users | plan | publish
    href: str
    done: bool
    #: A second way to do the step (create the plan in the browser instead of importing it).
    other_href: str | None = None


def setup_steps() -> list[SetupStep]:
    """The five steps of setting up a city, each done or not as the database says."""

    def some(*where: Any) -> bool:
        return db.session.scalar(select(exists().where(*where))) is True

    draft = db.session.scalar(
        select(Plan.code).where(Plan.status == PlanStatus.DRAFT.value).order_by(Plan.id).limit(1)
    )
    # Links are plain paths: some of these pages belong to other parts of the application.
    return [
        SetupStep("city", "/cities/new", some(City.id.isnot(None))),
        SetupStep("units", "/imports#units", some(Unit.id.isnot(None))),
        SetupStep("users", "/imports#users", some(User.role != "admin")),
        SetupStep("plan", "/imports#plan", some(Plan.id.isnot(None)), other_href="/plans/new"),
        SetupStep(
            "publish",
            f"/plans/{draft}" if draft else "/plans",
            some(Plan.status == PlanStatus.PUBLISHED.value),
        ),
    ]


def needs_setup(seeds: str) -> bool:
    """An admin lands on the checklist while the installation is not set up: started empty
    (TASKHUB_SEEDS=none) and not yet complete, or simply without a city or a plan."""
    steps = {s.key: s.done for s in setup_steps()}
    if not steps["city"] or not steps["plan"]:
        return True
    return seeds == "none" and not all(steps.values())


# -- landing ----------------------------------------------------------------------------------


def landing_url(user: User, *, seeds: str) -> str:
    """The page a signed-in user starts on: unit staff their tasks, the office the current
    plan's dashboard, assessors what they have to score, leaders the overview."""
    if user.role == "unit":
        return url_for("tracking.my_tasks")
    if user.role == "assessor":
        return url_for("dashboard.to_score")
    if user.role == "viewer":
        return url_for("dashboard.overview")
    if user.role == "admin" and needs_setup(seeds):
        return url_for("dashboard.setup")
    plan = current_plan()
    if plan is None:
        return url_for("plans.index")
    return url_for("dashboard.plan", code=plan.code)


# -- 待评分: what an assessor's unit has to score -------------------------------------------------


@dataclass
class ToScoreItem:
    item: Item
    #: (assignment id, unit name) of the units not yet scored, in unit order.
    units: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class ToScorePlan:
    plan: Plan
    period: str
    items: list[ToScoreItem]

    @property
    def total(self) -> int:
        return sum(len(i.units) for i in self.items)


def to_score(user: User, today: date) -> list[ToScorePlan]:
    """Per active plan: the items the user's unit leads the assessment of, with the units it
    has not scored for the plan's current period (those waiting on it)."""
    from taskhub.dashboard.services import current_period

    if user.unit_id is None:
        return []
    led = select(ItemUnit.item_id).where(
        ItemUnit.unit_id == user.unit_id, ItemUnit.role == UnitRole.LEAD_ASSESSOR.value
    )
    found = []
    for plan in active_plans():
        period = current_period(period_codes(plan), today)
        if period is None:
            continue  # not scored by a scheme
        period_id = db.session.scalar(
            select(Period.id).where(Period.plan_id == plan.id, Period.code == period)
        )
        scored = exists().where(
            ItemScore.assignment_id == Assignment.id,
            ItemScore.period_id == period_id,
            ItemScore.scorer_key == f"unit:{user.unit_id}",
        )
        rows = db.session.execute(
            select(Item, Assignment.id, Unit.name)
            .join(Assignment, Assignment.item_id == Item.id)
            .join(Unit, Unit.id == Assignment.unit_id)
            .where(
                Item.plan_id == plan.id,
                Item.id.in_(led),
                ~Assignment.is_not_applicable,
                ~scored,
            )
            .order_by(Item.position, Unit.kind, Unit.id)
        ).all()
        items: dict[int, ToScoreItem] = {}
        for item, assignment_id, unit_name in rows:
            items.setdefault(item.id, ToScoreItem(item)).units.append((assignment_id, unit_name))
        if items:
            found.append(ToScorePlan(plan, period, list(items.values())))
    return found


# -- the overview across active plans -------------------------------------------------------------

#: Units named at the top and at the bottom of each plan's ranking.
OVERVIEW_UNITS = 3


@dataclass
class PlanOverview:
    plan: Plan
    total: int
    done: int
    overdue: int
    lights: dict[str, int]
    period: str | None
    top: list[Any] = field(default_factory=list)
    bottom: list[Any] = field(default_factory=list)

    @property
    def percent_done(self) -> int:
        return (self.done * 200 + self.total) // (2 * self.total) if self.total else 0


def overview(today: date) -> list[PlanOverview]:
    """Every active plan at a glance, newest first: completion, overdue, lights, best and
    worst units of the current period (one grouped query per plan plus its cached ranking)."""
    from taskhub.dashboard import services
    from taskhub.ledger.lights import due_soon_before, light_color, light_reason

    calendar = WorkingCalendar.load(today - timedelta(days=7), today + timedelta(days=30))
    color = light_color(light_reason(today, due_soon_before(today, calendar))).label("color")
    fingerprint = services.audit_fingerprint()
    found = []
    for plan in active_plans():
        per_row = (
            select(
                color,
                case((Assignment.status == AssignmentStatus.COMPLETED.value, 1), else_=0).label(
                    "done"
                ),
                case(
                    (
                        Assignment.overdue_on(today),
                        1,
                    ),
                    else_=0,
                ).label("overdue"),
            )
            .select_from(Assignment)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(Item.plan_id == plan.id, ~Assignment.is_not_applicable)
            .subquery()
        )
        lights = dict.fromkeys(("red", "yellow", "green", "grey"), 0)
        done = overdue = total = 0
        for light, n, n_done, n_overdue in db.session.execute(
            select(
                per_row.c.color,
                func.count(),
                func.sum(per_row.c.done),
                func.sum(per_row.c.overdue),
            ).group_by(per_row.c.color)
        ):
            lights[light] = int(n)
            total += int(n)
            done += int(n_done or 0)
            overdue += int(n_overdue or 0)
        period = services.current_period(period_codes(plan), today)
        entry = PlanOverview(plan, total, done, overdue, lights, period)
        if period is not None:
            try:
                ranking = services.ranking(plan, period, fingerprint=fingerprint)
            except DomainError:
                pass  # a scheme the ranking cannot compute: the rest is still worth showing
            else:
                ranked = [r for r in ranking.rows if r.rank is not None]
                if len({r.rank for r in ranked}) < 2:
                    ranked = []  # everyone tied (nothing scored yet): no first or last
                entry.top = ranked[:OVERVIEW_UNITS]
                entry.bottom = ranked[OVERVIEW_UNITS:][-OVERVIEW_UNITS:]
        found.append(entry)
    return found
