"""Sign-in, sessions, CSRF and password storage."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from tests.conftest import PASSWORD, make_user


def test_wrong_password_is_refused_in_chinese(client, session):
    user = make_user("office")
    response = client.post("/login", data={"username": user.username, "password": "nope"})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/plans").status_code == 302  # still signed out


def test_unknown_user_gets_the_same_answer(client, session):
    response = client.post("/login", data={"username": "nobody", "password": "whatever1234"})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_sign_in_and_out(client, session):
    user = make_user("viewer")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    # A viewer (leader) lands on the overview of the plans under way.
    assert response.status_code == 302 and response.headers["Location"] == "/overview"
    assert client.get("/plans").status_code == 200
    assert db.session.get(User, user.id).last_login_at is not None
    client.post("/logout")
    assert client.get("/plans").status_code == 302


def test_next_parameter_cannot_redirect_off_site(client, session):
    user = make_user("viewer")
    form = {"username": user.username, "password": PASSWORD}
    response = client.post("/login?next=https://evil.example/", data=form)
    assert response.headers["Location"] == "/overview"
    client.post("/logout")
    response = client.post("/login?next=/units", data=form)
    assert response.headers["Location"] == "/units"


def test_disabled_user_cannot_sign_in(client, session):
    user = make_user("office")
    user.is_enabled = False
    db.session.commit()
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 401


def test_passwords_are_stored_hashed(session):
    user = make_user("office")
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_forms_without_csrf_token_are_refused(client, session, csrf_on):
    user = make_user("office")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def test_session_cookie_is_http_only_and_lax(client, session):
    user = make_user("viewer")
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unit_roles_need_a_unit(session):
    from taskhub.accounts.services import create_user
    from taskhub.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="needs a unit"):
        create_user(username="u1", password=PASSWORD, role="unit")
    with pytest.raises(ValidationFailed, match="at least 10"):
        create_user(username="u2", password="short", role="viewer")
