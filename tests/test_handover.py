"""Hand over and send back (转办 / 退回), from the pages and the API: a unit asks to send its
task back with a reason, the office hands it to another unit of the city (which must
acknowledge) or does not agree; the history shows the chain; due dates stay unless the office
restarts the clock; the units concerned are told once."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.reminders import services as reminders
from taskhub.reminders.models import Notification, OutboxMessage
from taskhub.supervision import handover, notices
from taskhub.supervision.models import HandoverRequest
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, Milestone
from taskhub.units.models import Contact, Unit
from tests.conftest import login, make_user, unit_named
from tests.test_escalations import KDL, QS, only_open
from tests.test_reminders import assignment


@pytest.fixture
def scene(session: Any) -> dict[str, Any]:
    kdl = assignment("3", KDL)
    only_open(kdl, assignment("3", QS))
    taken = select(Assignment.unit_id).where(Assignment.item_id == kdl.item_id)
    target = db.session.scalars(
        select(Unit)
        .where(Unit.city_id == kdl.unit.city_id, Unit.retired_on.is_(None), Unit.id.not_in(taken))
        .order_by(Unit.id)
    ).first()
    assert target is not None
    reminders.ensure_default_rules()
    db.session.add(Contact(unit_id=target.id, name="李明", email="li@example.org"))
    old_user = make_user("unit", unit_named(KDL, "baotou"), username="ho-old")
    new_user = make_user("unit", target, username="ho-new")
    office = make_user("office", username="ho-office")
    tracking.acknowledge(kdl, actor=old_user)
    db.session.commit()
    return {"kdl": kdl, "target": target, "old": old_user, "new": new_user, "office": office}


def due_dates(a: Assignment) -> list[date]:
    return list(
        db.session.scalars(
            select(Milestone.due_on).where(Milestone.assignment_id == a.id).order_by(Milestone.id)
        )
    )


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_unit_asks_office_hands_over_new_unit_acknowledges(client, scene):
    kdl, target = scene["kdl"], scene["target"]
    before = due_dates(kdl)
    login(client, scene["old"])
    html = page(client, f"/assignments/{kdl.id}")
    assert "申请退回" in html
    response = client.post(f"/assignments/{kdl.id}/handover-requests", data={"reason": ""})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(HandoverRequest)) == 0
    client.post(f"/assignments/{kdl.id}/handover-requests", data={"reason": "属住建部门职责"})
    request = db.session.scalars(select(HandoverRequest)).one()
    assert request.state == "pending" and request.from_unit_id == kdl.unit_id
    # The office hears of it in-app.
    assert db.session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.user_id == scene["office"].id
        )
    ) == 1  # fmt: skip
    client.post("/logout")

    login(client, scene["office"])
    html = page(client, "/handovers")
    assert "属住建部门职责" in html and "退回申请" in html
    html = page(client, f"/assignments/{kdl.id}")
    assert "转办至" in html and target.name in html
    response = client.post(
        f"/handovers/{request.id}/decide",
        data={"decision": "reassign", "to_unit": str(target.id), "note": "请接办"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert request.state == "reassigned" and request.to_unit_id == target.id
    assert kdl.unit_id == target.id and kdl.acknowledged_at is None and kdl.status == "new"
    assert due_dates(kdl) == before  # the clock does not restart
    client.post("/logout")

    # The old unit no longer has it; the new one sees it in 我的任务 and must acknowledge.
    login(client, scene["old"])
    assert client.get(f"/assignments/{kdl.id}").status_code == 403
    assert f"/assignments/{kdl.id}" not in page(client, "/my?view=all")
    client.post("/logout")
    login(client, scene["new"])
    assert f'/assignments/{kdl.id}"' in page(client, "/my?view=all")
    assert client.post(f"/assignments/{kdl.id}/acknowledge").status_code == 302
    db.session.expire_all()
    assert kdl.acknowledged_at is not None
    history = page(client, f"/assignments/{kdl.id}/history")
    for words in ("申请退回任务", "转办给其他单位", "签收"):
        assert words in history, words
    assert "属住建部门职责" in history
    # The chain in order: acknowledged by the old unit, asked, handed over, acknowledged anew.
    chain = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_id)
        .where(AuditEvent.object_type == "assignment", AuditEvent.object_id == str(kdl.id))
        .order_by(AuditEvent.id)
    ).all()
    assert [tuple(row) for row in chain] == [
        ("assignment.acknowledged", scene["old"].id),
        ("assignment.handover_requested", scene["old"].id),
        ("assignment.handed_over", scene["office"].id),
        ("assignment.acknowledged", scene["new"].id),
    ]


def test_restarting_the_clock_moves_open_due_dates(session, scene):
    kdl = scene["kdl"]
    before = due_dates(kdl)
    request = handover.ask(kdl, actor=scene["old"], reason="非本单位职责")
    today = kdl.created_at.date() + timedelta(days=12)
    handover.decide(request, actor=scene["office"], reassign=True,
                    to_unit_id=scene["target"].id, restart_clock=True, today=today)  # fmt: skip
    db.session.commit()
    assert request.restart_days == 12
    assert due_dates(kdl) == [d + timedelta(days=12) for d in before]
    assert kdl.next_due_on == min(before) + timedelta(days=12)


def test_office_does_not_agree_and_the_task_stays(client, scene):
    kdl = scene["kdl"]
    request = handover.ask(kdl, actor=scene["old"], reason="非本单位职责")
    db.session.commit()
    login(client, scene["office"])
    client.post(f"/handovers/{request.id}/decide", data={"decision": "reject"})
    db.session.expire_all()
    assert request.state == "pending"  # a note is required
    client.post(f"/handovers/{request.id}/decide", data={"decision": "reject", "note": "职责明确"})
    db.session.expire_all()
    assert request.state == "rejected" and kdl.unit_id == scene["old"].unit_id
    assert kdl.acknowledged_at is not None
    told = db.session.scalars(
        select(Notification.body).where(Notification.user_id == scene["old"].id)
    ).all()
    assert any("职责明确" in body for body in told)
    assert "不同意退回" in page(client, f"/assignments/{kdl.id}/history")


def test_the_units_are_told_once(session, scene):
    kdl, target = scene["kdl"], scene["target"]
    request = handover.ask(kdl, actor=scene["old"], reason="非本单位职责")
    handover.decide(request, actor=scene["office"], reassign=True, to_unit_id=target.id,
                    today=date.today())  # fmt: skip
    db.session.commit()
    new_inbox = db.session.scalars(
        select(Notification.title).where(Notification.user_id == scene["new"].id)
    ).all()
    assert len(new_inbox) == 1 and "转办任务" in new_inbox[0]
    # The unit that gave the task up cannot open it any more: its notice leads to its list.
    links = db.session.scalars(
        select(Notification.link).where(Notification.user_id == scene["old"].id)
    ).all()
    assert f"/assignments/{kdl.id}" not in links and "/my" in links
    outbox = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.recipient == "li@example.org")
    )
    assert db.session.scalar(outbox) == 1
    notices.handover_decided(request)  # told again (a retry): the outbox does not repeat
    db.session.commit()
    assert db.session.scalar(outbox) == 1


def test_a_unit_cannot_decide_nor_ask_twice(session, scene):
    from taskhub.core.errors import PermissionDenied

    kdl = scene["kdl"]
    request = handover.ask(kdl, actor=scene["old"], reason="非本单位职责")
    with pytest.raises(handover.HandoverRefused):
        handover.ask(kdl, actor=scene["old"], reason="再次申请")
    with pytest.raises(PermissionDenied):
        handover.decide(request, actor=scene["old"], reassign=False, note="x", today=date.today())
    with pytest.raises(PermissionDenied):
        handover.ask(kdl, actor=scene["new"], reason="不是我们的")


def test_the_api_asks_lists_and_decides(api_as, scene):
    kdl, target = scene["kdl"], scene["target"]
    unit = api_as("unit", unit_named(KDL, "baotou"))
    office = api_as("office")
    asked = unit.post(
        f"/api/v1/assignments/{kdl.id}/handover-requests", json={"reason": "非本单位"}
    )
    assert asked.status_code == 201, asked.get_data()
    body = asked.json
    assert body["state"] == "pending"
    again = unit.post(f"/api/v1/assignments/{kdl.id}/handover-requests", json={"reason": "再"})
    assert again.status_code == 422
    listed = office.get("/api/v1/handover-requests?state=pending")
    assert [r["id"] for r in listed.json] == [body["id"]]
    wrong = office.post(
        f"/api/v1/handover-requests/{body['id']}/decide", json={"decision": "reassign"}
    )
    assert wrong.status_code == 422
    done = office.post(
        f"/api/v1/handover-requests/{body['id']}/decide",
        json={"decision": "reassign", "to_unit_id": target.id},
    )
    assert done.status_code == 200 and done.json["to_unit_id"] == target.id
    assert unit.get("/api/v1/handover-requests?state=reassigned").json[0]["id"] == body["id"]
