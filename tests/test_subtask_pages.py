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
