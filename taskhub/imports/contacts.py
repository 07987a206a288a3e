"""Unit contacts import: one row per person, matched to an existing contact by unit and name.

The rules for a contact's fields are the form's (taskhub.units.schemas.ContactArgs) and the
writes go through taskhub.units.services, so permissions and per-contact audit records are the
same as when a contact is edited on the unit's page. A column left out of the sheet keeps the
stored values; a column present but blank clears the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select

from taskhub.accounts import people
from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.imports import services
from taskhub.imports.workbook import (
    Column,
    RowError,
    Sheet,
    SheetSpec,
    as_text,
    build_template,
    read_workbook,
)
from taskhub.units import services as units
from taskhub.units.models import City, Contact, Unit, UnitAlias
from taskhub.units.schemas import ROBOT_URL_ERROR, ContactArgs
from taskhub.units.services import CONTACT_FIELDS

SHEET = SheetSpec(
    "联系人",
    (
        Column("unit", "单位", True, "单位名称或别名，如 市财政局", 22),
        Column("city", "城市", False, "单位名称在多个城市重名时填写，如 鹤岗市", 10),
        Column(
            "name", "姓名", True, "联系人姓名；同一单位同名的联系人视为同一人，再次导入即更新", 10
        ),
        Column("position", "职务", False, "如 科长", 14),
        Column("office_phone", "办公电话", False, "如 0468-1234567", 16, is_text=True),
        Column("mobile", "手机", False, "如 13800138000", 16, is_text=True),
        Column("email", "邮箱", False, "如 zhangsan@example.org", 26),
        Column(
            "webhook_url",
            "机器人地址",
            False,
            "钉钉或企业微信群机器人的 Webhook 地址（https://…）",
            40,
        ),
    ),
)
#: Contacts listed on the preview page (the counts cover all of them).
LISTED = 200

_HEADERS = {c.key: c.header for c in SHEET.columns}


@dataclass
class ContactRow:
    """One valid row and what confirming it would do."""

    row: int
    unit_id: int
    unit_name: str
    name: str
    #: new | updated | unchanged
    action: str
    data: dict[str, Any]
    contact_id: int | None = None
    #: Headers of the fields that change (updates only).
    changed: list[str] = field(default_factory=list)


@dataclass
class ContactsPreview:
    errors: list[RowError] = field(default_factory=list)
    rows: list[ContactRow] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def has_changes(self) -> bool:
        return not self.errors and any(r.action != "unchanged" for r in self.rows)

    @property
    def listed(self) -> list[ContactRow]:
        return [r for r in self.rows if r.action != "unchanged"][:LISTED]


def template(actor: User) -> bytes:
    """The contacts template with one example row (the actor's own unit for unit staff)."""
    unit = db.session.get(Unit, actor.unit_id) if actor.unit_id else None
    if unit is None:
        unit = db.session.scalar(
            select(Unit).where(Unit.kind == "department").order_by(Unit.id).limit(1)
        )
    example = {
        "unit": unit.name if unit else "",
        "city": unit.city.name if unit else "",
        "name": "张三",
        "position": "科长",
        "office_phone": "0000-1234567",
        "mobile": "13800000000",
        "email": "zhangsan@example.org",
    }
    notes = [
        "联系人导入模板：每行一位联系人。带 * 的列必填；列的顺序可以调整，但列名不能修改。"
        "第 2 行是示例，请替换为实际内容。",
        "办公电话、手机、邮箱、机器人地址至少填一项，提醒按这些方式发送。",
        "同一单位同名的联系人视为同一人：再次导入会更新其信息；文件中没有的列保持原值，"
        "有列但留空则清空该项。同一文件导入两次不会产生任何变化。",
        "单位工作人员只能导入本单位的联系人。",
        "上传后先显示预览和逐行错误（工作表、行、列、问题），只有全部行都正确才能确认导入。",
    ]
    return build_template([(SHEET, [example])], notes)


def preview(path: Any, *, actor: User) -> ContactsPreview:
    """Read and check every row against the units and stored contacts (writes nothing).

    Raises WorkbookRejected when the file as a whole is unusable.
    """
    (sheet,) = read_workbook(path, (SHEET,))
    result = ContactsPreview()
    if not sheet.rows:
        result.errors.append(
            RowError(SHEET.name, 2, None, _("The sheet has no contacts: fill in from row 2."))
        )
        return result
    resolver = _UnitResolver(actor)
    seen: dict[tuple[int, str], int] = {}
    found: list[tuple[int, Unit, dict[str, Any]]] = []
    for row in sheet.rows:
        errors: list[RowError] = []
        unit = resolver.unit(as_text(row.get("unit")), as_text(row.get("city")), row.number, errors)
        name = as_text(row.get("name"))
        if not name:
            errors.append(_error(row.number, "name", _("The contact's name is required.")))
        if unit is not None and not unit.can_edit_contacts(actor):
            errors.append(
                _error(
                    row.number,
                    "unit",
                    _(
                        "You may import contacts of your own unit only, not of %(unit)s.",
                        unit=unit.name,
                    ),
                )
            )
        if unit is not None and name:
            first = seen.setdefault((unit.id, name), row.number)
            if first != row.number:
                errors.append(
                    _error(
                        row.number,
                        "name",
                        _(
                            "%(name)s of %(unit)s is already in row %(row)d.",
                            name=name,
                            unit=unit.name,
                            row=first,
                        ),
                    )
                )
        result.errors.extend(errors)
        if not errors and unit is not None:
            found.append((row.number, unit, {k: as_text(row.get(k)) for k in sheet.present}))
    stored = _stored_contacts({unit.id for _n, unit, _v in found})
    for number, unit, values in found:
        _plan_row(number, unit, values, sheet, stored, result)
    # Row order, as the user reads the sheet (stable: a row's own problems keep their order).
    result.errors.sort(key=lambda e: e.row or 0)
    return result


def _error(row: int, key: str | None, message: str) -> RowError:
    return RowError(SHEET.name, row, _HEADERS[key] if key else None, message)


class _UnitResolver:
    """Unit names through aliases: the actor's city for unit staff, any city for the office."""

    def __init__(
        self,
        actor: User,
        *,
        error: Callable[[int, str | None, str], RowError] | None = None,
        group_message: str | None = None,
    ) -> None:
        #: How a problem is reported (another sheet's import passes its own), and what it says
        #: when a name stands for a group of units.
        self.error = error or _error
        self.group_message = group_message
        query = select(UnitAlias.name, UnitAlias.city_id, UnitAlias.unit_id, UnitAlias.group_id)
        own_unit = db.session.get(Unit, actor.unit_id) if actor.unit_id else None
        if actor.role not in ("admin", "office") and own_unit is not None:
            query = query.where(UnitAlias.city_id == own_unit.city_id)
        self.names: dict[str, list[tuple[int, int | None, int | None]]] = {}
        for name, city_id, unit_id, group_id in db.session.execute(query):
            self.names.setdefault(name, []).append((city_id, unit_id, group_id))
        self.cities = {c.id: c for c in db.session.scalars(select(City))}
        self.units: dict[int, Unit] = {}

    def city(self, text: str) -> City | None:
        return next(
            (c for c in self.cities.values() if text in (c.name, c.code)),
            None,
        )

    def unit(
        self, name: str | None, city_text: str | None, row: int, errors: list[RowError]
    ) -> Unit | None:
        if not name:
            errors.append(self.error(row, "unit", _("The unit is required.")))
            return None
        city = None
        if city_text:
            city = self.city(city_text)
            if city is None:
                errors.append(
                    self.error(
                        row, "city", _("「%(value)s」 is not a city in TaskHub.", value=city_text)
                    )
                )
                return None
        matches = [m for m in self.names.get(name, []) if city is None or m[0] == city.id]
        if not matches:
            where = city.name if city else _("any city you may import for")
            errors.append(
                self.error(
                    row,
                    "unit",
                    _("「%(name)s」 is not a unit or alias of %(city)s.", name=name, city=where),
                )
            )
            return None
        if len(matches) > 1:
            errors.append(
                self.error(
                    row,
                    "city",
                    _(
                        "「%(name)s」 is a unit in %(cities)s: fill in the city.",
                        name=name,
                        cities="、".join(self.cities[m[0]].name for m in matches),
                    ),
                )
            )
            return None
        _city_id, unit_id, _group_id = matches[0]
        if unit_id is None:
            errors.append(
                self.error(
                    row,
                    "unit",
                    (
                        self.group_message
                        or _("「%(name)s」 is a group of units; contacts belong to one unit.")
                    )
                    % {"name": name},
                )
            )
            return None
        if unit_id not in self.units:
            found = db.session.get(Unit, unit_id)
            assert found is not None
            self.units[unit_id] = found
        return self.units[unit_id]


def _stored_contacts(unit_ids: set[int]) -> dict[tuple[int, str], Contact]:
    """Existing contacts by (unit, name); the oldest wins where a unit has two of one name."""
    out: dict[tuple[int, str], Contact] = {}
    if not unit_ids:
        return out
    for contact in db.session.scalars(
        select(Contact).where(Contact.unit_id.in_(unit_ids)).order_by(Contact.id)
    ):
        out.setdefault((contact.unit_id, contact.name), contact)
    return out


def _plan_row(
    number: int,
    unit: Unit,
    values: dict[str, str | None],
    sheet: Sheet,
    stored: dict[tuple[int, str], Contact],
    result: ContactsPreview,
) -> None:
    name = values["name"] or ""
    contact = stored.get((unit.id, name))
    current = {f: getattr(contact, f) for f in CONTACT_FIELDS} if contact else {}
    # A column the sheet leaves out keeps what is stored; a blank cell clears it.
    raw = {f: values[f] if f in sheet.present else current.get(f) for f in CONTACT_FIELDS}
    try:
        data = ContactArgs().load(raw)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        assert isinstance(messages, dict)
        for key in CONTACT_FIELDS:
            if key in messages:
                result.errors.append(_field_error(number, key, raw, messages[key]))
        return
    data = {f: data.get(f) for f in CONTACT_FIELDS}
    if contact is None:
        action, changed = "new", []
    else:
        changed = [_HEADERS[f] for f in CONTACT_FIELDS if current.get(f) != data[f]]
        action = "updated" if changed else "unchanged"
    result.rows.append(
        ContactRow(
            row=number,
            unit_id=unit.id,
            unit_name=unit.name,
            name=name,
            action=action,
            data=data,
            contact_id=contact.id if contact else None,
            changed=changed,
        )
    )


def _field_error(row: int, key: str, raw: dict[str, Any], problems: Any) -> RowError:
    value = raw.get(key) or ""
    if key == "webhook_url" and ROBOT_URL_ERROR in problems:
        return _error(
            row,
            key,
            _(
                "「%(value)s」 is not a DingTalk or WeCom group robot address "
                "(https://oapi.dingtalk.com/robot/send?access_token=… or "
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…).",
                value=value,
            ),
        )
    if key == "mobile" and not value:
        # ContactArgs reports "nobody can reach this contact" on the mobile field.
        return RowError(
            SHEET.name,
            row,
            None,
            _(
                "Give at least one of 办公电话, 手机, 邮箱 or 机器人地址: reminders need a "
                "way to reach the contact."
            ),
        )
    messages = {
        "name": _("The name may have at most 100 characters."),
        "position": _("The position may have at most 100 characters."),
        "office_phone": _(
            "「%(value)s」 is not a phone number (3–30 digits, spaces, +, - or brackets).",
            value=value,
        ),
        "mobile": _(
            "「%(value)s」 is not a phone number (3–30 digits, spaces, +, - or brackets).",
            value=value,
        ),
        "email": _("「%(value)s」 is not an email address.", value=value),
        "webhook_url": _("「%(value)s」 is not an http(s) address.", value=value),
    }
    return _error(row, key, messages[key])


def confirm(upload: services.Upload, *, actor: User) -> ContactsPreview:
    """Check the kept upload again and write its new and changed contacts (flush only)."""
    result = preview(upload.path, actor=actor)
    if not result.has_changes:
        return result
    for row in result.rows:
        if row.action == "new":
            unit = db.session.get(Unit, row.unit_id)
            assert unit is not None
            units.add_contact(unit, row.data, actor=actor)
        elif row.action == "updated":
            contact = db.session.get(Contact, row.contact_id)
            assert contact is not None
            units.update_contact(contact, row.data, actor=actor)
    # A contact who is also a user of the unit (same mobile or e-mail) is linked to them.
    linked = people.link_matching({r.unit_id for r in result.rows}, actor=actor)
    services.record(
        "contacts",
        upload,
        actor=actor,
        summary={
            "added": result.count("new"),
            "updated": result.count("updated"),
            "unchanged": result.count("unchanged"),
            "users_linked": linked,
        },
    )
    return result
