"""Leaders (分管领导): the city's list kept by the office (audited), a unit's and an item's leader,
the leader's view (their tasks, red first) and who may read it; the access matrix of the
routes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.leaders import services
from taskhub.leaders.models import Leader
from taskhub.models import Assignment, Item, Plan
from taskhub.tracking.models import AssignmentStatus
from tests.conftest import Browser, make_user, unit_named
from tests.test_access import OTHER, OWN, ROLES, assignment_of
from tests.test_escalations import scene  # noqa: F401  (the fixture of a notice's scene)

TODAY = date(2022, 7, 5)
KDL_NAME = OWN


def _leader(name: str = "张副市长", unit_name: str | None = None, user_id: int | None = None):
    city = unit_named(OWN, "baotou").city
    leader = services.create_leader(
        city,
        {"name": name, "title": "副市长", "portfolio": "数字政府", "user_id": user_id},
        actor=None,
    )
    if unit_name:
        services.set_unit_leader(unit_named(unit_name, "baotou"), leader.id, actor=None)
    db.session.commit()
    return leader


def _audits(action: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def test_office_keeps_the_list_on_the_page_audited(client, login_as):
    login_as("office")
    city = unit_named(OWN, "baotou").city
    response = client.post(
        f"/cities/{city.code}/leaders",
        data={
            "name": "王市长",
            "title": "市长",
            "portfolio": "全面工作",
            "email": "wang@bt.gov.cn",
        },
    )
    assert response.status_code == 302
    leader = db.session.scalar(select(Leader).where(Leader.name == "王市长"))
    assert leader is not None and leader.email == "wang@bt.gov.cn" and leader.is_active
    assert _audits("leader.created") == 1
    page = client.get(f"/cities/{city.code}/leaders").get_data(as_text=True)
    assert "王市长" in page and "全面工作" in page
    # Left out of the form: made inactive, kept.
    client.post(f"/leaders/{leader.id}/edit", data={"name": "王市长", "title": "原市长"})
    db.session.expire_all()
    assert leader.is_active is False and leader.title == "原市长"
    assert _audits("leader.updated") == 1
    # The same name twice in a city is refused, nothing written.
    client.post(f"/cities/{city.code}/leaders", data={"name": "王市长"})
    assert db.session.scalar(select(func.count()).select_from(Leader)) == 1


def test_unit_edit_page_sets_the_unit_leader(client, login_as):
    leader = _leader()
    login_as("office")
    unit = unit_named(OWN, "baotou")
    form = client.get(f"/units/{unit.id}/edit").get_data(as_text=True)
    assert "张副市长" in form
    response = client.post(
        f"/units/{unit.id}/edit",
        data={"name": unit.name, "kind": unit.kind, "leader_id": str(leader.id)},
    )
    assert response.status_code == 302
    assert services.unit_leader_id(unit.id) == leader.id
    assert _audits("unit.leader_set") == 1
    # Saving again unchanged writes no second record; clearing it does.
    client.post(f"/units/{unit.id}/edit", data={"name": unit.name, "kind": unit.kind,
                                                "leader_id": str(leader.id)})  # fmt: skip
    assert _audits("unit.leader_set") == 1
    client.post(f"/units/{unit.id}/edit", data={"name": unit.name, "kind": unit.kind})
    assert services.unit_leader_id(unit.id) is None
    assert _audits("unit.leader_set") == 2


def test_leader_view_lists_their_tasks_red_first(session):
    leader = _leader(unit_name=OWN)
    other = _leader("李副市长", unit_name=OTHER)
    own = set(
        db.session.scalars(
            select(Assignment.id)
            .join(Item)
            .join(Plan)
            .where(Plan.status == "published", Assignment.unit_id == unit_named(OWN, "baotou").id)
        )
    )
    assert own
    # One task of the other unit whose item names this leader (the item overrides the unit).
    moved = assignment_of(OTHER)
    services.set_item_leader(db.session.get(Item, moved.item_id), leader.id, actor=None)
    # One of the leader's tasks completed: green, listed after the red ones.
    done = assignment_of(OWN)
    done.status = AssignmentStatus.COMPLETED.value
    db.session.commit()
    view = services.leader_view(leader, date(2026, 12, 7))
    ids = {r.assignment_id for r in view.rows}
    same_item = set(db.session.scalars(select(Assignment.id).where(
        Assignment.item_id == moved.item_id)))  # fmt: skip
    assert ids == own | same_item
    ranks = [services.RANK[r.color] for r in view.rows]
    assert ranks == sorted(ranks) and view.rows[0].color == "red"
    assert next(r for r in view.rows if r.assignment_id == done.id).color == "green"
    assert view.counts["red"] >= 1 and view.counts["green"] >= 1
    assert view.total == len(ids)
    assert view.overdue and view.overdue[0].days_overdue
    assert moved.id not in {r.assignment_id for r in services.leader_view(other, TODAY).rows}


def test_leader_page_is_theirs_and_the_office_s(app, session):
    mine = make_user("unit", unit_named(OWN, "baotou"), username="leader-account")
    leader_id = _leader(unit_name=OWN, user_id=mine.id).id
    other_id = _leader("李副市长", unit_name=OTHER).id
    person = Browser(app, mine)
    page = person.page(f"/leaders/{leader_id}")
    assert "张副市长" in page and "@media print" in page
    # Another leader's page: refused to a unit user, even one linked to a leader.
    assert person.get(f"/leaders/{other_id}").status_code == 403


# -- access matrix ---------------------------------------------------------------------------------


def _page_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    city = unit_named(OWN, "baotou").city
    cases = {
        "leaders list": lambda: ("GET", f"/cities/{city.code}/leaders", None),
        "add leader": lambda: ("POST", f"/cities/{city.code}/leaders", {"name": "赵副市长"}),
        "edit leader": lambda: ("POST", f"/leaders/{_leader().id}/edit", {"name": "张某"}),
        "leader view": lambda: ("GET", f"/leaders/{_leader().id}", None),
    }
    return cases[case]()


# Expected status per role (anonymous, admin, office, assessor, unit, viewer).
MATRIX = {
    "leaders list": [302, 200, 200, 403, 403, 403],
    "add leader": [302, 302, 302, 403, 403, 403],
    "edit leader": [302, 302, 302, 403, 403, 403],
    "leader view": [302, 200, 200, 403, 403, 200],
}


def _trace() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


@pytest.mark.parametrize("case", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, login_as, case, role):
    method, url, form = _page_case(case)
    if role != "anonymous":
        login_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)
    before = _trace()
    response = client.open(url, method=method, data=form)
    expected = MATRIX[case][ROLES.index(role)]
    assert response.status_code == expected, f"{role} {method} {url}"
    if method == "POST" and expected != 302:
        db.session.expire_all()
        assert _trace() == before


API_ROLES = ["admin", "office", "assessor", "unit", "viewer"]
API_MATRIX = {
    "list": [200, 200, 200, 200, 200],
    "add": [201, 201, 403, 403, 403],
    "change": [200, 200, 403, 403, 403],
    "unit leader": [200, 200, 403, 403, 403],
    "item leader": [200, 200, 403, 403, 403],
}


def _api_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    unit = unit_named(OWN, "baotou")
    base = f"/api/v1/cities/{unit.city_id}/leaders"
    cases = {
        "list": lambda: ("GET", base, None),
        "add": lambda: ("POST", base, {"name": "赵副市长", "email": "zhao@bt.gov.cn"}),
        "change": lambda: ("PATCH", f"{base}/{_leader().id}", {"portfolio": "工业"}),
        "unit leader": lambda: (
            "PUT",
            f"/api/v1/units/{unit.id}/leader",
            {"leader_id": _leader().id},
        ),
        "item leader": lambda: (
            "PUT",
            f"/api/v1/items/{assignment_of(OWN).item_id}/leader",
            {"leader_id": _leader().id},
        ),
    }
    return cases[case]()


def check_api_access(
    api_as: Any, role: str, call: tuple[str, str, dict[str, Any] | None], expected: int
) -> None:
    """One API access case: the role's answer, and no audit record when refused (also used by
    tests/test_leader_instructions.py)."""
    method, url, body = call
    caller = api_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)
    before = _trace()
    response = caller._call(method, url, json=body) if body else caller.get(url)
    assert response.status_code == expected, f"{role} {method} {url}: {response.get_data()[:200]}"
    if expected == 403:
        db.session.expire_all()
        assert _trace() == before


@pytest.mark.parametrize("case", list(API_MATRIX))
@pytest.mark.parametrize("role", API_ROLES)
def test_api_access_matrix(api_as, case, role):
    check_api_access(api_as, role, _api_case(case), API_MATRIX[case][API_ROLES.index(role)])


def test_api_refuses_a_leader_of_another_city(api_as):
    leader = _leader()
    other_city_unit = db.session.scalars(
        select(Assignment).join(Item).join(Plan).where(Plan.code != "baotou-2022")
    ).first()
    assert other_city_unit is not None
    caller = api_as("office")
    response = caller.put(
        f"/api/v1/units/{other_city_unit.unit_id}/leader", json={"leader_id": leader.id}
    )
    assert response.status_code == 422
    response = caller.patch(
        f"/api/v1/cities/{leader.city_id}/leaders/{leader.id}", json={"email": "bad"}
    )
    assert response.status_code == 422


# -- escalations copied to the 分管领导 ---------------------------------------------------------


def test_a_notice_copied_to_the_leader_emails_them_once(scene):  # noqa: F811
    from taskhub.reminders.models import OutboxMessage
    from taskhub.supervision import services as escalations

    kdl = scene["kdl"]
    leader = _leader(unit_name=KDL_NAME)
    services.update_leader(leader, {"email": "zhang@bt.gov.cn"}, actor=None)
    db.session.commit()

    def leader_rows(notice_id: int) -> list[OutboxMessage]:
        return list(
            db.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.dedupe_key.like(f"notice:escalation:{notice_id}:%"),
                    OutboxMessage.recipient == "zhang@bt.gov.cn",
                )
            )
        )

    city_id = escalations.city_of(kdl)
    # 提醒 is not copied to the 分管领导; 督办 is (the default ladder).
    remind = escalations.issue(
        kdl, escalations.level_by_code(city_id, "remind"), actor=scene["office"], today=TODAY
    )
    supervise = escalations.issue(
        kdl, escalations.level_by_code(city_id, "supervise"), actor=scene["office"], today=TODAY
    )
    db.session.commit()
    assert leader_rows(remind.id) == []
    (row,) = leader_rows(supervise.id)
    assert row.channel == "email" and supervise.number in row.subject
    # Telling again (a rerun) queues nothing new.
    from taskhub.supervision import notices

    notices.issued(supervise)
    db.session.commit()
    assert len(leader_rows(supervise.id)) == 1


def test_a_leader_account_of_another_unit_is_led_to_the_leaders_view(scene, client):  # noqa: F811
    from taskhub.reminders.models import Notification
    from taskhub.supervision import services as escalations
    from tests.conftest import login

    kdl = scene["kdl"]
    # The leader reads through an account of 青山区 (say, a secretary's): it cannot open
    # 昆都仑区's task, so its notice leads to the leader's view, which it can.
    account = make_user("unit", unit_named(OTHER, "baotou"), "secretary")
    leader = _leader(unit_name=KDL_NAME, user_id=account.id)
    city_id = escalations.city_of(kdl)
    escalations.issue(
        kdl, escalations.level_by_code(city_id, "supervise"), actor=scene["office"], today=TODAY
    )
    db.session.commit()
    links = dict(db.session.execute(select(Notification.user_id, Notification.link)).all())
    assert links[scene["unit"].id] == f"/assignments/{kdl.id}#escalations"
    assert links[account.id] == f"/leaders/{leader.id}"
    login(client, account)
    assert client.get(links[account.id]).status_code == 200
    assert client.get(f"/assignments/{kdl.id}").status_code == 403
