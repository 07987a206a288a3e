"""Outgoing event webhooks end to end: a real HTTP receiver on 127.0.0.1 checks each event
arrives once, signed with the endpoint's secret; failures are retried through the outbox;
rolled-back changes, unsubscribed events and disabled endpoints send nothing; only admins manage
endpoints, on the page and in the API.

The scene is Baotou item 3 and 4 for 昆都仑区 (due 2022-06-30), as in test_reminders.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db, now_utc, writing
from taskhub.core.storage import LocalStorage
from taskhub.plans.models import Item, Plan
from taskhub.reminders import services as outbox
from taskhub.reminders.models import OutboxMessage
from taskhub.scoring import services as scoring
from taskhub.tracking import services as tracking
from taskhub.tracking.jobs import scan_overdue
from taskhub.tracking.models import Assignment, Milestone, ProgressReport
from taskhub.webhooks import services as webhooks
from taskhub.webhooks.models import WEBHOOK_EVENTS, WebhookEndpoint
from tests.conftest import login, make_user, unit_named
from tests.servers import HOST
from tests.test_reminders import own_sqlite_app  # noqa: F401  (a fixture, asked for by name)

KUNDULUN = "昆都仑区人民政府"
PLAN = "baotou-2022"
JUNE_30 = date(2022, 6, 30)

# --- a receiver that keeps the headers ---------------------------------------------------------


@dataclass
class Received:
    path: str
    #: Header names in lower case (HTTP header names are case-insensitive).
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def event(self) -> str:
        return self.headers["x-taskhub-event"]


@dataclass
class Receiver:
    """A city dashboard's endpoint: records every POST, answers 200 unless told otherwise."""

    port: int
    requests: list[Received] = field(default_factory=list)
    _replies: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Called while a POST is being received, before it is answered.
    during: Callable[[], None] | None = None

    def url(self, path: str = "/hooks/taskhub") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self._replies.extend(statuses)

    def _receive(self, received: Received) -> int:
        if self.during is not None:
            self.during()
        with self._lock:
            self.requests.append(received)
            return self._replies.pop(0) if self._replies else 200


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = self.server.receiver._receive(Received(self.path, headers, body))
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", self.server.receiver.url("/elsewhere"))
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    receiver: Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    httpd = _Server((HOST, 0), _Handler)
    httpd.receiver = Receiver(port=httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd.receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def verify(request: Received, secret: str) -> None:
    """Check the signature as a receiver would, without TaskHub's code."""
    stamp = request.headers["x-taskhub-timestamp"]
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
    assert hmac.compare_digest(
        request.headers["x-taskhub-signature"], f"sha256={digest.hexdigest()}"
    )
    assert abs(int(stamp) - time.time()) < 60  # fresh: a receiver rejects old messages
    assert request.headers["content-type"].startswith("application/json")
    assert request.json["event"] == request.event


# --- scene --------------------------------------------------------------------------------------


@pytest.fixture
def admin(session: Any) -> User:
    return make_user("admin", None, "webhook-admin")


@pytest.fixture
def office(session: Any) -> User:
    return make_user("office", None, "webhook-office")


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "evidence")


def assignment(number: str, unit_name: str = KUNDULUN) -> Assignment:
    unit = unit_named(unit_name, "baotou")
    return db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == PLAN, Item.number == number, Assignment.unit_id == unit.id)
    ).one()


def register(
    admin: User,
    url: str,
    events: list[str] | tuple[str, ...] = WEBHOOK_EVENTS,
    *,
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = webhooks.create_endpoint(
        url=url, events=events, actor=admin, description="城市大脑", is_enabled=enabled
    )
    db.session.commit()
    return endpoint, secret


def submit(a: Assignment, storage: LocalStorage) -> ProgressReport:
    """The unit reports progress (its own user) and the change commits."""
    user = make_user("unit", a.unit, f"unit-{a.unit_id}")
    report = tracking.submit_report(
        a, actor=user, progress="已完成系统部署。", percent=60, storage=storage, max_bytes=10**6
    )
    db.session.commit()
    return report


def sign_in(client: FlaskClient, user: User) -> None:
    """Sign in and read the pages in English (the Chinese catalogue is checked elsewhere)."""
    login(client, user)
    client.get("/lang/en")


def deliver(app: Flask, now: datetime | None = None) -> dict[str, int]:
    return outbox.deliver(app.config, now=now or now_utc())


def hook_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == "hook").order_by(OutboxMessage.id)
        )
    )


def keep_open(a: Assignment) -> None:
    """Close every other milestone, so the overdue scan flags exactly ``a``'s."""
    db.session.execute(
        update(Milestone)
        .where(Milestone.assignment_id != a.id)
        .values(status="done", completed_on=date(2022, 1, 10))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire_all()


# --- each event arrives once, signed --------------------------------------------------------------


def test_a_submitted_report_arrives_once_signed(
    app: Flask, admin: User, receiver: Receiver, storage: LocalStorage
) -> None:
    _, secret = register(admin, receiver.url())
    a = assignment("4")
    report = submit(a, storage)
    assert deliver(app)["sent"] == 1
    assert deliver(app)["sent"] == 0  # sent is sent
    [request] = receiver.requests
    verify(request, secret)
    assert request.path == "/hooks/taskhub"
    assert request.event == "report.submitted"
    assert request.headers["x-taskhub-delivery"] == str(hook_rows()[0].id)
    body = request.json
    assert body == {
        "event": "report.submitted",
        "occurred_at": body["occurred_at"],
        "plan": PLAN,
        "item": a.item.code,
        "unit": {"id": a.unit_id, "name": KUNDULUN},
        "assignment_id": a.id,
        "report_id": report.id,
        "milestone_id": None,
        "percent": 60,
    }
    assert body["occurred_at"].endswith("Z")


def test_a_review_arrives_once_with_its_decision(
    app: Flask, admin: User, office: User, receiver: Receiver, storage: LocalStorage
) -> None:
    _, secret = register(admin, receiver.url(), ["review.done"])
    a = assignment("4")
    report = submit(a, storage)
    review = tracking.review_report(
        report, actor=office, decision="return", reason="请补充佐证材料。"
    )
    db.session.commit()
    deliver(app)
    deliver(app)
    [request] = receiver.requests
    verify(request, secret)
    assert request.event == "review.done"
    body = request.json
    assert body["review_id"] == review.id and body["report_id"] == report.id
    assert body["decision"] == "return" and body["status"] == "returned"
    assert body["assignment_id"] == a.id and body["plan"] == PLAN
    assert "reason" not in body  # free text stays in TaskHub


def test_an_overdue_milestone_arrives_once_even_when_the_scan_runs_again(
    app: Flask, admin: User, receiver: Receiver
) -> None:
    _, secret = register(admin, receiver.url(), ["milestone.overdue"])
    a = assignment("3")
    keep_open(a)
    [milestone] = db.session.scalars(select(Milestone).where(Milestone.assignment_id == a.id))
    assert scan_overdue(date(2022, 7, 1))["milestones_flagged"] == 1
    db.session.commit()
    scan_overdue(date(2022, 7, 2))  # already flagged: nothing new
    db.session.commit()
    deliver(app)
    [request] = receiver.requests
    verify(request, secret)
    body = request.json
    assert request.event == "milestone.overdue"
    assert (body["milestone_id"], body["assignment_id"]) == (milestone.id, a.id)
    assert (body["due_on"], body["as_of"]) == ("2022-06-30", "2022-07-01")
    assert body["unit"] == {"id": a.unit_id, "name": KUNDULUN}


def test_a_closed_period_arrives_once_and_a_correction_is_a_new_revision(
    app: Flask, admin: User, office: User, receiver: Receiver
) -> None:
    _, secret = register(admin, receiver.url(), ["period.closed"])
    plan = db.session.scalars(select(Plan).where(Plan.code == PLAN)).one()
    scoring.close_period(plan, "2022-H1", actor=office)
    db.session.commit()
    deliver(app)
    scoring.close_period(plan, "2022-H1", actor=office, reason="更正第三方评估分")
    db.session.commit()
    deliver(app)
    assert [r.json["revision"] for r in receiver.requests] == [1, 2]
    for request in receiver.requests:
        verify(request, secret)
        assert request.event == "period.closed"
        assert (request.json["plan"], request.json["period"]) == (PLAN, "2022-H1")
        assert request.json["period_kind"] == "half_year"


def test_every_subscriber_gets_its_own_signature(
    app: Flask, admin: User, receiver: Receiver, storage: LocalStorage
) -> None:
    _, first = register(admin, receiver.url("/a"))
    _, second = register(admin, receiver.url("/b"), ["report.submitted"])
    submit(assignment("4"), storage)
    deliver(app)
    by_path = {r.path: r for r in receiver.requests}
    assert set(by_path) == {"/a", "/b"}
    verify(by_path["/a"], first)
    verify(by_path["/b"], second)
    assert by_path["/a"].body == by_path["/b"].body  # the same event
    with pytest.raises(AssertionError):
        verify(by_path["/a"], second)


# --- failures and retries -----------------------------------------------------------------------


def test_a_failing_receiver_is_retried_with_backoff_then_succeeds(
    app: Flask, client: FlaskClient, admin: User, receiver: Receiver, storage: LocalStorage
) -> None:
    endpoint, secret = register(admin, receiver.url())
    receiver.answer_next(500, 503)
    submit(assignment("4"), storage)
    t0 = now_utc()
    assert deliver(app, t0) == {"sent": 0, "retrying": 1, "failed": 0}
    [row] = hook_rows()
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error == f"event to {HOST} failed: HTTP 500 Internal Server Error"
    # The failure is visible to people: on the outbox page and on the endpoint's page.
    sign_in(client, admin)
    assert "HTTP 500" in client.get("/outbox?status=pending").get_data(as_text=True)
    assert "HTTP 500" in client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)

    assert deliver(app, t0 + timedelta(minutes=1))["retrying"] == 0  # not due yet
    assert len(receiver.requests) == 1
    assert deliver(app, t0 + timedelta(minutes=2))["retrying"] == 1  # 503
    assert deliver(app, t0 + timedelta(minutes=6))["sent"] == 1
    [row] = hook_rows()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    first, _, last = receiver.requests
    assert first.body == last.body
    # The same delivery id every time, so the receiver can drop a repeat.
    assert {r.headers["x-taskhub-delivery"] for r in receiver.requests} == {str(row.id)}
    for request in receiver.requests:
        verify(request, secret)


def test_no_write_lock_is_held_while_an_event_is_posted(
    request: pytest.FixtureRequest, receiver: Receiver
) -> None:
    """On SQLite a scheduled job's transactions take the write lock (BEGIN IMMEDIATE): the
    sender must end them before the POST, or every web writer waits for the endpoint."""
    file_app: Flask = request.getfixturevalue("own_sqlite_app")
    with file_app.app_context():
        admin = make_user("admin", None, "webhook-admin")
        endpoint, _ = register(admin, receiver.url())
        webhooks.send_test(endpoint, actor=admin)
        db.session.commit()
        database = db.engine.url.database
    meanwhile: list[str] = []

    def write_while_posting() -> None:  # a web request's write, not willing to wait
        connection = sqlite3.connect(str(database), timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE webhook_endpoints SET description = '写入成功'")
            connection.execute("COMMIT")
            meanwhile.append("written")
        except sqlite3.OperationalError as exc:
            meanwhile.append(str(exc))
        finally:
            connection.close()

    receiver.during = write_while_posting
    with file_app.app_context(), writing():  # as the scheduler runs its jobs
        counts = outbox.deliver(file_app.config)
    assert counts["sent"] == 1 and len(receiver.requests) == 1
    assert meanwhile == ["written"]


def test_a_redirect_is_a_failure_not_followed(
    app: Flask, admin: User, receiver: Receiver, storage: LocalStorage
) -> None:
    register(admin, receiver.url())
    receiver.answer_next(302)
    submit(assignment("4"), storage)
    assert deliver(app)["retrying"] == 1
    assert [r.path for r in receiver.requests] == ["/hooks/taskhub"]  # not /elsewhere
    assert "HTTP 302" in (hook_rows()[0].last_error or "")


def test_a_receiver_that_is_down_is_a_clear_error(app: Flask, admin: User) -> None:
    from tests.servers import closed_port

    endpoint, _ = register(admin, f"http://{HOST}:{closed_port()}/hook")
    webhooks.send_test(endpoint, actor=admin)
    db.session.commit()
    assert deliver(app)["retrying"] == 1
    assert hook_rows()[0].last_error == f"event to {HOST} failed: Connection refused"


# --- what is not sent ---------------------------------------------------------------------------


def test_a_rolled_back_change_queues_nothing(
    app: Flask, admin: User, receiver: Receiver, storage: LocalStorage
) -> None:
    register(admin, receiver.url())
    a = assignment("4")
    user = make_user("unit", a.unit, "kdl-unit")
    tracking.submit_report(
        a, actor=user, progress="已完成。", percent=10, storage=storage, max_bytes=10**6
    )
    assert len(hook_rows()) == 1  # queued in the change's own transaction ...
    db.session.rollback()  # ... which fails
    assert hook_rows() == []
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ProgressReport)
            .where(ProgressReport.assignment_id == a.id)
        )
        == 0
    )
    deliver(app)
    assert receiver.requests == []


def test_events_not_subscribed_are_not_sent(
    app: Flask, admin: User, office: User, receiver: Receiver, storage: LocalStorage
) -> None:
    register(admin, receiver.url(), ["review.done"])
    report = submit(assignment("4"), storage)
    assert hook_rows() == []
    tracking.review_report(report, actor=office, decision="accept", today=date(2022, 6, 20))
    db.session.commit()
    deliver(app)
    assert [r.event for r in receiver.requests] == ["review.done"]


def test_a_disabled_endpoint_gets_nothing(
    app: Flask, admin: User, receiver: Receiver, storage: LocalStorage
) -> None:
    live, _ = register(admin, receiver.url("/live"))
    register(admin, receiver.url("/off"), enabled=False)
    submit(assignment("4"), storage)
    # Disabling an endpoint also cancels what was queued for it and not yet sent.
    webhooks.set_enabled(live, False, actor=admin)
    db.session.commit()
    assert deliver(app) == {"sent": 0, "retrying": 0, "failed": 0}
    assert receiver.requests == []
    [row] = hook_rows()
    assert (row.status, row.last_error) == ("failed", "not sent: the endpoint was disabled")


def test_deleting_an_endpoint_cancels_its_pending_events_and_keeps_the_history(
    app: Flask, admin: User, receiver: Receiver, storage: LocalStorage
) -> None:
    endpoint, _ = register(admin, receiver.url())
    submit(assignment("4"), storage)
    endpoint_id = endpoint.id
    webhooks.delete_endpoint(endpoint, actor=admin)
    db.session.commit()
    deliver(app)
    assert receiver.requests == []
    [row] = hook_rows()
    assert row.status == "failed" and row.recipient == f"{endpoint_id} (deleted)"
    assert db.session.get(WebhookEndpoint, endpoint_id) is None


# --- the admin page -----------------------------------------------------------------------------


def test_admin_creates_an_endpoint_and_sees_the_secret_once(
    app: Flask, client: FlaskClient, admin: User, receiver: Receiver
) -> None:
    sign_in(client, admin)
    response = client.post(
        "/admin/webhooks",
        data={
            "url": receiver.url(),
            "description": "城市运行管理中心",
            "events": ["report.submitted", "period.closed"],
            "is_enabled": "on",
        },
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    page = response.get_data(as_text=True)
    assert endpoint.secret in page and "it is not shown again" in page
    assert endpoint.events == ["report.submitted", "period.closed"]
    assert endpoint.created_by_id == admin.id
    # Not on any later page.
    assert endpoint.secret not in client.get("/admin/webhooks").get_data(as_text=True)
    edit = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert endpoint.secret not in edit and "城市运行管理中心" in edit
    # Audited, without the secret.
    created = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "webhook.created")
    ).one()
    assert created.actor_id == admin.id and endpoint.secret not in json.dumps(created.after)


def test_admin_edits_rotates_tests_disables_and_deletes(
    app: Flask, client: FlaskClient, admin: User, receiver: Receiver
) -> None:
    endpoint, old_secret = register(admin, receiver.url())
    sign_in(client, admin)
    base = f"/admin/webhooks/{endpoint.id}"
    saved = client.post(
        base,
        data={
            "url": receiver.url("/v2"),
            "description": "新地址",
            "events": ["review.done"],
            "is_enabled": "on",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200 and "Webhook saved." in saved.get_data(as_text=True)
    db.session.refresh(endpoint)
    assert (endpoint.url, endpoint.events) == (receiver.url("/v2"), ["review.done"])

    rotated = client.post(f"{base}/secret")
    db.session.refresh(endpoint)
    new_secret = endpoint.secret
    assert new_secret != old_secret and new_secret in rotated.get_data(as_text=True)

    tested = client.post(f"{base}/test", follow_redirects=True)
    assert "Test event queued" in tested.get_data(as_text=True)
    deliver(app)
    [request] = receiver.requests
    assert request.path == "/v2" and request.event == "webhook.test"
    verify(request, new_secret)
    with pytest.raises(AssertionError):
        verify(request, old_secret)
    page = client.get(base).get_data(as_text=True)
    assert "Test event" in page and "Sent" in page  # the recent delivery, sent

    client.post(f"{base}/enabled", data={"enabled": "0"})
    db.session.refresh(endpoint)
    assert endpoint.is_enabled is False
    refused = client.post(f"{base}/test", follow_redirects=True).get_data(as_text=True)
    assert "Enable the endpoint before sending a test event." in refused

    client.post(f"{base}/delete")
    assert db.session.get(WebhookEndpoint, endpoint.id) is None
    assert client.get(base).status_code == 404
    assert client.get("/admin/webhooks/99999999999999999999999").status_code == 404
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "webhook", AuditEvent.object_id == str(endpoint.id))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "webhook.created",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.test_queued",
        "webhook.updated",
        "webhook.deleted",
    ]


@pytest.mark.parametrize(
    ("url", "code", "text"),
    [
        ("", "url_required", "Enter the receiver"),
        ("ftp://files.example.gov.cn/in", "url_scheme", "must start with http:// or https://"),
        ("dashboard.example.gov.cn/hook", "url_scheme", "must start with http:// or https://"),
        ("https:///hook", "url_host", "The address has no host name"),
        ("https://user:pw@example.gov.cn/hook", "url_credentials", "user name or password"),
        ("https://example.gov.cn:99999/hook", "url_port", "from 1 to 65535"),
        ("https://example.gov.cn/a b", "url_spaces", "must not contain spaces"),
    ],
)
def test_a_bad_url_is_refused_with_a_clear_error_next_to_the_field(
    client: FlaskClient, admin: User, api_as: Any, url: str, code: str, text: str
) -> None:
    sign_in(client, admin)
    response = client.post(
        "/admin/webhooks", data={"url": url, "events": ["review.done"], "is_enabled": "on"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'aria-invalid="true" aria-describedby="new-url-error"' in page
    assert text in page.split('id="new-url-error"')[1].split("</div>")[0]
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0

    answer = api_as("admin").post("/api/v1/webhooks/", json={"url": url, "events": ["review.done"]})
    assert answer.status_code == 422
    assert answer.json["code"] == code
    assert list(answer.json["errors"]) == ["url"]


def test_no_event_chosen_is_refused_next_to_the_checkboxes(
    client: FlaskClient, admin: User
) -> None:
    sign_in(client, admin)
    response = client.post("/admin/webhooks", data={"url": "https://example.gov.cn/h"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="new-events-error">Choose at least one event.' in page
    assert 'value="https://example.gov.cn/h"' in page  # what was typed is kept


# --- permissions --------------------------------------------------------------------------------

OTHER_ROLES = ["office", "assessor", "unit", "viewer"]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_only_admins_may_use_the_page(
    client: FlaskClient, admin: User, login_as: Any, role: str
) -> None:
    endpoint, _ = register(admin, "https://example.gov.cn/hook")
    login_as(role)
    base = f"/admin/webhooks/{endpoint.id}"
    assert client.get("/admin/webhooks").status_code == 403
    assert client.get(base).status_code == 403
    for url in (
        "/admin/webhooks",
        base,
        f"{base}/secret",
        f"{base}/test",
        f"{base}/enabled",
        f"{base}/delete",
    ):
        assert client.post(url, data={"url": "https://evil.example/x"}).status_code == 403, url
    assert db.session.get(WebhookEndpoint, endpoint.id) is not None


def test_signed_out_visitors_are_sent_to_the_login_page(client: FlaskClient, session: Any) -> None:
    response = client.get("/admin/webhooks")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_only_admins_may_use_the_api(api_as: Any, admin: User, role: str) -> None:
    endpoint, _ = register(admin, "https://example.gov.cn/hook")
    other = api_as(role)
    one = f"/api/v1/webhooks/{endpoint.id}"
    for response in (
        other.get("/api/v1/webhooks/"),
        other.post(
            "/api/v1/webhooks/", json={"url": "https://x.example/", "events": ["review.done"]}
        ),
        other.get(one),
        other.patch(one, json={"is_enabled": False}, headers={"If-Match": "*"}),
        other.delete(one, headers={"If-Match": "*"}),
        other.post(f"{one}/secret"),
        other.post(f"{one}/test"),
        other.get(f"{one}/deliveries/"),
    ):
        assert response.status_code == 403
        assert response.json["code"] == "forbidden"
    assert db.session.get(WebhookEndpoint, endpoint.id).is_enabled


def test_the_api_needs_a_token(client: FlaskClient, session: Any) -> None:
    assert client.get("/api/v1/webhooks/").status_code == 401


# --- the API ------------------------------------------------------------------------------------


def test_api_create_shows_the_secret_only_in_its_answer(api_as: Any, receiver: Receiver) -> None:
    api = api_as("admin")
    created = api.post(
        "/api/v1/webhooks/",
        json={"url": receiver.url(), "events": ["period.closed", "report.submitted"]},
    )
    assert created.status_code == 201, created.json
    body = created.json
    secret = body.pop("secret")
    assert len(secret) >= 40
    assert body["events"] == ["report.submitted", "period.closed"]  # canonical order
    assert body["is_enabled"] is True and body["description"] == ""
    assert body["created_by_id"] == api.user.id
    one = api.get(f"/api/v1/webhooks/{body['id']}")
    assert one.json == body and "secret" not in one.json
    assert all("secret" not in row for row in api.get("/api/v1/webhooks/").json)


def test_api_refuses_unknown_events_and_fields(api_as: Any) -> None:
    api = api_as("admin")
    unknown = api.post("/api/v1/webhooks/", json={"url": "https://a.example/", "events": ["x.y"]})
    assert unknown.status_code == 422 and unknown.json["code"] == "events_unknown"
    assert "x.y" in unknown.json["errors"]["events"][0]
    none = api.post("/api/v1/webhooks/", json={"url": "https://a.example/", "events": []})
    assert none.status_code == 422 and none.json["code"] == "events_required"
    chosen = api.post(
        "/api/v1/webhooks/",
        json={"url": "https://a.example/", "events": ["review.done"], "secret": "mine"},
    )
    assert chosen.status_code == 422 and "secret" in chosen.json["errors"]
    missing = api.post("/api/v1/webhooks/", json={})
    assert missing.status_code == 422 and {"url", "events"} <= set(missing.json["errors"])


def test_api_patch_and_delete_need_the_current_etag(api_as: Any, admin: User) -> None:
    endpoint, _ = register(admin, "https://a.example/hook", ["review.done"])
    api = api_as("admin")
    one = f"/api/v1/webhooks/{endpoint.id}"
    etag = api.get(one).headers["ETag"]
    assert api.patch(one, json={"is_enabled": False}).status_code == 428
    changed = api.patch(
        one,
        json={"events": ["milestone.overdue"], "description": "大屏"},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["events"] == ["milestone.overdue"] and changed.json["description"] == "大屏"
    # Someone holding the old ETag is refused.
    assert api.patch(one, json={"is_enabled": False}, headers={"If-Match": etag}).status_code == 412
    assert api.delete(one, headers={"If-Match": etag}).status_code == 412
    bad = api.patch(
        one, json={"url": "mailto:a@b.cn"}, headers={"If-Match": changed.headers["ETag"]}
    )
    assert bad.status_code == 422 and bad.json["errors"] == {"url": [bad.json["message"]]}
    assert api.delete(one).status_code == 428
    assert api.delete(one, headers={"If-Match": changed.headers["ETag"]}).status_code == 204
    assert api.get(one).status_code == 404
    assert api.get("/api/v1/webhooks/99999").status_code == 404
    assert api.get("/api/v1/webhooks/99999999999999999999999").status_code == 404


def test_api_rotates_the_secret_and_queues_a_test(
    app: Flask, api_as: Any, admin: User, receiver: Receiver
) -> None:
    endpoint, old = register(admin, receiver.url())
    api = api_as("admin")
    rotated = api.post(f"/api/v1/webhooks/{endpoint.id}/secret")
    assert rotated.status_code == 200 and rotated.json["id"] == endpoint.id
    secret = rotated.json["secret"]
    assert secret != old
    queued = api.post(f"/api/v1/webhooks/{endpoint.id}/test")
    assert queued.status_code == 202
    assert queued.json["event"] == "webhook.test"
    deliver(app)
    [request] = receiver.requests
    verify(request, secret)
    assert request.headers["x-taskhub-delivery"] == str(queued.json["delivery_id"])
    deliveries = api.get(f"/api/v1/webhooks/{endpoint.id}/deliveries/")
    assert deliveries.status_code == 200
    [row] = deliveries.json
    assert (row["id"], row["event"], row["status"], row["attempts"]) == (
        queued.json["delivery_id"],
        "webhook.test",
        "sent",
        1,
    )
    assert api.get(f"/api/v1/webhooks/{endpoint.id}/deliveries/?status=failed").json == []


def test_api_lists_page_filter_and_sort(api_as: Any, admin: User) -> None:
    for n in range(5):
        register(
            admin,
            f"https://h{n}.example/hook",
            ["review.done"] if n % 2 else ["period.closed"],
            enabled=n != 4,
        )
    api = api_as("admin")
    first = api.get("/api/v1/webhooks/?page_size=2&sort=-id")
    assert first.status_code == 200
    assert json.loads(first.headers["X-Pagination"])["total"] == 5
    ids = [row["id"] for row in first.json]
    assert len(ids) == 2 and ids == sorted(ids, reverse=True)
    second = api.get("/api/v1/webhooks/?page_size=2&sort=-id&page=2")
    assert max(row["id"] for row in second.json) < min(ids)
    review = api.get("/api/v1/webhooks/?event=review.done").json
    assert [row["url"] for row in review] == ["https://h1.example/hook", "https://h3.example/hook"]
    off = api.get("/api/v1/webhooks/?enabled=false").json
    assert [row["url"] for row in off] == ["https://h4.example/hook"]
    by_url = api.get("/api/v1/webhooks/?sort=-url").json
    assert by_url[0]["url"] == "https://h4.example/hook"
    bad = api.get("/api/v1/webhooks/?sort=secret&event=nope")
    assert bad.status_code == 422 and {"sort", "event"} <= set(bad.json["errors"])


# --- signing ------------------------------------------------------------------------------------


def test_the_signature_covers_timestamp_and_body() -> None:
    body = '{"event":"review.done","occurred_at":"2022-06-30T01:00:00Z"}'
    expected = hmac.new(b"s3cret", b"1656550800." + body.encode(), hashlib.sha256).hexdigest()
    assert webhooks.sign("s3cret", "1656550800", body) == expected
    assert webhooks.sign("s3cret", "1656550801", body) != expected
    headers = webhooks.signed_headers(7, "review.done", "s3cret", body, timestamp=1656550800)
    assert headers == {
        "X-TaskHub-Event": "review.done",
        "X-TaskHub-Delivery": "7",
        "X-TaskHub-Timestamp": "1656550800",
        "X-TaskHub-Signature": f"sha256={expected}",
    }
