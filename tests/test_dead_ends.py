"""No dead ends (issue 15): every everyday step ends somewhere a person can go on from.

Page tests with the Flask client, as a user sees the pages (Chinese): the review queue keeps
its errors, decisions and new reports notify at once (with each person's choices), rankings
link only where the user may go, overdue counts need no nightly scan, an unscored period says
so, a task without a date has no light, an extension shows 待审批, a returned report is the
starting point of the next one, and the item page drops a warning the office has dealt with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.core.storage import LocalStorage
from taskhub.core.timeutil import office_today
from taskhub.plans import lifecycle
from taskhub.plans.models import Item, Plan
from taskhub.reminders.models import Notification, OutboxMessage, ReminderRule
from taskhub.tracking import services
from taskhub.tracking.models import Assignment, ExtensionRequest, Milestone, ProgressReport
from taskhub.tracking.schedule import apply_parsed_schedules
from taskhub.units.models import Contact
from tests.conftest import Browser, make_user, unit_named
from tests.test_tracking_pages import (
    KUNDULUN,
    QINGSHAN,
    assignment_id,
    count,
    fresh,
    item_of,
    milestones_of,
    visible,
)

BAOTOU = "baotou-2022"
POLICE = "市公安局"  # Baotou: a lead assessment unit of items 3 and 4


@pytest.fixture
def browser(app: Flask, session: Any) -> Callable[..., Browser]:
    """browser("office") or browser("unit", KUNDULUN): a new user of that role, signed in."""

    def _open(role: str, unit: str | None = None, username: str | None = None) -> Browser:
        owner = unit_named(unit, "baotou") if unit else None
        return Browser(app, make_user(role, owner, username or f"{role}-{unit or 'staff'}"))

    return _open


def report_on(aid: int, author: Any, tmp_path: Path, **changes: Any) -> ProgressReport:
    values: dict[str, Any] = {
        "progress": "完成热线平台升级招标。",
        "problems": "话务数据迁移尚需协调。",
        "next_steps": "7月完成系统联调。",
        "percent": 60,
    }
    values.update(changes)
    report = services.submit_report(
        db.session.get_one(Assignment, aid),
        actor=db.session.get_one(User, author.id),
        storage=LocalStorage(tmp_path),
        max_bytes=1024,
        **values,
    )
    db.session.commit()
    return report


def notifications_of(user_id: int) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        )
    )


def outbox_to(recipient: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.id)
        )
    )


# -- 1. returning without a reason stays on /review ------------------------------------------


def test_returning_without_a_reason_stays_on_the_review_queue(
    browser: Callable[..., Browser], tmp_path: Path
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    report = report_on(assignment_id("3"), make_user("unit", username="kd-2"), tmp_path)

    queue = office.page("/review")
    main = queue[queue.index("<main") :]
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', main, re.S)
    assert form and form.group(1) == "/review"  # the queue posts to its own address
    assert f'name="report_id" value="{report.id}"' in form.group(2)
    response = office.post("/review", data={"report_id": report.id, "decision": "return"})

    # The queue again at /review, not a redirect to the task: the problem beside the field.
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>待审核" in page
    field = re.search(rf'<input id="q-reason-{report.id}"[^>]*>', page)
    assert field and 'aria-invalid="true"' in field.group(0)
    error = re.search(rf'id="q-reason-{report.id}-error">([^<]*)<', page)
    assert error and error.group(1) == "请填写理由。"
    assert fresh(ProgressReport, report.id).status == "submitted"

    # Given a reason, it is returned and the queue comes back empty.
    response = office.post(
        "/review", data={"report_id": report.id, "decision": "return", "reason": "缺少佐证材料"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/review"
    text = visible(office.page("/review"))
    assert "审核结果已保存。" in text and "暂无待审核报送。" in text
    assert fresh(ProgressReport, report.id).status == "returned"
    assert "缺少佐证材料" in visible(unit.page("/notifications"))


def test_rejecting_an_extension_without_a_reason_shows_the_error_beside_its_field(
    browser: Callable[..., Browser],
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    (milestone,) = milestones_of(assignment_id("3"))
    unit.submit(
        f"/milestones/{milestone.id}/extension",
        data={"requested_due_on": "2022-07-31", "reason": "热线平台招标延后"},
    )
    ext = db.session.scalars(select(ExtensionRequest)).one()
    assert 'action="/extensions"' in office.page("/extensions")
    response = office.post("/extensions", data={"extension_id": ext.id, "decision": "reject"})
    assert response.status_code == 200
    error = re.search(rf'id="d-reason-{ext.id}-error">([^<]*)<', response.get_data(as_text=True))
    assert error and error.group(1) == "请填写理由。"


# -- 2. decisions and new reports notify at once ---------------------------------------------


@dataclass(frozen=True)
class Addresses:
    email: str
    webhook_url: str


@pytest.fixture
def contact(session: Any) -> Addresses:
    """Kundulun's contact with an e-mail address and a DingTalk robot."""
    found = Addresses("wang@kdl.example.cn", "https://oapi.dingtalk.com/robot/send?access_token=a")
    unit = unit_named(KUNDULUN, "baotou")
    db.session.add(
        Contact(unit_id=unit.id, name="王联络", email=found.email, webhook_url=found.webhook_url)
    )
    db.session.commit()
    return found


def test_a_return_notifies_the_unit_at_once_in_the_app_and_through_the_outbox(
    browser: Callable[..., Browser], tmp_path: Path, contact: Addresses
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    assert "暂无通知。" in visible(unit.page("/notifications"))
    aid = assignment_id("3")
    report = report_on(aid, make_user("unit", username="kd-2"), tmp_path)

    office.submit(
        f"/reports/{report.id}/review", data={"decision": "return", "reason": "缺少佐证材料"}
    )

    # No reminder run: the notice is there as soon as the review is saved.
    text = visible(unit.page("/notifications"))
    assert "报告被退回" in text and "缺少佐证材料" in text
    assert f'href="/assignments/{aid}"' in unit.page("/notifications")
    # E-mail and robot wait in the outbox for the deliver job (nothing sent in the request).
    mails = outbox_to(contact.email)
    robots = outbox_to(contact.webhook_url)
    assert [m.channel for m in mails] == ["email"] and [m.channel for m in robots] == ["webhook"]
    assert all(m.status == "pending" for m in mails + robots)
    assert "缺少佐证材料" in mails[0].body and f"/assignments/{aid}" in mails[0].body

    # Accepted after a second report: the unit hears that too.
    second = report_on(aid, make_user("unit", username="kd-3"), tmp_path, percent=100)
    office.submit(f"/reports/{second.id}/review", data={"decision": "accept"})
    assert "报告已审核通过" in visible(unit.page("/notifications"))


def test_an_extension_decision_notifies_the_unit(
    browser: Callable[..., Browser], contact: Addresses
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    (milestone,) = milestones_of(assignment_id("3"))
    ask = f"/milestones/{milestone.id}/extension"
    unit.submit(ask, data={"requested_due_on": "2022-07-31", "reason": "热线平台招标延后"})
    first = db.session.scalars(select(ExtensionRequest)).one()
    office.submit(f"/extensions/{first.id}/decide", data={"decision": "approve"})
    assert "延期申请已批准" in visible(unit.page("/notifications"))
    assert "2022年07月31日" in visible(unit.page("/notifications"))

    unit.submit(ask, data={"requested_due_on": "2022-08-31", "reason": "需等待上级系统对接"})
    second = db.session.scalars(
        select(ExtensionRequest).where(ExtensionRequest.status == "pending")
    ).one()
    office.submit(
        f"/extensions/{second.id}/decide", data={"decision": "reject", "reason": "不符合延期条件"}
    )
    text = visible(unit.page("/notifications"))
    assert "延期申请未批准" in text and "不符合延期条件" in text
    assert len(outbox_to(contact.email)) == 2


def test_a_new_report_notifies_the_office_and_the_lead_assessor_only(
    browser: Callable[..., Browser], tmp_path: Path
) -> None:
    office = browser("office")
    lead = browser("assessor", POLICE, username="police-assessor")
    other = browser("assessor", QINGSHAN, username="qingshan-assessor")
    staff = make_user("unit", unit_named(KUNDULUN, "baotou"), username="kd-staff")
    staff_id = staff.id

    report_on(assignment_id("3"), staff, tmp_path)  # item 3: led by 市政府办公室 and 市公安局

    for reader in (office, lead):
        text = visible(reader.page("/notifications"))
        assert f"新报告待审核：{KUNDULUN}" in text
    assert "暂无通知。" in visible(other.page("/notifications"))
    assert notifications_of(staff_id) == []  # the author is not told of their own report


def checked(page: str, name: str) -> bool:
    box = re.search(rf'<input type="checkbox"[^>]*name="{name}"[^>]*>', page)
    assert box, name
    return " checked" in box.group(0)


def test_each_person_chooses_events_and_channels_and_the_notices_follow(
    browser: Callable[..., Browser], tmp_path: Path, contact: Addresses
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    me = db.session.get_one(User, unit.user_id)
    me.email = "me@kdl.example.cn"
    db.session.commit()

    page = unit.page("/account")
    text = visible(page)
    assert "本单位报告被退回" in text and "本单位报告审核通过" in text
    assert "有报告待审核" not in text  # an office event: not offered to unit staff
    assert checked(page, "report_returned:in_app")  # on by default

    # Returned reports: by e-mail only; accepted ones: in the app only.
    unit.submit(
        "/account/notifications",
        data={"report_returned:email": "1", "report_accepted:in_app": "1"},
    )
    page = unit.page("/account")
    assert not checked(page, "report_returned:in_app")
    assert checked(page, "report_returned:email")
    assert checked(page, "report_accepted:in_app") and not checked(page, "report_accepted:email")

    aid = assignment_id("3")
    report = report_on(aid, make_user("unit", username="kd-2"), tmp_path)
    office.submit(f"/reports/{report.id}/review", data={"decision": "return", "reason": "缺材料"})
    assert notifications_of(unit.user_id) == []
    assert [m.channel for m in outbox_to("me@kdl.example.cn")] == ["email"]
    # The unit's contact and robot follow the reminder rules, not one person's choice.
    assert len(outbox_to(contact.email)) == 1

    second = report_on(aid, make_user("unit", username="kd-3"), tmp_path, percent=100)
    office.submit(f"/reports/{second.id}/review", data={"decision": "accept"})
    assert [n.title[:13] for n in notifications_of(unit.user_id)] == ["【任务督办】报告已审核通过"]
    assert len(outbox_to("me@kdl.example.cn")) == 1  # no e-mail for the acceptance


def test_outside_channels_follow_the_reminder_rules(
    browser: Callable[..., Browser], tmp_path: Path, contact: Addresses
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    # The office sends the unit's reminders by e-mail only.
    for rule in db.session.scalars(select(ReminderRule)):
        rule.channels = ["email", "in_app"]
    db.session.commit()
    report = report_on(assignment_id("3"), make_user("unit", username="kd-2"), tmp_path)
    office.submit(f"/reports/{report.id}/review", data={"decision": "return", "reason": "缺材料"})
    assert outbox_to(contact.webhook_url) == []
    assert len(outbox_to(contact.email)) == 1
    assert "报告被退回" in visible(unit.page("/notifications"))


# -- 3. rankings link only where the user may go ---------------------------------------------


def test_a_unit_user_on_the_rankings_page_gets_only_links_they_may_follow(
    browser: Callable[..., Browser],
) -> None:
    unit = browser("unit", KUNDULUN)
    page = unit.page(f"/plans/{BAOTOU}/scores?period=2022-H1")
    links = re.findall(rf'href="(/plans/{BAOTOU}/scores/\d+[^"]*)"', page)
    own = unit_named(KUNDULUN, "baotou").id
    assert links == [f"/plans/{BAOTOU}/scores/{own}?period=2022-H1"]
    for link in links:
        assert unit.get(link.replace("&amp;", "&")).status_code == 200
    assert QINGSHAN in visible(page)  # other units are listed, without a link

    office = browser("office")
    assert len(re.findall(rf'href="/plans/{BAOTOU}/scores/\d+', office.page(page_url()))) > 30


def page_url() -> str:
    return f"/plans/{BAOTOU}/scores?period=2022-H1"


# -- 4. overdue counts right at once ---------------------------------------------------------


def test_a_freshly_published_plan_with_past_dates_counts_overdue_at_once(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    # A plan for a year already past, published now: its dates are behind today.
    year = office_today().year - 1
    copy = lifecycle.copy_to_year(
        db.session.scalars(select(Plan).where(Plan.code == BAOTOU)).one(),
        year=year,
        code=f"baotou-{year}",
        title=f"包头市{year}年方案",
        actor=None,
    )
    db.session.flush()
    lifecycle.publish(copy, actor=None)
    db.session.commit()
    code = copy.code

    # No overdue scan has run; the dashboard reads the dates.
    page = office.page(f"/plans/{code}/dashboard")
    shown = re.search(r'<span class="dash-kpi-n">(\d+)</span> 项任务已超期', page)
    assert shown, "the overdue figure is missing"
    red = re.search(r'data-total="(\d+)"', office.page(f"/ledger?plan={code}&light=red"))
    assert red
    assert int(shown.group(1)) == int(red.group(1)) > 0
    # The deadline board's overdue view agrees.
    board = visible(office.page(f"/board?plan={code}&view=overdue"))
    assert f"共 {red.group(1)} 条" in board


# -- 5. an unscored period says so -----------------------------------------------------------


def test_a_period_with_no_scores_says_so_instead_of_ranking_everyone_first(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    text = visible(office.page(f"/plans/{BAOTOU}/scores?period=2022-H1"))
    assert "本期尚无得分" in text
    assert not re.search(r"<td class=\"num\"[^>]*>1</td>", office.page(page_url()))


# -- 6. no milestone, no light ---------------------------------------------------------------


def test_a_task_without_a_milestone_is_grey_everywhere_lights_show(
    browser: Callable[..., Browser],
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    kundulun = unit_named(KUNDULUN, "baotou")
    # A deadline no one can date: the task has no milestone until the office sets one.
    item = item_of(BAOTOU, "5")
    item.deadline_phrase = "视上级部署另行通知"
    apply_parsed_schedules(item.plan)
    db.session.commit()
    bare = [
        a
        for a in db.session.scalars(
            select(Assignment)
            .join(Item)
            .join(Plan)
            .where(Plan.code == BAOTOU, Assignment.unit_id == kundulun.id)
        )
        if not a.milestones
    ]
    assert bare, "Baotou has tasks without a date for Kundulun"
    target = bare[0]

    text = visible(unit.page(f"/assignments/{target.id}"))
    assert "灰 · 未设节点" in text and "绿 · 未设节点" not in text
    my = unit.page("/my?view=all") + unit.page("/my?view=all&page=2")
    assert "绿 · 未设节点" not in visible(my) and "灰 · 未设节点" in visible(my)

    ledger = office.page(f"/ledger?plan={BAOTOU}&unit={kundulun.id}&light=grey")
    listed = {int(a) for a in re.findall(r'data-assignment="(\d+)" data-light="grey"', ledger)}
    assert target.id in listed
    assert int(re.search(r'data-total="(\d+)"', ledger).group(1)) == len(bare)  # type: ignore[union-attr]
    green = office.page(f"/ledger?plan={BAOTOU}&unit={kundulun.id}&light=green")
    assert f'data-assignment="{target.id}"' not in green

    overview = visible(office.page("/overview"))
    assert re.search(r"灰 \d+", overview)


# -- 7. one extension form per milestone, 待审批 after asking ---------------------------------


def test_each_milestone_offers_one_request_button_and_shows_pending_after_asking(
    browser: Callable[..., Browser],
) -> None:
    unit = browser("unit", KUNDULUN)
    aid = assignment_id("1")  # several milestones
    steps = milestones_of(aid)
    assert len(steps) > 1
    url = f"/assignments/{aid}"
    page = unit.page(url)
    # Each open milestone: one 申请延期 that opens its own form (no script needed: <details>).
    disclosures = re.findall(
        r'<details class="extension-request"><summary>申请延期</summary>\s*<form method="post" '
        r'action="/milestones/(\d+)/extension"',
        page,
    )
    assert [int(m) for m in disclosures] == [m.id for m in steps]
    assert page.count('name="requested_due_on"') == len(steps)

    first = steps[0]
    unit.submit(
        f"/milestones/{first.id}/extension",
        data={"requested_due_on": "2022-12-31", "reason": "系统对接延后"},
    )
    page = unit.page(url)
    assert f'action="/milestones/{first.id}/extension"' not in page
    row = re.search(r"<tr>\s*<td data-label=\"节点\">[^<]*</td>.*?</tr>", page, flags=re.S)
    assert row and "待审批" in visible(row.group(0))
    assert "申请延至 2022年12月31日" in visible(row.group(0))
    assert page.count('name="requested_due_on"') == len(steps) - 1


# -- 8. a resubmission starts from the returned report ---------------------------------------


def test_resubmitting_after_a_return_starts_from_the_returned_report(
    browser: Callable[..., Browser], tmp_path: Path
) -> None:
    unit, office = browser("unit", KUNDULUN), browser("office")
    aid = assignment_id("3")
    report = report_on(aid, make_user("unit", username="kd-2"), tmp_path, percent=70)
    office.submit(f"/reports/{report.id}/review", data={"decision": "return", "reason": "缺材料"})

    page = unit.page(f"/assignments/{aid}")
    form = page[page.index('id="report-heading"') :]
    assert '<textarea id="r-progress" name="progress" required>完成热线平台升级招标。' in form
    assert '<textarea id="r-problems" name="problems">话务数据迁移尚需协调。' in form
    assert '<textarea id="r-next" name="next_steps">7月完成系统联调。' in form
    assert 'name="percent" type="number" min="0" max="100" step="1" required value="70"' in form
    assert "已带入被退回的报告内容" in visible(form)

    # A fresh task (never returned) starts empty.
    other = unit.page(f"/assignments/{assignment_id('4')}")
    assert '<textarea id="r-progress" name="progress" required></textarea>' in other


# -- 9. the item page drops a warning once the office has set milestones ---------------------


def test_the_unreadable_deadline_warning_gives_way_once_the_office_sets_milestones(
    browser: Callable[..., Browser],
) -> None:
    office = browser("office")
    item = item_of(BAOTOU, "5")
    item.deadline_phrase = "视上级部署另行通知"
    apply_parsed_schedules(item.plan)
    db.session.commit()
    url = f"/items/{item.id}"
    assert "无法自动识别为日期，请在下方设置节点。" in visible(office.page(url))

    office.submit(f"/items/{item.id}/milestones", data={"kind": "complete", "due_on": "2022-12-31"})
    text = visible(office.page(url))
    assert "请在下方设置节点" not in text
    assert "完成时限“视上级部署另行通知”无法自动识别为日期，已由督办室设置节点。" in text
    assert count(Milestone, Milestone.item_milestone_id.is_not(None)) > 0
