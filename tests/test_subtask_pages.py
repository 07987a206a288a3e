"""The pages of decompose (分解) and co-handle (协办): the task page's panels and forms, the
sub-task page with its report and evidence, refusals in Chinese."""

from __future__ import annotations

import io
from datetime import date, timedelta

from sqlalchemy import select

from taskhub.core.db import db
from taskhub.supervision.models import Subtask
from taskhub.tracking.models import Evidence, Milestone
from tests.conftest import login, make_user, unit_named
from tests.test_subtasks import tasks
from tests.test_tracking import PDF


def switch(client, user) -> None:
    client.post("/logout")
    login(client, user)


def status(client, url: str) -> int:
    response = client.get(url)
    response.get_data()
    response.close()
    return response.status_code


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_the_lead_unit_decomposes_and_the_sub_task_unit_reports(client, session):
    lead, co = tasks()
    helper = co[0].unit
    lead_user = make_user("unit", lead.unit, "pg-lead")
    helper_user = make_user("unit", helper, "pg-helper")
    login(client, lead_user)
    page = _text(client.get(f"/assignments/{lead.id}"))
    assert "分解：新增分解任务" in page and "承办单位（其他单位）" in page
    refused = client.post(f"/assignments/{lead.id}/subtasks",
                          data={"text": "归集数据", "department": "信息化科"},
                          follow_redirects=True)  # fmt: skip
    assert "请至少填写一个完成时限" in _text(refused)
    client.post(
        f"/assignments/{lead.id}/subtasks",
        data={"text": "完成数据共享接口", "unit": str(helper.id), "weight": "2",
              "ms_title": ["接口联调", ""], "ms_due": ["2022-09-30", ""]},
    )  # fmt: skip
    st = db.session.scalars(select(Subtask).where(Subtask.assignment_id == lead.id)).one()
    assert st.unit_id == helper.id and st.weight == 2 and st.milestones[0].title == "接口联调"
    page = _text(client.get(f"/assignments/{lead.id}"))
    assert "分解任务汇总进度" in page and helper.name in page and "100.0%" in page

    switch(client, helper_user)
    page = _text(client.get(f"/subtasks/{st.id}"))
    assert "签收" in page and "完成数据共享接口" in page
    client.post(f"/subtasks/{st.id}/acknowledge")
    client.post(
        f"/subtasks/{st.id}/reports",
        data={"progress": "接口已开发完成", "percent": "50",
              "evidence": (io.BytesIO(PDF), "接口说明.pdf")},
        content_type="multipart/form-data",
    )  # fmt: skip
    db.session.expire_all()
    assert st.status == "submitted" and st.acknowledged_at is not None
    ev = db.session.scalars(select(Evidence).where(Evidence.subtask_report_id.is_not(None))).one()
    assert ev.original_name == "接口说明.pdf" and ev.report_id is None
    assert "接口说明.pdf" in _text(client.get(f"/subtasks/{st.id}"))
    assert status(client, f"/evidence/{ev.id}") == 200

    switch(client, lead_user)
    assert status(client, f"/evidence/{ev.id}") == 200
    client.post(f"/subtask-reports/{st.reports[0].id}/review", data={"decision": "accept"})
    db.session.expire_all()
    assert st.status == "in_progress" and st.percent == 50
    assert "50%" in _text(client.get(f"/assignments/{lead.id}"))
    # A 100% report of the lead waits for the open sub-task, said in Chinese.
    refused = client.post(f"/assignments/{lead.id}/reports",
                          data={"progress": "全部完成", "percent": "100"},
                          follow_redirects=True)  # fmt: skip
    assert "尚有未完成的分解任务" in _text(refused)

    outsider = make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "pg-outsider")
    switch(client, outsider)
    assert status(client, f"/evidence/{ev.id}") == 403
    assert client.get(f"/subtasks/{st.id}").status_code == 403


def test_co_handling_units_give_their_part_and_the_lead_sees_whose_is_missing(client, session):
    lead, co = tasks()
    if lead.next_due_on is None or lead.next_due_on < date.today():
        due = date.today() + timedelta(days=10)
        db.session.add(Milestone(assignment_id=lead.id, kind="complete", title="完成", due_on=due))
        db.session.commit()
    first = make_user("unit", co[0].unit, "pg-co")
    login(client, first)
    page = _text(client.get(f"/assignments/{co[0].id}"))
    assert "本单位协办意见" in page and lead.unit.name in page
    client.post(f"/assignments/{lead.id}/co-reports",
                data={"text": "已提供本部门数据", "back": str(co[0].id)})  # fmt: skip
    assert "已提供本部门数据" in _text(client.get(f"/assignments/{co[0].id}"))

    switch(client, make_user("unit", lead.unit, "pg-co-lead"))
    page = _text(client.get(f"/assignments/{lead.id}"))
    assert "已提供本部门数据" in page and "尚缺协办意见" in page
    assert co[1].unit.name in page.split("尚缺协办意见")[1]


def test_the_office_sets_the_second_review_on_the_reporting_page(client, session):
    from taskhub.audit.models import AuditEvent
    from taskhub.plans.models import Plan

    login(client, make_user("office", None, "st-setting-office"))
    page = _text(client.get("/plans/hegang-2022/reporting"))
    assert "分解任务报送的审核" in page and "当前：牵头单位审核通过即为最终结果。" in page
    response = client.post("/plans/hegang-2022/subtask-review", data={"second_review": "1"})
    assert response.headers["Location"].endswith("/plans/hegang-2022/reporting#subtask-review")
    page = _text(client.get("/plans/hegang-2022/reporting"))
    assert "分解任务审核设置已保存。" in page
    assert "当前：牵头单位审核通过后，由督查办复核。" in page
    plan = db.session.scalars(select(Plan).where(Plan.code == "hegang-2022")).one()
    assert plan.subtask_second_review is True
    client.post("/plans/hegang-2022/subtask-review", data={})  # unticked: off again
    db.session.expire_all()
    assert plan.subtask_second_review is False
    changes = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "plan.subtask_review_set")
        .order_by(AuditEvent.id)
    ).all()
    assert [e.after for e in changes] == [
        {"subtask_second_review": True},
        {"subtask_second_review": False},
    ]
    # A unit reads the setting but has no form.
    switch(client, make_user("unit", tasks()[0].unit, "st-setting-unit"))
    page = _text(client.get("/plans/hegang-2022/reporting"))
    assert "分解任务报送的审核" in page and "保存审核设置" not in page
