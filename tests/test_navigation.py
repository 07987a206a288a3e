"""The main menu, its count badges, dates read the Chinese way, section labels and the favicon,
over HTTP on the seeded plans (the browser test checks the one-line bar and the screenshots)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from taskhub.core.dates import date_text, datetime_text
from taskhub.core.db import db
from taskhub.core.sections import section_label
from taskhub.core.storage import storage_for
from taskhub.reminders.models import Notification
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, MilestoneStatus
from taskhub.tracking.queues import awaiting_review, count_of, pending_extensions
from tests.conftest import login, make_user, unit_named

SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        (date(2026, 12, 7), "zh", "2026年12月7日"),
        (date(2026, 1, 31), "en", "31 Jan 2026"),
        ("2026-12-07", "zh", "2026年12月7日"),  # ISO text from stored JSON
        # A timestamp gives the office's day: 20:30 UTC is already the 8th in Beijing.
        (datetime(2026, 12, 7, 20, 30, tzinfo=UTC), "zh", "2026年12月8日"),
        (None, "zh", ""),
        ("不是日期", "zh", "不是日期"),
    ],
)
def test_dates_read_the_chinese_way(value: Any, locale: str, expected: str) -> None:
    assert date_text(value, locale, SHANGHAI) == expected


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        (datetime(2026, 12, 6, 20, 58, tzinfo=UTC), "zh", "2026年12月7日 04:58"),
        (datetime(2026, 12, 6, 20, 58, tzinfo=UTC), "en", "7 Dec 2026 04:58"),
        (datetime(2026, 12, 6, 20, 58), "zh", "2026年12月7日 04:58"),  # naive: stored UTC
        ("2026-12-06T20:58:00+00:00", "zh", "2026年12月7日 04:58"),
        (date(2026, 12, 7), "zh", "2026年12月7日"),
        (None, "en", ""),
    ],
)
def test_timestamps_in_the_office_time_zone(value: Any, locale: str, expected: str) -> None:
    assert datetime_text(value, locale, SHANGHAI) == expected


def test_template_filters_follow_the_language(app, session) -> None:
    moment = datetime(2026, 12, 6, 20, 58, tzinfo=UTC)
    template = app.jinja_env.from_string("{{ t|cn_datetime }} | {{ t|cn_date }} | {{ d|cn_date }}")
    for locale, expected in (
        ("zh", "2026年12月7日 04:58 | 2026年12月7日 | 2022年6月30日"),
        ("en", "7 Dec 2026 04:58 | 7 Dec 2026 | 30 Jun 2022"),
    ):
        with app.test_request_context("/"):
            app.preprocess_request()
            from flask import g

            g.locale = locale
            assert template.render(t=moment, d=date(2022, 6, 30)) == expected


def test_a_retired_unit_shows_its_date_in_words(client, login_as) -> None:
    login_as("office")
    unit = unit_named("青山区人民政府", "baotou")
    unit.retired_on = date(2026, 3, 1)
    db.session.commit()
    page = client.get(f"/units/{unit.id}").get_data(as_text=True)
    assert "2026年3月1日" in page and "2026-03-01<" not in page


# -- section labels ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "title", "expected"),
    [
        ("一", "政务服务", "一、政务服务"),
        ("十二", "其他", "十二、其他"),
        ("一、", "政务服务", "一、政务服务"),  # no double separator
        ("（一）", "数据共享", "（一）数据共享"),
        ("(二)", "数据共享", "(二)数据共享"),
        ("1", "总体要求", "1.总体要求"),
        ("1.", "总体要求", "1.总体要求"),
        ("2、", "总体要求", "2、总体要求"),
        ("①", "基础", "①基础"),
        ("表一", "乡镇指标", "表一 乡镇指标"),
        ("1.2", "细则", "1.2 细则"),
        ("", "未编号", "未编号"),
        (None, "未编号", "未编号"),
        ("三", "", "三"),
    ],
)
def test_section_label(number: Any, title: str, expected: str) -> None:
    assert section_label(number, title) == expected


def test_the_ledger_area_filter_reads_like_the_document(client, login_as) -> None:
    login_as("office")
    page = client.get("/ledger?plan=baotou-2022").get_data(as_text=True)
    options = re.findall(r'<option value="\d+" >([^<]+)</option>', page.split('id="f-area"')[1])
    # Baotou's area is numbered 一 in the document: 一、 before its title, never glued or doubled.
    assert options and options[0].startswith("一、政务服务"), options
    plan = client.get("/plans/baotou-2022").get_data(as_text=True)
    assert "(一)推进政务服务" in plan or "(一)" in plan
    assert not re.search(r"一、、|一政务服务", page + plan)


# -- the menu ------------------------------------------------------------------------------


def _nav(page: str) -> str:
    return page.split('<nav class="main-menu"', 1)[1].split("</nav>", 1)[0]


def _current(page: str) -> list[str]:
    """The labels of the menu entries marked as the open page."""
    return re.findall(r'aria-current="page">([^<]+)', _nav(page))


#: Pages and the entry they light up, by role (the URL of each entry itself included).
PAGES = {
    "/dashboard": "工作看板",
    "/overview": "总览",
    "/plans": "计划方案",
    "/plans/baotou-2022": "计划方案",
    "/ledger": "任务台账",
    "/timeline": "节点时间轴",
    "/board": "时限督办",
    "/review": "待审核",
    "/extensions": "延期审批",
    "/handovers": "退回申请",
    "/subtasks": "分解任务",
    "/units": "单位",
    "/notifications": "站内通知",
    "/setup": "启用向导",
    "/cities": "城市",
    "/cities/baotou": "城市",
    "/calendar": "工作日历",
    "/reminders/rules": "提醒规则",
    "/outbox": "发送队列",
    "/imports": "Excel 导入",
    "/users": "用户",
    "/admin/webhooks": "事件推送",
}
GROUPED = {"/setup", "/cities", "/cities/baotou", "/calendar", "/reminders/rules", "/outbox"}
GROUPED |= {"/imports", "/users", "/admin/webhooks", "/subtasks"}


def test_every_admin_entry_is_highlighted_on_its_page(client, login_as) -> None:
    login_as("admin")
    nav = _nav(client.get("/dashboard").get_data(as_text=True))
    shown = set(re.findall(r'<a href="[^"]*"(?: aria-current="page")?>([^<]+)', nav))
    assert shown == set(PAGES.values())  # every entry the admin sees is checked below
    for url, entry in PAGES.items():
        page = client.get(url).get_data(as_text=True)
        assert _current(page) == [entry], url
        group_marked = '<summary aria-current="true">管理</summary>' in page
        assert group_marked == (url in GROUPED), url


def test_unit_entries_are_highlighted_including_my_unit(client, login_as) -> None:
    own = unit_named("昆都仑区人民政府", "baotou")
    other = unit_named("青山区人民政府", "baotou")
    login_as("unit", own)
    for url, entry in {
        "/my": "我的任务",
        f"/units/{own.id}": "本单位",
        f"/units/{other.id}": "单位",
        "/imports": "Excel 导入",
        "/notifications": "站内通知",
    }.items():
        page = client.get(url).get_data(as_text=True)
        assert _current(page) == [entry], url
    # A unit user has no settings group: its few entries sit in the bar.
    assert "<summary" not in _nav(page)


def test_account_pages_mark_the_user_menu(client, login_as) -> None:
    login_as("office")
    page = client.get("/account/tokens").get_data(as_text=True)
    assert 'aria-current="page">API 令牌' in page
    assert '<summary aria-current="true">' in page.split('class="who"', 1)[1]


# -- badges --------------------------------------------------------------------------------


def _badges(page: str) -> dict[str, tuple[int, str]]:
    """Entry label → (the number drawn, the words screen readers hear)."""
    found = re.findall(
        r'>([^<>]+) <span class="badge"><span aria-hidden="true">(\d+)</span>'
        r'<span class="visually-hidden">([^<]+)</span>',
        _nav(page),
    )
    return {name: (int(n), words) for name, n, words in found}


def _open_assignments(n: int) -> list[Assignment]:
    unit = unit_named("昆都仑区人民政府", "baotou")
    found = db.session.scalars(
        select(Assignment).where(Assignment.unit_id == unit.id).order_by(Assignment.id).limit(n)
    ).all()
    assert len(found) == n
    return list(found)


def test_badges_count_what_the_lists_show(app, client, login_as) -> None:
    office = login_as("office")
    page = client.get("/dashboard").get_data(as_text=True)
    assert _badges(page) == {}  # nothing waiting: no badge, no "0"

    reporter = make_user("office", username="reporter")
    first, second = _open_assignments(2)
    for assignment in (first, second):
        tracking.submit_report(
            assignment,
            actor=reporter,
            progress="已完成部署",
            percent=40,
            storage=storage_for(app.config),
            max_bytes=1024,
        )
    milestone = next(m for m in first.milestones if m.status == MilestoneStatus.OPEN.value)
    tracking.request_extension(
        milestone,
        actor=reporter,
        reason="需要延期",
        requested_due_on=milestone.effective_due_on + timedelta(days=20),
    )
    for title in ("一", "二", "三"):
        db.session.add(Notification(user_id=office.id, title=title, body="正文"))
    db.session.add(Notification(user_id=reporter.id, title="别人的", body="正文"))
    db.session.commit()

    page = client.get("/dashboard").get_data(as_text=True)
    reviews, extensions = count_of(awaiting_review(office)), count_of(pending_extensions())
    assert (reviews, extensions) == (2, 1)
    # Three of ours, plus the office's notice of each submitted report; not the other user's.
    unread = db.session.scalars(select(Notification).where(Notification.user_id == office.id)).all()
    assert len(unread) == 5
    assert _badges(page) == {
        "待审核": (2, "（2 项待处理）"),
        "延期审批": (1, "（1 项待处理）"),
        "站内通知": (5, "（5 条未读）"),
    }
    # The lists behind the badges show the same numbers.
    review_page = client.get("/review").get_data(as_text=True)
    assert review_page.count("已完成部署") == 2

    client.post("/notifications/read")
    assert "站内通知" not in _badges(client.get("/dashboard").get_data(as_text=True))


def _switch(client: Any, user: Any) -> None:
    client.post("/logout")
    login(client, user)


def test_the_sub_tasks_entry_counts_what_awaits_the_user(app, client, login_as) -> None:
    """分解任务: the handling unit's badge counts its sub-tasks to acknowledge (or report on again),
    the lead unit's and the office's the reports awaiting their review."""
    from taskhub.supervision import subtasks

    lead_task = _open_assignments(1)[0]
    lead_user = login_as("unit", lead_task.unit)
    other_user = make_user("unit", unit_named("青山区人民政府", "baotou"))
    office = make_user("office")
    assert "分解任务" not in _badges(client.get("/my").get_data(as_text=True))
    st = subtasks.create(
        lead_task,
        actor=lead_user,
        text="梳理数据目录",
        unit_id=other_user.unit_id,
        department=None,
        milestones=[("完成", date(2030, 6, 30))],
        weight=1,
    )
    db.session.commit()
    page = client.get("/my").get_data(as_text=True)
    assert "分解任务" in _nav(page) and "分解任务" not in _badges(page)  # nothing for the lead yet
    _switch(client, other_user)
    assert _badges(client.get("/my").get_data(as_text=True))["分解任务"][0] == 1  # 未签收
    subtasks.acknowledge(st, actor=other_user)
    subtasks.submit_report(st, actor=other_user, progress="已梳理一半", percent=50)
    db.session.commit()
    assert "分解任务" not in _badges(client.get("/my").get_data(as_text=True))
    _switch(client, lead_user)
    assert _badges(client.get("/my").get_data(as_text=True))["分解任务"][0] == 1  # to review
    _switch(client, office)
    assert _badges(client.get("/dashboard").get_data(as_text=True))["分解任务"][0] == 1
    current = _current(client.get(f"/subtasks/{st.id}").get_data(as_text=True))
    assert [name.strip() for name in current] == ["分解任务"]


def test_badges_only_for_roles_that_see_the_entry(client, login_as) -> None:
    login_as("viewer")
    nav = _nav(client.get("/dashboard").get_data(as_text=True))
    assert "待审核" not in nav and "延期审批" not in nav and "站内通知" in nav
    assert "分解任务" not in nav


# -- the two lists' names ------------------------------------------------------------------


def test_the_board_and_the_ledger_have_different_names(client, login_as) -> None:
    login_as("office")
    board = client.get("/board").get_data(as_text=True)
    assert "<title>时限督办 ·" in board and "<h1>时限督办</h1>" in board
    ledger = client.get("/ledger").get_data(as_text=True)
    assert "<title>任务台账 ·" in ledger
    assert "督办台账" not in board + ledger


# -- favicon -------------------------------------------------------------------------------


def test_favicon(client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/static/favicon.svg")
    with client.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert b"<svg" in icon.data
    login_page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in login_page


def test_a_long_backlog_reads_99_plus(client, login_as) -> None:
    viewer = login_as("viewer")
    db.session.add_all(
        Notification(user_id=viewer.id, title=f"通知{n}", body="正文") for n in range(120)
    )
    db.session.commit()
    nav = _nav(client.get("/dashboard").get_data(as_text=True))
    assert (
        '站内通知 <span class="badge"><span aria-hidden="true">99+</span>'
        '<span class="visually-hidden">（99+ 条未读）</span></span>'
    ) in nav
