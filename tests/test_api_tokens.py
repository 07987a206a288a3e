"""Personal API tokens as people manage them: created on the tokens page and shown once,
used on the API, revoked by their owner or an admin (and by nobody else)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from taskhub.accounts import tokens
from taskhub.accounts.models import ApiToken, User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db, now_utc
from taskhub.units.models import Contact
from tests.conftest import Browser, make_user, unit_named

TOKEN = re.compile(r"thk_[A-Za-z0-9_-]{40,}")
ASSIGNMENTS = "/api/v1/assignments/"


@pytest.fixture
def person(app: Flask, session: Any) -> Callable[..., Browser]:
    """person("office", "name"): a new user, signed in at their own browser."""

    def _open(role: str, name: str | None = None) -> Browser:
        return Browser(app, make_user(role, username=name or f"{role}-tokens"))

    return _open


def api_get(app: Flask, token: str, url: str = ASSIGNMENTS) -> TestResponse:
    """A call from another system: no cookies, only the token."""
    with app.app_context():
        return app.test_client().get(url, headers={"Authorization": f"Bearer {token}"})


def create(person: Browser, name: str = "城市大脑对接", days: str = "") -> tuple[str, str]:
    """Create a token on the page; (the page, the plain token shown on it)."""
    response = person.post("/account/tokens", data={"name": name, "expires_in_days": days})
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    found = TOKEN.findall(page)
    assert len(set(found)) == 1, "the new token is shown once on the page"
    return page, found[0]


def token_row(plain: str) -> ApiToken:
    return db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == tokens.digest(plain))
    ).one()


def test_a_new_token_is_shown_once_then_only_its_prefix(person: Callable[..., Browser]) -> None:
    me = person("office")
    page, plain = create(me, "城市大脑对接", "30")
    assert "请立即复制令牌：它只显示这一次" in page
    assert f'value="{plain}" readonly' in page
    row = token_row(plain)
    assert row.user_id == me.user_id and row.name == "城市大脑对接"
    assert row.expires_at is not None
    assert timedelta(days=29, hours=23) < row.expires_at - now_utc() <= timedelta(days=30)

    listing = me.page("/account/tokens")
    assert plain not in listing
    assert f"<code>{row.prefix}…</code>" in listing and plain.startswith(row.prefix)
    assert "城市大脑对接" in listing and "从未" in listing  # never used yet
    assert plain not in db.session.scalars(select(ApiToken.token_hash)).all()


def test_the_token_pages_are_never_cached(person: Callable[..., Browser]) -> None:
    me = person("viewer")
    response = me.post("/account/tokens", data={"name": "报表"})
    assert response.headers["Cache-Control"] == "no-store"
    assert me.get("/account/tokens").headers["Cache-Control"] == "no-store"


def test_the_token_works_on_the_api_until_it_is_revoked(
    app: Flask, person: Callable[..., Browser]
) -> None:
    me = person("office")
    _, plain = create(me, days="30")
    assert api_get(app, plain).status_code == 200
    row = token_row(plain)
    db.session.refresh(row)
    assert row.last_used_at is not None
    assert "从未" not in me.page("/account/tokens").split("<tbody>")[1]

    response = me.post(f"/account/tokens/{row.id}/revoke")
    assert response.status_code == 302 and response.headers["Location"] == "/account/tokens"
    shown = me.page("/account/tokens")
    assert "令牌“城市大脑对接”已撤销，不能再使用。" in shown
    assert "已撤销" in shown
    assert f"/account/tokens/{row.id}/revoke" not in shown  # nothing left to revoke
    assert api_get(app, plain).status_code == 401

    actions = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_id)
        .where(AuditEvent.object_type == "api_token", AuditEvent.object_id == str(row.id))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [("api_token.created", me.user_id), ("api_token.revoked", me.user_id)]


def test_another_user_cannot_revoke_or_see_my_tokens(
    app: Flask, person: Callable[..., Browser]
) -> None:
    me, other = person("unit", "unit-me"), person("office", "office-other")
    _, plain = create(me, "我的对接")
    row = token_row(plain)
    assert other.post(f"/account/tokens/{row.id}/revoke").status_code == 403
    assert other.get(f"/users/{me.user_id}/tokens").status_code == 403
    assert "我的对接" not in other.page("/account/tokens")
    assert api_get(app, plain).status_code == 200
    assert other.post("/account/tokens/999999/revoke").status_code == 404


def test_an_admin_sees_and_revokes_any_users_tokens(
    app: Flask, person: Callable[..., Browser]
) -> None:
    owner = person("viewer", "viewer-owner")
    _, plain = create(owner, "大屏展示")
    row = token_row(plain)
    token_id, prefix = row.id, row.prefix  # (the row is detached by the next requests)
    admin = person("admin", "admin-tokens")

    users = admin.page("/users")
    assert f'href="/users/{owner.user_id}/tokens">1 个有效</a>' in users
    theirs = admin.page(f"/users/{owner.user_id}/tokens")
    assert "大屏展示" in theirs and prefix in theirs and plain not in theirs
    assert 'action="/account/tokens"' not in theirs  # an admin does not create tokens for others

    response = admin.post(f"/account/tokens/{token_id}/revoke")
    assert response.headers["Location"] == f"/users/{owner.user_id}/tokens"
    assert api_get(app, plain).status_code == 401
    revoked_by = db.session.scalar(
        select(AuditEvent.actor_id).where(
            AuditEvent.action == "api_token.revoked", AuditEvent.object_id == str(token_id)
        )
    )
    assert revoked_by == admin.user_id
    assert "0 个有效" in admin.page("/users")


def test_an_expired_token_stops_working_and_says_so(
    app: Flask, person: Callable[..., Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    me = person("office")
    _, plain = create(me, "临时", "1")
    assert api_get(app, plain).status_code == 200
    later = now_utc() + timedelta(days=1, minutes=1)
    monkeypatch.setattr(tokens, "now_utc", lambda: later)
    assert api_get(app, plain).status_code == 401
    assert "已过期" in me.page("/account/tokens")


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": "  "}, "t-name", "此项必填"),
        ({"name": "x" * 101}, "t-name", "名称最多 100 个字符"),
        ({"name": "ok", "expires_in_days": "abc"}, "t-days", "请输入 1 到 3650 之间的整数天数"),
        ({"name": "ok", "expires_in_days": "0"}, "t-days", "请输入 1 到 3650 之间的整数天数"),
        ({"name": "ok", "expires_in_days": "3651"}, "t-days", "请输入 1 到 3650 之间的整数天数"),
    ],
)
def test_a_bad_form_is_refused_with_the_error_next_to_the_field(
    person: Callable[..., Browser], form: dict[str, str], field: str, message: str
) -> None:
    me = person("office")
    response = me.post("/account/tokens", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'<div class="error" id="{field}-error">{message}' in page
    assert 'aria-invalid="true"' in page
    assert TOKEN.search(page) is None
    assert db.session.scalars(select(ApiToken).where(ApiToken.user_id == me.user_id)).all() == []


def test_signed_out_visitors_are_sent_to_sign_in(client: Any) -> None:
    response = client.get("/account/tokens")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 302
    assert db.session.scalars(select(ApiToken)).all() == []


def test_revoking_needs_the_forms_csrf_token(
    app: Flask, person: Callable[..., Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    me = person("office")
    _, plain = create(me)
    row = token_row(plain)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert me.post(f"/account/tokens/{row.id}/revoke").status_code == 400
    page = me.page("/account/tokens")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    response = me.post(f"/account/tokens/{row.id}/revoke", data={"csrf_token": csrf.group(1)})
    assert response.status_code == 302
    assert api_get(app, plain).status_code == 401


def test_tokens_of_a_disabled_user_stop_working(app: Flask, person: Callable[..., Browser]) -> None:
    me = person("office")
    _, plain = create(me)
    user = db.session.get(User, me.user_id)
    assert user is not None
    user.is_enabled = False
    db.session.commit()
    assert api_get(app, plain).status_code == 401


def test_a_tokens_use_is_recorded_at_most_once_a_minute(
    app: Flask, person: Callable[..., Browser]
) -> None:
    me = person("office")
    _, plain = create(me)
    assert api_get(app, plain).status_code == 200
    first = token_row(plain).last_used_at
    assert first is not None
    assert api_get(app, plain).status_code == 200
    assert token_row(plain).last_used_at == first  # within the minute: no write

    # A minute later, a request that writes records the use and keeps its own write.
    earlier = first - tokens.TOUCH_EVERY
    token_row(plain).last_used_at = earlier
    db.session.commit()
    unit = unit_named("昆都仑区人民政府", "baotou")
    with app.app_context():
        added = app.test_client().post(
            f"/api/v1/units/{unit.id}/contacts",
            json={"name": "令牌测试", "position": "科员", "mobile": "13800000002"},
            headers={"Authorization": f"Bearer {plain}"},
        )
    assert added.status_code == 201, added.get_data(as_text=True)
    used = token_row(plain).last_used_at
    assert used is not None and used > earlier
    assert db.session.get(Contact, added.json["id"]) is not None
