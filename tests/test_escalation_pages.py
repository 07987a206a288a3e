"""Escalation notices from the pages and the API: the office issues on the task page, the unit
answers there, the notice downloads as Word, the list page filters, the unit page and the
dashboard show them; the API lists, issues, answers and closes with the same rules."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from docx import Document
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.supervision import services
from taskhub.supervision.models import Escalation
from tests.conftest import unit_named
from tests.test_escalations import DUE, KDL, QS, only_open
from tests.test_reminders import assignment


@pytest.fixture
def tasks(session: Any) -> dict[str, Any]:
    kdl, qs = assignment("3", KDL), assignment("3", QS)
    only_open(kdl, qs)
    return {"kdl": kdl, "qs": qs, "kdl_unit": unit_named(KDL, "baotou")}


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_office_issues_on_the_task_page_and_the_unit_answers_there(client, login_as, tasks):
    kdl = tasks["kdl"]
    login_as("office")
    html = page(client, f"/assignments/{kdl.id}")
    assert "督办通知" in html or "督办" in html
    response = client.post(
        f"/assignments/{kdl.id}/escalations",
        data={"level": "supervise", "required_action": "请于三日内报送整改方案。"},
    )
    assert response.status_code == 302
    notice = db.session.scalars(select(Escalation).where(Escalation.assignment_id == kdl.id)).one()
    html = page(client, f"/assignments/{kdl.id}")
    assert notice.number in html and "请于三日内报送整改方案。" in html

    client.post("/logout")
    login_as("unit", tasks["kdl_unit"])
    response = client.post(f"/escalations/{notice.id}/answer", data={"answer": "已完成整改"})
    assert response.status_code == 302
    db.session.refresh(notice)
    assert notice.state == "answered" and notice.answer == "已完成整改"
    html = page(client, f"/assignments/{kdl.id}")
    assert "已完成整改" in html


def test_the_notice_downloads_as_word_with_number_unit_and_deadline(client, login_as, tasks):
    office = login_as("office")
    notice = services.issue(tasks["kdl"], services.level_by_code(tasks["kdl"].item.plan.city_id,
                            "supervise"), actor=office, today=date(2022, 7, 29))  # fmt: skip
    db.session.commit()
    response = client.get(f"/escalations/{notice.id}/notice.docx")
    assert response.status_code == 200
    assert response.mimetype.endswith("wordprocessingml.document")
    text = "\n".join(p.text for p in Document(io.BytesIO(response.data)).paragraphs)
    assert "督办〔2022〕1号" in text and "督办通知单" in text
    assert f"{KDL}：" in text and "2022年6月30日" in text and "已超期21个工作日" in text
    assert "2022年8月3日前" in text  # 3 working days after 29 July
    assert "抄送：" in text and "分管领导" in text


def test_a_unit_reads_and_answers_only_its_own_notices(client, login_as, tasks):
    office = login_as("office")
    level = services.level_by_code(tasks["qs"].item.plan.city_id, "remind")
    theirs = services.issue(tasks["qs"], level, actor=office, today=date(2022, 7, 5))
    db.session.commit()
    client.post("/logout")
    login_as("unit", tasks["kdl_unit"])
    assert client.get(f"/escalations/{theirs.id}/notice.docx").status_code == 403
    assert client.post(f"/escalations/{theirs.id}/answer", data={"answer": "x"}).status_code == 403
    assert client.post(f"/escalations/{theirs.id}/close", data={}).status_code == 403
    assert theirs.number not in page(client, "/escalations")


def test_the_list_filters_by_level_state_and_overdue_answers(client, login_as, tasks):
    office = login_as("office")
    city = tasks["kdl"].item.plan.city_id
    a = services.issue(tasks["kdl"], services.level_by_code(city, "remind"), actor=office,
                       today=date(2022, 7, 5))  # fmt: skip
    b = services.issue(tasks["qs"], services.level_by_code(city, "urge"), actor=office,
                       today=date(2030, 1, 7))  # fmt: skip
    db.session.commit()
    html = page(client, "/escalations")
    assert a.number in html and b.number in html
    html = page(client, "/escalations?level=urge")
    assert a.number not in html and b.number in html
    html = page(client, "/escalations?answer_overdue=1")  # a's answer date is long past
    assert a.number in html and b.number not in html
    html = page(client, "/escalations?state=closed")
    assert a.number not in html and b.number not in html
    # The unit page lists the unit's notices; the dashboard counts them per level.
    assert a.number in page(client, f"/units/{tasks['kdl_unit'].id}")
    html = page(client, "/plans/baotou-2022/dashboard")
    assert 'id="dash-escalations"' in html and "提醒" in html and "催办" in html


def test_the_api_issues_lists_answers_and_closes(api_as, tasks):
    office = api_as("office")
    unit = api_as("unit", tasks["kdl_unit"])
    created = office.post(
        "/api/v1/escalations/", json={"assignment_id": tasks["kdl"].id, "level": "remind"}
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert body["number"].startswith("督办〔") and body["state"] == "issued"
    assert body["due_on"] == DUE.isoformat() and body["level"] == "remind"
    again = office.post(
        "/api/v1/escalations/", json={"assignment_id": tasks["kdl"].id, "level": "remind"}
    )
    assert again.status_code == 422
    assert (
        unit.post(
            "/api/v1/escalations/", json={"assignment_id": tasks["kdl"].id, "level": "urge"}
        ).status_code
        == 403
    )
    listed = unit.get("/api/v1/escalations/?state=issued")
    assert [e["id"] for e in listed.json] == [body["id"]]
    answered = unit.post(f"/api/v1/escalations/{body['id']}/answer", json={"answer": "已整改"})
    assert answered.status_code == 200 and answered.json["state"] == "answered"
    assert answered.json["is_answered_late"] in (True, False)
    assert unit.post(f"/api/v1/escalations/{body['id']}/close", json={}).status_code == 403
    closed = office.post(f"/api/v1/escalations/{body['id']}/close", json={"note": "销号"})
    assert closed.status_code == 200 and closed.json["state"] == "closed"
    doc = unit.get(f"/api/v1/escalations/{body['id']}/notice.docx")
    assert doc.status_code == 200 and doc.data[:2] == b"PK"
    levels = unit.get(f"/api/v1/cities/{tasks['kdl'].item.plan.city_id}/escalation-levels")
    assert [lv["name"] for lv in levels.json] == ["提醒", "催办", "督办", "约谈"]


def test_the_openapi_document_describes_the_routes(client, session):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/escalations/",
        "/api/v1/escalations/{escalation_id}",
        "/api/v1/escalations/{escalation_id}/answer",
        "/api/v1/escalations/{escalation_id}/close",
        "/api/v1/escalations/{escalation_id}/notice.docx",
        "/api/v1/cities/{city_id}/escalation-levels",
    ):
        assert path in paths, path


def test_the_bulletin_counts_notices_per_unit(client, login_as, tasks):
    from taskhub.reports import services as bulletins

    office = login_as("office")
    city = tasks["kdl"].item.plan.city_id
    for task, level in ((tasks["kdl"], "remind"), (tasks["kdl"], "urge"), (tasks["qs"], "remind")):
        services.issue(
            task, services.level_by_code(city, level), actor=office, today=date(2022, 7, 15)
        )
    withdrawn = services.issue(
        tasks["qs"], services.level_by_code(city, "urge"), actor=office, today=date(2022, 7, 15)
    )
    services.withdraw(withdrawn, actor=office, note="误发")
    db.session.commit()
    b = bulletins.build_bulletin(tasks["kdl"].item.plan, "2022-H1", today=date(2022, 7, 15))
    assert dict(b.escalations) == {KDL: {"提醒": 1, "催办": 1}, QS: {"提醒": 1}}
    assert b.escalation_text.startswith("本方案共发出督办单3件（提醒2件、催办1件），涉及2个单位")
    html = page(client, "/plans/baotou-2022/bulletin?period=2022-H1")
    assert "本方案共发出督办单3件" in html


def test_the_office_changes_a_levels_trigger_through_the_api(api_as, tasks):
    from tests.test_escalations import run

    city = tasks["kdl"].item.plan.city_id
    office = api_as("office")
    url = f"/api/v1/cities/{city}/escalation-levels/remind"
    changed = office.patch(url, json={"overdue_working_days": 5, "name": "蓝色督办单"})
    assert changed.status_code == 200, changed.json
    assert (changed.json["overdue_working_days"], changed.json["name"]) == (5, "蓝色督办单")
    assert office.patch(url, json={"name": "  "}).status_code == 422
    assert office.patch(f"/api/v1/cities/{city}/escalation-levels/nope", json={}).status_code == 404
    assert run(date(2022, 7, 5))["issued"] == 0  # 3 working days: no longer enough
    assert run(date(2022, 7, 7))["by_level"] == {"remind": 2}  # 5 working days
    notice = db.session.scalars(select(Escalation).order_by(Escalation.id)).first()
    assert services.notice_text(notice).title == "蓝色督办单"
