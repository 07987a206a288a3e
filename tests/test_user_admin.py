"""The user lifecycle: admin pages, the `taskhub user …` commands and the own account page;
every change audited, the rules the same everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from taskhub.accounts.models import LoginAttempt, User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from tests.conftest import PASSWORD, Browser, make_user, unit_named

NEW_PASSWORD = "plum blossom ferry lantern"


def fresh(user_id: int) -> User:
    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def events(user_id: int, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.object_type == "user",
                AuditEvent.object_id == str(user_id),
                AuditEvent.action == action,
            )
            .order_by(AuditEvent.id)
        )
    )


def can_sign_in(app: Flask, username: str, password: str) -> bool:
    with app.app_context():
        response = app.test_client().post(
            "/login", data={"username": username, "password": password}
        )
    return response.status_code == 302


@pytest.fixture
def admin(app: Flask, session: Any) -> Browser:
    return Browser(app, make_user("admin"))


# --- pages --------------------------------------------------------------------------------------


def test_an_admin_disables_and_enables_a_user(app: Flask, admin: Browser) -> None:
    user = make_user("office")
    user_id, name = user.id, user.username
    page = admin.submit(f"/users/{user_id}/disable")
    assert "用户已停用；其登录会话和 API 令牌均已失效。" in page and "已停用" in page
    assert not fresh(user_id).is_enabled
    assert not can_sign_in(app, name, PASSWORD)
    (event,) = events(user_id, "user.disabled")
    assert event.actor_id == admin.user_id
    assert event.before == {"is_enabled": True} and event.after["is_enabled"] is False

    assert "用户已启用。" in admin.submit(f"/users/{user_id}/enable")
    assert fresh(user_id).is_enabled and can_sign_in(app, name, PASSWORD)
    assert [e.actor_id for e in events(user_id, "user.enabled")] == [admin.user_id]


def test_an_admin_changes_role_and_unit_with_the_unit_picker(admin: Browser) -> None:
    user_id = make_user("viewer").id
    page = admin.page(f"/users/{user_id}")
    # Every unit is offered by name and city, its aliases beside it, for the browser to search.
    assert '<option value="土默特右旗人民政府（包头市）" label="土右旗、土默特右旗">' in page

    admin.submit(f"/users/{user_id}/role", data={"role": "unit", "unit": "市财政局（鹤岗市）"})
    user = fresh(user_id)
    assert (user.role, user.unit.name, user.unit.city.code) == ("unit", "市财政局", "hegang")
    # An alias only one unit has is enough.
    admin.submit(f"/users/{user_id}/role", data={"role": "assessor", "unit": "土右旗"})
    assert fresh(user_id).unit.name == "土默特右旗人民政府"
    (first, second) = events(user_id, "user.role_changed")
    assert first.before == {"role": "viewer", "unit_id": None}
    assert first.after == {"role": "unit", "unit_id": unit_named("市财政局", "hegang").id}
    assert second.actor_id == admin.user_id

    refused = {
        "市财政局": "“市财政局”对应多个单位：市财政局（包头市）、",
        "不存在的单位": "没有名为“不存在的单位”的单位。请从列表中选择。",
        "": "单位用户和考核人员必须指定所属单位。",
    }
    for text, message in refused.items():
        response = admin.post(f"/users/{user_id}/role", data={"role": "unit", "unit": text})
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert fresh(user_id).role == "assessor"
    assert len(events(user_id, "user.role_changed")) == 2


def test_an_admin_resets_a_password(app: Flask, admin: Browser) -> None:
    user = make_user("office")
    user_id, name = user.id, user.username
    data = {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "x"}
    response = admin.post(f"/users/{user_id}/password", data=data)
    assert response.status_code == 422 and "两次输入的新密码不一致。" in response.get_data(
        as_text=True
    )
    data = {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert "密码已设置" in admin.submit(f"/users/{user_id}/password", data=data)
    assert can_sign_in(app, name, NEW_PASSWORD) and not can_sign_in(app, name, PASSWORD)
    (event,) = events(user_id, "user.password_reset")
    assert event.actor_id == admin.user_id and NEW_PASSWORD not in repr(vars(event))


def test_an_admin_changes_their_own_password_only_with_the_current_one(
    app: Flask, admin: Browser
) -> None:
    data = {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    response = admin.post(f"/users/{admin.user_id}/password", data=data)
    assert response.status_code == 422
    assert "请在“我的账户”页面修改自己的密码" in response.get_data(as_text=True)
    assert can_sign_in(app, fresh(admin.user_id).username, PASSWORD)


def test_the_last_admin_cannot_disable_or_demote_themselves(admin: Browser) -> None:
    me = admin.user_id
    message = "不能停用最后一个启用的管理员，也不能更改其角色"
    for url, data in ((f"/users/{me}/disable", {}), (f"/users/{me}/role", {"role": "viewer"})):
        response = admin.post(url, data=data)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert fresh(me).is_admin and fresh(me).is_enabled
    # With another admin, stepping down is allowed (and leads away from the admin pages).
    make_user("admin", username="second-admin")
    response = admin.post(f"/users/{me}/role", data={"role": "viewer", "unit": ""})
    assert response.status_code == 302 and response.headers["Location"] == "/plans"
    assert fresh(me).role == "viewer"


def test_a_disabled_admin_does_not_count_as_the_remaining_one(admin: Browser) -> None:
    other = make_user("admin", username="second-admin")
    other.is_enabled = False
    db.session.commit()
    response = admin.post(f"/users/{admin.user_id}/disable")
    assert response.status_code == 422
    assert fresh(admin.user_id).is_enabled


def test_the_user_list_finds_users_by_name_unit_role_and_state(admin: Browser) -> None:
    make_user("unit", unit_named("市财政局", "hegang"), username="li.na")
    gone = make_user("viewer", username="zhao.lei")
    gone.is_enabled = False
    db.session.commit()

    def listed(query: str) -> set[str]:
        page = admin.page("/users?" + query)
        return {n for n in ("li.na", "zhao.lei") if f">{n}</a>" in page}

    assert listed("") == {"li.na", "zhao.lei"}
    assert listed("q=LI.N") == {"li.na"}
    assert listed("q=市财政局") == {"li.na"}
    assert listed("role=viewer") == {"zhao.lei"}
    assert listed("state=disabled") == {"zhao.lei"}
    assert listed("q=%25") == set()  # a wildcard is text, not a pattern


def test_creating_a_user_picks_the_unit_by_name(admin: Browser) -> None:
    form = {
        "username": "chen.jie",
        "role": "unit",
        "unit": "昆都仑区人民政府（包头市）",
        "password": NEW_PASSWORD,
    }
    assert "用户已创建" in admin.submit("/users", data=form)
    created = db.session.scalars(select(User).where(User.username == "chen.jie")).one()
    assert created.unit.name == "昆都仑区人民政府"
    # A refused form keeps what was typed (but not the password).
    response = admin.post("/users", data={**form, "username": "chen.jie"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "已存在同名用户。" in page
    assert 'value="昆都仑区人民政府（包头市）"' in page and NEW_PASSWORD not in page


# --- own account --------------------------------------------------------------------------------


def test_users_change_their_own_password_with_the_current_one(app: Flask, session: Any) -> None:
    user = make_user("unit")
    user_id, name = user.id, user.username
    me = Browser(app, user)
    assert "修改密码" in me.page("/account")

    def change(current: str, new: str, confirm: str | None = None) -> Any:
        data = {"current_password": current, "new_password": new}
        return me.post("/account/password", data={**data, "confirm_password": confirm or new})

    cases = [
        (change("not my password", NEW_PASSWORD), "当前密码错误。"),
        (change(PASSWORD, "aaaaaaaaaa"), "此密码太容易被猜中"),
        (change(PASSWORD, PASSWORD), "新密码不能与当前密码相同。"),
        (change(PASSWORD, NEW_PASSWORD, "something else"), "两次输入的新密码不一致。"),
    ]
    for response, message in cases:
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert can_sign_in(app, name, PASSWORD)
    # The wrong current password was a failed attempt, in the audit trail and the throttle.
    (failed,) = events(user_id, "user.password_change_failed")
    assert failed.after == {"address": "127.0.0.1", "reason": "wrong_password"}
    assert db.session.scalar(select(func.count()).where(LoginAttempt.succeeded.is_(False))) == 1

    assert change(PASSWORD, NEW_PASSWORD).status_code == 302
    assert can_sign_in(app, name, NEW_PASSWORD) and not can_sign_in(app, name, PASSWORD)
    (changed,) = events(user_id, "user.password_changed")
    assert changed.actor_id == user_id


def test_guessing_the_current_password_is_throttled(app: Flask, session: Any) -> None:
    me = Browser(app, make_user("office"))
    data = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    for n in range(5):
        response = me.post("/account/password", data={**data, "current_password": f"guess {n}"})
        assert response.status_code == 422
    response = me.post("/account/password", data={**data, "current_password": PASSWORD})
    assert response.status_code == 429 and "登录失败次数过多" in response.get_data(as_text=True)


# --- command line -------------------------------------------------------------------------------


@pytest.fixture
def cli(app: Flask, session: Any) -> Any:
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(args=list(args), input=input, env=env)

    return invoke


def test_cli_disables_and_enables_a_user(app: Flask, cli: Any) -> None:
    user = make_user("office", username="wang.fang")
    user_id = user.id
    result = cli("user", "disable", "wang.fang")
    assert result.exit_code == 0 and "disabled wang.fang" in result.stdout
    assert not fresh(user_id).is_enabled and not can_sign_in(app, "wang.fang", PASSWORD)
    assert cli("user", "disable", "wang.fang").exit_code == 0  # already: says so, no change
    assert cli("user", "enable", "wang.fang").exit_code == 0
    assert fresh(user_id).is_enabled and can_sign_in(app, "wang.fang", PASSWORD)
    assert [e.actor_id for e in events(user_id, "user.disabled")] == [None]
    assert [e.actor_id for e in events(user_id, "user.enabled")] == [None]
    result = cli("user", "disable", "Wang.Fang")  # names are exact
    assert result.exit_code == 1 and "no user named 'Wang.Fang'" in result.stderr


def test_cli_sets_role_and_unit(cli: Any) -> None:
    user_id = make_user("viewer", username="liu.yang").id
    result = cli("user", "set-role", "liu.yang", "unit")
    assert result.exit_code == 1 and "needs a unit" in result.stderr
    result = cli("user", "set-role", "liu.yang", "unit", "--unit", "市财政局")
    assert result.exit_code == 1 and "--city" in result.stderr
    result = cli("user", "set-role", "liu.yang", "unit", "--unit", "市财政局", "--city", "heihe")
    assert result.exit_code == 0, result.output
    user = fresh(user_id)
    assert (user.role, user.unit.city.code) == ("unit", "heihe")
    # The unit is kept when only the role changes.
    assert cli("user", "set-role", "liu.yang", "assessor").exit_code == 0
    assert (fresh(user_id).role, fresh(user_id).unit.city.code) == ("assessor", "heihe")
    assert len(events(user_id, "user.role_changed")) == 2
    assert cli("user", "set-role", "liu.yang", "boss").exit_code == 2  # not a role


def test_cli_sets_a_password_from_the_prompt_or_the_environment(app: Flask, cli: Any) -> None:
    user_id = make_user("office", username="sun.li").id
    result = cli("user", "set-password", "sun.li", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert can_sign_in(app, "sun.li", NEW_PASSWORD)
    result = cli("user", "set-password", "sun.li", env={"TASKHUB_NEW_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert can_sign_in(app, "sun.li", PASSWORD)
    result = cli("user", "set-password", "sun.li", env={"TASKHUB_NEW_PASSWORD": "sun.li2024"})
    assert result.exit_code == 1 and "password" in result.stderr
    assert [e.actor_id for e in events(user_id, "user.password_reset")] == [None, None]


def test_cli_keeps_the_last_admin(cli: Any) -> None:
    make_user("admin", username="root.admin")
    for args in (("disable", "root.admin"), ("set-role", "root.admin", "viewer")):
        result = cli("user", *args)
        assert result.exit_code == 1 and "last enabled administrator" in result.stderr
    assert db.session.scalars(select(User).where(User.username == "root.admin")).one().is_admin
