"""The leaders' weekly summary (每周摘要): the setting (a leader's own over the city's), the day
and time it goes out, its text, and exactly one message per leader, week and channel however
often the job runs — delivered to a real SMTP server (aiosmtpd) and a real robot receiver."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.jobs.registry import get_job
from taskhub.jobs.services import run_job
from taskhub.leaders import digest, instructions, services
from taskhub.leaders.models import Leader
from taskhub.reminders.models import OutboxMessage
from tests.conftest import make_user, unit_named
from tests.test_access import OWN, assignment_of

MONDAY = date(2022, 7, 4)
BASE_URL = "https://duban.example.gov.cn"


def _leader(
    name: str = "张副市长", *, email: str | None = "zhang@bt.gov.cn", robot: str | None = None
) -> Leader:
    city = unit_named(OWN, "baotou").city
    leader = services.create_leader(
        city,
        {"name": name, "title": "副市长", "portfolio": "数字政府", "email": email,
         "webhook_url": robot},
        actor=None,
    )  # fmt: skip
    services.set_unit_leader(unit_named(OWN, "baotou"), leader.id, actor=None)
    db.session.commit()
    return leader


def _city_setting(weekday: int = 0, at: str = "09:00", channels: Any = ("email",)) -> None:
    city = unit_named(OWN, "baotou").city
    digest.set_setting(
        city, {"weekday": weekday, "send_at": at, "channels": list(channels)}, actor=None
    )
    db.session.commit()


def _rows() -> list[OutboxMessage]:
    db.session.expire_all()
    query = select(OutboxMessage).where(OutboxMessage.dedupe_key.like("leader-digest:%"))
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def _queue(day: date, at: time) -> dict[str, int]:
    result = digest.queue_digests(day, at, base_url=BASE_URL)
    db.session.commit()
    return result


def test_the_digest_goes_from_the_set_day_and_time_once_a_week(session):
    leader = _leader(robot="https://oapi.dingtalk.com/robot/send?access_token=z")
    _city_setting(0, "09:00", ["email", "webhook"])
    assert _queue(MONDAY, time(8, 59)) == {"leaders": 0, "queued": 0}
    assert _queue(MONDAY, time(9, 0)) == {"leaders": 1, "queued": 2}
    assert {(r.channel, r.recipient) for r in _rows()} == {
        ("email", "zhang@bt.gov.cn"),
        ("webhook", "https://oapi.dingtalk.com/robot/send?access_token=z"),
    }
    # Reruns the same day and later in the week queue nothing more.
    assert _queue(MONDAY, time(9, 15))["queued"] == 0
    assert _queue(date(2022, 7, 6), time(10, 0))["queued"] == 0
    assert len(_rows()) == 2
    # The next week has its own digest.
    assert _queue(date(2022, 7, 11), time(9, 0))["queued"] == 2
    keys = sorted(r.dedupe_key for r in _rows())
    assert keys[0].startswith(f"leader-digest:{leader.id}:2022-07-04:")
    assert keys[-1].startswith(f"leader-digest:{leader.id}:2022-07-11:")


def test_a_run_missed_on_the_day_catches_up_later_in_the_week(session):
    _leader()
    _city_setting(0, "17:00")
    # No run on Monday after 17:00: Tuesday's run sends it.
    assert _queue(date(2022, 7, 5), time(0, 15))["queued"] == 1


def test_the_leader_s_own_setting_wins_and_inactive_or_disabled_get_none(session):
    leader = _leader()
    _city_setting(0, "09:00")
    digest.set_setting(
        leader, {"weekday": 4, "send_at": "17:00", "channels": ["email"]}, actor=None
    )
    db.session.commit()
    assert _queue(MONDAY, time(12, 0))["queued"] == 0  # theirs is Friday
    assert _queue(date(2022, 7, 8), time(17, 0))["queued"] == 1
    # Disabled: none; inactive: none; no address for the channel: none.
    other = _leader("李副市长", email="li@bt.gov.cn")
    digest.set_setting(
        other,
        {"weekday": 0, "send_at": "09:00", "channels": ["email"], "is_enabled": False},
        actor=None,
    )
    services.update_leader(leader, {"is_active": False}, actor=None)
    _leader("王副市长", email=None)
    db.session.commit()
    assert _queue(date(2022, 7, 11), time(12, 0))["queued"] == 0
    audited = select(func.count()).select_from(AuditEvent)
    assert db.session.scalar(audited.where(AuditEvent.action == "leader.digest_set")) == 2
    assert db.session.scalar(audited.where(AuditEvent.action == "city.leader_digest_set")) == 1


def test_a_bad_setting_is_refused_in_chinese(session):
    leader = _leader()
    for data, field in (
        ({"weekday": 7, "send_at": "09:00", "channels": ["email"]}, "weekday"),
        ({"weekday": 1, "send_at": "9点", "channels": ["email"]}, "send_at"),
        ({"weekday": 1, "send_at": "09:00", "channels": ["sms"]}, "channels"),
        ({"weekday": 1, "send_at": "09:00", "channels": []}, "channels"),
    ):
        with pytest.raises(digest.DigestRefused) as refused:
            digest.set_setting(leader, data, actor=None)
        assert refused.value.field == field
    db.session.rollback()


def test_the_digest_text_is_the_week_s_summary(session):
    leader = _leader()
    office = make_user("office")
    item_id = assignment_of(OWN).item_id
    from taskhub.plans.models import Item

    instructions.record(
        db.session.get(Item, item_id),
        actor=office,
        leader_id=leader.id,
        text="请加快推进，月底前见成效。",
        today=date(2026, 12, 7),
    )
    db.session.commit()
    subject, body = digest.render(leader, date(2026, 12, 7), BASE_URL)
    assert subject.startswith("【每周摘要】副市长张副市长分管任务")
    assert "您分管的任务共" in body and "红灯" in body
    assert "超期最久的任务" in body
    assert "待落实的领导批示1件" in body and "请加快推进" in body
    assert f"{BASE_URL}/leaders/{leader.id}" in body


@pytest.fixture
def receivers(app: Flask, smtp_server: Any, webhook_server: Any, monkeypatch: Any) -> Any:
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    monkeypatch.setitem(app.config, "BASE_URL", BASE_URL)
    return smtp_server, webhook_server


def test_the_job_run_twice_delivers_one_email_and_one_robot_message(session, receivers):
    mail, robot = receivers
    _leader(robot=robot.url("/robot?access_token=leader"))
    _city_setting(0, "09:00", ["email", "webhook"])
    job = get_job("leader_digest")
    assert job is not None and not job.is_daily
    first = run_job(job, MONDAY)
    second = run_job(job, MONDAY)
    assert (first["queued"], second["queued"]) == (2, 0)
    assert first["sent"] == 2
    [message] = mail.messages
    assert message.rcpt_tos == ["zhang@bt.gov.cn"]
    assert message.subject.startswith("【每周摘要】")
    assert "您分管的任务共" in message.text
    [(path, payload)] = robot.requests
    assert path == "/robot?access_token=leader"
    assert payload["markdown"]["title"].startswith("【每周摘要】")
    assert {r.status for r in _rows()} == {"sent"}
