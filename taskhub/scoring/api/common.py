"""What the scoring API's modules share: loading a plan and checking its periods, error
answers, and paging, sorting and scoping lists."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from taskhub.core import api as core
from taskhub.core.api import abort_for, api_user, paged
from taskhub.core.db import db
from taskhub.core.errors import DomainError, ValidationFailed
from taskhub.core.permissions import READ_ALL
from taskhub.plans.models import Plan
from taskhub.scoring.models import Period, Snapshot
from taskhub.scoring.schemas import MAX_ID
from taskhub.scoring.schemes import parse_period_code
from taskhub.scoring.services import period_codes, scored_kinds

T = TypeVar("T")

#: Who may score items (the service then requires the office or the item's lead assessor).
SCORERS = ("admin", "office", "assessor")

_FIELD = re.compile(r"^[a-z_]+$")


def load_plan(code: str) -> Plan:
    """The plan with this code, or 404."""
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        core.abort(404, f"There is no plan {code!r}.")
    return plan


def fail(error: DomainError) -> NoReturn:
    """Roll back and answer a service's refusal.

    The scoring services name the offending input fields in ``problems`` (["value"]), so
    those become field errors rather than general ones.
    """
    db.session.rollback()
    problems = error.problems if isinstance(error, ValidationFailed) else []
    if problems and all(_FIELD.match(p) for p in problems):
        core.abort(422, error.message, errors={p: [error.message] for p in problems})
    abort_for(error)


def plan_periods(plan: Plan) -> list[dict[str, Any]]:
    """The plan's periods: those of its year for the kinds it is scored by, plus any other
    recorded ones of those kinds, each with its closed state and snapshot revisions."""
    kinds = scored_kinds(plan)
    recorded = {
        p.code: p for p in db.session.scalars(select(Period).where(Period.plan_id == plan.id))
    }
    revisions: dict[int, list[int]] = {}
    if recorded:
        query = (
            select(Snapshot.period_id, Snapshot.revision)
            .join(Period, Period.id == Snapshot.period_id)
            .where(Period.plan_id == plan.id)
            .order_by(Snapshot.period_id, Snapshot.revision)
        )
        for period_id, revision in db.session.execute(query):
            revisions.setdefault(period_id, []).append(revision)
    codes = set(period_codes(plan)) | {c for c, p in recorded.items() if p.kind in kinds}
    out = []
    for code in codes:
        kind, starts_on, ends_on = parse_period_code(code)
        period = recorded.get(code)
        revs = revisions.get(period.id, []) if period else []
        out.append(
            {
                "code": code,
                "kind": kind,
                "starts_on": starts_on,
                "ends_on": ends_on,
                "is_closed": bool(period and period.is_closed),
                "closed_at": period.closed_at if period else None,
                "revision": revs[-1] if revs else None,
                "revisions": revs,
                "doc_number": period.doc_number if period else None,
            }
        )
    out.sort(key=lambda p: (p["starts_on"], p["ends_on"], p["code"]))
    return out


def check_period(plan: Plan, code: str, *, field: str = "period") -> str:
    """A period of the plan: 422 for something that is not a period code, 404 for a period
    the plan is not scored by (another kind, or a year it was never scored in)."""
    code = code.strip()
    try:
        parse_period_code(code)
    except (ValidationFailed, ValueError):  # ValueError: a year such as 0000
        message = f"{code!r} is not a period code: write 2022, 2022-H1, 2022-H2 or 2021-11."
        core.abort(422, message, errors={field: [message]})
    known = [p["code"] for p in plan_periods(plan)]
    if code not in known:
        listed = ", ".join(known) or "none: it has no scoring scheme"
        core.abort(404, f"Plan {plan.code} has no period {code} (its periods: {listed}).")
    return code


def first_use_retried(compute: Callable[[], T]) -> T:
    """Run a computation that records its period on first use; two first uses at once would
    collide on the unique (plan, code), so the loser runs again over the winner's row."""
    try:
        return compute()
    except IntegrityError:
        db.session.rollback()
        return compute()


def page_of(rows: Sequence[T], pagination: Any) -> list[T]:
    """One page of rows computed in Python; sets the total for the X-Pagination header."""
    pagination.item_count = len(rows)
    start = pagination.first_item
    return list(rows[start : start + pagination.page_size])


def rows_page(query: Select[Any], pagination: Any) -> list[Any]:
    """One page of a select's rows (core.paged), or none for a page far past any list: an
    OFFSET beyond the database's integers would fail instead of finding nothing."""
    if pagination.first_item > MAX_ID:
        total = select(func.count()).select_from(query.order_by(None).subquery())
        pagination.item_count = db.session.scalar(total) or 0
        return []
    return paged(query, pagination, scalars=False)


def sort_rows(rows: list[dict[str, Any]], sort: str, keys: dict[str, Callable[..., Any]]) -> list:
    """Sort by a whitelisted key (``-key`` descending); rows without a value come last.

    Python's sort is stable both ways, so ties keep the services' order (rank, then name).
    """
    key = keys[sort.lstrip("-")]
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=key, reverse=sort.startswith("-"))
    return present + missing


def scoped(query: Select[Any], unit_column: Any) -> Select[Any]:
    """A unit's token sees only its own unit's entered scores, as on its assignment pages."""
    user = api_user()
    if user.role not in READ_ALL:
        query = query.where(unit_column == user.unit_id)
    return query


def ref(ident: int | None, name: str | None) -> dict[str, Any] | None:
    """A user as lists show who entered or published something (none: nobody recorded)."""
    return {"id": ident, "name": name} if ident is not None else None
