"""Escalation notices (督办单): the levels of a city, issuing (by the office or the scheduled
job), the unit's answer (反馈), closing and withdrawing, and the queries pages and the API share.

Every change writes an audit event (object ``escalation``) and tells the people concerned at
once: the unit's users in-app, its contacts by e-mail and chat robot through the outbox, once
per notice (the outbox's dedupe key carries the notice's id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import Batches, db, lock, now_utc
from taskhub.core.errors import DomainError, NotFound, PermissionDenied
from taskhub.core.limits import check_text
from taskhub.core.permissions import STAFF
from taskhub.plans.models import Item, Plan, PlanStatus
from taskhub.supervision.models import Escalation, EscalationLevel, EscalationState
from taskhub.tracking.models import Assignment, AssignmentStatus
from taskhub.units.models import Contact

logger = logging.getLogger(__name__)

#: The ladder every city starts with (the office may change it): 提醒 → 催办 → 督办 → 约谈.
DEFAULT_LEVELS: list[dict[str, Any]] = [
    {
        "code": "remind",
        "name": "提醒",
        "rank": 1,
        "overdue_working_days": 3,
        "answer_working_days": 5,
        "to_contacts": True,
        "to_unit_leader": False,
        "to_responsible_leader": False,
    },
    {
        "code": "urge",
        "name": "催办",
        "rank": 2,
        "overdue_working_days": 10,
        "answer_working_days": 5,
        "to_contacts": True,
        "to_unit_leader": True,
        "to_responsible_leader": False,
    },
    {
        "code": "supervise",
        "name": "督办",
        "rank": 3,
        "overdue_working_days": 20,
        "answer_working_days": 3,
        "to_contacts": True,
        "to_unit_leader": True,
        "to_responsible_leader": True,
    },
    {
        "code": "interview",
        "name": "约谈",
        "rank": 4,
        "overdue_working_days": None,  # the office decides
        "answer_working_days": 3,
        "to_contacts": True,
        "to_unit_leader": True,
        "to_responsible_leader": True,
    },
]

#: Tries at a free number when concurrent issues take the same one.
NUMBER_ATTEMPTS = 8
#: The scheduled job commits its notices about this often (see core.db.Batches).
BATCH_SECONDS = 0.5
#: The in-app and outside notices' event name (not a personal preference: a formal notice).
NOTICE_EVENT = "escalation_issued"
ANSWER_EVENT = "escalation_answered"


class EscalationRefused(DomainError):
    """A rule refused the change; ``code`` lets pages say it in the user's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def number_of(year: int, serial: int) -> str:
    """督办〔2026〕7号"""
    return f"督办〔{year}〕{serial}号"


# -- levels -------------------------------------------------------------------------------------


def ensure_levels(city_id: int) -> list[EscalationLevel]:
    """The city's levels by rank, creating the default ladder on first use."""
    levels = levels_of(city_id)
    if levels:
        return levels
    try:
        with db.session.begin_nested():
            for spec in DEFAULT_LEVELS:
                db.session.add(EscalationLevel(city_id=city_id, **spec))
            db.session.flush()
    except IntegrityError:  # another request created them first
        pass
    return levels_of(city_id)


def levels_or_defaults(city_id: int) -> list[EscalationLevel]:
    """The city's levels, or the default ladder not yet stored (pages read, never write)."""
    return levels_of(city_id) or [
        EscalationLevel(**spec, is_enabled=True) for spec in DEFAULT_LEVELS
    ]


def level_by_code(city_id: int, code: str) -> EscalationLevel:
    """A level of the city by code (the defaults are stored on first use)."""
    found = next((lv for lv in ensure_levels(city_id) if lv.code == code), None)
    if found is None:
        raise EscalationRefused("level_unknown", f"the city has no level {code!r}")
    return found


def levels_of(city_id: int, *, enabled_only: bool = False) -> list[EscalationLevel]:
    query = select(EscalationLevel).where(EscalationLevel.city_id == city_id)
    if enabled_only:
        query = query.where(EscalationLevel.is_enabled)
    return list(db.session.scalars(query.order_by(EscalationLevel.rank)))


def level_choices() -> dict[str, str]:
    """Level code → name over every city, by rank (the list page's filter)."""
    rows = db.session.execute(
        select(EscalationLevel.code, EscalationLevel.name).order_by(
            EscalationLevel.rank, EscalationLevel.city_id
        )
    )
    found: dict[str, str] = {}
    for code, name in rows:
        found.setdefault(code, name)
    return found


def city_of(assignment: Assignment) -> int:
    return assignment.item.plan.city_id


# -- the calendar -------------------------------------------------------------------------------


def calendar_around(today: date) -> WorkingCalendar:
    return WorkingCalendar.load(today - timedelta(days=400), today + timedelta(days=60))


def working_days_overdue(assignment: Assignment, today: date, cal: WorkingCalendar) -> int:
    """Working days since the task's (extended) due date, 0 when it is not overdue."""
    if not assignment.is_overdue_on(today) or assignment.next_due_on is None:
        return 0
    return max(0, cal.working_days_between(assignment.next_due_on, today))


# -- issuing ------------------------------------------------------------------------------------


def default_required_action(answer_due_on: date) -> str:
    """The standard 督办要求 (the answer date is stated with it on the notice)."""
    return "请对照任务要求查明超期原因，明确整改措施、责任人和完成时限，抓紧推进落实。"


def _live_at(assignment_id: int, level_id: int) -> bool:
    return (
        db.session.scalar(
            select(Escalation.id).where(
                Escalation.assignment_id == assignment_id,
                Escalation.level_id == level_id,
                Escalation.state != EscalationState.WITHDRAWN.value,
            )
        )
        is not None
    )


def issue(
    assignment: Assignment,
    level: EscalationLevel,
    *,
    actor: User | None,
    today: date,
    required_action: str | None = None,
    cal: WorkingCalendar | None = None,
) -> Escalation:
    """Issue a numbered notice of ``level`` on the assignment (``actor`` None: the scheduled
    job). Audited; the unit is told at once. Refused for other roles than the office's, a
    completed task, a closed plan, a disabled level or a level already issued on the task."""
    if actor is not None and actor.role not in STAFF:
        raise PermissionDenied("only the office issues escalation notices")
    plan = assignment.item.plan
    if level.city_id != plan.city_id:
        raise EscalationRefused("level_city", "this level belongs to another city")
    if not level.is_enabled:
        raise EscalationRefused("level_disabled", "this level is disabled")
    if plan.status != PlanStatus.PUBLISHED.value:
        raise EscalationRefused("plan_closed", "the plan is not under way")
    if assignment.status == AssignmentStatus.COMPLETED.value:
        raise EscalationRefused("completed", "the task is completed")
    if _live_at(assignment.id, level.id):
        raise EscalationRefused("already_issued", "this level was already issued on this task")
    text = (required_action or "").strip() or None
    check_text("escalation.required_action", text, field="required_action")
    cal = cal or calendar_around(today)
    answer_due_on = cal.add_working_days(today, level.answer_working_days)
    values = {
        "assignment_id": assignment.id,
        "level_id": level.id,
        "unit_id": assignment.unit_id,
        "city_id": plan.city_id,
        "year": today.year,
        "issued_on": today,
        "issued_by_id": actor.id if actor else None,
        "due_on": assignment.next_due_on,
        "overdue_working_days": working_days_overdue(assignment, today, cal),
        "required_action": text or default_required_action(answer_due_on),
        "answer_due_on": answer_due_on,
        "state": EscalationState.ISSUED.value,
    }
    escalation = _insert_numbered(values)
    audit.record(
        "escalation.issued",
        "escalation",
        escalation.id,
        actor_id=actor.id if actor else None,
        after={
            "assignment_id": assignment.id,
            "unit_id": assignment.unit_id,
            "level": level.code,
            "number": escalation.number,
            "answer_due_on": answer_due_on,
            "overdue_working_days": escalation.overdue_working_days,
            "automatic": actor is None,
        }
        # Who the notice went to as the unit's leader (empty: the unit marked none).
        | (
            {"unit_leaders": [c.name for c in unit_leaders(assignment.unit_id)]}
            if level.to_unit_leader
            else {}
        ),
    )
    from taskhub.supervision import notices

    notices.issued(escalation)
    return escalation


def _insert_numbered(values: dict[str, Any]) -> Escalation:
    """Insert with the next number of the city and year. The number is unique in the database:
    a concurrent issue that took it first makes this one try the next (in a savepoint)."""
    city_id, year = values["city_id"], values["year"]
    for _ in range(NUMBER_ATTEMPTS):
        serial = (
            db.session.scalar(
                select(func.max(Escalation.serial)).where(
                    Escalation.city_id == city_id, Escalation.year == year
                )
            )
            or 0
        ) + 1
        escalation = Escalation(serial=serial, number=number_of(year, serial), **values)
        try:
            with db.session.begin_nested():
                db.session.add(escalation)
                db.session.flush()
        except IntegrityError:
            if _live_at(values["assignment_id"], values["level_id"]):
                raise EscalationRefused(
                    "already_issued", "this level was already issued on this task"
                ) from None
            continue
        return escalation
    raise EscalationRefused("busy", "no free notice number; try again")


# -- answering, closing, withdrawing -------------------------------------------------------------


def can_answer(escalation: Escalation, user: User) -> bool:
    """The unit's own users answer (the task's unit now, should it have moved)."""
    return user.role == "unit" and user.unit_id == escalation.assignment.unit_id


def answer(escalation: Escalation, *, actor: User, text: str, today: date) -> Escalation:
    """The unit's answer (反馈); late when given after the answer date. Audited; the office is
    told in-app."""
    if not can_answer(escalation, actor):
        raise PermissionDenied("only the unit's users answer its notices")
    lock(escalation)
    if escalation.state != EscalationState.ISSUED.value:
        raise EscalationRefused("not_open", "this notice is not awaiting an answer")
    text = (text or "").strip()
    if not text:
        raise EscalationRefused("answer_required", "write the answer")
    check_text("escalation.answer", text, field="answer")
    escalation.state = EscalationState.ANSWERED.value
    escalation.answer = text
    escalation.answered_at = now_utc()
    escalation.answered_by_id = actor.id
    escalation.is_answered_late = today > escalation.answer_due_on
    db.session.flush()
    audit.record(
        "escalation.answered",
        "escalation",
        escalation.id,
        actor_id=actor.id,
        before={"state": EscalationState.ISSUED.value},
        after={
            "state": escalation.state,
            "assignment_id": escalation.assignment_id,
            "late": escalation.is_answered_late,
        },
    )
    from taskhub.supervision import notices

    notices.answered(escalation)
    return escalation


def close(escalation: Escalation, *, actor: User, note: str | None = None) -> Escalation:
    """The office closes a notice (销号), answered or not. Audited."""
    return _end(escalation, EscalationState.CLOSED, actor=actor, note=note)


def withdraw(escalation: Escalation, *, actor: User, note: str | None = None) -> Escalation:
    """The office withdraws a notice issued by mistake (the level may be issued again)."""
    if not (note or "").strip():
        raise EscalationRefused("note_required", "say why the notice is withdrawn")
    return _end(escalation, EscalationState.WITHDRAWN, actor=actor, note=note)


def _end(
    escalation: Escalation, state: EscalationState, *, actor: User, note: str | None
) -> Escalation:
    if actor.role not in STAFF:
        raise PermissionDenied("only the office closes or withdraws notices")
    lock(escalation)
    if escalation.state not in (EscalationState.ISSUED.value, EscalationState.ANSWERED.value):
        raise EscalationRefused("ended", "this notice is already closed or withdrawn")
    note = (note or "").strip() or None
    check_text("escalation.note", note, field="note")
    before = escalation.state
    escalation.state = state.value
    escalation.closed_at = now_utc()
    escalation.closed_by_id = actor.id
    escalation.close_note = note
    db.session.flush()
    audit.record(
        f"escalation.{state.value}",
        "escalation",
        escalation.id,
        actor_id=actor.id,
        before={"state": before},
        after={"state": state.value, "assignment_id": escalation.assignment_id, "note": note},
    )
    return escalation


# -- the scheduled job ----------------------------------------------------------------------------


@dataclass
class JobResult:
    checked: int = 0
    issued: int = 0
    by_level: dict[str, int] = field(default_factory=dict)


def escalate_overdue(today: date) -> JobResult:
    """Issue the notices the levels' triggers call for as of ``today`` (a working day).

    For each open, overdue task of a published plan: the highest automatic level whose
    trigger (working days overdue) is reached, when it ranks above every notice the task
    already had. So a rerun issues nothing new, a level is never issued twice, and the next
    level waits for its own trigger."""
    result = JobResult()
    cal = calendar_around(today)
    if not cal.is_working_day(today):
        return result
    rows = db.session.execute(
        select(Assignment, Plan.city_id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(
            Plan.status == PlanStatus.PUBLISHED.value,
            Assignment.overdue_on(today),
            ~Assignment.is_not_applicable,
        )
        .order_by(Assignment.id)
    ).all()
    if not rows:
        return result
    highest = _highest_ranks([a.id for a, _ in rows])
    batches = Batches(BATCH_SECONDS)
    ladders: dict[int, list[EscalationLevel]] = {}
    for assignment, city_id in rows:
        result.checked += 1
        if city_id not in ladders:
            ladders[city_id] = [
                lv for lv in ensure_levels(city_id) if lv.is_enabled and lv.is_automatic
            ]
        days = working_days_overdue(assignment, today, cal)
        reached = [lv for lv in ladders[city_id] if (lv.overdue_working_days or 0) <= days]
        if not reached:
            continue
        target = max(reached, key=lambda lv: lv.rank)
        if target.rank <= highest.get(assignment.id, 0):
            continue
        try:
            issue(assignment, target, actor=None, today=today, cal=cal)
        except EscalationRefused as exc:  # issued by the office meanwhile, plan closed …
            logger.info("escalation of assignment %s skipped: %s", assignment.id, exc.code)
            continue
        result.issued += 1
        result.by_level[target.code] = result.by_level.get(target.code, 0) + 1
        # A first run on an old plan issues thousands: commit as it goes.
        batches.done_one()
    return result


def _highest_ranks(assignment_ids: list[int]) -> dict[int, int]:
    """The highest level rank each assignment was ever issued (withdrawn ones included: the
    job does not reissue what the office withdrew)."""
    found: dict[int, int] = {}
    for start in range(0, len(assignment_ids), 500):
        chunk = assignment_ids[start : start + 500]
        rows = db.session.execute(
            select(Escalation.assignment_id, func.max(EscalationLevel.rank))
            .join(EscalationLevel, EscalationLevel.id == Escalation.level_id)
            .where(Escalation.assignment_id.in_(chunk))
            .group_by(Escalation.assignment_id)
        )
        found.update({aid: rank for aid, rank in rows})
    return found


# -- queries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    level: str | None = None  #: a level code
    state: str | None = None
    #: Only notices whose answer is overdue (issued, past the answer date).
    answer_overdue: bool = False
    unit_id: int | None = None
    assignment_id: int | None = None
    plan_id: int | None = None
    city_id: int | None = None


def query_escalations(filters: Filters, *, viewer: User, today: date) -> Any:
    """The notices matching ``filters`` that ``viewer`` may read (a unit: its own), newest
    first; pages and the API page it."""
    query = (
        select(Escalation)
        .join(EscalationLevel, EscalationLevel.id == Escalation.level_id)
        .options(
            joinedload(Escalation.level),
            joinedload(Escalation.assignment).joinedload(Assignment.unit),
            joinedload(Escalation.assignment).joinedload(Assignment.item).joinedload(Item.plan),
        )
    )
    if viewer.role not in ("admin", "office", "viewer", "assessor"):
        query = query.where(Escalation.unit_id == viewer.unit_id)
    if filters.level:
        query = query.where(EscalationLevel.code == filters.level)
    if filters.state:
        query = query.where(Escalation.state == filters.state)
    if filters.answer_overdue:
        query = query.where(
            Escalation.state == EscalationState.ISSUED.value, Escalation.answer_due_on < today
        )
    if filters.unit_id is not None:
        query = query.where(Escalation.unit_id == filters.unit_id)
    if filters.assignment_id is not None:
        query = query.where(Escalation.assignment_id == filters.assignment_id)
    if filters.city_id is not None:
        query = query.where(Escalation.city_id == filters.city_id)
    if filters.plan_id is not None:
        query = query.where(
            Escalation.assignment_id.in_(
                select(Assignment.id)
                .join(Item, Item.id == Assignment.item_id)
                .where(Item.plan_id == filters.plan_id)
            )
        )
    return query.order_by(Escalation.issued_at.desc(), Escalation.id.desc())


def of_assignment(assignment_id: int) -> list[Escalation]:
    return list(
        db.session.scalars(
            select(Escalation)
            .options(joinedload(Escalation.level))
            .where(Escalation.assignment_id == assignment_id)
            .order_by(Escalation.id)
        )
    )


def get(escalation_id: int) -> Escalation:
    found = db.session.get(Escalation, escalation_id)
    if found is None:
        raise NotFound(f"escalation {escalation_id} does not exist")
    return found


def can_view(escalation: Escalation, user: User) -> bool:
    return escalation.assignment.can_view(user) or user.unit_id == escalation.unit_id


@dataclass(frozen=True)
class LevelCount:
    code: str
    name: str
    rank: int
    #: Notices of this level not withdrawn; of them, awaiting an answer; answered late.
    total: int
    open: int
    late: int


def counts_by_level(
    *, plan_id: int | None = None, unit_id: int | None = None, city_id: int | None = None
) -> list[LevelCount]:
    """Notices per level (withdrawn ones left out): the dashboard's and the bulletin's figures."""
    live = Escalation.state != EscalationState.WITHDRAWN.value
    query = (
        select(
            EscalationLevel.code,
            EscalationLevel.name,
            EscalationLevel.rank,
            func.count(Escalation.id),
            func.count(Escalation.id).filter(Escalation.state == EscalationState.ISSUED.value),
            func.count(Escalation.id).filter(Escalation.is_answered_late.is_(True)),
        )
        .join(Escalation, and_(Escalation.level_id == EscalationLevel.id, live))
        .group_by(EscalationLevel.code, EscalationLevel.name, EscalationLevel.rank)
        .order_by(EscalationLevel.rank)
    )
    if city_id is not None:
        query = query.where(EscalationLevel.city_id == city_id)
    if unit_id is not None:
        query = query.where(Escalation.unit_id == unit_id)
    if plan_id is not None:
        # Each notice's own task looked up (a correlated EXISTS): the notices are few, a
        # province's plan has 100,000 tasks, which an IN list would read first (75 ms).
        query = query.where(
            select(Assignment.id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Assignment.id == Escalation.assignment_id, Item.plan_id == plan_id)
            .exists()
        )
    return [LevelCount(*row) for row in db.session.execute(query)]


def counts_by_unit(
    plan_id: int, unit_ids: Iterable[int] | None = None
) -> dict[int, dict[str, int]]:
    """Per unit: notices per level name (withdrawn left out), for the bulletin."""
    query = (
        select(Escalation.unit_id, EscalationLevel.name, func.count(Escalation.id))
        .join(EscalationLevel, EscalationLevel.id == Escalation.level_id)
        .join(Assignment, Assignment.id == Escalation.assignment_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan_id, Escalation.state != EscalationState.WITHDRAWN.value)
        .group_by(Escalation.unit_id, EscalationLevel.name, EscalationLevel.rank)
        .order_by(Escalation.unit_id, EscalationLevel.rank)
    )
    if unit_ids is not None:
        query = query.where(Escalation.unit_id.in_(list(unit_ids)))
    found: dict[int, dict[str, int]] = {}
    for unit_id, name, n in db.session.execute(query):
        found.setdefault(unit_id, {})[name] = n
    return found


# -- the formal notice ---------------------------------------------------------------------------


def unit_leaders(unit_id: int) -> list[Contact]:
    """The contacts a unit marked as its principal leader (单位主要负责人), by id."""
    return list(
        db.session.scalars(
            select(Contact)
            .where(Contact.unit_id == unit_id, Contact.is_unit_leader)
            .order_by(Contact.id)
        )
    )


def unit_leader_missing(escalation: Escalation) -> bool:
    """The level asks for the unit's leader but the task's unit marked none among its contacts
    (the office sees a note on the notice: nobody but the contacts heard of it)."""
    if not escalation.level.to_unit_leader:
        return False
    return not db.session.scalar(
        select(func.count(Contact.id)).where(
            Contact.unit_id == escalation.assignment.unit_id, Contact.is_unit_leader
        )
    )


def notice_title(level: EscalationLevel) -> str:
    """督办通知单, 催办通知单 …; a level named as a document (红色督办单) keeps its name."""
    return level.name if level.name.endswith("单") else f"{level.name}通知单"


def notice_text(escalation: Escalation) -> Any:
    """What the notice document says (taskhub.supervision.word.NoticeText)."""
    from taskhub.reports.services import issuer_of
    from taskhub.scoring.models import Scheme
    from taskhub.supervision.word import NoticeText

    assignment = escalation.assignment
    item = assignment.item
    plan = item.plan
    level = escalation.level
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    issuer = issuer_of(scheme.definition if scheme else {}, plan.city.name)
    named = f"“{item.title}”" if item.title else ""
    copies = []
    if level.to_unit_leader:
        # Named when the unit marked its principal leader(s) among its contacts.
        names = "、".join(c.name for c in unit_leaders(assignment.unit_id))
        copies.append(f"{assignment.unit.name}主要负责同志" + (f"（{names}）" if names else ""))
    if level.to_responsible_leader:
        from taskhub.leaders.services import leader_of

        # The task's 分管领导 by name when one is named (item's, else unit's).
        leader = leader_of(assignment)
        copies.append(f"{leader.title or ''}{leader.name}同志" if leader else "分管领导")
    return NoticeText(
        issuer=issuer,
        number=escalation.number,
        title=notice_title(level),
        unit=assignment.unit.name,
        task=f"《{plan.title}》第{item.label}项任务{named}",
        task_text=item.text,
        due_on=escalation.due_on,
        overdue_working_days=escalation.overdue_working_days,
        percent=assignment.percent,
        required_action=escalation.required_action,
        answer_due_on=escalation.answer_due_on,
        issued_on=escalation.issued_on,
        copies_to=copies,
    )


def notice_docx(escalation: Escalation) -> bytes | None:
    """The notice as a Word document; None without python-docx."""
    from taskhub.reports.services import docx_available

    if not docx_available():
        return None
    from taskhub.supervision.word import notice_docx as build

    return build(notice_text(escalation))


def notice_file(escalation: Escalation) -> Any:
    """The notice as a download (pages and the API); None without python-docx."""
    from taskhub.core.xlsx import safe_file_name, xlsx_response
    from taskhub.reports.downloads import DOCX

    data = notice_docx(escalation)
    if data is None:
        return None
    name = safe_file_name(f"{escalation.number}{notice_title(escalation.level)}")
    ascii_name = f"escalation-{escalation.year}-{escalation.serial}.docx"
    # The workbook's attachment headers (core.xlsx); only the type differs.
    response = xlsx_response(data, f"{name}.docx", ascii_name)
    response.mimetype = DOCX
    return response


#: What the office may change on a level (the code and rank stay: the API and the ladder's order).
LEVEL_FIELDS = (
    "name",
    "overdue_working_days",
    "answer_working_days",
    "to_contacts",
    "to_unit_leader",
    "to_responsible_leader",
    "is_enabled",
)


def update_level(level: EscalationLevel, *, actor: User, **changes: Any) -> EscalationLevel:
    """Change a level's name, trigger, answer days, recipients or enabled flag (the office).
    ``overdue_working_days`` None makes it the office's decision only. Audited."""
    if actor.role not in STAFF:
        raise PermissionDenied("only the office keeps the escalation levels")
    unknown = set(changes) - set(LEVEL_FIELDS)
    if unknown:
        raise EscalationRefused("level_field", f"cannot change {', '.join(sorted(unknown))}")
    lock(level)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise EscalationRefused("level_name", "the level needs a name")
        check_text("escalation.level_name", changes["name"], field="name")
    for key in ("overdue_working_days", "answer_working_days"):
        value = changes.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise EscalationRefused("level_days", f"{key} must be a whole number from 1")
    if "answer_working_days" in changes and changes["answer_working_days"] is None:
        raise EscalationRefused("level_days", "answer_working_days must be a whole number from 1")
    before = {k: getattr(level, k) for k in changes}
    for key, value in changes.items():
        setattr(level, key, value)
    db.session.flush()
    audit.record(
        "escalation_level.updated",
        "escalation_level",
        level.id,
        actor_id=actor.id,
        before=before,
        after={k: getattr(level, k) for k in changes}
        | {"city_id": level.city_id, "code": level.code},
    )
    return level
