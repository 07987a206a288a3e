"""The item page names the item's own 分管领导 (the office and admins): a select of the city's
active leaders and 无 to clear, saved through the service the API uses (``item.leader_set``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.leaders import services
from taskhub.leaders.models import ItemLeader, Leader
from tests.conftest import unit_named
from tests.test_access import OWN, ROLES, assignment_of, check_access


def _leader(name: str = "张副市长", *, active: bool = True) -> Leader:
    city = unit_named(OWN, "baotou").city
    leader = services.create_leader(city, {"name": name, "title": "副市长"}, actor=None)
    if not active:
        services.update_leader(leader, {"name": name, "is_active": False}, actor=None)
    db.session.commit()
    return leader


def trace() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(ItemLeader)) or 0,
        db.session.scalar(select(func.max(AuditEvent.id))) or 0,
    )


def _set_case() -> tuple[str, str, dict[str, Any] | None]:
    item_id = assignment_of(OWN).item_id
    return ("POST", f"/items/{item_id}/leader", {"leader_id": str(_leader().id)})


# In the order of ROLES (anonymous, admin, office, assessor, unit, viewer).
MATRIX = {"set item leader": [302, 302, 302, 403, 403, 403]}


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, login_as, role):
    check_access(
        client,
        login_as,
        role,
        unit_named(OWN, "baotou"),
        _set_case(),
        MATRIX["set item leader"][ROLES.index(role)],
        trace,
        audited=True,
    )


@pytest.mark.parametrize("role", ["assessor", "unit", "viewer"])
def test_only_the_office_sees_the_picker(client, login_as, role):
    item_id = assignment_of(OWN).item_id
    login_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "分管领导" in page
    assert f"/items/{item_id}/leader" not in page


def test_a_city_without_leaders_gets_a_link_to_add_them_not_an_empty_picker(client, login_as):
    item_id = assignment_of(OWN).item_id
    login_as("office")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f"/items/{item_id}/leader" not in page
    assert "请先在“分管领导”页面添加本市领导" in page and "/cities/baotou/leaders" in page
    _leader()
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f"/items/{item_id}/leader" in page and "张副市长" in page


def test_office_names_and_clears_the_item_leader(client, login_as):
    item_id = assignment_of(OWN).item_id
    zhang = _leader()
    _leader("王副市长（已离任）", active=False)
    login_as("office")
    page = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert 'id="item-leader"' in page and "张副市长 · 副市长" in page
    assert "王副市长（已离任）" not in page  # inactive leaders are not offered

    response = client.post(
        f"/items/{item_id}/leader", data={"leader_id": str(zhang.id)}, follow_redirects=True
    )
    assert "分管领导已保存" in response.get_data(as_text=True)
    assert services.item_leader_id(item_id) == zhang.id

    client.post(f"/items/{item_id}/leader", data={"leader_id": ""}, follow_redirects=True)
    db.session.expire_all()
    assert services.item_leader_id(item_id) is None
    events = list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "item.leader_set", AuditEvent.object_id == str(item_id))
            .order_by(AuditEvent.id)
        )
    )
    assert [(e.before["leader_id"], e.after["leader_id"]) for e in events] == [
        (None, zhang.id),
        (zhang.id, None),
    ]


def test_a_leader_of_another_city_or_garbage_is_refused(client, login_as):
    item_id = assignment_of(OWN).item_id
    login_as("admin")
    before = trace()
    for value in ("abc", "999999"):
        response = client.post(
            f"/items/{item_id}/leader", data={"leader_id": value}, follow_redirects=True
        )
        assert "未保存" in response.get_data(as_text=True)
    db.session.expire_all()
    assert trace() == before
