"""Users from Excel: a workbook built with openpyxl, uploaded, previewed and confirmed over HTTP
(and through `taskhub users import`), checked against what the database holds afterwards."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from taskhub.accounts import invitations
from taskhub.accounts.models import Invitation, User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.imports import users as users_import
from taskhub.units.models import Contact
from tests.conftest import PASSWORD, make_user, unit_named
from tests.test_imports import confirm_fields, error_rows, sheet_rows, upload, visible, workbook

USERS = [
    {
        "display_name": "王芳",
        "username": "wangfang",
        "role": "单位",
        "unit": "市财政局",
        "city": "鹤岗市",
        "mobile": 13904680001,
        "email": "wangfang@example.org",
    },
    # An alias (市场监管局 is 市市场监管局) and a page's role label.
    {
        "display_name": "李强",
        "username": "liqiang",
        "role": "考核人员",
        "unit": "市场监管局",
        "city": "鹤岗市",
        "mobile": "13904680002",
    },
    {"display_name": "赵敏", "username": "zhaomin", "role": "督办室"},
]
EMAIL_ERROR = "「wu@」不是有效的邮箱地址。"
LINK = re.compile(r"/invite/([A-Za-z0-9_-]{43})")


def users_file(rows: Sequence[dict[str, Any]]) -> bytes:
    return workbook({"用户": sheet_rows(users_import.SHEET, rows)})


@pytest.fixture(autouse=True)
def no_mail(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "SMTP_HOST", "")


def user(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.username == username)).one_or_none()


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def import_users(client: FlaskClient, data: bytes) -> str:
    preview = upload(client, "/imports/users", data)
    assert preview.status_code == 200, visible(preview.get_data(as_text=True))
    done = client.post(
        "/imports/users/confirm", data=confirm_fields(preview.get_data(as_text=True))
    )
    assert done.status_code == 200, visible(done.get_data(as_text=True))
    return done.get_data(as_text=True)


def test_template_has_the_columns_and_role_choices(client, login_as):
    login_as("admin")
    response = client.get("/imports/users/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    headers = [c.value for c in book["用户"][1]]
    assert headers[:6] == ["姓名*", "登录名*", "角色*", "单位", "手机", "邮箱"]
    validations = book["用户"].data_validations.dataValidation
    assert any("管理员,督办室,考核单位,单位,查看" in (v.formula1 or "") for v in validations)


def test_preview_then_import_creates_users_without_passwords_with_one_time_links(client, login_as):
    login_as("admin")
    preview = visible(upload(client, "/imports/users", users_file(USERS)).get_data(as_text=True))
    assert "将新增用户 3 个，更新 0 个，未变 0 个。" in preview
    assert user("wangfang") is None  # the preview writes nothing

    page = import_users(client, users_file(USERS))
    wang, li, zhao = user("wangfang"), user("liqiang"), user("zhaomin")
    assert wang and li and zhao
    assert (wang.role, wang.unit_id, wang.mobile, wang.email) == (
        "unit",
        unit_named("市财政局", "hegang").id,
        "13904680001",
        "wangfang@example.org",
    )
    assert (li.role, li.unit_id) == ("assessor", unit_named("市市场监管局", "hegang").id)
    assert (zhao.role, zhao.unit_id) == ("office", None)
    assert not any(u.has_password for u in (wang, li, zhao))
    # Each new user's link is on the done page once, and works for that user.
    secrets_ = LINK.findall(page)
    assert len(secrets_) == 3
    by_user = {invitations.find(s).user_id: s for s in secrets_}
    assert set(by_user) == {wang.id, li.id, zhao.id}
    assert "这些链接仅在本页显示一次" in visible(page)
    assert "未填写邮箱，请将链接转交本人" in visible(page)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "import.users")).one()
    assert (event.after["added"], event.after["updated"]) == (3, 0)
    # Never shown again: not on the users list, the user's page or the imports page.
    for url in ("/users", f"/users/{wang.id}", "/imports"):
        assert not LINK.search(client.get(url).get_data(as_text=True))

    client.post("/logout")
    response = client.post(
        f"/invite/{by_user[wang.id]}",
        data={
            "password": "violet harbour lantern 42",
            "confirm_password": "violet harbour lantern 42",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/my")


def test_reimport_is_idempotent_and_updates_but_never_touches_passwords(client, login_as):
    admin = login_as("admin")
    existing = make_user("viewer", username="zhaomin")  # has a password already
    import_users(client, users_file(USERS))
    invites = count(Invitation)
    assert invites == 2  # the existing login is updated, not invited
    zhao = user("zhaomin")
    assert zhao.id == existing.id and zhao.role == "office" and zhao.check_password(PASSWORD)

    again = visible(upload(client, "/imports/users", users_file(USERS)).get_data(as_text=True))
    assert "没有变化：用户信息已与该文件一致。" in again

    changed = [dict(USERS[0], display_name="王芳芳", mobile="13904689999", role="查看"), *USERS[1:]]
    preview = visible(upload(client, "/imports/users", users_file(changed)).get_data(as_text=True))
    assert "将新增用户 0 个，更新 1 个，未变 2 个。" in preview
    assert "姓名、角色、手机" in preview
    import_users(client, users_file(changed))
    wang = user("wangfang")
    assert (wang.display_name, wang.mobile, wang.role) == ("王芳芳", "13904689999", "viewer")
    assert not wang.has_password and count(Invitation) == invites  # no new links
    assert user("zhaomin").check_password(PASSWORD)
    assert admin.is_admin


def test_every_bad_row_is_reported_by_sheet_row_and_column_and_nothing_is_written(client, login_as):
    login_as("admin")
    rows = [
        dict(USERS[0]),
        {
            "display_name": "甲",
            "username": "wangfang",
            "role": "单位",
            "unit": "市财政局",
            "city": "鹤岗市",
        },
        {"display_name": "乙", "username": "yi", "role": "组长"},
        {"display_name": "丙", "username": "bing", "role": "单位"},
        {
            "display_name": "丁",
            "username": "ding",
            "role": "单位",
            "unit": "不存在局",
            "city": "鹤岗市",
        },
        {"display_name": "戊", "username": "wu", "role": "查看", "mobile": "电话", "email": "wu@"},
    ]
    response = upload(client, "/imports/users", users_file(rows))
    assert response.status_code == 422
    found = error_rows(response.get_data(as_text=True))
    assert ("用户", "3", "登录名", "登录名 wangfang 已在第 2 行出现。") in found
    assert (
        "用户",
        "4",
        "角色",
        "「组长」不是有效角色：请填写管理员、督办室、考核单位、单位或查看。",
    ) in found
    assert ("用户", "5", "单位", "角色为“单位”或“考核单位”的用户必须填写单位。") in found
    assert any(r[:3] == ("用户", "6", "单位") and "不存在局" in r[3] for r in found)
    assert any(r[:3] == ("用户", "7", "手机") for r in found)
    assert ("用户", "7", "邮箱", EMAIL_ERROR) in found
    assert user("wangfang") is None and user("yi") is None


def test_the_last_administrator_cannot_be_demoted_by_a_file(client, login_as):
    admin = login_as("admin")
    others = db.session.scalars(
        select(User).where(User.role == "admin", User.id != admin.id, User.is_enabled.is_(True))
    ).all()
    for other in others:
        other.is_enabled = False
    db.session.commit()
    rows = [{"display_name": admin.display_name, "username": admin.username, "role": "查看"}]
    response = upload(client, "/imports/users", users_file(rows))
    assert response.status_code == 422
    assert any(
        r[2] == "角色" and "最后一个启用的管理员" in r[3]
        for r in error_rows(response.get_data(as_text=True))
    )


def test_a_contact_and_a_user_of_one_unit_with_the_same_mobile_are_linked(client, login_as):
    login_as("admin")
    unit = unit_named("市财政局", "hegang")
    contact = Contact(unit_id=unit.id, name="王芳", mobile="139 0468 0001")
    db.session.add(contact)
    db.session.commit()
    page = import_users(client, users_file(USERS[:1]))
    assert "1 位联系人已关联到对应用户" in visible(page)
    db.session.expire_all()
    wang = user("wangfang")
    assert db.session.get(Contact, contact.id).user_id == wang.id
    unit_page = client.get(f"/units/{unit.id}").get_data(as_text=True)
    assert f'id="user-{wang.id}"' in unit_page and f'href="#contact-{contact.id}"' in unit_page
    assert "已邀请，尚未设置密码" in visible(unit_page)


def test_the_contacts_import_links_contacts_to_users_too(client, login_as):
    login_as("admin")
    import_users(client, users_file(USERS[:1]))
    from tests.test_imports import contacts_file, import_contacts

    import_contacts(
        client,
        contacts_file(
            [
                {
                    "unit": "市财政局",
                    "city": "鹤岗市",
                    "name": "王芳",
                    "email": "WangFang@example.org",
                }
            ]
        ),
    )
    db.session.expire_all()
    linked = db.session.scalars(select(Contact).where(Contact.name == "王芳")).one()
    assert linked.user_id == user("wangfang").id


def test_only_admins_import_users(client, login_as):
    login_as("office")
    assert client.get("/imports/users/template.xlsx").status_code == 403
    assert upload(client, "/imports/users", users_file(USERS)).status_code == 403
    assert 'id="users"' not in client.get("/imports").get_data(as_text=True)


# --- the command line ------------------------------------------------------------------------


def test_cli_dry_run_then_import_prints_the_links(app, session, tmp_path: Path):
    path = tmp_path / "users.xlsx"
    path.write_bytes(users_file(USERS))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["users", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would add 3, update 0" in dry.output
    assert user("wangfang") is None

    done = runner.invoke(args=["users", "import", str(path)])
    assert done.exit_code == 0, done.output
    secrets_ = LINK.findall(done.stdout)
    assert len(secrets_) == 3
    assert "wangfang" in done.stdout and f"reading {path}" in done.stderr
    assert invitations.usable(invitations.find(secrets_[0]))
    again = runner.invoke(args=["users", "import", str(path)])
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_cli_reports_errors_with_file_sheet_and_row(app, session, tmp_path: Path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(users_file([{"display_name": "乙", "username": "yi", "role": "组长"}]))
    result = app.test_cli_runner().invoke(args=["users", "import", str(path)])
    assert result.exit_code != 0
    assert f"{path}: sheet 用户, row 2, column 角色:" in result.stderr
    assert "nothing was imported" in result.stderr
    assert user("yi") is None
