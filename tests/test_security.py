"""Account security: sign-in throttling against password guessing, security headers, session
lifetime and idle timeout, evidence kept out of the web root, no secrets in the logs."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from taskhub.accounts import services as accounts
from taskhub.accounts import throttle
from taskhub.accounts.models import LoginAttempt
from taskhub.accounts.tokens import create_token
from taskhub.audit.models import AuditEvent
from taskhub.config import Config
from taskhub.core import security
from taskhub.core.db import db, now_utc
from taskhub.tracking.models import Evidence
from tests.conftest import PASSWORD, Browser, make_user, unit_named
from tests.test_item_page import KUNDULUN, assignment_id, evidence_id, report
from tests.test_uploads import make_png

WRONG = "Wrong-Guess-7731"
LOCKED = "登录失败次数过多，请等待 15 分钟后再试。"  # the longest delay
WRONG_ANSWER = "用户名或密码错误。"


class Clock:
    """now_utc for the code under test, moved by the test."""

    def __init__(self) -> None:
        self.now = now_utc()

    def __call__(self) -> datetime:
        return self.now

    def travel(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze sign-in throttling and session expiry at now; the test moves time on."""
    frozen = Clock()
    monkeypatch.setattr(accounts, "now_utc", frozen)
    monkeypatch.setattr(throttle, "now_utc", frozen)
    monkeypatch.setattr(security, "now_utc", frozen)
    return frozen


def sign_in(
    client: FlaskClient, username: str, password: str, address: str = "127.0.0.1"
) -> TestResponse:
    return client.post(
        "/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


class Visitor:
    """Someone at a browser at one address; each request gets its own app context (as in
    production), so one visitor's sign-in is never cached into another's request."""

    def __init__(self, app: Flask, address: str) -> None:
        self.app, self.address = app, address
        self.client = app.test_client()

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        with self.app.app_context():
            return self.client.post(url, environ_base={"REMOTE_ADDR": self.address}, **kwargs)

    def sign_in(self, username: str, password: str) -> TestResponse:
        return self.post("/login", data={"username": username, "password": password})


def fail(client: FlaskClient, username: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        assert sign_in(client, username, WRONG, address).status_code == 401


def error_of(response: TestResponse) -> str:
    found = re.search(r'id="login-error">([^<]*)<', response.get_data(as_text=True))
    assert found, "the login page shows no error"
    return found.group(1)


# --- sign-in throttling -----------------------------------------------------------------------


def retry_after(response: TestResponse) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"])


def test_failures_from_one_address_bring_growing_delays(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    fail(client, user.username, 5)
    # Even the right password waits now, with a 429, how long, and the wait in the message.
    response = sign_in(client, user.username, PASSWORD)
    assert retry_after(response) == 30
    assert error_of(response) == "登录失败次数过多，请等待 30 秒后再试。"
    assert client.get("/plans").status_code == 302  # still signed out
    # Each further failure doubles the wait.
    clock.travel(seconds=30)
    fail(client, user.username, 1)
    assert retry_after(sign_in(client, user.username, PASSWORD)) == 60
    clock.travel(seconds=60)
    fail(client, user.username, 1)
    response = sign_in(client, user.username, PASSWORD)
    assert retry_after(response) == 120
    assert error_of(response) == "登录失败次数过多，请等待 2 分钟后再试。"
    clock.travel(seconds=120)
    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_delays_stop_growing_at_the_maximum(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    fail(client, user.username, 5)
    waits = []
    for _ in range(7):
        wait = retry_after(sign_in(client, user.username, WRONG))
        waits.append(wait)
        clock.travel(seconds=wait)
        fail(client, user.username, 1)
    assert waits == [30, 60, 120, 240, 480, 900, 900]
    response = sign_in(client, user.username, PASSWORD)
    assert error_of(response) == LOCKED and retry_after(response) == 900


def test_the_owner_signs_in_at_their_usual_address_while_a_guesser_elsewhere_waits(
    app: Flask, session: Any, clock: Clock
) -> None:
    name = make_user("office").username
    owner, guesser = Visitor(app, "198.51.100.20"), Visitor(app, "203.0.113.9")
    assert owner.sign_in(name, PASSWORD).status_code == 302  # their usual desk
    owner.post("/logout")
    for _ in range(5):
        assert guesser.sign_in(name, WRONG).status_code == 401
    assert guesser.sign_in(name, PASSWORD).status_code == 429
    assert owner.sign_in(name, PASSWORD).status_code == 302
    owner.post("/logout")
    # The guesser moves on to other addresses, under the pair limit at each: after 10 failures
    # in all, every address the owner has not signed in from is slowed too...
    for n in range(5):
        assert Visitor(app, f"192.0.2.{n}").sign_in(name, WRONG).status_code == 401
    assert retry_after(Visitor(app, "192.0.2.200").sign_in(name, PASSWORD)) == 30
    # ...but the owner at their usual address is not.
    assert owner.sign_in(name, PASSWORD).status_code == 302


def test_many_names_failing_behind_one_address_do_not_stop_colleagues_behind_it(
    app: Flask, session: Any, clock: Clock
) -> None:
    # (Names read now: each visitor's request ends the shared session, detaching the rows.)
    colleague, newcomer = make_user("office").username, make_user("viewer").username
    office = Visitor(app, "203.0.113.9")  # the office's NAT: everyone's address
    assert office.sign_in(colleague, PASSWORD).status_code == 302
    office.post("/logout")
    # Someone in the same office guesses at many names, under the pair limit for each.
    for n in range(5):
        for _ in range(4):
            assert Visitor(app, "203.0.113.9").sign_in(f"guess-{n}", WRONG).status_code == 401
    # A colleague who works there still signs in...
    assert office.sign_in(colleague, PASSWORD).status_code == 302
    # ...while the address is slowed for names that have not signed in from it (not elsewhere).
    response = Visitor(app, "203.0.113.9").sign_in(newcomer, PASSWORD)
    assert retry_after(response) == 30
    assert error_of(response) == "登录失败次数过多，请等待 30 秒后再试。"
    assert Visitor(app, "198.51.100.7").sign_in(newcomer, PASSWORD).status_code == 302


def test_names_are_counted_in_any_case(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office", username="Zhang.Wei")
    fail(client, "zhang.wei", 3)
    fail(client, " ZHANG.WEI ", 2)
    assert sign_in(client, user.username, PASSWORD).status_code == 429


def test_a_delayed_name_does_not_delay_other_people(client: FlaskClient, clock: Clock) -> None:
    target, colleague = make_user("office"), make_user("viewer")
    fail(client, target.username, 5)
    # Same office network, another account: not affected.
    assert sign_in(client, colleague.username, PASSWORD).status_code == 302


def test_the_delay_does_not_reveal_whether_an_account_exists(
    client: FlaskClient, clock: Clock
) -> None:
    real = make_user("office", username="wang.fang")
    answers = {}
    for name in (real.username, "no.such.person"):
        wrong = sign_in(client, name, WRONG)
        fail(client, name, 4)
        delayed = sign_in(client, name, WRONG)
        answers[name] = (
            wrong.status_code,
            error_of(wrong),
            delayed.status_code,
            error_of(delayed),
            delayed.headers["Retry-After"],
        )
    assert answers[real.username] == answers["no.such.person"]
    assert answers[real.username] == (
        401,
        WRONG_ANSWER,
        429,
        "登录失败次数过多，请等待 30 秒后再试。",
        "30",
    )


def test_a_successful_sign_in_starts_the_count_afresh(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    fail(client, user.username, 4)
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    client.post("/logout")
    fail(client, user.username, 4)  # eight failures in the window, four since the success
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    client.post("/logout")
    outcomes = db.session.scalars(
        select(LoginAttempt.succeeded)
        .where(LoginAttempt.username == user.username.lower())
        .order_by(LoginAttempt.id)
    ).all()
    # Failures are kept for a day; of the successes only the newest (it marks the usual address).
    assert outcomes == [False] * 8 + [True]


def test_refused_attempts_do_not_extend_the_delay(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    fail(client, user.username, 5)
    for _ in range(2):
        clock.travel(seconds=10)
        assert sign_in(client, user.username, WRONG).status_code == 429
    clock.travel(seconds=10)  # 30 seconds after the fifth failure
    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_failures_count_for_the_window_then_no_longer(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    fail(client, user.username, 4)
    clock.travel(minutes=40)
    fail(client, user.username, 1)  # the fifth within the hour
    assert retry_after(sign_in(client, user.username, PASSWORD)) == 30
    clock.travel(minutes=21)  # the first four are now more than an hour old
    fail(client, user.username, 3)
    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_empty_forms_are_not_counted_as_guesses(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    for _ in range(6):
        response = sign_in(client, user.username, "")
        assert response.status_code == 401 and error_of(response) == WRONG_ANSWER
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    assert sign_in(client, user.username, PASSWORD).status_code == 302


def test_old_attempts_are_pruned(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    fail(client, user.username, 2)
    clock.travel(days=1, minutes=1)
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    left = db.session.execute(select(LoginAttempt.succeeded)).scalars().all()
    assert left == [True]


def test_the_limits_are_configurable(
    app: Flask, client: FlaskClient, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 2)
    monkeypatch.setitem(app.config, "LOGIN_DELAY_SECONDS", 90)
    user = make_user("office")
    fail(client, user.username, 2)
    response = sign_in(client, user.username, PASSWORD)
    assert retry_after(response) == 90
    assert error_of(response) == "登录失败次数过多，请等待 2 分钟后再试。"
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 0)  # 0 turns the limit off
    assert sign_in(client, user.username, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("LOGIN_MAX_FAILURES", -1),
        ("LOGIN_MAX_FAILURES_PER_USER", -1),
        ("LOGIN_WINDOW_MINUTES", 0),
        ("LOGIN_DELAY_SECONDS", 0),
        ("LOGIN_MAX_DELAY_MINUTES", 0),
        ("LOGIN_KNOWN_ADDRESS_DAYS", 0),
        ("SESSION_IDLE_MINUTES", 0),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "many"),
    ],
)
def test_bad_limits_stop_the_app_at_start(key: str, value: object) -> None:
    bare = Flask(__name__)
    bare.config[key] = value
    with pytest.raises(ValueError):
        security.init_app(bare)


@pytest.mark.parametrize(
    "variable",
    [
        "TASKHUB_LOGIN_MAX_FAILURES_PER_USER",
        "TASKHUB_LOGIN_DELAY_SECONDS",
        "TASKHUB_LOGIN_MAX_DELAY_MINUTES",
        "TASKHUB_LOGIN_KNOWN_ADDRESS_DAYS",
    ],
)
def test_the_new_limits_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "7")
    config = Config()
    assert getattr(config, variable.removeprefix("TASKHUB_")) == 7
    assert (variable, "7") in config.effective()
    monkeypatch.setenv(variable, "-3")
    assert [p.variable for p in Config().validate()] == [variable]


def test_failed_sign_ins_are_in_the_audit_trail_without_the_password(
    app: Flask, session: Any, clock: Clock
) -> None:
    user, gone = make_user("office"), make_user("viewer")
    gone.is_enabled = False
    db.session.commit()
    (user_id, user_name), (gone_id, gone_name) = (user.id, user.username), (gone.id, gone.username)
    Visitor(app, "203.0.113.9").sign_in(user_name, WRONG)
    Visitor(app, "203.0.113.10").sign_in("Nobody.Here", WRONG)
    Visitor(app, "203.0.113.11").sign_in(gone_name, PASSWORD)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.sign_in_failed").order_by(AuditEvent.id)
    ).all()
    assert [(e.object_type, e.object_id, e.actor_id, e.after) for e in events] == [
        (
            "user",
            str(user_id),
            None,
            {"username": user_name, "address": "203.0.113.9", "reason": "wrong_password"},
        ),
        (
            "sign_in",
            "nobody.here",
            None,
            {"username": "Nobody.Here", "address": "203.0.113.10", "reason": "unknown_user"},
        ),
        (
            "user",
            str(gone_id),
            None,
            {"username": gone_name, "address": "203.0.113.11", "reason": "disabled"},
        ),
    ]
    stored = repr([(vars(e)) for e in events])
    assert WRONG not in stored and PASSWORD not in stored


def test_an_admin_sees_and_clears_a_throttle(app: Flask, session: Any, clock: Clock) -> None:
    admin, user = make_user("admin"), make_user("office", username="wang.wei")
    admin_id, user_id = admin.id, user.id
    office = Browser(app, admin)
    # Guesses from ten addresses: wang.wei, who has not signed in anywhere yet, is slowed.
    for n in range(10):
        Visitor(app, f"192.0.2.{n}").sign_in("wang.wei", WRONG)
    assert Visitor(app, "198.51.100.20").sign_in("wang.wei", PASSWORD).status_code == 429

    page = office.page("/users/throttles")
    assert "wang.wei" in page and "此用户名，来自其近期未成功登录过的地址" in page
    assert "wang.wei" in office.page(f"/users/{user_id}")
    assert "登录受限" in office.page("/users")  # marked in the user list
    page = office.submit(
        "/users/throttles/clear", data={"scope": "user", "username": "wang.wei", "address": ""}
    )
    assert "登录限制已解除。" in page and "当前没有被延迟的登录。" in page

    assert Visitor(app, "198.51.100.20").sign_in("wang.wei", PASSWORD).status_code == 302
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "sign_in_throttle.cleared")
    ).one()
    assert event.actor_id == admin_id
    assert event.after == {
        "scope": "user",
        "username": "wang.wei",
        "address": None,
        "failures_removed": 10,
    }


def test_only_admins_clear_throttles(app: Flask, session: Any, clock: Clock) -> None:
    fail_from = Visitor(app, "192.0.2.1")
    for _ in range(5):
        fail_from.sign_in("someone", WRONG)
    office = Browser(app, make_user("office"))
    response = office.post(
        "/users/throttles/clear", data={"scope": "address", "address": "192.0.2.1"}
    )
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) >= 5


# --- security headers -------------------------------------------------------------------------


def directives(response: TestResponse) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    parts = (part.strip().split(" ", 1) for part in policy.split(";"))
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def assert_hardened(response: TestResponse) -> None:
    csp = directives(response)
    assert csp["default-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]


def test_pages_the_api_and_static_files_carry_the_security_headers(
    app: Flask, client: FlaskClient, session: Any
) -> None:
    user = make_user("office")
    _, token = create_token(user, "headers", actor=user)
    db.session.commit()
    responses = {
        "login": client.get("/login"),
        "static": client.get("/static/css/taskhub.css"),
        "api": client.get("/api/v1/assignments/", headers={"Authorization": f"Bearer {token}"}),
        "api error": client.get("/api/v1/assignments/"),
        "not found": client.get("/no-such-page"),
    }
    sign_in(client, user.username, PASSWORD)
    responses["dashboard"] = client.get("/dashboard")
    for name, response in responses.items():
        response.close()
        assert response.status_code in (200, 401, 404), name
        assert_hardened(response)
        assert "Strict-Transport-Security" not in response.headers, name  # served over http


def test_hsts_only_when_the_public_address_is_https(
    app: Flask, client: FlaskClient, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers
    monkeypatch.setitem(app.config, "BASE_URL", "https://taskhub.example.gov.cn")
    assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"


def test_the_api_docs_allow_only_their_own_inline_script(client: FlaskClient, session: Any) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert_hardened(response)
    (inline,) = re.findall(r"<script>(.*?)</script>", response.get_data(as_text=True), re.S)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in directives(response)["script-src"]
    # Other pages do not allow that script.
    assert digest not in client.get("/login").headers["Content-Security-Policy"]


def test_evidence_previews_keep_their_own_policy(
    app: Flask, session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(tmp_path / "evidence"))
    unit = Browser(app, make_user("unit", unit_named(KUNDULUN, "baotou")))
    aid = assignment_id("3")
    report(unit, aid, [(make_png(), "现场照片.png")])
    response = unit.get(f"/evidence/{evidence_id(aid, '现场照片.png')}")
    response.close()
    assert response.status_code == 200
    csp = directives(response)
    assert "sandbox" in csp and csp["frame-ancestors"] == "'self'"
    # Framed by our own assignment page, so not DENY.
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- evidence outside the web root ------------------------------------------------------------


def test_evidence_is_stored_outside_the_web_root_and_never_served_as_static(
    app: Flask, session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = Path(app.static_folder or "").resolve()
    # The shipped default and this app's setting both keep evidence outside static/.
    for configured in (Config().EVIDENCE_PATH, app.config["EVIDENCE_PATH"]):
        assert not Path(configured or "").resolve().is_relative_to(static), configured

    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(tmp_path / "evidence"))
    unit = Browser(app, make_user("unit", unit_named(KUNDULUN, "baotou")))
    aid = assignment_id("3")
    report(unit, aid, [(make_png(), "现场照片.png")])
    sha256 = db.session.scalars(
        select(Evidence.sha256).where(Evidence.original_name == "现场照片.png")
    ).one()
    stored = list((tmp_path / "evidence").rglob(sha256))
    assert len(stored) == 1 and stored[0].read_bytes() == make_png()
    assert not list(static.rglob(f"*{sha256}*"))
    for url in (f"/static/{sha256}", f"/static/{sha256[:2]}/{sha256[2:4]}/{sha256}"):
        assert unit.get(url).status_code == 404
    # Only the checked route serves it, and only to someone signed in.
    ev_id = evidence_id(aid, "现场照片.png")
    with app.app_context():
        anonymous = app.test_client().get(f"/evidence/{ev_id}")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    served = unit.get(f"/evidence/{ev_id}")
    body = served.get_data()
    served.close()
    assert body == make_png()


# --- sessions ---------------------------------------------------------------------------------


def test_an_idle_session_is_signed_out_with_a_message(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    # Working steadily: each request keeps the session alive.
    for _ in range(3):
        clock.travel(minutes=100)
        assert client.get("/plans").status_code == 200
    clock.travel(minutes=120)
    response = client.get("/plans")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fplans"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "您已 120 分钟没有操作，已自动退出，请重新登录。" in page
    assert client.get("/plans").status_code == 302  # really signed out
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    assert client.get("/plans").status_code == 200


def test_a_session_ends_after_its_lifetime_even_when_busy(
    client: FlaskClient, clock: Clock
) -> None:
    user = make_user("office")
    sign_in(client, user.username, PASSWORD)
    for _ in range(7):
        clock.travel(minutes=60)
        assert client.get("/plans").status_code == 200
    clock.travel(minutes=60)  # 8 hours after signing in
    response = client.get("/plans", follow_redirects=True)
    assert "登录已超过 8 小时，已自动退出，请重新登录。" in response.get_data(as_text=True)
    assert response.request.path == "/login"


def test_the_idle_timeout_is_configurable(
    app: Flask, client: FlaskClient, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 15)
    user = make_user("office")
    sign_in(client, user.username, PASSWORD)
    clock.travel(minutes=14)
    assert client.get("/plans").status_code == 200
    clock.travel(minutes=15)
    assert client.get("/plans").status_code == 302


def test_json_clients_of_an_expired_session_get_401(client: FlaskClient, clock: Clock) -> None:
    user = make_user("office")
    sign_in(client, user.username, PASSWORD)
    clock.travel(hours=3)
    assert client.get("/plans", headers={"Accept": "application/json"}).status_code == 401


def test_the_session_cookie_is_http_only_lax_and_expires_with_the_lifetime(
    client: FlaskClient, session: Any
) -> None:
    user = make_user("office")
    response = sign_in(client, user.username, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # http in the tests
    expires = re.search(r"Expires=([^;]+)", cookie)
    assert expires, "a permanent session cookie"
    left = parsedate_to_datetime(expires.group(1)) - now_utc()
    assert timedelta(hours=7, minutes=59) < left <= timedelta(hours=8)


def test_cookies_are_secure_when_the_public_address_is_https(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASKHUB_BASE_URL", "https://taskhub.example.gov.cn")
    config = Config()
    assert config.SESSION_COOKIE_SECURE and config.REMEMBER_COOKIE_SECURE


# --- logs -------------------------------------------------------------------------------------


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every record at every level; loggers that Alembic's fileConfig (run by the app fixture's
    upgrade) disabled are switched back on for the test."""
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger) and logger.disabled:
            monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.DEBUG)
    return caplog


def test_passwords_and_tokens_never_reach_the_logs(
    app: Flask, client: FlaskClient, clock: Clock, all_logs: pytest.LogCaptureFixture
) -> None:
    caplog = all_logs
    user = make_user("office")
    fail(client, user.username, 5)  # wrong passwords, then the lock
    sign_in(client, user.username, PASSWORD)
    clock.travel(minutes=16)
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    created = client.post("/account/tokens", data={"name": "日志检查"})
    token = re.search(r"thk_[A-Za-z0-9_-]{40,}", created.get_data(as_text=True))
    assert token is not None
    plain = token.group(0)
    with app.app_context():
        api = app.test_client()
        assert api.get("/api/v1/assignments/", headers={"Authorization": f"Bearer {plain}"})
        api.get("/api/v1/assignments/", headers={"Authorization": f"Bearer {plain}x"})
    assert caplog.records, "the requests were logged"
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for secret in (WRONG, PASSWORD, plain, plain[10:]):
        assert secret not in logged
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 6


def test_login_attempts_store_no_password(client: FlaskClient, session: Any) -> None:
    fail(client, "someone", 1)
    row = db.session.scalars(select(LoginAttempt)).one()
    assert WRONG not in repr(vars(row))
    assert (row.username, row.address, row.succeeded) == ("someone", "127.0.0.1", False)


def test_a_head_request_for_the_login_page_is_not_a_sign_in_attempt(client: FlaskClient) -> None:
    # Monitoring probes and link checkers send HEAD; it must neither fail nor count against
    # anyone's attempts.
    before = db.session.scalar(select(func.count()).select_from(LoginAttempt))
    assert client.head("/login").status_code == 200
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == before
