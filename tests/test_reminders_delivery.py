"""Delivering the outbox in batches: shared SMTP connections, refusals, reconnects, the SQLite
race of two senders and a writer, and the working-day arithmetic behind "fires today".

The SMTP servers are real (aiosmtpd on 127.0.0.1); the outbox rows are written directly, so each
test controls exactly what is due.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from sqlalchemy import func, select, update

from taskhub.calendar.models import CalendarOverride
from taskhub.calendar.services import WorkingCalendar
from taskhub.calendar.services import working_days_between as calendar_working_days_between
from taskhub.core.db import db, now_utc
from taskhub.jobs.models import JobRun
from taskhub.reminders import services
from taskhub.reminders.channels import DeliveryError, SmtpSession, SmtpSettings
from taskhub.reminders.models import Notification, OutboxMessage, ReminderRule
from tests.conftest import make_user, unit_named
from tests.servers import HOST, SmtpServer, _AnyPortController, _Collector
from tests.test_reminders import (  # own_sqlite_app: a fixture, asked for by name
    BASE_URL,
    JUNE_30,
    add_contact,
    calendar,
    own_sqlite_app,  # noqa: F401
)

NOW = datetime(2022, 6, 30, 1, 0, tzinfo=UTC)  # 09:00 in the office
BODY = (
    "张三：您好！截至2022年06月30日，以下任务节点需要关注：\n\n"
    "1. 包头市数字政府建设考评指标 第3项 一网通办（昆都仑区人民政府）—— 完成，"
    "到期日 2022年06月30日，即将到期。 办理：https://duban.example.gov.cn/assignments/1\n"
    ".a line that starts with a dot\n\n"
    "请及时报送进展和佐证材料。本邮件由任务督办平台自动发送。"
)


# --- a mail server that can refuse, hang up and be slow -------------------------------------------


class _Strict(_Collector):
    """Keeps every message with the connection it came on; refuses some recipients (550),
    says 421 (closing) to every ``close_after``-th MAIL FROM of a connection, and can answer
    each RCPT TO late."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: set[str] = set()
        self.close_after: int | None = None
        self.rcpt_delay = 0.0
        self.peers: list[Any] = []
        self.mails_on: Counter[Any] = Counter()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.mails_on[session.peer] += 1
        if self.close_after and self.mails_on[session.peer] % (self.close_after + 1) == 0:
            return "421 too many messages on this connection"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        if address in self.refuse:
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def strict_smtp() -> Iterator[tuple[SmtpServer, _Strict]]:
    handler = _Strict()
    controller = _AnyPortController(handler, hostname=HOST, server_hostname="smtp.test")
    controller.start()
    try:
        yield SmtpServer(HOST, controller.port, handler), handler
    finally:
        controller.stop()


def config_for(server: SmtpServer) -> dict[str, Any]:
    return {"SMTP_HOST": server.host, "SMTP_PORT": server.port, "MAIL_FROM": "督办 <a@b.cn>"}


def queue_mail(to: str, n: int, body: str = BODY) -> OutboxMessage:
    message = OutboxMessage(
        channel="email",
        recipient=to,
        subject=f"【任务督办】{n}项任务节点提醒",
        body=body,
        dedupe_key=f"test:{to}:{n}",
        next_attempt_at=NOW - timedelta(minutes=1),
    )
    db.session.add(message)
    db.session.commit()
    return message


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


ADDRESSES = [f"unit{n}@example.gov.cn" for n in range(1, 6)]


# --- one connection, refusals, reconnects ---------------------------------------------------------


def test_several_emails_share_one_connection_and_arrive_intact(
    session: Any, strict_smtp: tuple[SmtpServer, _Strict]
) -> None:
    server, handler = strict_smtp
    for n, to in enumerate(ADDRESSES[:3], start=1):
        queue_mail(to, n)

    counts = services.deliver(config_for(server), now=NOW, smtp_connections=1)

    assert counts == {"sent": 3, "retrying": 0, "failed": 0}
    assert sorted(m.rcpt_tos[0] for m in server.messages) == ADDRESSES[:3]
    assert len(set(handler.peers)) == 1, "one SMTP connection for the three e-mails"
    for mail in server.messages:
        # 8-bit UTF-8 (the server offers 8BITMIME): the text decodes to exactly what was queued,
        # the leading dot included; SMTP carries lines with CRLF.
        assert mail.message["Content-Transfer-Encoding"] == "8bit"
        assert BODY.encode("utf-8") in mail.raw.replace(b"\r\n", b"\n")
        assert mail.text.replace("\r\n", "\n") == BODY + "\n"
        assert mail.subject.startswith("【任务督办】")
    assert {(m.status, m.attempts) for m in rows()} == {("sent", 1)}


def test_an_eight_bit_digest_carries_the_same_headers_as_any_email(smtp_server: Any) -> None:
    settings = SmtpSettings(
        HOST, smtp_server.port, None, None, False, "任务督办平台 <taskhub@example.gov.cn>"
    )
    subject = "【任务督办】128项任务节点提醒（97项已超期），请各单位于本周五前报送进展和佐证材料"
    with SmtpSession(settings, eight_bit=True) as mail:
        mail.send("张三 <zhangsan@example.gov.cn>", subject, BODY)
        for to, title in [
            ("li@example.cn", "提醒\r\nBcc: spy@example.com"),
            ("li@example.cn\nBcc: spy@example.com", "提醒"),
        ]:
            with pytest.raises(DeliveryError, match="may not contain linefeed"):
                mail.send(to, title, BODY)

    [received] = smtp_server.messages
    message = received.message
    assert received.subject == subject  # a long subject, folded into encoded words
    assert message["From"].addresses[0].display_name == "任务督办平台"
    assert message["To"].addresses[0].display_name == "张三"
    assert received.rcpt_tos == ["zhangsan@example.gov.cn"]
    assert message["Message-ID"].endswith("@example.gov.cn>")
    assert message["Date"].datetime is not None
    assert message["Auto-Submitted"] == "auto-generated"
    assert (message.get_content_type(), message.get_content_charset()) == ("text/plain", "utf-8")
    assert message["Content-Transfer-Encoding"] == "8bit"
    assert received.text.replace("\r\n", "\n") == BODY + "\n"


def test_a_refused_recipient_fails_only_its_own_message(
    session: Any, strict_smtp: tuple[SmtpServer, _Strict]
) -> None:
    server, handler = strict_smtp
    handler.refuse = {ADDRESSES[1]}
    for n, to in enumerate(ADDRESSES[:4], start=1):
        queue_mail(to, n)

    counts = services.deliver(config_for(server), now=NOW, smtp_connections=1)

    assert counts == {"sent": 3, "retrying": 1, "failed": 0}
    assert sorted(m.rcpt_tos[0] for m in server.messages) == [
        ADDRESSES[0],
        ADDRESSES[2],
        ADDRESSES[3],
    ]
    assert len(set(handler.peers)) == 1, "the connection went on after the refusal"
    refused = next(m for m in rows() if m.recipient == ADDRESSES[1])
    assert (refused.status, refused.attempts) == ("pending", 1)
    assert refused.last_error == (
        f"email to {ADDRESSES[1]} failed: SMTP server refused the message: "
        f"{ADDRESSES[1]} refused: 550 mailbox unavailable"
    )
    assert refused.next_attempt_at == NOW + timedelta(minutes=services.BACKOFF_BASE_MINUTES)


def test_a_second_delivery_after_a_partial_run_sends_nothing_twice(
    session: Any, strict_smtp: tuple[SmtpServer, _Strict]
) -> None:
    server, handler = strict_smtp
    handler.refuse = {ADDRESSES[4]}
    for n, to in enumerate(ADDRESSES, start=1):
        queue_mail(to, n)

    assert services.deliver(config_for(server), now=NOW, limit=2)["sent"] == 2  # a cut-short run
    assert services.deliver(config_for(server), now=NOW) == {
        "sent": 2,
        "retrying": 1,
        "failed": 0,
    }
    assert services.deliver(config_for(server), now=NOW + timedelta(minutes=1))["sent"] == 0
    handler.refuse = set()  # the mailbox is back; the retry is due after 2 minutes
    later = NOW + timedelta(minutes=services.BACKOFF_BASE_MINUTES)
    assert services.deliver(config_for(server), now=later)["sent"] == 1
    assert services.deliver(config_for(server), now=later + timedelta(hours=1))["sent"] == 0

    received = Counter(m.rcpt_tos[0] for m in server.messages)
    assert received == Counter(ADDRESSES), "every e-mail exactly once"
    assert {m.status for m in rows()} == {"sent"}


def test_a_dropped_connection_is_opened_again_once(
    session: Any, strict_smtp: tuple[SmtpServer, _Strict]
) -> None:
    server, handler = strict_smtp
    handler.close_after = 2  # the server hangs up (421) at each connection's third MAIL FROM
    for n, to in enumerate(ADDRESSES, start=1):
        queue_mail(to, n)

    counts = services.deliver(config_for(server), now=NOW, smtp_connections=1)

    # Connection 1 carries e-mails 1 and 2; the 421 on the third comes before its content, so
    # it goes on connection 2 with the fourth. The second hang-up fails the fifth: it is retried
    # later rather than a third connection being opened.
    assert counts == {"sent": 4, "retrying": 1, "failed": 0}
    assert len(set(handler.peers)) == 2
    assert Counter(m.rcpt_tos[0] for m in server.messages) == Counter(ADDRESSES[:4])
    last = rows()[-1]
    assert (last.recipient, last.status) == (ADDRESSES[4], "pending")
    assert last.last_error is not None and "connection lost" in last.last_error
    assert "421" in last.last_error


def test_an_unreachable_server_fails_the_whole_session_at_once(smtp_server: Any) -> None:
    settings = SmtpSettings(HOST, smtp_server.port, None, None, True, "a@b.cn", timeout=5.0)
    errors = []
    with SmtpSession(settings) as mail:  # STARTTLS is required but not offered
        for to in ADDRESSES[:3]:
            try:
                mail.send(to, "提醒", BODY)
            except DeliveryError as exc:
                errors.append(str(exc))
    assert mail.connections == 1, "asked once, not once per message"
    assert [e.split(": ", 1)[0] for e in errors] == [
        f"email to {to} failed" for to in ADDRESSES[:3]
    ]
    assert all("STARTTLS failed" in e for e in errors)
    assert smtp_server.messages == []


def test_an_in_app_notice_for_a_deleted_user_is_retried_not_fatal(
    session: Any, strict_smtp: tuple[SmtpServer, _Strict]
) -> None:
    staff = make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "kdl-staff")
    for recipient in (str(staff.id), "999999"):
        db.session.add(
            OutboxMessage(
                channel="in_app",
                recipient=recipient,
                subject="【任务督办】1项任务节点提醒",
                body=BODY,
                dedupe_key=f"test:in_app:{recipient}",
                next_attempt_at=NOW,
            )
        )
    db.session.commit()

    server, _ = strict_smtp
    assert services.deliver(config_for(server), now=NOW) == {"sent": 1, "retrying": 1, "failed": 0}
    sent, missing = rows()
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert (missing.status, missing.attempts) == ("pending", 1)
    assert missing.last_error == "user 999999 no longer exists"
    [note] = db.session.scalars(select(Notification)).all()
    assert (note.user_id, note.body, note.link) == (staff.id, BODY, "/my")


def test_a_batch_whose_claim_runs_out_releases_the_rest_untried(
    session: Any, strict_smtp: tuple[SmtpServer, _Strict], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = strict_smtp
    for n, to in enumerate(ADDRESSES[:2], start=1):
        queue_mail(to, n)
    # A claim that has no time left as soon as it is taken.
    monkeypatch.setattr(services, "CLAIM_MARGIN", timedelta(minutes=services.CLAIM_MINUTES))
    assert services.deliver(config_for(server), now=NOW) == {"sent": 0, "retrying": 0, "failed": 0}
    assert server.messages == []
    assert {(m.status, m.attempts, m.next_attempt_at) for m in rows()} == {("pending", 0, NOW)}

    monkeypatch.undo()
    assert services.deliver(config_for(server), now=NOW)["sent"] == 2


# --- the SQLite race: two senders and a writer ----------------------------------------------------


def test_two_senders_and_a_writer_on_sqlite_never_send_twice_nor_fail(
    request: pytest.FixtureRequest, strict_smtp: tuple[SmtpServer, _Strict]
) -> None:
    """Reproduces bench/README's "Faults" failure: a sender that read, then sent, then wrote,
    met a commit from another connection in between (SQLITE_BUSY_SNAPSHOT, "database is
    locked") and lost the mark of a message already sent."""
    file_app: Flask = request.getfixturevalue("own_sqlite_app")  # an SQLite file (WAL)
    server, handler = strict_smtp
    handler.rcpt_delay = 0.01  # long enough for the writer to commit while messages go out
    mails, notices = 40, 10
    with file_app.app_context():
        user = make_user("office", username="office-1")
        db.session.add(JobRun(name="writer", status="running"))
        for n in range(mails + notices):
            db.session.add(
                OutboxMessage(
                    channel="email" if n < mails else "in_app",
                    recipient=f"user{n}@example.gov.cn" if n < mails else str(user.id),
                    subject="【任务督办】1项任务节点提醒",
                    body=BODY,
                    dedupe_key=f"race:{n}",
                    next_attempt_at=now_utc() - timedelta(minutes=1),
                )
            )
        db.session.commit()

    start = threading.Barrier(3, timeout=10)
    stop = threading.Event()
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []
    config = {**file_app.config, **config_for(server)}

    def sender() -> None:
        try:
            with file_app.app_context():
                start.wait()
                results.append(services.deliver(config, smtp_connections=2))
        except Exception as exc:  # kept for the assertion: a thread must not die silently
            errors.append(exc)

    def writer() -> None:  # like the scheduler's lease renewal (a write first), but every 3 ms
        try:
            with file_app.app_context():
                start.wait()
                n = 0
                while not stop.is_set():
                    n += 1
                    db.session.execute(
                        update(JobRun).where(JobRun.name == "writer").values(message=str(n))
                    )
                    db.session.commit()
                    stop.wait(0.003)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads[:2]:
        t.join(timeout=60)
    stop.set()
    threads[2].join(timeout=10)

    assert errors == []
    received = Counter(m.rcpt_tos[0] for m in server.messages)
    assert sorted(received.values()) == [1] * mails, "every e-mail exactly once"
    assert sum(r["sent"] for r in results) == mails + notices
    with file_app.app_context():
        assert set(db.session.scalars(select(OutboxMessage.status))) == {"sent"}
        assert db.session.scalar(select(func.count()).select_from(Notification)) == notices


# --- deciding ------------------------------------------------------------------------------------


def test_deciding_twice_on_one_day_queues_nothing_the_second_time(session: Any) -> None:
    add_contact("昆都仑区人民政府", "张三", "zhangsan@kdl.example.gov.cn")
    add_contact("昆都仑区人民政府", "王五", "wangwu@kdl.example.gov.cn")
    add_contact("青山区人民政府", "李四", "lisi@qs.example.gov.cn")
    make_user("unit", unit_named("昆都仑区人民政府", "baotou"), "kdl-staff")

    first = services.decide(JUNE_30, calendar(), base_url=BASE_URL)
    db.session.commit()
    assert first["queued"] == first["digests"] >= 4
    again = services.decide(JUNE_30, calendar(), base_url=BASE_URL)
    db.session.commit()
    assert again == {**first, "queued": 0}
    assert len(rows()) == first["digests"]
    assert len({m.dedupe_key for m in rows()}) == first["digests"]


# --- "fires today" without walking ----------------------------------------------------------------


def walking_fires_today(
    due: date, rule: ReminderRule, today: date, days: services.WorkingDays
) -> bool:
    """The former algorithm: walk from the first reminder in steps of ``repeat`` working days."""
    if not days.is_working(today):
        return False
    offset = rule.offset_working_days
    if offset <= 0:
        anchor = due if days.is_working(due) else days.add(due, -1)
        return days.add(due, offset) == today if offset else anchor == today
    first = days.add(due, offset)
    if today == first:
        return True
    repeat = rule.repeat_every_working_days
    if not repeat or today < first:
        return False
    step = first
    while step < today:
        step = days.add(step, repeat)
    return step == today


RULES = [
    (-3, None),
    (0, None),
    (1, 3),
    (5, 3),
    (2, 1),
    (4, 7),
]


def test_fires_today_agrees_with_walking_across_holidays_and_overrides(session: Any) -> None:
    # The office's own changes on top of the official calendar: a worked Saturday, a day off.
    db.session.add(CalendarOverride(day=date(2022, 3, 5), is_working_day=True, note="加班"))
    db.session.add(CalendarOverride(day=date(2022, 9, 14), is_working_day=False, note="停电"))
    db.session.commit()
    rules = [
        ReminderRule(name=f"r{n}", offset_working_days=o, repeat_every_working_days=r)
        for n, (o, r) in enumerate(RULES)
    ]
    # A window starting mid-year: the ordinals must also extend backwards past its start.
    cal = WorkingCalendar.load(date(2022, 6, 1), date(2022, 12, 31))
    fast = services.WorkingDays.of(cal)
    slow = services.WorkingDays(cal.add_working_days, cal.is_working_day)
    fired = 0
    # Due dates across the Spring Festival, Qingming, May Day, Dragon Boat, Mid-Autumn and
    # National Day (with its make-up Saturdays), every fifth day of 2022.
    for due in (date(2022, 1, 3) + timedelta(days=n) for n in range(0, 360, 5)):
        for today in (due + timedelta(days=n) for n in range(-7, 36)):
            for rule in rules:
                expected = walking_fires_today(due, rule, today, slow)
                assert services.fires_today(due, rule, today, fast) == expected, (due, rule, today)
                fired += expected
    assert fired > 500  # the comparison covered days that fire, not just days that do not


def test_working_day_ordinals_count_working_days_between(session: Any) -> None:
    cal = WorkingCalendar.load(date(2022, 9, 1), date(2022, 10, 31))
    days = [date(2022, 1, 1) + timedelta(days=n) for n in range(0, 500, 13)]
    for a in days:
        for b in days[::6]:
            low, high = min(a, b), max(a, b)
            # Against the plain day-by-day walk of the module function (the calendar's own
            # working_days_between counts by these ordinals).
            assert cal.working_day_ordinal(high) - cal.working_day_ordinal(low) == (
                calendar_working_days_between(low, high)
            )
    # National Day 2022: 10-01..07 off, Saturday 10-08 and Sunday 10-09 worked.
    assert (
        cal.working_day_ordinal(date(2022, 10, 9)) - cal.working_day_ordinal(date(2022, 9, 30)) == 2
    )
