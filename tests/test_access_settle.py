"""Access matrix of settling (办结 / 销号): every role against the reopen page route and API route
(the closing report and its sign-off use the report and review routes, whose rows are in
tests/test_access.py). Only the office and administrators reopen a completed task."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.tracking.models import Assignment, AssignmentStatus
from tests.conftest import unit_named
from tests.test_access import OTHER, OWN, ROLES, assignment_of, check_access


def _completed(unit_name: str) -> Assignment:
    """A completed (销号) assignment of the unit."""
    a = assignment_of(unit_name)
    a.status = AssignmentStatus.COMPLETED.value
    db.session.commit()
    return a


def trace() -> tuple[int, int]:
    """Completed assignments and audit events: a change alters one of them."""
    return (
        db.session.scalar(
            select(func.count()).where(Assignment.status == AssignmentStatus.COMPLETED.value)
        )
        or 0,
        db.session.scalar(select(func.max(AuditEvent.id))) or 0,
    )


def url_for_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    builders = {
        "reopen own task": lambda: (
            "POST",
            f"/assignments/{_completed(OWN).id}/reopen",
            {"reason": "材料不全"},
        ),
        "reopen other task": lambda: (
            "POST",
            f"/assignments/{_completed(OTHER).id}/reopen",
            {"reason": "材料不全"},
        ),
    }
    return builders[case]()


# Expected status per role, in the order of ROLES (anonymous, admin, office, assessor, unit,
# viewer). 302 for anonymous: to the login page; for a signed-in POST: done, back to the task.
MATRIX = {
    "reopen own task": [302, 302, 302, 403, 403, 403],
    "reopen other task": [302, 302, 302, 403, 403, 403],
}


@pytest.mark.parametrize("case", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, login_as, case, role):
    expected = MATRIX[case][ROLES.index(role)]
    check_access(
        client,
        login_as,
        role,
        unit_named(OWN, "baotou"),
        url_for_case(case),
        expected,
        trace,
        audited=True,
    )


API_ROLES = ["admin", "office", "assessor", "unit", "viewer"]
API_MATRIX = {
    "reopen own": [200, 200, 403, 403, 403],
    "reopen other": [200, 200, 403, 403, 403],
}


@pytest.mark.parametrize("case", list(API_MATRIX))
@pytest.mark.parametrize("role", API_ROLES)
def test_api_access_matrix(api_as, case, role):
    unit_name = OWN if case == "reopen own" else OTHER
    url = f"/api/v1/assignments/{_completed(unit_name).id}/reopen"
    caller = api_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)
    before = trace()
    response = caller.post(url, json={"reason": "材料不全"})
    expected = API_MATRIX[case][API_ROLES.index(role)]
    assert response.status_code == expected, f"{role} {url}: {response.get_data()[:200]}"
    db.session.expire_all()
    assert (trace() == before) == (expected != 200)


def test_api_refuses_anonymous_callers(client, session):
    assert client.post("/api/v1/assignments/1/reopen", json={"reason": "x"}).status_code == 401
