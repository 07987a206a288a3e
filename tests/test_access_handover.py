"""Access matrix of hand over and send back (转办 / 退回): every role against the page and API
routes. Only the task's own unit asks to send it back; only the office decides; everyone signed
in reads the list (a unit: its own requests)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.supervision import handover
from taskhub.supervision.models import HandoverRequest
from tests.conftest import make_user, unit_named
from tests.test_access import OTHER, OWN, ROLES, assignment_of, check_access


def _request(unit_name: str) -> HandoverRequest:
    a = assignment_of(unit_name)
    asker = make_user("unit", unit_named(unit_name, "baotou"), username=f"ho-{a.id}")
    found = handover.ask(a, actor=asker, reason="非本单位职责")
    db.session.commit()
    return found


def url_for_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    builders = {
        "handovers list": lambda: ("GET", "/handovers?state=pending", None),
        "ask own": lambda: (
            "POST",
            f"/assignments/{assignment_of(OWN).id}/handover-requests",
            {"reason": "非本单位职责"},
        ),
        "ask other": lambda: (
            "POST",
            f"/assignments/{assignment_of(OTHER).id}/handover-requests",
            {"reason": "非本单位职责"},
        ),
        "decide": lambda: (
            "POST",
            f"/handovers/{_request(OWN).id}/decide",
            {"decision": "reject", "note": "职责明确"},
        ),
    }
    return builders[case]()


# Expected status per role, in the order of ROLES (anonymous, admin, office, assessor, unit,
# viewer). 302 for anonymous: to the login page; for a signed-in POST: done, back to the task.
MATRIX = {
    "handovers list": [302, 200, 200, 200, 200, 200],
    "ask own": [302, 403, 403, 403, 302, 403],
    "ask other": [302, 403, 403, 403, 403, 403],
    "decide": [302, 302, 302, 403, 403, 403],
}


def trace() -> tuple[int, int]:
    """Requests and audit events: a change adds to one of them."""
    return (
        db.session.scalar(select(func.count()).select_from(HandoverRequest)) or 0,
        db.session.scalar(select(func.max(AuditEvent.id))) or 0,
    )


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
        audited=False,
    )


API_ROLES = ["admin", "office", "assessor", "unit", "viewer"]
API_MATRIX = {
    "list": [200, 200, 200, 200, 200],
    "ask own": [403, 403, 403, 201, 403],
    "ask other": [403, 403, 403, 403, 403],
    "decide": [200, 200, 403, 403, 403],
}


def api_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    cases = {
        "list": lambda: ("GET", "/api/v1/handover-requests?state=pending", None),
        "ask own": lambda: (
            "POST",
            f"/api/v1/assignments/{assignment_of(OWN).id}/handover-requests",
            {"reason": "非本单位职责"},
        ),
        "ask other": lambda: (
            "POST",
            f"/api/v1/assignments/{assignment_of(OTHER).id}/handover-requests",
            {"reason": "非本单位职责"},
        ),
        "decide": lambda: (
            "POST",
            f"/api/v1/handover-requests/{_request(OWN).id}/decide",
            {"decision": "reject", "note": "职责明确"},
        ),
    }
    return cases[case]()


@pytest.mark.parametrize("case", list(API_MATRIX))
@pytest.mark.parametrize("role", API_ROLES)
def test_api_access_matrix(api_as, case, role):
    method, url, body = api_case(case)
    caller = api_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)
    before = trace()
    response = caller.get(url) if method == "GET" else caller.post(url, json=body)
    expected = API_MATRIX[case][API_ROLES.index(role)]
    assert response.status_code == expected, f"{role} {method} {url}: {response.get_data()[:200]}"
    if expected == 403 and method != "GET":
        db.session.expire_all()
        assert trace() == before


def test_api_refuses_anonymous_callers(client, session):
    assert client.get("/api/v1/handover-requests").status_code == 401
