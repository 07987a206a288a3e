"""Units import: a city's units (单位), other names (别名) and groups (分组) from one workbook.

Every row is checked against the city's stored names and the rest of the file first, with
errors naming sheet, row and column; nothing is written unless every row is valid. Names are
read as written, one cell one name (各县(市、区)人民政府 stays whole), in the one spelling of
``units.services.normalise_name`` (full-width brackets and spaces made half-width). Lists of
names (a unit's other names, a group's members) split at 、，; and line breaks outside brackets,
and a member list keeps together pieces that make up a known name, such as
广州、深圳、珠海出入境边防检查总站. Importing adds and changes, never removes: units and names
not in the file stay; a group in the file gets exactly the file's members or rule. Importing the
same file twice changes nothing the second time.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.limits import limit
from taskhub.imports import services
from taskhub.imports.plan import _UNIT_KINDS as KIND_WORDS
from taskhub.imports.plan_sheets import _KIND_WORD as KIND_LABELS
from taskhub.imports.workbook import (
    Column,
    RowError,
    SheetSpec,
    as_text,
    build_template,
    read_workbook,
)
from taskhub.units import services as units
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup
from taskhub.units.services import normalise_name

_KIND_CHOICES = ("县(区)", "乡镇(街道)", "部门", "企业", "其他")
_NAMES_NOTE = "多个用顿号（、）、逗号或换行分隔；括号内的顿号不分隔"

UNIT_SHEET = SheetSpec(
    "单位",
    (
        Column("name", "名称", True, "单位全称，如 市政务服务数据管理局、各县(市、区)人民政府", 30),
        Column(
            "kind",
            "类型",
            True,
            "县(区)、乡镇(街道)、部门、企业 或 其他",
            12,
            choices=_KIND_CHOICES,
        ),
        Column("parent", "上级单位", False, "如乡镇填所属县(区)；须是本表或系统中的单位", 22),
        Column(
            "aliases", "简称/别称", False, f"文件中出现的其他写法，如 市数据局；{_NAMES_NOTE}", 30
        ),
    ),
)
ALIAS_SHEET = SheetSpec(
    "别名",
    (
        Column("alias", "别名", True, "一行一个别名，如 市数据局", 26),
        Column("unit", "单位", True, "别名所指的单位或分组（全称），如 市政务服务数据管理局", 30),
    ),
)
GROUP_SHEET = SheetSpec(
    "分组",
    (
        Column("name", "分组名称", True, "如 各县(区)政府、市直各有关单位、各乡镇(街道)", 24),
        Column(
            "members", "成员", False, f"按名单：成员单位名称，{_NAMES_NOTE}；与「规则」二选一", 40
        ),
        Column(
            "rule",
            "规则",
            False,
            "按规则：填一个单位类型（县(区)、乡镇(街道)、部门、企业、其他），该类型的全部单位"
            "（包括以后新增的）都是成员；与「成员」二选一",
            14,
            choices=_KIND_CHOICES,
        ),
        Column("rule_parent", "规则上级单位", False, "可选：规则只包括该单位的直属下级单位", 22),
        Column("source", "来源", False, "名单出处，如 文件附件2 或 行政区划（公开信息）", 30),
    ),
)
SHEETS = (UNIT_SHEET, ALIAS_SHEET, GROUP_SHEET)
#: Changes listed on the preview page (the counts cover all of them).
LISTED = 300

_OPEN, _CLOSE = "(《【[", ")》】]"
_SEPARATORS = "、，,;；\n"


def split_names(text: str | None, known: Callable[[str], bool] = lambda _name: False) -> list[str]:
    """Names in one cell: split at separators outside brackets, then pieces that together make a
    ``known`` name (广州、深圳、珠海出入境边防检查总站) are kept as one."""
    # Full-width separators and brackets read as their half-width forms (，→, （→( ).
    text = unicodedata.normalize("NFKC", text or "").replace("\r", "\n")
    pieces: list[str] = []
    seps: list[str] = []
    depth, current = 0, ""
    for ch in text:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        if ch in _SEPARATORS and depth == 0:
            pieces.append(normalise_name(current))
            seps.append(ch)
            current = ""
        else:
            current += ch
    pieces.append(normalise_name(current))
    out: list[str] = []
    i = 0
    while i < len(pieces):
        taken = i
        for j in range(len(pieces) - 1, i, -1):
            joined = "".join(p + s for p, s in zip(pieces[i:j], seps[i:j], strict=True))
            if known(joined + pieces[j]):
                out.append(joined + pieces[j])
                taken = j
                break
        if taken == i and pieces[i]:
            out.append(pieces[i])
        i = taken + 1
    return out


@dataclass
class Change:
    """One thing confirming would create or change: a unit, another name or a group."""

    sheet: str
    row: int
    #: unit | alias | group
    kind: str
    name: str
    #: new | updated | unchanged
    action: str
    details: list[str] = field(default_factory=list)


@dataclass
class _UnitPlan:
    name: str
    kind: str
    parent: str | None
    row: int


@dataclass
class _GroupPlan:
    name: str
    source: str | None
    rule_kind: str | None
    rule_parent: str | None
    members: list[str]
    row: int


@dataclass
class UnitsPreview:
    city_code: str
    city_name: str
    errors: list[RowError] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    units: list[_UnitPlan] = field(default_factory=list)
    #: (alias, target kind "unit" | "group", target's name)
    aliases: list[tuple[str, str, str]] = field(default_factory=list)
    groups: list[_GroupPlan] = field(default_factory=list)

    def count(self, kind: str, action: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind and c.action == action)

    @property
    def has_changes(self) -> bool:
        return not self.errors and any(c.action != "unchanged" for c in self.changes)

    @property
    def listed(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"][:LISTED]

    def summary(self) -> dict[str, Any]:
        """The counts the audit record, the page and the command line report."""
        return {
            "city": self.city_code,
            **{
                f"{plural}_{action}": self.count(kind, action)
                for kind, plural in (("unit", "units"), ("alias", "aliases"), ("group", "groups"))
                for action in ("new", "updated", "unchanged")
            },
        }


def template(city: City | None) -> bytes:
    """The units template: one example row per sheet (the city's own names where it has them)."""
    county = "某某县人民政府"
    notes = [
        "单位导入模板：「单位」每行一个单位，「别名」每行一个其他写法，「分组」每行一个单位组。"
        "带 * 的列必填；列的顺序可以调整，但列名不能修改。第 2 行起是示例，请替换为实际内容。",
        "每个单元格里的名称按原样作为一个名称，带括号的名称如 各县(市、区)人民政府 不会被拆开；"
        "全角括号和空格会统一为半角写法。",
        "类型可填 县(区)、乡镇(街道)、部门、企业、其他。",
        "分组的成员有两种：按名单（在「成员」列填写单位名称）或按规则（在「规则」列填一个单位类型，"
        "该类型的全部单位都是成员，以后新增的单位自动加入；可在「规则上级单位」限定为某单位的直属下级）。",
        "导入只新增和修改，不删除：文件中没有的单位和别名保持不变；文件中的分组按文件设置成员。",
        "上传后先显示预览：将新建或修改的单位、别名、分组，以及逐行错误（工作表、行、列、问题）。"
        "只有全部行都正确才能确认导入，导入在一个事务中完成。同一文件导入两次不会产生任何变化。",
    ]
    units_rows = [
        {"name": "市政务服务数据管理局", "kind": "部门", "aliases": "市数据局、市政数局"},
        {"name": county, "kind": "县(区)", "aliases": "某某县政府"},
        {"name": "某某镇人民政府", "kind": "乡镇(街道)", "parent": county, "aliases": "某某镇"},
    ]
    return build_template(
        [
            (UNIT_SHEET, units_rows),
            (ALIAS_SHEET, [{"alias": "市政数局", "unit": "市政务服务数据管理局"}]),
            (
                GROUP_SHEET,
                [
                    {"name": "各县(区)政府", "rule": "县(区)", "source": "行政区划（公开信息）"},
                    {
                        "name": "市直有关单位",
                        "members": "市政务服务数据管理局",
                        "source": "文件附件2",
                    },
                    {"name": "某某县各乡镇", "rule": "乡镇(街道)", "rule_parent": county},
                ],
            ),
        ],
        notes,
        [_names_sheet(city)] if city is not None else [],
    )


def _names_sheet(city: City) -> tuple[str, tuple[str, ...], list[tuple[Any, ...]]]:
    """The city's current units, for reference (not read when importing)."""
    rows = db.session.execute(
        select(Unit.name, Unit.kind).where(Unit.city_id == city.id).order_by(Unit.kind, Unit.id)
    ).all()
    return (
        "已有单位",
        ("名称", "类型"),
        [(name, KIND_LABELS.get(kind, kind)) for name, kind in rows],
    )


class _Names:
    """The city's names as stored: normalised name -> ("unit" | "group", id)."""

    def __init__(self, city: City) -> None:
        self.units = {
            u.id: u for u in db.session.scalars(select(Unit).where(Unit.city_id == city.id))
        }
        self.groups = {
            g.id: g
            for g in db.session.scalars(select(UnitGroup).where(UnitGroup.city_id == city.id))
        }
        self.names: dict[str, tuple[str, int]] = {}
        for name, unit_id, group_id in db.session.execute(
            select(UnitAlias.name, UnitAlias.unit_id, UnitAlias.group_id).where(
                UnitAlias.city_id == city.id
            )
        ):
            target = ("unit", unit_id) if unit_id is not None else ("group", group_id or 0)
            self.names.setdefault(normalise_name(name), target)
        for u in self.units.values():
            self.names[normalise_name(u.name)] = ("unit", u.id)
        for g in self.groups.values():
            self.names[normalise_name(g.name)] = ("group", g.id)
        self.unit_by_name = {normalise_name(u.name): u for u in self.units.values()}
        self.group_by_name = {normalise_name(g.name): g for g in self.groups.values()}

    def canonical(self, name: str) -> tuple[str, str] | None:
        """("unit" | "group", the canonical name) a stored name stands for."""
        found = self.names.get(name)
        if found is None:
            return None
        kind, ident = found
        obj: Unit | UnitGroup = self.units[ident] if kind == "unit" else self.groups[ident]
        return kind, normalise_name(obj.name)


class _Check:
    """Collects row errors in the user's order."""

    def __init__(self, result: UnitsPreview) -> None:
        self.result = result

    def add(self, sheet: SheetSpec, row: int, key: str | None, message: str) -> None:
        column = sheet.header(key) if key else None
        self.result.errors.append(RowError(sheet.name, row, column, message))


def _kind(value: Any) -> str | None:
    text = as_text(value)
    return KIND_WORDS.get(normalise_name(text)) if text else None


def preview(
    path: Path, city: City, *, progress: Callable[[str], None] | None = None
) -> UnitsPreview:
    """Read and check every row against the city and the rest of the file (writes nothing).

    Raises WorkbookRejected when the file as a whole is unusable.
    """
    say = progress or (lambda _message: None)
    unit_sheet, alias_sheet, group_sheet = read_workbook(path, SHEETS)
    say(
        f"read {len(unit_sheet.rows)} units, {len(alias_sheet.rows)} aliases, "
        f"{len(group_sheet.rows)} groups"
    )
    result = UnitsPreview(city.code, city.name)
    check = _Check(result)
    stored = _Names(city)
    if not (unit_sheet.rows or alias_sheet.rows or group_sheet.rows):
        check.add(UNIT_SHEET, 2, None, _("The workbook has no rows: fill in from row 2."))
        return result

    # The file's own names: unit and group name -> row (a name means one thing).
    file_units: dict[str, _UnitPlan] = {}
    file_groups: dict[str, int] = {}
    for row in unit_sheet.rows:
        name = normalise_name(as_text(row.get("name")) or "")
        kind = _kind(row.get("kind"))
        if not name:
            check.add(UNIT_SHEET, row.number, "name", _("The unit's name is required."))
            continue
        if len(name) > limit("unit.name"):
            check.add(
                UNIT_SHEET,
                row.number,
                "name",
                _("The name may have at most %(n)d characters.", n=limit("unit.name")),
            )
            continue
        if kind is None:
            check.add(
                UNIT_SHEET,
                row.number,
                "kind",
                _(
                    "「%(value)s」 is not a unit kind; write 县(区), 乡镇(街道), 部门, 企业 "
                    "or 其他.",
                    value=as_text(row.get("kind")) or "",
                ),
            )
        if name in file_units:
            check.add(
                UNIT_SHEET,
                row.number,
                "name",
                _("「%(name)s」 is already in row %(row)d.", name=name, row=file_units[name].row),
            )
            continue
        current = stored.canonical(name)
        if current is not None and current != ("unit", name):
            what, other = current
            check.add(
                UNIT_SHEET,
                row.number,
                "name",
                _(
                    "「%(name)s」 is already another name of the unit %(target)s; write that "
                    "name, or remove this one from it first.",
                    name=name,
                    target=other,
                )
                if what == "unit"
                else _("「%(name)s」 is a group of units in this city.", name=name),
            )
            continue
        parent = normalise_name(as_text(row.get("parent")) or "") or None
        file_units[name] = _UnitPlan(name, kind or "", parent, row.number)

    for row in group_sheet.rows:
        name = normalise_name(as_text(row.get("name")) or "")
        if not name:
            check.add(GROUP_SHEET, row.number, "name", _("The group's name is required."))
        elif name in file_groups:
            check.add(
                GROUP_SHEET,
                row.number,
                "name",
                _("「%(name)s」 is already in row %(row)d.", name=name, row=file_groups[name]),
            )
        else:
            file_groups[name] = row.number

    # Other names: from the units sheet's column and from the aliases sheet.
    claimed: dict[str, tuple[str, str, str, int]] = {}

    def claim(alias: str, target: tuple[str, str], sheet: SheetSpec, row: int, key: str) -> None:
        if len(alias) > limit("unit.name"):
            check.add(
                sheet,
                row,
                key,
                _("The name may have at most %(n)d characters.", n=limit("unit.name")),
            )
            return
        if alias == target[1]:
            return
        if alias in file_units or alias in file_groups:
            check.add(
                sheet,
                row,
                key,
                _("「%(name)s」 is itself a unit or group in this file.", name=alias),
            )
            return
        earlier = claimed.get(alias)
        if earlier is not None:
            if earlier[:2] != target:
                check.add(
                    sheet,
                    row,
                    key,
                    _(
                        "「%(name)s」 already stands for %(target)s (sheet %(sheet)s, row "
                        "%(row)d): a name must mean one unit or one group.",
                        name=alias,
                        target=earlier[1],
                        sheet=earlier[2],
                        row=earlier[3],
                    ),
                )
            return
        current = stored.canonical(alias)
        if current is not None and current != target:
            check.add(
                sheet,
                row,
                key,
                _(
                    "「%(name)s」 already stands for %(target)s in %(city)s: a name must mean "
                    "one unit or one group.",
                    name=alias,
                    target=current[1],
                    city=city.name,
                ),
            )
            return
        claimed[alias] = (*target, sheet.name, row)
        result.aliases.append((alias, *target))
        result.changes.append(
            Change(sheet.name, row, "alias", alias, "unchanged" if current else "new", [target[1]])
        )

    for row in unit_sheet.rows:
        name = normalise_name(as_text(row.get("name")) or "")
        planned = file_units.get(name)
        if planned is None or planned.row != row.number:
            continue
        for alias in split_names(as_text(row.get("aliases"))):
            claim(alias, ("unit", name), UNIT_SHEET, row.number, "aliases")
    for row in alias_sheet.rows:
        alias = normalise_name(as_text(row.get("alias")) or "")
        target_text = normalise_name(as_text(row.get("unit")) or "")
        if not alias:
            check.add(ALIAS_SHEET, row.number, "alias", _("The other name is required."))
            continue
        if not target_text:
            check.add(ALIAS_SHEET, row.number, "unit", _("The unit is required."))
            continue
        if target_text in file_groups:
            target: tuple[str, str] | None = ("group", target_text)
        elif target_text in file_units:
            target = ("unit", target_text)
        else:
            target = stored.canonical(target_text)
        if target is None:
            check.add(
                ALIAS_SHEET,
                row.number,
                "unit",
                _(
                    "「%(name)s」 is not a unit or group of %(city)s or of this file.",
                    name=target_text,
                    city=city.name,
                ),
            )
            continue
        claim(alias, target, ALIAS_SHEET, row.number, "alias")

    def unit_named(text: str) -> str | None:
        """The canonical name of the unit a name stands for (in the file or stored)."""
        if text in file_units:
            return text
        if text in claimed:
            kind, target = claimed[text][:2]
            return target if kind == "unit" else None
        found = stored.canonical(text)
        return found[1] if found is not None and found[0] == "unit" else None

    def is_known(text: str) -> bool:
        return text in file_units or text in file_groups or text in claimed or text in stored.names

    # Parents: a unit of the file or of the city, and no unit under itself.
    for plan in file_units.values():
        if plan.parent is None:
            continue
        parent = unit_named(plan.parent)
        if parent is None:
            check.add(
                UNIT_SHEET,
                plan.row,
                "parent",
                _("「%(name)s」 is not a unit of %(city)s.", name=plan.parent, city=city.name),
            )
        elif parent == plan.name:
            check.add(UNIT_SHEET, plan.row, "parent", _("A unit cannot be its own parent."))
        plan.parent = parent
    _check_cycles(file_units, stored, check)

    # Groups: a list of members, or a rule.
    for row in group_sheet.rows:
        name = normalise_name(as_text(row.get("name")) or "")
        if not name or file_groups.get(name) != row.number:
            continue
        _read_group(row, name, city, stored, file_units, unit_named, is_known, check, result)

    _plan_units(file_units, stored, result)
    result.errors.sort(key=lambda e: ([s.name for s in SHEETS].index(e.sheet), e.row or 0))
    result.changes.sort(key=lambda c: ([s.name for s in SHEETS].index(c.sheet), c.row))
    say(f"{len(result.errors)} problems" if result.errors else "no problems")
    return result


def _check_cycles(file_units: dict[str, _UnitPlan], stored: _Names, check: _Check) -> None:
    """A unit may not end up under itself through its parents."""

    def parent_of(name: str) -> str | None:
        if name in file_units:
            return file_units[name].parent
        unit = stored.unit_by_name.get(name)
        if unit is None or unit.parent_id is None or unit.parent_id not in stored.units:
            return None
        return normalise_name(stored.units[unit.parent_id].name)

    for plan in file_units.values():
        seen = {plan.name}
        current = plan.parent
        while current is not None and current != plan.name:
            if current in seen:
                break
            seen.add(current)
            current = parent_of(current)
        if current == plan.name and plan.parent != plan.name:
            check.add(
                UNIT_SHEET,
                plan.row,
                "parent",
                _(
                    "「%(name)s」 would end up under itself through its parent units.",
                    name=plan.name,
                ),
            )


def _read_group(
    row: Any,
    name: str,
    city: City,
    stored: _Names,
    file_units: dict[str, _UnitPlan],
    unit_named: Callable[[str], str | None],
    is_known: Callable[[str], bool],
    check: _Check,
    result: UnitsPreview,
) -> None:
    problems = len(result.errors)
    if len(name) > limit("group.name"):
        check.add(
            GROUP_SHEET,
            row.number,
            "name",
            _("The name may have at most %(n)d characters.", n=limit("group.name")),
        )
    current = stored.canonical(name)
    if name in file_units or (current is not None and current[0] == "unit"):
        check.add(
            GROUP_SHEET,
            row.number,
            "name",
            _("「%(name)s」 is a unit, not a group: give the group another name.", name=name),
        )
    elif current is not None and current[1] != name:
        check.add(
            GROUP_SHEET,
            row.number,
            "name",
            _(
                "「%(name)s」 is already another name of the group %(target)s.",
                name=name,
                target=current[1],
            ),
        )
    source = as_text(row.get("source"))
    if source is not None and len(source) > limit("group.source"):
        check.add(
            GROUP_SHEET,
            row.number,
            "source",
            _("The source may have at most %(n)d characters.", n=limit("group.source")),
        )
    member_text = as_text(row.get("members"))
    rule_text = as_text(row.get("rule"))
    parent_text = normalise_name(as_text(row.get("rule_parent")) or "") or None
    rule_kind = _kind(rule_text)
    members: list[str] = []
    if member_text and rule_text:
        check.add(
            GROUP_SHEET,
            row.number,
            "rule",
            _("Fill in either 成员 (a list) or 规则 (a rule), not both."),
        )
    elif not member_text and not rule_text:
        check.add(
            GROUP_SHEET,
            row.number,
            "members",
            _("Fill in 成员 (the member units) or 规则 (a unit kind)."),
        )
    elif rule_text and rule_kind is None:
        check.add(
            GROUP_SHEET,
            row.number,
            "rule",
            _(
                "「%(value)s」 is not a unit kind; write 县(区), 乡镇(街道), 部门, 企业 or 其他.",
                value=rule_text,
            ),
        )
    rule_parent = None
    if parent_text:
        rule_parent = unit_named(parent_text)
        if not rule_text:
            check.add(
                GROUP_SHEET,
                row.number,
                "rule_parent",
                _("规则上级单位 only limits a rule: fill in 规则 too."),
            )
        elif rule_parent is None:
            check.add(
                GROUP_SHEET,
                row.number,
                "rule_parent",
                _("「%(name)s」 is not a unit of %(city)s.", name=parent_text, city=city.name),
            )
    for member in split_names(member_text, is_known) if member_text else []:
        unit = unit_named(member)
        if unit is None:
            found = stored.canonical(member)
            message = (
                _("「%(name)s」 is a group; a group's members are units.", name=member)
                if is_known(member) and (found is None or found[0] == "group")
                else _(
                    "「%(name)s」 is not a unit of %(city)s or of this file.",
                    name=member,
                    city=city.name,
                )
            )
            check.add(GROUP_SHEET, row.number, "members", message)
        elif unit not in members:
            members.append(unit)
    if len(result.errors) > problems:
        return
    plan = _GroupPlan(name, source, rule_kind, rule_parent, members, row.number)
    result.groups.append(plan)
    group = stored.group_by_name.get(name)
    if group is None:
        result.changes.append(Change(GROUP_SHEET.name, row.number, "group", name, "new"))
        return
    details = []
    if (group.source or None) != source:
        details.append(GROUP_SHEET.header("source"))
    parent_now = (
        normalise_name(stored.units[group.rule_parent_id].name) if group.rule_parent_id else None
    )
    if (group.rule_kind, parent_now) != (rule_kind, rule_parent):
        details.append(GROUP_SHEET.header("rule"))
    if rule_kind is None:
        listed = (
            units.group_member_ids(city.id).get(group.id, []) if group.rule_kind is None else []
        )
        now = {normalise_name(stored.units[u].name) for u in listed}
        if now != set(members):
            details.append(GROUP_SHEET.header("members"))
    result.changes.append(
        Change(
            GROUP_SHEET.name,
            row.number,
            "group",
            name,
            "updated" if details else "unchanged",
            details,
        )
    )


def _plan_units(file_units: dict[str, _UnitPlan], stored: _Names, result: UnitsPreview) -> None:
    for plan in file_units.values():
        result.units.append(plan)
        unit = stored.unit_by_name.get(plan.name)
        if unit is None:
            result.changes.append(Change(UNIT_SHEET.name, plan.row, "unit", plan.name, "new"))
            continue
        details = []
        if unit.kind != plan.kind:
            details.append(UNIT_SHEET.header("kind"))
        parent_now = (
            normalise_name(stored.units[unit.parent_id].name)
            if unit.parent_id in stored.units
            else None
        )
        if parent_now != plan.parent:
            details.append(UNIT_SHEET.header("parent"))
        result.changes.append(
            Change(
                UNIT_SHEET.name,
                plan.row,
                "unit",
                plan.name,
                "updated" if details else "unchanged",
                details,
            )
        )


def confirm(
    upload: services.Upload,
    city: City,
    *,
    actor: User | None,
    progress: Callable[[str], None] | None = None,
) -> UnitsPreview:
    """Check the file again and write its new and changed units, names and groups (flush only;
    the caller commits once). ``actor`` None: the command line."""
    result = preview(upload.path, city, progress=progress)
    if not result.has_changes:
        return result
    say = progress or (lambda _message: None)
    actor_id = actor.id if actor is not None else None
    stored = _Names(city)
    by_name = dict(stored.unit_by_name)
    actions = {(c.kind, c.name): c.action for c in result.changes}
    say(f"writing {result.count('unit', 'new')} new units")
    for plan in result.units:
        if plan.name not in by_name:
            unit = Unit(city_id=city.id, name=plan.name, kind=plan.kind)
            db.session.add(unit)
            by_name[plan.name] = unit
    db.session.flush()
    for plan in result.units:
        unit = by_name[plan.name]
        parent_id = by_name[plan.parent].id if plan.parent else None
        if actions[("unit", plan.name)] == "new":
            unit.parent_id = parent_id
            db.session.add(UnitAlias(city_id=city.id, name=plan.name, unit_id=unit.id))
            audit.record(
                "unit.created",
                "unit",
                unit.id,
                actor_id=actor_id,
                after={"name": unit.name, "kind": unit.kind, "parent_id": parent_id},
            )
        elif actions[("unit", plan.name)] == "updated":
            before = {"kind": unit.kind, "parent_id": unit.parent_id}
            unit.kind, unit.parent_id = plan.kind, parent_id
            audit.record(
                "unit.updated",
                "unit",
                unit.id,
                actor_id=actor_id,
                before=before,
                after={"kind": unit.kind, "parent_id": parent_id},
            )
    db.session.flush()
    say(f"writing {result.count('group', 'new') + result.count('group', 'updated')} groups")
    groups = dict(stored.group_by_name)
    for g in result.groups:
        action = actions[("group", g.name)]
        fields: dict[str, Any] = {
            "source": g.source,
            "rule_kind": g.rule_kind,
            "rule_parent_id": by_name[g.rule_parent].id if g.rule_parent else None,
        }
        member_ids = [by_name[m].id for m in g.members]
        if action == "new":
            groups[g.name] = units.create_group(
                city, g.name, members=member_ids, actor=actor, **fields
            )
        elif action == "updated":
            units.update_group(
                groups[g.name],
                members=None if g.rule_kind else member_ids,
                actor=actor,
                **fields,
            )
    db.session.flush()
    for alias, kind, target in result.aliases:
        if actions.get(("alias", alias)) != "new":
            continue
        unit_id = by_name[target].id if kind == "unit" else None
        group_id = groups[target].id if kind == "group" else None
        row = UnitAlias(city_id=city.id, name=alias, unit_id=unit_id, group_id=group_id)
        db.session.add(row)
        db.session.flush()
        audit.record(
            "unit_alias.created",
            "unit_alias",
            row.id,
            actor_id=actor_id,
            after={"name": alias, "unit_id": unit_id, "group_id": group_id},
        )
    db.session.flush()
    services.record("units", upload, actor=actor, summary=result.summary())
    return result
