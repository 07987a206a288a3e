"""Users import: one row per account, matched to an existing user by login name (登录名).

A new login becomes a user without a password and gets an invitation (a one-time link to set
their own password, taskhub.accounts.invitations); an existing login gets the row's name,
role, unit, mobile and e-mail. Passwords are never touched. Writes go through the account
services (the same rules and audit records as the admin pages); the whole file is one
transaction, and a file imported twice changes nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from marshmallow import ValidationError, validate
from sqlalchemy import select

from taskhub.accounts import invitations, people
from taskhub.accounts import services as accounts
from taskhub.accounts.models import UNIT_ROLES, Role, User
from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.limits import limit
from taskhub.imports import services
from taskhub.imports.contacts import _UnitResolver
from taskhub.imports.workbook import (
    Column,
    RowError,
    SheetSpec,
    as_text,
    build_template,
    read_workbook,
)
from taskhub.units.models import Unit

#: What the 角色 column accepts, besides the role codes themselves: the short words offices
#: use and the role labels the pages show.
ROLE_WORDS: dict[str, str] = {
    "管理员": Role.ADMIN,
    "系统管理员": Role.ADMIN,
    "督办室": Role.OFFICE,
    "督查室": Role.OFFICE,
    "考核单位": Role.ASSESSOR,
    "考核人员": Role.ASSESSOR,
    "单位": Role.UNIT,
    "单位经办人": Role.UNIT,
    "经办人": Role.UNIT,
    "查看": Role.VIEWER,
    "只读用户": Role.VIEWER,
    "只读": Role.VIEWER,
}
#: The word the template offers for each role (its drop-down list).
ROLE_CHOICES = ("管理员", "督办室", "考核单位", "单位", "查看")

SHEET = SheetSpec(
    "用户",
    (
        Column("display_name", "姓名", True, "如 张三", 10),
        Column(
            "username",
            "登录名",
            True,
            "登录时输入的名称，如 zhangsan；同一登录名视为同一账号，再次导入即更新",
            16,
            is_text=True,
        ),
        Column(
            "role",
            "角色",
            True,
            "管理员、督办室、考核单位、单位、查看 之一",
            10,
            choices=ROLE_CHOICES,
        ),
        Column("unit", "单位", False, "单位名称或别名；角色为“单位”“考核单位”时必填", 22),
        Column("mobile", "手机", False, "如 13800138000", 16, is_text=True),
        Column("email", "邮箱", False, "如 zhangsan@example.org；填写后邀请链接发送到该邮箱", 26),
        Column("city", "城市", False, "单位名称在多个城市重名时填写，如 鹤岗市", 10),
    ),
)
#: The import's kind in the history (audit action import.users).
KIND = "users"
#: Users listed on the preview page (the counts cover all of them).
LISTED = 200
#: The fields an import writes on an existing user (never the password).
FIELDS = ("display_name", "role", "unit_id", "mobile", "email")

_HEADERS = {c.key: c.header for c in SHEET.columns}
_PHONE = re.compile(r"^[0-9+\-() ]{3,30}$")
_LOGIN = re.compile(r"^[^\s/\\]+$")
_EMAIL = validate.Email()


@dataclass
class UserRow:
    """One valid row and what confirming it would do."""

    row: int
    username: str
    display_name: str
    role: str
    unit_id: int | None
    unit_name: str
    mobile: str | None
    email: str | None
    #: new | updated | unchanged
    action: str
    user_id: int | None = None
    #: Headers of the fields that change (updates only).
    changed: list[str] = field(default_factory=list)


@dataclass
class UsersPreview:
    errors: list[RowError] = field(default_factory=list)
    rows: list[UserRow] = field(default_factory=list)
    #: After confirming: the new users' invitations, with their one-time links.
    invited: list[invitations.NewInvitation] = field(default_factory=list)
    #: After confirming: contacts linked to the imported users.
    linked: int = 0

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def has_changes(self) -> bool:
        return not self.errors and any(r.action != "unchanged" for r in self.rows)

    @property
    def listed(self) -> list[UserRow]:
        return [r for r in self.rows if r.action != "unchanged"][:LISTED]


def template() -> bytes:
    """The users template with two example rows."""
    unit = db.session.scalar(
        select(Unit).where(Unit.kind == "department").order_by(Unit.id).limit(1)
    )
    examples = [
        {
            "display_name": "张三",
            "username": "zhangsan",
            "role": "单位",
            "unit": unit.name if unit else "",
            "mobile": "13800000000",
            "email": "zhangsan@example.org",
            "city": unit.city.name if unit else "",
        },
        {"display_name": "李四", "username": "lisi", "role": "督办室", "mobile": "13900000000"},
    ]
    notes = [
        "用户导入模板：每行一个账号。带 * 的列必填；列的顺序可以调整，但列名不能修改。"
        "第 2、3 行是示例，请替换为实际内容。",
        "角色填写：管理员、督办室、考核单位、单位、查看。角色为“单位”“考核单位”时必须填写单位。",
        "新账号不设密码：导入后每人得到一个一次性邀请链接，本人打开链接设置自己的密码。"
        "填写了邮箱的，链接发送到邮箱；其余的链接在导入完成页显示一次，请转交本人。",
        "同一登录名视为同一账号：再次导入会更新姓名、角色、单位、手机、邮箱，不会改动密码。"
        "同一文件导入两次不会产生任何变化。",
        "手机或邮箱与本单位某位联系人相同的，该联系人自动关联到此账号。",
        "上传后先显示预览和逐行错误（工作表、行、列、问题），只有全部行都正确才能确认导入。",
    ]
    return build_template([(SHEET, examples)], notes)


def role_of(text: str | None) -> str | None:
    """The role a 角色 cell names (a code, a short word or a page's label), or None."""
    if not text:
        return None
    word = "".join(text.split())
    if word.lower() in {r.value for r in Role}:
        return word.lower()
    return ROLE_WORDS.get(word)


def _error(row: int, key: str | None, message: str) -> RowError:
    return RowError(SHEET.name, row, _HEADERS[key] if key else None, message)


def preview(path: Any, *, actor: User | None) -> UsersPreview:
    """Read and check every row against the units and stored users (writes nothing).

    ``actor`` None is the command line. Raises WorkbookRejected when the file as a whole is
    unusable.
    """
    (sheet,) = read_workbook(path, (SHEET,))
    result = UsersPreview()
    if not sheet.rows:
        result.errors.append(
            RowError(SHEET.name, 2, None, _("The sheet has no users: fill in from row 2."))
        )
        return result
    resolver = _UnitResolver(
        _OPERATOR if actor is None else actor,
        error=_error,
        group_message=_("「%(name)s」 is a group of units; a user belongs to one unit."),
    )
    stored = {
        u.username: u
        for u in db.session.scalars(
            select(User).where(
                User.username.in_({as_text(r.get("username")) or "" for r in sheet.rows})
            )
        )
    }
    seen: dict[str, int] = {}
    for row in sheet.rows:
        errors: list[RowError] = []
        values = {k: as_text(row.get(k)) for k in _HEADERS}
        planned = _check_row(row.number, values, resolver, seen, errors)
        result.errors.extend(errors)
        if planned is not None and not errors:
            _plan(planned, stored.get(planned.username), result)
    _keep_an_admin(result)
    result.errors.sort(key=lambda e: e.row or 0)
    return result


class _Operator:
    """The command line imports as the office would (every city's units)."""

    role = "admin"
    unit_id = None


_OPERATOR: Any = _Operator()


def _check_row(
    number: int,
    values: Mapping[str, str | None],
    resolver: _UnitResolver,
    seen: dict[str, int],
    errors: list[RowError],
) -> UserRow | None:
    name = values["display_name"]
    if not name:
        errors.append(_error(number, "display_name", _("The name is required.")))
    elif len(name) > limit("user.display_name"):
        errors.append(
            _error(
                number,
                "display_name",
                _("The name may have at most %(n)d characters.", n=limit("user.display_name")),
            )
        )
    username = values["username"]
    if not username:
        errors.append(_error(number, "username", _("The login name is required.")))
    elif len(username) > limit("user.username") or not _LOGIN.match(username):
        errors.append(
            _error(
                number,
                "username",
                _(
                    "「%(value)s」 cannot be a login name: at most %(n)d characters, "
                    "without spaces or slashes.",
                    value=username,
                    n=limit("user.username"),
                ),
            )
        )
    else:
        first = seen.setdefault(username, number)
        if first != number:
            errors.append(
                _error(
                    number,
                    "username",
                    _(
                        "The login name %(name)s is already in row %(row)d.",
                        name=username,
                        row=first,
                    ),
                )
            )
    role = role_of(values["role"])
    if role is None:
        errors.append(
            _error(
                number,
                "role",
                _(
                    "「%(value)s」 is not a role: write 管理员, 督办室, 考核单位, 单位 or 查看.",
                    value=values["role"] or "",
                )
                if values["role"]
                else _("The role is required: 管理员, 督办室, 考核单位, 单位 or 查看."),
            )
        )
    unit: Unit | None = None
    if values["unit"]:
        unit = resolver.unit(values["unit"], values["city"], number, errors)
    elif role in UNIT_ROLES:
        errors.append(
            _error(
                number,
                "unit",
                _("A user with the role 单位 or 考核单位 needs a unit: fill in 单位."),
            )
        )
    mobile, email = values["mobile"], values["email"]
    if mobile and not _PHONE.match(mobile):
        errors.append(
            _error(
                number,
                "mobile",
                _(
                    "「%(value)s」 is not a phone number (3–30 digits, spaces, +, - or brackets).",
                    value=mobile,
                ),
            )
        )
    if email:
        try:
            _EMAIL(email)
            if len(email) > limit("user.email"):
                raise ValidationError("too long")
        except ValidationError:
            errors.append(
                _error(number, "email", _("「%(value)s」 is not an email address.", value=email))
            )
    if errors or not (name and username and role):
        return None
    return UserRow(
        row=number,
        username=username,
        display_name=name,
        role=role,
        unit_id=unit.id if unit else None,
        unit_name=unit.name if unit else "",
        mobile=mobile,
        email=email,
        action="new",
    )


def _plan(row: UserRow, user: User | None, result: UsersPreview) -> None:
    if user is not None:
        changed = [
            _HEADERS["unit" if f == "unit_id" else f]
            for f in FIELDS
            if getattr(user, f) != getattr(row, f)
        ]
        row.action = "updated" if changed else "unchanged"
        row.user_id = user.id
        row.changed = changed
    result.rows.append(row)


def _keep_an_admin(result: UsersPreview) -> None:
    """Refuse a file that would leave no enabled administrator (the row demoting the last)."""
    demoted = {
        r.user_id: r for r in result.rows if r.action == "updated" and r.role != Role.ADMIN.value
    }
    if not demoted:
        return
    admins = db.session.scalars(
        select(User.id).where(User.role == Role.ADMIN.value, User.is_enabled.is_(True))
    ).all()
    promoted = any(r.role == Role.ADMIN.value and r.action == "new" for r in result.rows)
    if admins and all(a in demoted for a in admins) and not promoted:
        last = demoted[admins[-1]]
        result.errors.append(
            _error(
                last.row,
                "role",
                _(
                    "%(name)s is the last enabled administrator: keep the role 管理员, "
                    "or make another user an administrator first.",
                    name=last.username,
                ),
            )
        )


def confirm(
    upload: services.Upload, *, actor: User | None, config: Mapping[str, Any]
) -> UsersPreview:
    """Check the kept upload again and write its new and changed users (flush only).

    New users get an invitation each (``result.invited`` holds the links, to show once); the
    caller commits, then e-mails them (invitations.send_emails).
    """
    result = preview(upload.path, actor=actor)
    if not result.has_changes:
        return result
    actor_id = actor.id if actor is not None else None
    for row in result.rows:
        unit = db.session.get(Unit, row.unit_id) if row.unit_id else None
        if row.action == "new":
            user = accounts.create_user(
                username=row.username,
                password=None,
                role=row.role,
                display_name=row.display_name,
                unit=unit,
                email=row.email,
                mobile=row.mobile,
                actor_id=actor_id,
            )
            result.invited.append(invitations.create(user, actor=actor, config=config))
        elif row.action == "updated":
            existing = db.session.get(User, row.user_id)
            assert existing is not None
            accounts.update_profile(
                existing,
                display_name=row.display_name,
                mobile=row.mobile,
                email=row.email,
                actor=actor,
            )
            accounts.change_role(existing, role=row.role, unit=unit, actor=actor)
    result.linked = people.link_matching(
        {r.unit_id for r in result.rows if r.unit_id is not None}, actor=actor
    )
    audit.record(
        f"import.{KIND}",
        services.AUDIT_OBJECT,
        upload.sha256,
        actor_id=actor_id,
        after={
            "kind": KIND,
            "file": upload.name,
            "added": result.count("new"),
            "updated": result.count("updated"),
            "unchanged": result.count("unchanged"),
            "contacts_linked": result.linked,
        },
    )
    return result
