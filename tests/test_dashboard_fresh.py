"""The dashboard right after a change: figures recomputed where a change can move them, equal
to an independent count from the rows, and the ranking kept across changes that cannot move it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from taskhub.audit import services as audit
from taskhub.core import cache
from taskhub.core.db import db
from taskhub.core.storage import LocalStorage
from taskhub.dashboard import services
from taskhub.plans.models import Item, Plan
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, AssignmentStatus
from taskhub.units.models import Unit
from tests.conftest import make_user, unit_named
from tests.test_dashboard import area_row, body, get_page, tables

BAOTOU = "baotou-2022"
KUNDULUN = "昆都仑区人民政府"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    services.clear_cache()
    yield
    services.clear_cache()


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_today(day: date) -> date:
        monkeypatch.setattr("taskhub.dashboard.views.office_today", lambda: day)
        return day

    return set_today


def independent(day: date) -> tuple[Counter[str], dict[str, dict[str, int]]]:
    """Overdue tasks per unit name, and each area's buckets, counted here from the rows."""
    plan = db.session.scalars(select(Plan).where(Plan.code == BAOTOU)).one()
    top, titles = services.areas_of(plan)
    overdue: Counter[str] = Counter()
    areas: dict[str, dict[str, int]] = {}
    rows = db.session.execute(
        select(Assignment, Item.section_id, Unit.name)
        .join(Item, Item.id == Assignment.item_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Item.plan_id == plan.id)
    ).all()
    for a, section_id, unit in rows:
        if a.is_not_applicable:
            continue
        done = a.status == AssignmentStatus.COMPLETED.value
        late = not done and any(
            m.status == "open" and m.effective_due_on < day for m in a.milestones
        )
        if late:
            overdue[unit] += 1
        if done:
            bucket = "done"
        elif late:
            bucket = "overdue"
        elif a.status in ("new", "acknowledged") and a.percent == 0:
            bucket = "not_started"
        else:
            bucket = "in_progress"
        title = titles.get(top.get(section_id), "") if section_id is not None else ""
        counts = areas.setdefault(title, dict.fromkeys([*services.BUCKETS, "total"], 0))
        counts[bucket] += 1
        counts["total"] += 1
    return overdue, areas


def check_page(page: str, day: date) -> None:
    overdue, areas = independent(day)
    assert f'<span class="dash-kpi-n">{sum(overdue.values())}</span>' in page
    shown = body(tables(page).tables["table-units"])
    for unit, n, *_ in shown:
        assert overdue[unit] == int(n), unit
    most = sorted(overdue.values(), reverse=True)
    assert [int(r[1]) for r in shown][: len(most)] == most[: len(shown)]
    for title, counts in areas.items():
        if title:
            assert area_row(page, title) == counts, title


def test_figures_equal_a_count_from_the_rows_before_and_right_after_changes(
    client: FlaskClient, login_as: Any, session: Any, today: Any, tmp_path: Any
) -> None:
    day = today(date(2022, 6, 27))
    office = login_as("office")
    url = f"/plans/{BAOTOU}/dashboard"
    first = get_page(client, url)
    check_page(first, day)
    assert get_page(client, url) == first  # served from the cache, the same page
    ranking_keys = [k for k in services.cached_keys() if k[0] == "ranking"]
    assert ranking_keys

    # A unit reports progress on a task not started yet: it is in progress at once.
    kundulun = unit_named(KUNDULUN, "baotou")
    staff = make_user("unit", kundulun)
    plan = db.session.scalars(select(Plan).where(Plan.code == BAOTOU)).one()
    target = next(
        a
        for a in db.session.scalars(
            select(Assignment)
            .join(Item)
            .where(Item.plan_id == plan.id, Assignment.unit_id == kundulun.id)
            .order_by(Assignment.id)
        )
        if a.status in ("new", "acknowledged") and a.percent == 0 and not a.is_overdue_on(day)
    )
    tracking.submit_report(
        target,
        actor=staff,
        progress="已启动。",
        percent=30,
        storage=LocalStorage(tmp_path),
        max_bytes=1024,
    )
    session.commit()
    after = get_page(client, url)
    assert after != first
    check_page(after, day)
    # The ranking reads nothing a report changes: it is kept, not rolled up again.
    assert [k for k in services.cached_keys() if k[0] == "ranking"] == ranking_keys
    del office

    # Days later some open milestones have passed their dates: overdue at once, from the dates.
    later = today(day + timedelta(days=10))
    moved = get_page(client, url)
    check_page(moved, later)
    assert sum(independent(later)[0].values()) > sum(independent(day)[0].values())


def test_the_settled_fingerprint_skips_reports_only(session: Any) -> None:
    office = make_user("office")
    audit.record("plan.published", "plan", 1, actor_id=office.id)
    session.flush()
    first = cache.settled_fingerprint()
    assert first == cache.audit_fingerprint()
    event = audit.record("report.submitted", "progress_report", 1, actor_id=office.id)
    session.flush()
    assert cache.audit_fingerprint() == (event.id, event.digest)
    assert cache.settled_fingerprint() == first  # a report moves no milestone or score
    scored = audit.record("score.item_set", "item_score", 1, actor_id=office.id)
    audit.record("report.submitted", "progress_report", 2, actor_id=office.id)
    session.flush()
    assert cache.settled_fingerprint() == (scored.id, scored.digest)
