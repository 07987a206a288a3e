"""Access matrix of decompose (分解) and co-handle (协办): every role against the page and API
routes. The task's unit (or the office) decomposes and closes; the sub-task's unit acknowledges
and reports; the lead unit reviews first, the office second; a unit sees only the sub-tasks it
handles or leads; only a co-handling unit adds its part (协办意见)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.supervision import subtasks
from taskhub.supervision.models import Subtask
from taskhub.tracking.models import Assignment, Milestone
from taskhub.units.models import Unit
from tests.conftest import make_user
from tests.test_access import ROLES, check_access
from tests.test_subtasks import DUE, tasks

HEGANG = "hegang-2022"


def lead() -> Assignment:
    return tasks()[0]


def own_unit() -> Unit:
    """The unit and assessor users' unit: the lead unit of Hegang's item 2."""
    return lead().unit


def helper_unit() -> Unit:
    return tasks()[1][0].unit


def _subtask(*, dept: bool = False, on: Assignment | None = None) -> Subtask:
    parent = on or lead()
    actor = make_user("office", None, username=f"st-office-{parent.id}-{dept}")
    found = subtasks.create(
        parent,
        actor=actor,
        text="完成数据共享接口",
        unit_id=None if dept else helper_unit().id if on is None else tasks()[1][1].unit_id,
        department="信息化科" if dept else None,
        milestones=[("完成", DUE)],
    )
    db.session.commit()
    return found


def _foreign_subtask() -> Subtask:
    """A sub-task neither handled nor led by the users' unit: on a co-handling unit's task."""
    return _subtask(on=tasks()[1][2])


def _report_id() -> int:
    st = _subtask()
    helper = make_user("unit", helper_unit(), username=f"st-helper-{st.id}")
    report = subtasks.submit_report(st, actor=helper, progress="已完成接口开发", percent=50)
    db.session.commit()
    return report.id


def _co_lead() -> Assignment:
    """A lead task of which the users' unit is a co-handling unit, with a round open."""
    mine = select(Assignment.item_id).where(
        Assignment.unit_id == own_unit().id, Assignment.role == "responsible"
    )
    found = db.session.scalars(
        select(Assignment)
        .where(Assignment.role == "lead", Assignment.item_id.in_(mine))
        .order_by(Assignment.id)
    ).first()
    assert found is not None
    if found.next_due_on is None or found.next_due_on < date.today():
        db.session.add(
            Milestone(assignment_id=found.id, kind="complete", title="完成",
                      due_on=date.today() + timedelta(days=20))
        )  # fmt: skip
        db.session.commit()
    return found


def page_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    builders = {
        "list": lambda: ("GET", "/subtasks", None),
        "page led": lambda: ("GET", f"/subtasks/{_subtask().id}", None),
        "page other": lambda: ("GET", f"/subtasks/{_foreign_subtask().id}", None),
        "create own": lambda: (
            "POST",
            f"/assignments/{lead().id}/subtasks",
            {"text": "完成接口", "department": "信息化科", "ms_due": "2022-09-30"},
        ),
        "create other": lambda: (
            "POST",
            f"/assignments/{tasks()[1][2].id}/subtasks",
            {"text": "完成接口", "department": "信息化科", "ms_due": "2022-09-30"},
        ),
        "acknowledge": lambda: ("POST", f"/subtasks/{_subtask(dept=True).id}/acknowledge", None),
        "report": lambda: (
            "POST",
            f"/subtasks/{_subtask(dept=True).id}/reports",
            {"progress": "完成", "percent": "30"},
        ),
        "review": lambda: (
            "POST",
            f"/subtask-reports/{_report_id()}/review",
            {"decision": "accept"},
        ),
        "close": lambda: ("POST", f"/subtasks/{_subtask().id}/close", {"reason": "并入主任务"}),
        "co-report": lambda: (
            "POST",
            f"/assignments/{_co_lead().id}/co-reports",
            {"text": "已配合"},
        ),
        "co-report lead": lambda: (
            "POST",
            f"/assignments/{lead().id}/co-reports",
            {"text": "已配合"},
        ),
        "setting": lambda: ("POST", f"/plans/{HEGANG}/subtask-review", {"second_review": "1"}),
    }
    return builders[case]()


# Expected status per role, in the order of ROLES (anonymous, admin, office, assessor, unit,
# viewer). 302 for anonymous: to the login page; for a signed-in POST: done, back to the page.
MATRIX = {
    "list": [302, 200, 200, 200, 200, 200],
    "page led": [302, 200, 200, 200, 200, 200],
    "page other": [302, 200, 200, 200, 403, 200],
    "create own": [302, 302, 302, 403, 302, 403],
    "create other": [302, 302, 302, 403, 403, 403],
    "acknowledge": [302, 403, 403, 403, 302, 403],
    "report": [302, 403, 403, 403, 302, 403],
    "review": [302, 302, 302, 403, 302, 403],
    "close": [302, 302, 302, 403, 302, 403],
    "co-report": [302, 403, 403, 403, 302, 403],
    "co-report lead": [302, 403, 403, 403, 403, 403],
    "setting": [302, 302, 302, 403, 403, 403],
}


def trace() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Subtask)) or 0,
        db.session.scalar(select(func.max(AuditEvent.id))) or 0,
    )


@pytest.mark.parametrize("case", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, login_as, case, role):
    expected = MATRIX[case][ROLES.index(role)]
    check_access(client, login_as, role, own_unit(), page_case(case), expected, trace, audited=True)


API_ROLES = ["admin", "office", "assessor", "unit", "viewer"]
API_MATRIX = {
    "list": [200, 200, 200, 200, 200],
    "rollup": [200, 200, 200, 200, 200],
    "one led": [200, 200, 200, 200, 200],
    "one other": [200, 200, 200, 403, 200],
    "create own": [201, 201, 403, 201, 403],
    "create other": [201, 201, 403, 403, 403],
    "acknowledge": [403, 403, 403, 200, 403],
    "report": [403, 403, 403, 201, 403],
    "review": [200, 200, 403, 200, 403],
    "close": [200, 200, 403, 200, 403],
    "setting": [200, 200, 403, 403, 403],
    "co round": [200, 200, 200, 200, 200],
    "co-report": [403, 403, 403, 201, 403],
    "co-report lead": [403, 403, 403, 403, 403],
}

_CREATE = {"text": "完成接口", "department": "信息化科", "milestones": [{"due_on": "2022-09-30"}]}


def api_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    cases = {
        "list": lambda: ("GET", "/api/v1/subtasks", None),
        "rollup": lambda: ("GET", f"/api/v1/assignments/{lead().id}/subtasks", None),
        "one led": lambda: ("GET", f"/api/v1/subtasks/{_subtask().id}", None),
        "one other": lambda: ("GET", f"/api/v1/subtasks/{_foreign_subtask().id}", None),
        "create own": lambda: ("POST", f"/api/v1/assignments/{lead().id}/subtasks", _CREATE),
        "create other": lambda: (
            "POST",
            f"/api/v1/assignments/{tasks()[1][2].id}/subtasks",
            {**_CREATE, "department": None, "unit_id": helper_unit().id},
        ),
        "acknowledge": lambda: (
            "POST", f"/api/v1/subtasks/{_subtask(dept=True).id}/acknowledge", None),
        "report": lambda: (
            "POST",
            f"/api/v1/subtasks/{_subtask(dept=True).id}/reports",
            {"progress": "完成", "percent": 30},
        ),
        "review": lambda: (
            "POST", f"/api/v1/subtask-reports/{_report_id()}/review", {"decision": "accept"}),
        "close": lambda: (
            "POST", f"/api/v1/subtasks/{_subtask().id}/close", {"reason": "并入主任务"}),
        "setting": lambda: (
            "PUT", f"/api/v1/plans/{HEGANG}/subtask-settings", {"second_review": True}),
        "co round": lambda: ("GET", f"/api/v1/assignments/{_co_lead().id}/co-reports", None),
        "co-report": lambda: (
            "POST", f"/api/v1/assignments/{_co_lead().id}/co-reports", {"text": "已配合"}),
        "co-report lead": lambda: (
            "POST", f"/api/v1/assignments/{lead().id}/co-reports", {"text": "已配合"}),
    }  # fmt: skip
    return cases[case]()


@pytest.mark.parametrize("case", list(API_MATRIX))
@pytest.mark.parametrize("role", API_ROLES)
def test_api_access_matrix(api_as, case, role):
    method, url, body = api_case(case)
    caller = api_as(role, own_unit() if role in ("unit", "assessor") else None)
    before = trace()
    if method == "GET":
        response = caller.get(url)
    elif method == "PUT":
        response = caller.put(url, json=body)
    else:
        response = caller.post(url, json=body)
    expected = API_MATRIX[case][API_ROLES.index(role)]
    assert response.status_code == expected, f"{role} {method} {url}: {response.get_data()[:300]}"
    if expected == 403 and method != "GET":
        db.session.expire_all()
        assert trace() == before


def test_a_units_list_holds_only_what_it_handles_or_leads(api_as):
    led, foreign = _subtask(), _foreign_subtask()
    caller = api_as("unit", own_unit())
    ids = {s["id"] for s in caller.get("/api/v1/subtasks").get_json()}
    assert led.id in ids and foreign.id not in ids


def test_api_refuses_anonymous_callers(client, session):
    assert client.get("/api/v1/subtasks").status_code == 401
