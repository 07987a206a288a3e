"""Leaders' instructions (领导批示): recorded by the office for a leader or by the leader's own
account, on an item (every unit concerned) or a report (its unit), shown to the units and told
to them, answered (反馈) with its timing, 待落实 on the leader's page, audited; escalation and
instruction events in the task's history; the 分管领导 told of a notice on every channel; the
send-back requests' menu entry; the access matrix of the new routes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.core.timeutil import office_today
from taskhub.leaders import instructions, services
from taskhub.leaders.models import Instruction, InstructionTarget, Leader
from taskhub.plans.models import Item
from taskhub.reminders.models import Notification, OutboxMessage
from taskhub.supervision import handover
from taskhub.supervision import services as escalations
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment
from taskhub.units.models import Contact
from tests.conftest import Browser, make_user, unit_named
from tests.test_access import OTHER, OWN, ROLES, assignment_of
from tests.test_leaders import check_api_access
from tests.test_navigation import _badges

TODAY = date(2022, 7, 5)


def _leader(name: str = "张副市长", user_id: int | None = None, **extra: Any) -> Leader:
    city = unit_named(OWN, "baotou").city
    leader = services.create_leader(
        city, {"name": name, "title": "副市长", "user_id": user_id, **extra}, actor=None
    )
    db.session.commit()
    return leader


def _item() -> Item:
    item = db.session.get(Item, assignment_of(OWN).item_id)
    assert item is not None
    return item


_made = iter(range(1, 10_000))


def _instruction(leader: Leader | None = None, **kwargs: Any) -> Instruction:
    office = make_user("office", username=f"recorder-{next(_made)}")
    found = instructions.record(
        _item(),
        actor=office,
        leader_id=(leader or _leader()).id,
        text=kwargs.pop("text", "请抓紧推进。"),
        today=kwargs.pop("today", office_today()),
        **kwargs,
    )
    db.session.commit()
    return found


def _own_target(ins: Instruction) -> InstructionTarget:
    own = assignment_of(OWN)
    target = instructions.target_of(ins, own.id)
    assert target is not None
    return target


def _audits(action: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def test_the_office_records_an_instruction_the_units_answer_it(app: Flask, session):
    leader_id = _leader().id
    db.session.add(Contact(unit_id=unit_named(OWN, "baotou").id, name="王伟",
                           email="wang@kdl.example.org"))  # fmt: skip
    from taskhub.reminders import services as reminders

    reminders.ensure_default_rules()
    unit_user = make_user("unit", unit_named(OWN, "baotou"), username="kdl-staff")
    unit_user_id = unit_user.id
    office = make_user("office", username="office-1")
    office_id = office.id
    item_id = _item().id
    own_id = assignment_of(OWN).id
    office_browser = Browser(app, office)
    unit = Browser(app, db.session.get(type(unit_user), unit_user_id))
    due = office_today() + timedelta(days=5)
    office_browser.submit(
        f"/items/{item_id}/instructions",
        data={"leader_id": str(leader_id), "text": "请加快进度，月底前报结果。",
              "answer_due_on": due.isoformat(), "assignment_id": str(own_id)},
    )  # fmt: skip
    (ins,) = db.session.scalars(select(Instruction)).all()
    ins_id = ins.id
    every = set(db.session.scalars(select(Assignment.id).where(Assignment.item_id == item_id)))
    assert {t.assignment_id for t in ins.targets} == every and ins.is_open
    assert ins.recorded_by_id == office_id and ins.answer_due_on == due
    assert _audits("instruction.recorded") == 1
    # The unit is told in-app and its contact by e-mail, once.
    (note,) = db.session.scalars(
        select(Notification).where(Notification.user_id == unit_user_id)
    ).all()
    assert note.title.startswith("【领导批示】副市长张副市长") and "请加快进度" in note.body
    mails = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == "wang@kdl.example.org")
    ).all()
    assert len(mails) == 1 and mails[0].dedupe_key.startswith(f"notice:instruction:{ins.id}:")

    page = unit.page(f"/assignments/{own_id}")
    assert "领导批示" in page and "待落实" in page and "请加快进度" in page
    # The unit answers, it does not record (no form); the task page's history shows the record.
    assert "提交反馈" in page and f'action="/items/{item_id}/instructions"' not in page
    assert "登记领导批示" in page
    leader_page = office_browser.page(f"/leaders/{leader_id}")
    assert "待落实" in leader_page and "请加快进度" in leader_page
    target = _own_target(ins)
    page = unit.submit(f"/instruction-targets/{target.id}/answer", data={"answer": "已部署落实。"})
    assert "已提交反馈" in page and "已反馈" in page
    db.session.expire_all()
    ins = db.session.get(Instruction, ins_id)
    target = _own_target(ins)
    assert (target.state, target.answer, target.answered_by_id) == (
        "answered",
        "已部署落实。",
        unit_user_id,
    )
    assert target.is_answered_late is False and target.answered_at is not None
    assert _audits("instruction.answered") == 1
    told = db.session.scalars(select(Notification).where(Notification.user_id == office_id)).all()
    assert any(n.title.startswith("【批示反馈】") for n in told)
    # A second answer is refused, nothing written.
    page = unit.submit(f"/instruction-targets/{target.id}/answer", data={"answer": "再次"})
    assert "该批示已反馈" in page
    assert _audits("instruction.answered") == 1
    # Still 待落实 while the item's other units have not answered.
    assert [i.id for i in instructions.open_of_leader(leader_id)] == [ins_id]


def test_an_instruction_on_a_report_concerns_its_unit_only(app: Flask, session):
    own = assignment_of(OWN)
    reporter = make_user("unit", unit_named(OWN, "baotou"))
    report = tracking.submit_report(
        own,
        actor=reporter,
        progress="已完成部署",
        percent=40,
        storage=storage_for(app.config),
        max_bytes=1024,
    )
    db.session.commit()
    ins = _instruction(report_id=report.id)
    assert [t.assignment_id for t in ins.targets] == [own.id] and ins.report_id == report.id
    # A report of another item is refused.
    other_item = db.session.scalars(
        select(Item).where(Item.id != own.item_id, Item.plan_id == _item().plan_id)
    ).first()
    assert other_item is not None
    with pytest.raises(instructions.InstructionRefused) as refused:
        instructions.record(other_item, actor=make_user("office", username="o2"),
                            leader_id=ins.leader_id,
                            text="x", today=TODAY, report_id=report.id)  # fmt: skip
    assert refused.value.field == "report_id"


def test_late_answers_and_refused_input(session):
    ins = _instruction(instructed_on=TODAY, answer_due_on=TODAY + timedelta(days=1), today=TODAY)
    unit_user = make_user("unit", unit_named(OWN, "baotou"))
    target = instructions.answer(
        _own_target(ins), actor=unit_user, text="已落实。", today=TODAY + timedelta(days=3)
    )
    assert target.is_answered_late is True
    office = make_user("office", username="o3")
    leader_id = ins.leader_id
    for kwargs, field in (
        ({"text": "  "}, "text"),
        ({"text": "x", "instructed_on": TODAY + timedelta(days=1)}, "instructed_on"),
        ({"text": "x", "instructed_on": TODAY, "answer_due_on": TODAY - timedelta(days=1)},
         "answer_due_on"),
        ({"text": "x", "leader_id": 999999}, "leader_id"),
    ):  # fmt: skip
        args = {"leader_id": leader_id, **kwargs}
        with pytest.raises(instructions.InstructionRefused) as refused:
            instructions.record(_item(), actor=office, today=TODAY, **args)
        assert refused.value.field == field
    db.session.rollback()
    # Another unit's user may not answer this unit's part.
    other = make_user("unit", unit_named(OTHER, "baotou"))
    assert not instructions.can_answer(_own_target(ins), other)


def test_a_leader_s_own_account_records_as_that_leader_only(app: Flask, session):
    account = make_user("viewer", username="zhang-account")
    leader = _leader(user_id=account.id)
    other = _leader("李副市长")
    item = _item()
    assert instructions.can_record(item, account)
    ins = instructions.record(item, actor=account, leader_id=None, text="请研究。", today=TODAY)
    assert ins.leader_id == leader.id and ins.recorded_by_id == account.id
    with pytest.raises(instructions.InstructionRefused):
        instructions.record(item, actor=account, leader_id=other.id, text="x", today=TODAY)
    db.session.rollback()
    plain_viewer = make_user("viewer")
    assert not instructions.can_record(item, plain_viewer)
    with pytest.raises(instructions.PermissionDenied):
        instructions.record(item, actor=plain_viewer, leader_id=leader.id, text="x", today=TODAY)


def test_escalation_and_instruction_events_are_in_the_task_history(app: Flask, session):
    own = assignment_of(OWN)
    office = make_user("office", username="o4")
    unit_user = make_user("unit", unit_named(OWN, "baotou"))
    city_id = escalations.city_of(own)
    notice = escalations.issue(
        own, escalations.level_by_code(city_id, "interview"), actor=office, today=TODAY
    )
    escalations.answer(notice, actor=unit_user, text="已整改。", today=TODAY)
    db.session.commit()
    ins = _instruction()
    instructions.answer(_own_target(ins), actor=unit_user, text="已落实。", today=TODAY)
    db.session.commit()
    number = notice.number
    own_id, other_id = own.id, assignment_of(OTHER).id
    page = Browser(app, unit_user).page(f"/assignments/{own_id}/history")
    for words in ("发出督办单", "反馈督办单", number, "登记领导批示", "反馈领导批示"):
        assert words in page, words
    # Another unit's task of the item shows the instruction (it concerns it too), not this
    # unit's answer nor this task's notice.
    other = Browser(app, make_user("unit", unit_named(OTHER, "baotou")))
    page = other.page(f"/assignments/{other_id}/history").split('<table class="history', 1)[1]
    assert "登记领导批示" in page
    assert "发出督办单" not in page and "反馈领导批示" not in page


def test_a_notice_copied_to_the_leader_reaches_their_robot_and_account(session):
    from taskhub.reminders import services as reminders

    reminders.ensure_default_rules()
    own = assignment_of(OWN)
    account = make_user("viewer", username="zhang-account")
    robot = "https://oapi.dingtalk.com/robot/send?access_token=leader"
    leader = _leader(user_id=account.id, email="zhang@bt.gov.cn", webhook_url=robot)
    services.set_unit_leader(unit_named(OWN, "baotou"), leader.id, actor=None)
    city_id = escalations.city_of(own)
    office = make_user("office", username="o5")
    level = escalations.level_by_code(city_id, "supervise")
    notice = escalations.issue(own, level, actor=office, today=TODAY)
    db.session.commit()
    rows = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.dedupe_key.like(f"notice:escalation:{notice.id}:%")
        )
    ).all()
    assert {(r.channel, r.recipient) for r in rows} >= {
        ("email", "zhang@bt.gov.cn"),
        ("webhook", robot),
    }
    (note,) = db.session.scalars(
        select(Notification).where(Notification.user_id == account.id)
    ).all()
    assert notice.number in note.title
    # The notice document names the leader among the copies (抄送).
    assert "副市长张副市长同志" in escalations.notice_text(notice).copies_to


def test_send_back_requests_have_a_menu_entry_with_a_count(client, login_as, session):
    own = assignment_of(OWN)
    handover.ask(own, actor=make_user("unit", unit_named(OWN, "baotou")), reason="非本单位职责")
    db.session.commit()
    login_as("office")
    page = client.get("/dashboard").get_data(as_text=True)
    assert _badges(page)["退回申请"] == (1, "（1 项待处理）")
    viewer = Browser(client.application, make_user("viewer", username="just-viewing"))
    assert "退回申请" not in viewer.page("/dashboard")


# -- access matrix ---------------------------------------------------------------------------------

# Expected status per role (anonymous, admin, office, assessor, unit, viewer).
MATRIX = {
    "record": [302, 302, 302, 403, 403, 403],
    "answer": [302, 403, 403, 403, 302, 403],
    "city digest": [302, 302, 302, 403, 403, 403],
    "leader digest": [302, 302, 302, 403, 403, 403],
    "leader page": [302, 200, 200, 403, 403, 200],
}


def _page_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    city = unit_named(OWN, "baotou").city
    digest_form = {"weekday": "4", "send_at": "17:00", "channels": "email", "is_enabled": "1"}
    cases = {
        "record": lambda: (
            "POST",
            f"/items/{_item().id}/instructions",
            {"leader_id": str(_leader().id), "text": "请推进。"},
        ),
        "answer": lambda: (
            "POST",
            f"/instruction-targets/{_own_target(_instruction()).id}/answer",
            {"answer": "已落实。"},
        ),
        "city digest": lambda: ("POST", f"/cities/{city.code}/leader-digest", digest_form),
        "leader digest": lambda: ("POST", f"/leaders/{_leader().id}/digest", digest_form),
        "leader page": lambda: ("GET", f"/leaders/{_instruction().leader_id}", None),
    }
    return cases[case]()


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
    db.session.expire_all()
    if method == "POST" and (expected != 302 or role == "anonymous"):
        assert _trace() == before
    elif method == "POST":
        assert _trace() > before, f"{role} {url} changed nothing"


API_ROLES = ["admin", "office", "assessor", "unit", "viewer"]
API_MATRIX = {
    "item list": [200, 200, 200, 200, 200],
    "record": [201, 201, 403, 403, 403],
    "answer": [403, 403, 403, 200, 403],
    "leader open": [200, 200, 403, 403, 200],
    "leader digest": [200, 200, 403, 403, 403],
    "city digest": [200, 200, 403, 403, 403],
}


def _api_case(case: str) -> tuple[str, str, dict[str, Any] | None]:
    unit = unit_named(OWN, "baotou")
    setting = {"weekday": 0, "send_at": "09:00", "channels": ["email", "webhook"]}
    cases = {
        "item list": lambda: ("GET", f"/api/v1/items/{_instruction().item_id}/instructions", None),
        "record": lambda: (
            "POST",
            f"/api/v1/items/{_item().id}/instructions",
            {"leader_id": _leader().id, "text": "请推进。", "answer_due_on": "2030-01-31"},
        ),
        "answer": lambda: (
            "POST",
            f"/api/v1/instruction-targets/{_own_target(_instruction()).id}/answer",
            {"answer": "已落实。"},
        ),
        "leader open": lambda: (
            "GET",
            f"/api/v1/leaders/{_instruction().leader_id}/instructions",
            None,
        ),
        "leader digest": lambda: ("PUT", f"/api/v1/leaders/{_leader().id}/digest", setting),
        "city digest": lambda: ("PUT", f"/api/v1/cities/{unit.city_id}/leader-digest", setting),
    }
    return cases[case]()


@pytest.mark.parametrize("case", list(API_MATRIX))
@pytest.mark.parametrize("role", API_ROLES)
def test_api_access_matrix(api_as, case, role):
    check_api_access(api_as, role, _api_case(case), API_MATRIX[case][API_ROLES.index(role)])


def test_api_lists_a_unit_only_instructions_concerning_it_and_answers(api_as):
    ins = _instruction()
    unit_api = api_as("unit", unit_named(OWN, "baotou"))
    listed = unit_api.get(f"/api/v1/items/{ins.item_id}/instructions").get_json()
    assert [i["id"] for i in listed] == [ins.id] and listed[0]["is_open"] is True
    target = _own_target(ins)
    answered = unit_api.post(
        f"/api/v1/instruction-targets/{target.id}/answer", json={"answer": "已落实。"}
    )
    assert answered.status_code == 200
    assert answered.get_json()["state"] == "answered"
    again = unit_api.post(
        f"/api/v1/instruction-targets/{target.id}/answer", json={"answer": "再次"}
    )
    assert again.status_code == 422
    office_api = api_as("office")
    bad = office_api.post(
        f"/api/v1/items/{ins.item_id}/instructions",
        json={"leader_id": ins.leader_id, "text": "x", "instructed_on": "2999-01-01"},
    )
    assert bad.status_code == 422
