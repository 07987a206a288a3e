"""Access matrix of the escalation notices (督办单): every role against every page route and API
route, checked on the server. The office issues, closes and withdraws; the unit answers its
own notices only; everyone signed in reads what they may (a unit: its own)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.supervision import services
from taskhub.supervision.models import Escalation
from tests.conftest import make_user, unit_named
from tests.test_access import OTHER, OWN, ROLES, assignment_of, check_access


def _notice(unit_name: str) -> Escalation:
    a = assignment_of(unit_name)
    office = db.session.scalar(select(User).where(User.username == "esc-office"))
    office = office or make_user("office", username="esc-office")
    level = services.level_by_code(services.city_of(a), "remind")
    notice = services.issue(a, level, actor=office, today=date(2022, 7, 5))
    db.session.commit()
    return notice


def url_for_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    builders = {
        "escalations list": lambda: ("GET", "/escalations?answer_overdue=1", None),
        "issue escalation": lambda: (
            "POST",
            f"/assignments/{assignment_of(OWN).id}/escalations",
            {"level": "urge"},
        ),
        "answer own escalation": lambda: (
            "POST",
            f"/escalations/{_notice(OWN).id}/answer",
            {"answer": "已整改"},
        ),
        "answer other escalation": lambda: (
            "POST",
            f"/escalations/{_notice(OTHER).id}/answer",
            {"answer": "已整改"},
        ),
        "close escalation": lambda: ("POST", f"/escalations/{_notice(OWN).id}/close", {}),
        "withdraw escalation": lambda: (
            "POST",
            f"/escalations/{_notice(OWN).id}/withdraw",
            {"note": "误发"},
        ),
        "own notice document": lambda: ("GET", f"/escalations/{_notice(OWN).id}/notice.docx", None),
        "other notice document": lambda: (
            "GET",
            f"/escalations/{_notice(OTHER).id}/notice.docx",
            None,
        ),
    }
    return builders[case]()


# Expected status per role, in the order of ROLES (anonymous, admin, office, assessor, unit,
# viewer). 302 for anonymous: to the login page; for a signed-in POST: done, back to the task.
MATRIX = {
    "escalations list": [302, 200, 200, 200, 200, 200],
    "issue escalation": [302, 302, 302, 403, 403, 403],
    "answer own escalation": [302, 403, 403, 403, 302, 403],
    "answer other escalation": [302, 403, 403, 403, 403, 403],
    "close escalation": [302, 302, 302, 403, 403, 403],
    "withdraw escalation": [302, 302, 302, 403, 403, 403],
    "own notice document": [302, 200, 200, 200, 200, 200],
    "other notice document": [302, 200, 200, 200, 403, 200],
}


def trace() -> tuple[int, int]:
    """Escalations and audit events: a change adds to one of them."""
    return (
        db.session.scalar(select(func.count()).select_from(Escalation)) or 0,
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


# -- the API ---------------------------------------------------------------------------------------

API_ROLES = ["admin", "office", "assessor", "unit", "viewer"]
API_MATRIX = {
    "list": [200, 200, 200, 200, 200],
    "issue": [201, 201, 403, 403, 403],
    "read other": [200, 200, 200, 403, 200],
    "answer own": [403, 403, 403, 200, 403],
    "answer other": [403, 403, 403, 403, 403],
    "close": [200, 200, 403, 403, 403],
    "notice document": [200, 200, 200, 200, 200],
    "levels": [200, 200, 200, 200, 200],
    "edit level": [200, 200, 403, 403, 403],
}


def api_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    own_id = lambda: _notice(OWN).id  # noqa: E731
    cases = {
        "list": lambda: ("GET", "/api/v1/escalations/?state=issued", None),
        "issue": lambda: (
            "POST",
            "/api/v1/escalations/",
            {"assignment_id": assignment_of(OWN).id, "level": "urge"},
        ),
        "read other": lambda: ("GET", f"/api/v1/escalations/{_notice(OTHER).id}", None),
        "answer own": lambda: ("POST", f"/api/v1/escalations/{own_id()}/answer", {"answer": "好"}),
        "answer other": lambda: (
            "POST",
            f"/api/v1/escalations/{_notice(OTHER).id}/answer",
            {"answer": "好"},
        ),
        "close": lambda: ("POST", f"/api/v1/escalations/{own_id()}/close", {"note": "销号"}),
        "notice document": lambda: ("GET", f"/api/v1/escalations/{own_id()}/notice.docx", None),
        "levels": lambda: (
            "GET",
            f"/api/v1/cities/{unit_named(OWN, 'baotou').city_id}/escalation-levels",
            None,
        ),
        "edit level": lambda: (
            "PATCH",
            f"/api/v1/cities/{unit_named(OWN, 'baotou').city_id}/escalation-levels/remind",
            {"overdue_working_days": 5},
        ),
    }
    return cases[case]()


@pytest.mark.parametrize("case", list(API_MATRIX))
@pytest.mark.parametrize("role", API_ROLES)
def test_api_access_matrix(api_as, case, role):
    method, url, body = api_case(case)
    caller = api_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)
    before = trace()
    if method == "GET":
        response = caller.get(url)
    else:
        response = (
            caller.patch(url, json=body) if method == "PATCH" else caller.post(url, json=body)
        )
    expected = API_MATRIX[case][API_ROLES.index(role)]
    assert response.status_code == expected, f"{role} {method} {url}: {response.get_data()[:200]}"
    if expected == 403 and method != "GET":
        db.session.expire_all()
        assert trace() == before


def test_api_refuses_anonymous_callers(client, session):
    assert client.get("/api/v1/escalations/").status_code == 401
