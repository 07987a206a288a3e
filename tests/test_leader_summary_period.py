"""The weekly summary (每周摘要) covers the seven days up to the day it is read, printed or sent
(on Monday 2026-12-07: 12月1日至12月7日), the same on the leader page, its print and the digest."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.leaders import digest, services
from taskhub.leaders.models import Leader
from taskhub.supervision import services as supervision
from tests.conftest import make_user, unit_named
from tests.test_access import OWN, assignment_of

MONDAY = date(2026, 12, 7)


def _leader() -> Leader:
    city = unit_named(OWN, "baotou").city
    leader = services.create_leader(city, {"name": "张副市长", "title": "副市长"}, actor=None)
    services.set_unit_leader(unit_named(OWN, "baotou"), leader.id, actor=None)
    db.session.commit()
    return leader


def _issue(code: str, on: date) -> None:
    office = db.session.scalar(select(User).where(User.username == "sum-office"))
    office = office or make_user("office", username="sum-office")
    a = assignment_of(OWN)
    level = supervision.level_by_code(supervision.city_of(a), code)
    supervision.issue(a, level, actor=office, today=on)
    db.session.commit()


def test_the_period_is_the_seven_days_up_to_today_whatever_the_weekday():
    assert services.summary_period(MONDAY) == (date(2026, 12, 1), MONDAY)
    assert services.summary_period(date(2026, 12, 11)) == (date(2026, 12, 5), date(2026, 12, 11))
    assert services.summary_period(date(2026, 12, 13)) == (date(2026, 12, 7), date(2026, 12, 13))


def test_the_view_and_the_digest_count_notices_of_the_seven_days(session):
    leader = _leader()
    _issue("remind", date(2022, 7, 4))  # a Monday: eight days before, left out
    _issue("urge", date(2022, 7, 5))  # Tuesday: the first of the seven days
    today = date(2022, 7, 11)  # the next Monday: the week so far would be this day only
    view = services.leader_view(leader, today)
    assert view.week_start == date(2022, 7, 5)
    assert [e.level.code for e in view.escalations] == ["urge"]
    subject, body = digest.render(leader, today, "https://duban.example.gov.cn")
    assert "（2022年7月5日至2022年7月11日）" in subject
    assert "2022年7月5日至2022年7月11日发出督办单1份" in body


def test_the_page_and_its_print_show_the_same_seven_days(client, login_as, monkeypatch: Any):
    leader = _leader()
    monkeypatch.setattr("taskhub.leaders.views.office_today", lambda: MONDAY)
    login_as("office")
    page = client.get(f"/leaders/{leader.id}").get_data(as_text=True)
    assert "每周摘要（2026年12月1日至2026年12月7日）" in page
    assert "这七天发出的督办单" in page
    subject, _body = digest.render(leader, MONDAY, "https://duban.example.gov.cn")
    assert "（2026年12月1日至2026年12月7日）" in subject  # the digest says the same days
