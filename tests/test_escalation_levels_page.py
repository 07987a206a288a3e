"""The office's page of a city's escalation levels (督办等级): who may open and save it, the
one-form edit (one transaction, each changed level audited like the API), and the errors shown
beside the field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.supervision import services
from taskhub.supervision.models import EscalationLevel
from tests.conftest import unit_named
from tests.test_access import OWN, ROLES, check_access


def _city() -> Any:
    return unit_named(OWN, "baotou").city


def _form(**overrides: str) -> dict[str, str]:
    """The levels form as the page shows it for the default ladder, with ``overrides``."""
    form: dict[str, str] = {}
    for level in services.levels_or_defaults(_city().id):
        c = level.code
        form[f"name-{c}"] = level.name
        form[f"trigger-{c}"] = str(level.overdue_working_days or "")
        form[f"answer-{c}"] = str(level.answer_working_days)
        for flag in ("to_contacts", "to_unit_leader", "to_responsible_leader", "is_enabled"):
            if getattr(level, flag):
                form[f"{flag}-{c}"] = "1"
    form.update(overrides)
    return form


def trace() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(EscalationLevel)) or 0,
        db.session.scalar(select(func.max(AuditEvent.id))) or 0,
    )


CASES = {
    "levels page": lambda: ("GET", f"/cities/{_city().code}/escalation-levels", None),
    "save levels": lambda: (
        "POST",
        f"/cities/{_city().code}/escalation-levels",
        _form(**{"trigger-remind": "2"}),
    ),
}
# In the order of ROLES (anonymous, admin, office, assessor, unit, viewer).
MATRIX = {
    "levels page": [302, 200, 200, 403, 403, 403],
    "save levels": [302, 302, 302, 403, 403, 403],
}


@pytest.mark.parametrize("case", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, login_as, case, role):
    check_access(
        client,
        login_as,
        role,
        unit_named(OWN, "baotou"),
        CASES[case](),
        MATRIX[case][ROLES.index(role)],
        trace,
        audited=True,
    )


def _events() -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "escalation_level.updated")
            .order_by(AuditEvent.id)
        )
    )


def test_page_shows_the_ladder_and_saves_changed_levels(client, login_as):
    login_as("office")
    city = _city()
    url = f"/cities/{city.code}/escalation-levels"
    page = client.get(url).get_data(as_text=True)
    assert "督办等级设置" in page and "提醒" in page and "约谈" in page
    assert "仅由督办室决定" in page and "单位联系人" in page and "分管领导" in page
    assert "Escalation levels" not in page
    # reachable from the city page and the escalations list
    assert url in client.get(f"/cities/{city.code}").get_data(as_text=True)
    assert url in client.get("/escalations").get_data(as_text=True)

    form = _form(**{"name-remind": "蓝色提醒", "trigger-urge": "", "answer-urge": "3"})
    response = client.post(url, data=form, follow_redirects=True)
    assert "督办等级已保存（修改了 2 个等级）" in response.get_data(as_text=True)
    db.session.expire_all()
    levels = {lv.code: lv for lv in services.levels_of(city.id)}
    assert levels["remind"].name == "蓝色提醒"
    assert levels["urge"].overdue_working_days is None and not levels["urge"].is_automatic
    assert levels["urge"].answer_working_days == 3
    events = _events()
    assert len(events) == 2  # one per changed level; the unchanged ones are not touched
    assert {e.after["code"] for e in events} == {"remind", "urge"}


def test_bad_input_is_refused_beside_the_field_and_nothing_changes(client, login_as):
    login_as("admin")
    city = _city()
    url = f"/cities/{city.code}/escalation-levels"
    client.get(url)
    before = trace()
    bad = _form(**{"name-remind": "  ", "trigger-urge": "-2", "answer-supervise": "abc"})
    response = client.post(url, data=bad)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="name-remind-error"' in page and "请填写等级名称" in page
    assert 'id="trigger-urge-error"' in page and "请填写不小于 1 的整数（工作日）" in page
    assert 'id="answer-supervise-error"' in page
    assert 'value="-2"' in page  # the input is kept for correction
    db.session.expire_all()
    assert trace() == before
    assert services.levels_or_defaults(city.id)[0].name == "提醒"
