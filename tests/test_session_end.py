"""Ending sessions: a copy of a session cookie stops working once its user signs out, is
disabled, gets a new password or is signed out everywhere by an admin."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import encode_cookie
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.accounts.tokens import create_token
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from tests.conftest import PASSWORD, Browser, make_user

NEW_PASSWORD = "plum blossom ferry lantern"


def status(app: Flask, client: FlaskClient, url: str = "/plans", **kwargs: Any) -> int:
    """The status of a GET in its own app context (Flask-Login caches the user per context)."""
    with app.app_context():
        return client.get(url, **kwargs).status_code


def copy_of(app: Flask, browser: Browser) -> FlaskClient:
    """Another browser holding a copy of ``browser``'s session cookie."""
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert status(app, thief) == 200  # the copy works while the session does
    return thief


def test_a_copied_cookie_stops_working_after_logout(app: Flask, session: Any) -> None:
    owner = Browser(app, make_user("office"))
    thief = copy_of(app, owner)
    assert owner.post("/logout").status_code == 302
    assert status(app, thief) == 302
    # Signing in again starts a new session; the old copy stays dead.
    assert owner.post("/login", data={"username": owner_name(owner), "password": PASSWORD})
    assert status(app, owner.client) == 200
    assert status(app, thief) == 302
    assert audit_actions(owner.user_id) == ["user.created", "user.signed_out"]


def test_signing_out_ends_the_users_sessions_in_other_browsers_too(
    app: Flask, session: Any
) -> None:
    user_id = make_user("office").id
    desk, laptop = browser(app, user_id), browser(app, user_id)
    desk.post("/logout")
    assert status(app, laptop.client) == 302


def test_a_disabled_users_sessions_and_tokens_are_refused_at_once(app: Flask, session: Any) -> None:
    admin, user = make_user("admin"), make_user("office")
    _, token = create_token(user, "integration", actor=user)
    db.session.commit()
    user_id, admin_id = user.id, admin.id
    leaver, office = browser(app, user_id), browser(app, admin_id)
    thief = copy_of(app, leaver)
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert status(app, api, "/api/v1/assignments/", headers=bearer) == 200

    assert "用户已停用" in office.submit(f"/users/{user_id}/disable")
    assert status(app, leaver.client) == 302
    assert status(app, thief) == 302
    assert status(app, api, "/api/v1/assignments/", headers=bearer) == 401
    response = leaver.post("/login", data={"username": owner_name(leaver), "password": PASSWORD})
    assert response.status_code == 401


def test_changing_ones_password_ends_the_other_sessions_but_not_this_one(
    app: Flask, session: Any
) -> None:
    user_id = make_user("office").id
    here, elsewhere = browser(app, user_id), browser(app, user_id)
    thief = copy_of(app, here)
    page = here.submit(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert "密码已修改。您在其他地方的登录会话已退出。" in page
    assert status(app, here.client) == 200
    assert status(app, elsewhere.client) == 302
    assert status(app, thief) == 302


def test_an_admins_password_reset_and_sign_out_everywhere_end_every_session(
    app: Flask, session: Any
) -> None:
    admin, user = make_user("admin"), make_user("office")
    user_id, admin_id = user.id, admin.id
    office, victim = browser(app, admin_id), browser(app, user_id)
    thief = copy_of(app, victim)
    page = office.submit(f"/users/{user_id}/sign-out")
    assert "该用户的所有登录会话均已退出。" in page
    assert status(app, victim.client) == 302 and status(app, thief) == 302

    victim = browser(app, user_id)
    thief = copy_of(app, victim)
    data = {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert "密码已设置" in office.submit(f"/users/{user_id}/password", data=data)
    assert status(app, victim.client) == 302 and status(app, thief) == 302
    assert status(app, office.client) == 200  # the admin's own session goes on
    assert audit_actions(user_id)[-2:] == ["user.signed_out_everywhere", "user.password_reset"]


def test_a_remember_me_cookie_from_before_a_sign_out_is_refused(app: Flask, session: Any) -> None:
    user = make_user("office")
    signed_in = Browser(app, user)
    with app.test_request_context():
        remembered = encode_cookie(str(db.session.get(User, signed_in.user_id).get_id()))
    other = app.test_client()
    other.set_cookie("remember_token", remembered)
    assert status(app, other) == 200  # Flask-Login restores a session from the cookie
    signed_in.post("/logout")
    again = app.test_client()
    again.set_cookie("remember_token", remembered)
    assert status(app, again) == 302


def browser(app: Flask, user_id: int) -> Browser:
    """A browser signed in as the user (read afresh: each request detaches the rows)."""
    return Browser(app, db.session.get(User, user_id))


def owner_name(browser: Browser) -> str:
    return db.session.get(User, browser.user_id).username


def audit_actions(user_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "user", AuditEvent.object_id == str(user_id))
            .order_by(AuditEvent.id)
        )
    )
