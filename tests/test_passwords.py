"""The password rule: one check (taskhub.accounts.passwords) wherever a password is set."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from taskhub.accounts import services
from taskhub.accounts.passwords import WeakPassword, check_password
from taskhub.core.db import db
from tests.conftest import PASSWORD, Browser, make_user

WEAK = [
    ("aaaaaaaaaa", "too_guessable"),
    ("1234567890", "too_guessable"),
    ("password123", "too_guessable"),
    ("qwertyuiop", "too_guessable"),
    ("zhang.wei", "too_short"),
    ("zhang.wei.1", "like_username"),
    ("Zhang_Wei!!", "like_username"),
    ("iew.gnahz12", "like_username"),  # reversed
    ("zhangwei2024", "too_guessable"),
    ("taskhub2024!", "too_guessable"),
    ("x" * 129, "too_long"),
]


@pytest.mark.parametrize(("password", "code"), WEAK)
def test_weak_passwords_are_refused(password: str, code: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password(password, username="zhang.wei")
    assert refused.value.code == code


@pytest.mark.parametrize(
    "password",
    [PASSWORD, "plum blossom ferry lantern", "Hq7#vLp2!xWz", "长城脚下的风很大2号楼"],
)
def test_strong_passwords_are_accepted(password: str) -> None:
    check_password(password, username="zhang.wei")


def test_the_user_name_itself_is_refused_however_written() -> None:
    for password in ("wang.xiaoming", "WANG.XIAOMING", "wang_xiaoming", "gnimoaix.gnaw"):
        with pytest.raises(WeakPassword) as refused:
            check_password(password, username="wang.xiaoming")
        assert refused.value.code == "like_username"


def test_the_display_name_and_email_count_as_known_words() -> None:
    check_password("wangxiaoming88", username="u1")
    with pytest.raises(WeakPassword):
        check_password("wangxiaoming88", username="u1", context=["Wang Xiaoming"])
    with pytest.raises(WeakPassword):
        check_password("w.xiaoming!!", username="u1", context=["w.xiaoming@example.org"])


def test_generated_passwords_pass_the_rule() -> None:
    for _ in range(50):
        check_password(services.generate_password(), username="admin")


@pytest.mark.parametrize("password", ["aaaaaaaaaa", "1234567890", "wang.fang"])
def test_every_way_of_setting_a_password_uses_the_rule(
    app: Flask, session: Any, password: str
) -> None:
    # The service (demo loader, tests), the admin's create and reset forms, the account page
    # and both commands refuse the same passwords.
    with pytest.raises(WeakPassword):
        services.create_user(username="wang.fang", password=password, role="viewer")
    db.session.rollback()
    target = make_user("viewer", username="wang.fang")
    target_id = target.id
    admin = Browser(app, make_user("admin"))
    form = {"username": "wang.fang2", "role": "viewer", "password": password}
    response = admin.post("/users", data=form)
    assert response.status_code == 422 and "密码" in response.get_data(as_text=True)
    reset = {"password": password, "confirm_password": password}
    assert admin.post(f"/users/{target_id}/password", data=reset).status_code == 422
    me = Browser(app, db.session.get(type(target), target_id))
    own = {"current_password": PASSWORD, "new_password": password, "confirm_password": password}
    response = me.post("/account/password", data=own)
    assert response.status_code == 422 and "密码" in response.get_data(as_text=True)

    runner = app.test_cli_runner()
    env = {"TASKHUB_NEW_PASSWORD": password}
    created = runner.invoke(
        args=["user", "create", "--username", "wang.fang3", "--role", "viewer"], env=env
    )
    changed = runner.invoke(args=["user", "set-password", "wang.fang"], env=env)
    assert created.exit_code == 1 and changed.exit_code == 1
    assert "password" in created.stderr and "password" in changed.stderr


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("aaaaaaaaaa", "此密码太容易被猜中"),
        ("short", "密码至少需要 10 个字符。"),
        ("zhao.min.01", "密码不能是用户名，也不能与用户名过于相近。"),
    ],
)
def test_the_pages_explain_the_refusal_in_chinese(
    app: Flask, session: Any, password: str, message: str
) -> None:
    admin = Browser(app, make_user("admin"))
    form = {"username": "zhao.min", "role": "viewer", "password": password}
    response = admin.post("/users", data=form)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
