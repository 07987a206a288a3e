"""Settle (办结 / 销号): the unit applies to close a task with a closing report and evidence, the
office signs it off (销号) or returns it, and may reopen it with a reason; from the pages, the
API and in the audit trail, with the unit told once."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func, select

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.storage import LocalStorage
from taskhub.core.timeutil import office_today
from taskhub.dashboard.services import area_completion
from taskhub.reminders.models import Notification
from taskhub.tracking import services
from taskhub.tracking.models import Assignment, ProgressReport
from tests.conftest import login, make_user, unit_named
from tests.test_access import OWN, assignment_of
from tests.test_tracking import APPROVALS, PDF, assignment

MAX_BYTES = 1024 * 1024


def _events(action: str, object_id: int) -> list[AuditEvent]:
    query = select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.object_id == str(object_id)
    )
    return list(db.session.scalars(query.order_by(AuditEvent.id)))


def _notes(user: User, word: str) -> int:
    query = select(func.count()).where(
        Notification.user_id == user.id, Notification.title.contains(word)
    )
    return db.session.scalar(query.select_from(Notification)) or 0


def _is_open(a: Assignment) -> bool:
    rows = services.unit_assignments(a.unit_id, "open", office_today(), limit=1000)
    return a.id in {r.id for r in rows}


def _done(a: Assignment) -> int:
    rows = area_completion(a.item.plan, unit_id=a.unit_id, today=office_today())
    return sum(r.counts["done"] for r in rows)


def _apply(a: Assignment, user: User, tmp_path: Any, percent: int = 100) -> ProgressReport:
    return services.submit_report(
        a,
        actor=user,
        progress="全部任务已完成，形成长效机制。",
        percent=percent,
        closing=True,
        files=[services.UploadedFile("办结报告.pdf", PDF)],
        storage=LocalStorage(tmp_path / "evidence"),
        max_bytes=MAX_BYTES,
    )


def test_unit_applies_office_signs_off_and_reopens_from_the_pages(client, login_as):
    a = assignment_of(OWN)
    aid = a.id
    open_before, done_before = _is_open(a), _done(a)
    assert open_before
    unit_user = login_as("unit", unit_named(OWN, "baotou"))
    page = client.get(f"/assignments/{aid}").get_data(as_text=True)
    assert "申请办结" in page

    response = client.post(
        f"/assignments/{aid}/reports",
        data={
            "progress": "全部完成，附办结报告。",
            "percent": "100",
            "closing": "1",
            "version": str(a.version),
            "evidence": (io.BytesIO(PDF), "办结报告.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    db.session.expire_all()
    report = db.session.scalars(
        select(ProgressReport).where(ProgressReport.assignment_id == aid)
    ).one()
    assert (report.is_closing, report.percent, len(report.evidence)) == (True, 100, 1)
    assert "待销号" in client.get(f"/assignments/{aid}").get_data(as_text=True)

    client.post("/logout")
    office = login_as("office")
    assert "办结报告·待销号" in client.get("/review").get_data(as_text=True)
    response = client.post(f"/reports/{report.id}/review", data={"decision": "accept"})
    assert response.status_code == 302
    db.session.expire_all()
    a = db.session.get(Assignment, aid)
    assert a is not None and a.status == "completed" and a.completed_at is not None
    assert all(m.status == "done" for m in a.milestones)  # what the score roll-up counts
    (closed,) = _events("assignment.closed", aid)
    assert closed.actor_id == office.id
    assert not _is_open(a)  # 我的任务's open tab, the ledger's open view
    assert _done(a) == done_before + 1
    assert _notes(unit_user, "已销号") == 1
    page = client.get(f"/assignments/{aid}").get_data(as_text=True)
    assert "已销号" in page and "审核销号" in page and "重新打开" in page

    # Reopening needs a reason; without one nothing changes.
    client.post(f"/assignments/{aid}/reopen", data={"reason": " "})
    db.session.expire_all()
    assert db.session.get(Assignment, aid).status == "completed"
    assert _events("assignment.reopened", aid) == []
    response = client.post(f"/assignments/{aid}/reopen", data={"reason": "佐证材料不全"})
    assert response.status_code == 302
    db.session.expire_all()
    a = db.session.get(Assignment, aid)
    assert (a.status, a.completed_at) == ("in_progress", None)
    (reopened,) = _events("assignment.reopened", aid)
    assert (reopened.actor_id, reopened.after["reason"]) == (office.id, "佐证材料不全")
    assert reopened.before["status"] == "completed"
    assert _is_open(a)
    assert _notes(unit_user, "重新打开") == 1
    assert "重新打开任务" in client.get(f"/assignments/{aid}").get_data(as_text=True)

    # The unit reports on it again.
    client.post("/logout")
    login(client, unit_user)
    assert "申请办结" in client.get(f"/assignments/{aid}").get_data(as_text=True)


def test_a_returned_closing_report_keeps_the_task_open(session, tmp_path):
    a = assignment("baotou-2022", "3")
    user = make_user("unit", a.unit)
    report = _apply(a, user, tmp_path)
    assert a.status == "submitted"

    with pytest.raises(ValidationFailed):
        services.review_report(report, actor=make_user("office"), decision="return")
    services.review_report(
        report, actor=make_user("office", username="o2"), decision="return", reason="未附验收材料"
    )
    db.session.commit()
    assert (a.status, report.status) == ("returned", "returned")
    assert _is_open(a)
    assert _events("assignment.closed", a.id) == []
    assert _notes(user, "办结申请被退回") == 1


def test_only_the_office_signs_off_or_reopens(session, tmp_path):
    a = assignment("baotou-2022", "1")  # 市审批服务局 leads its assessment
    user = make_user("unit", a.unit)
    with pytest.raises(ValidationFailed):
        _apply(a, user, tmp_path, percent=90)  # a closing report is at 100%
    report = _apply(a, user, tmp_path)
    assessor = make_user("assessor", unit_named(APPROVALS, "baotou"))
    assert services.can_review(assessor, a)  # an ordinary report it could accept
    for who in (assessor, user):
        with pytest.raises(PermissionDenied):
            services.review_report(report, actor=who, decision="accept")
    services.review_report(report, actor=make_user("office"), decision="accept")
    assert a.status == "completed"
    for who in (assessor, user):
        with pytest.raises(PermissionDenied):
            services.reopen(a, actor=who, reason="重新办理")
    assert a.status == "completed"
    assert _events("assignment.reopened", a.id) == []
    # Reopening an open task is refused.
    services.reopen(a, actor=make_user("admin"), reason="重新办理")
    with pytest.raises(services.Rejected):
        services.reopen(a, actor=make_user("office", username="o3"), reason="再次")


def test_closing_and_reopening_through_the_api(api_as):
    a = assignment_of(OWN)
    unit = api_as("unit", unit_named(OWN, "baotou"))
    office = api_as("office")
    response = unit.post(
        f"/api/v1/assignments/{a.id}/reports",
        json={"progress": "全部完成", "percent": 100, "closing": True},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["closing"] is True
    rid = body["id"]
    assert (
        unit.post(f"/api/v1/reports/{rid}/review", json={"decision": "accept"}).status_code == 403
    )
    response = office.post(f"/api/v1/reports/{rid}/review", json={"decision": "accept"})
    assert response.status_code == 200, response.get_json()
    assert office.get(f"/api/v1/assignments/{a.id}").get_json()["status"] == "completed"
    assert unit.post(f"/api/v1/assignments/{a.id}/reopen", json={"reason": "x"}).status_code == 403
    assert office.post(f"/api/v1/assignments/{a.id}/reopen", json={}).status_code == 422
    response = office.post(f"/api/v1/assignments/{a.id}/reopen", json={"reason": "重新核实"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "in_progress"
    assert len(_events("assignment.reopened", a.id)) == 1
    # A second reopen of the open task is refused.
    response = office.post(f"/api/v1/assignments/{a.id}/reopen", json={"reason": "再次"})
    assert response.status_code == 422
