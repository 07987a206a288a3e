"""Plan import: a workbook (方案, 章节, 事项) becomes the plan data the YAML seed loader takes.

Every row is checked first, with errors naming sheet, row and column. The data then goes
through the seed loader's own validation (taskhub.plans.seedspec.read_plan) and is compared
with the database for the preview; confirming loads it with taskhub.plans.seeds.upsert_plan in
the request's one transaction, so there is one loader, idempotent and all-or-nothing.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from flask_babel import gettext as _
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.core.inputs import digits
from taskhub.core.limits import limit
from taskhub.imports import plan_changes, plan_names, services
from taskhub.imports.plan_sheets import ITEM_SHEET, NAMES_SHEET, PLAN_SHEET, SECTION_SHEET, SHEETS
from taskhub.imports.workbook import (
    RowError,
    Sheet,
    SheetSpec,
    as_date,
    as_decimal,
    as_names,
    as_text,
    as_unit_names,
    read_workbook,
)
from taskhub.plans.models import Item, Plan, PlanKind, PlanStatus
from taskhub.plans.seeds import upsert_plan
from taskhub.plans.seedspec import CitySpec, PlanSpec, SeedError, read_plan
from taskhub.scoring.models import Scheme
from taskhub.tracking.deadlines import parse_deadline
from taskhub.units.models import City

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_PLAN_KINDS = {
    "任务方案": PlanKind.TASKS.value,
    "任务": PlanKind.TASKS.value,
    "实施方案": PlanKind.TASKS.value,
    "tasks": PlanKind.TASKS.value,
    "考评指标体系": PlanKind.INDICATORS.value,
    "指标体系": PlanKind.INDICATORS.value,
    "考评指标": PlanKind.INDICATORS.value,
    "指标": PlanKind.INDICATORS.value,
    "indicators": PlanKind.INDICATORS.value,
}
_APPLICABILITY = {"全部": "all", "all": "all", "按需": "as_needed", "as_needed": "as_needed"}
_UNIT_KINDS = {
    "县(区)": "county",
    "县(市、区)": "county",
    "县区": "county",
    "旗县区": "county",
    "county": "county",
    "乡镇(街道)": "township",
    "乡镇": "township",
    "街道": "township",
    "township": "township",
    "部门": "department",
    "市直部门": "department",
    "department": "department",
    "企业": "enterprise",
    "enterprise": "enterprise",
    "其他": "other",
    "other": "other",
}
#: The item columns naming units, as the seed file's keys (lead, responsible, lead_assessors).
_ROLE_COLUMNS = ("lead", "responsible", "lead_assessors")
#: Written in the 牵头单位 cell of a task whose document names no lead yet (待分配).
UNASSIGNED = ("待分配", "待定")


@dataclass
class PlanPreview:
    """What an upload would do: errors, or the plan and the counts of changes."""

    errors: list[RowError] = field(default_factory=list)
    code: str | None = None
    title: str | None = None
    city_name: str | None = None
    kind: str | None = None
    year: int | None = None
    #: new | updated | unchanged (None while there are errors).
    status: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: (item code, added | changed | removed), at most plan_changes.LISTED_CHANGES of them.
    changed_items: list[tuple[str, str]] = field(default_factory=list)
    #: Item codes whose deadline phrase will be kept verbatim and flagged for the office.
    unparsed: list[str] = field(default_factory=list)
    #: Names the city does not know, with suggestions (each also has a row error).
    unknown_names: list[plan_names.UnknownName] = field(default_factory=list)
    #: The choices posted for them (kept to fill the form in again).
    choices: dict[str, plan_names.NameChoice] = field(default_factory=dict)
    #: Item codes imported as 待分配 (tasks with no lead unit yet).
    unassigned: list[str] = field(default_factory=list)
    #: How many of ``errors`` are unknown names.
    name_errors: int = 0
    plan_id: int | None = None
    spec: PlanSpec | None = field(default=None, repr=False)
    city: City | None = field(default=None, repr=False)
    city_spec: CitySpec | None = field(default=None, repr=False)

    @property
    def has_changes(self) -> bool:
        return not self.errors and self.status in ("new", "updated")

    @property
    def only_unknown_names(self) -> bool:
        """Every problem is an unknown name: the choices on the preview can settle them."""
        return bool(self.unknown_names) and len(self.errors) == self.name_errors


class _Errors:
    def __init__(self) -> None:
        self.items: list[RowError] = []
        #: Unknown unit names -> the places ("sheet row column") they are used.
        self.unknown: dict[str, list[str]] = {}

    def add(self, sheet: SheetSpec, row: int | None, key: str | None, message: str) -> None:
        self.items.append(RowError(sheet.name, row, sheet.header(key) if key else None, message))

    def check_lengths(self, sheet: SheetSpec, row: int, values: dict[str, str | None]) -> None:
        """Texts longer than their limit (taskhub.core.limits), by "object.field" name."""
        for name, value in values.items():
            key = name.rsplit(".", 1)[1].replace("deadline_phrase", "deadline")
            if value is not None and len(value) > limit(name):
                self.add(
                    sheet,
                    row,
                    key,
                    _(
                        "「%(field)s」 is too long: %(length)d characters, at most %(limit)d.",
                        field=sheet.header(key),
                        length=len(value),
                        limit=limit(name),
                    ),
                )


@dataclass
class _SectionRow:
    row: int
    key: str
    parent: str | None
    number: str | None
    title: str
    points: Decimal | None
    applies_to: list[str] | None
    children: list[_SectionRow] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    item_points: list[Decimal] = field(default_factory=list)


# -- preview -------------------------------------------------------------------------------


def preview(path: Path, *, seeds_path: Path | None) -> PlanPreview:
    """Read and check the workbook and compare it with the database (writes nothing).

    Raises WorkbookRejected when the file as a whole is unusable.
    """
    plan_sheet, section_sheet, item_sheet = read_workbook(path, SHEETS)
    errors = _Errors()
    result = PlanPreview()
    head = _read_head(plan_sheet, errors, seeds_path)
    city: City | None = head["city"] if head else None
    if head is None or city is None:
        # Without the city no unit name can be checked; the plan row's errors come first.
        result.errors = errors.items
        return result
    result.code, result.title, result.city_name = head["code"], head["title"], city.name
    result.city = city
    result.kind, result.year = head["kind"], head["year"]
    names = plan_changes.city_names(city.id)
    head["assessed"] = as_unit_names(head["assessed"], names).names
    for name in head["assessed"]:
        _resolve(name, names, city, PLAN_SHEET, plan_sheet.rows[0].number, "assessed", errors)
    if head["kind"] == PlanKind.INDICATORS.value and not head["assessed"]:
        errors.add(
            PLAN_SHEET,
            plan_sheet.rows[0].number,
            "assessed",
            _("An indicator system needs its assessed units or groups."),
        )
    sections = _read_sections(section_sheet, errors)
    existing: Plan | None = head["existing"]
    measures = _existing_measures(existing)
    _read_items(item_sheet, sections, names, city, head["kind"], measures, errors)
    _check_budgets(sections, head, plan_sheet, errors)
    result.unknown_names = plan_names.describe(errors.unknown, names)
    result.name_errors = sum(len(places) for places in errors.unknown.values())
    result.unassigned = [
        i["code"] for s in sections.values() for i in s.items if i.get("unassigned")
    ]
    if errors.items:
        result.errors = errors.items
        return result
    city_spec = plan_changes.city_spec(city, names)
    spec = _checked_spec(_plan_data(head, sections, existing), city_spec, errors)
    if spec is None:
        result.errors = errors.items
        return result
    changes = plan_changes.compare(spec, existing, names, city)
    for code in changes.tracked:
        errors.add(
            ITEM_SHEET,
            None,
            None,
            _(
                "Item 「%(code)s」 is missing from the file, but units have reported progress on "
                "it; keep its row.",
                code=code,
            ),
        )
    if errors.items:
        result.errors = errors.items
        return result
    result.status, result.counts, result.changed_items = (
        changes.status,
        changes.counts,
        changes.items,
    )
    starts_on = spec.issued_on if spec.issued_on and spec.issued_on.year == spec.year else None
    result.unparsed = [
        s.code
        for s in spec.items
        if s.deadline
        and not parse_deadline(
            s.deadline, year=spec.year, text=s.text, starts_on=starts_on
        ).is_parsed
    ]
    result.spec, result.city, result.city_spec = spec, city, city_spec
    result.plan_id = existing.id if existing else None
    return result


def _read_head(sheet: Sheet, errors: _Errors, seeds_path: Path | None) -> dict[str, Any] | None:
    """The one plan row's values (None when there is no row); ``code`` None when unusable."""
    if not sheet.rows:
        errors.add(PLAN_SHEET, 2, None, _("Fill in row 2 with the plan's code, title and city."))
        return None
    for extra in sheet.rows[1:]:
        errors.add(
            PLAN_SHEET,
            extra.number,
            None,
            _(
                "A file holds one plan: only row %(row)d is read; remove this row.",
                row=sheet.rows[0].number,
            ),
        )
    row = sheet.rows[0]
    n = row.number
    code = as_text(row.get("code"))
    title = as_text(row.get("title"))
    if not code:
        errors.add(PLAN_SHEET, n, "code", _("The plan code is required."))
    elif not _CODE.fullmatch(code):
        errors.add(
            PLAN_SHEET,
            n,
            "code",
            _(
                "「%(value)s」: use letters, digits, - and _ only (at most 64), e.g. hegang-2024.",
                value=code,
            ),
        )
        code = None
    if not title:
        errors.add(PLAN_SHEET, n, "title", _("The plan title is required."))
    errors.check_lengths(
        PLAN_SHEET,
        n,
        {"plan.title": title, "plan.document_number": as_text(row.get("document_number"))},
    )
    city = _find_city(as_text(row.get("city")), n, errors)
    year = _year(row.get("year"), n, errors)
    kind_text = as_text(row.get("kind"))
    kind = _PLAN_KINDS.get(kind_text or "")
    if kind is None:
        errors.add(
            PLAN_SHEET,
            n,
            "kind",
            _("「%(value)s」: write 任务方案 or 考评指标体系.", value=kind_text or ""),
        )
    issued_on = None
    try:
        issued_on = as_date(row.get("issued_on"))
    except ValueError:
        errors.add(
            PLAN_SHEET,
            n,
            "issued_on",
            _(
                "「%(value)s」 is not a date; write e.g. 2024-03-01.",
                value=as_text(row.get("issued_on")),
            ),
        )
    points = _number(PLAN_SHEET, n, "points", row.get("points"), errors)
    existing = db.session.scalar(select(Plan).where(Plan.code == code)) if code else None
    if existing is not None and city is not None and existing.city_id != city.id:
        errors.add(
            PLAN_SHEET,
            n,
            "code",
            _(
                "Plan 「%(code)s」 already exists for %(city)s; a plan cannot move to another "
                "city. Use another code.",
                code=code,
                city=existing.city.name,
            ),
        )
        code = existing = None
    if code and seeds_path is not None and (seeds_path / "plans" / f"{code}.yaml").is_file():
        errors.add(
            PLAN_SHEET,
            n,
            "code",
            _(
                "Plan 「%(code)s」 is loaded from the shipped seed files and would be reset by the "
                "next seed load. Change its seed file, or import under another code.",
                code=code,
            ),
        )
        code = existing = None
    return {
        "code": code,
        "title": title or "",
        "city": city,
        "document_number": as_text(row.get("document_number")),
        "issued_on": issued_on,
        "year": year,
        "kind": kind or PlanKind.TASKS.value,
        "points": points,
        # Split once the city's names are known (they win over splitting).
        "assessed": as_text(row.get("assessed")),
        "existing": existing,
    }


def _find_city(text: str | None, row: int, errors: _Errors) -> City | None:
    cities = db.session.scalars(select(City).order_by(City.code)).all()
    if text:
        for city in cities:
            if text.lower() == city.code.lower() or text == city.name:
                return city
    errors.add(
        PLAN_SHEET,
        row,
        "city",
        _(
            "「%(value)s」 is not a city in TaskHub; write one of %(known)s.",
            value=text or "",
            known="、".join(c.name for c in cities),
        ),
    )
    return None


def _year(value: Any, row: int, errors: _Errors) -> int:
    text = as_text(value) or ""
    year = digits(text)
    if year is not None and 2000 <= year <= 2100:
        return year
    errors.add(
        PLAN_SHEET,
        row,
        "year",
        _("「%(value)s」 is not a four-digit year such as 2024.", value=text),
    )
    return 0


def _number(sheet: SheetSpec, row: int, key: str, value: Any, errors: _Errors) -> Decimal | None:
    try:
        return as_decimal(value)
    except ValueError:
        errors.add(
            sheet,
            row,
            key,
            _("「%(value)s」 is not a number of zero or more.", value=as_text(value) or ""),
        )
        return None


def _kinds(sheet: SheetSpec, row: int, value: Any, errors: _Errors) -> list[str] | None:
    words = as_names(str(value).replace("（", "(").replace("）", ")")) if value else []
    kinds: list[str] = []
    for word in words:
        kind = _UNIT_KINDS.get(word)
        if kind is None:
            errors.add(
                sheet,
                row,
                "applies_to",
                _(
                    "「%(value)s」 is not a unit kind; write 县(区), 乡镇(街道), 部门, 企业 "
                    "or 其他.",
                    value=word,
                ),
            )
        elif kind not in kinds:
            kinds.append(kind)
    return kinds or None


def _resolve(
    name: str,
    names: dict[str, plan_changes.Name],
    city: City,
    sheet: SheetSpec,
    row: int,
    key: str,
    errors: _Errors,
) -> None:
    if name not in names:
        place = f"{sheet.name} {row} {sheet.header(key)}"
        errors.unknown.setdefault(name, []).append(place)
        errors.add(
            sheet,
            row,
            key,
            _(
                "「%(name)s」 is not a unit, group or alias of %(city)s (see the sheet "
                "「%(sheet)s」 of the template; the preview can create it as a unit or make it "
                "another name of a known unit).",
                name=name,
                city=city.name,
                sheet=NAMES_SHEET,
            ),
        )


def _read_sections(sheet: Sheet, errors: _Errors) -> dict[str, _SectionRow]:
    """Sections by key, in sheet order; parents must come before their children."""
    sections: dict[str, _SectionRow] = {}
    if not sheet.rows:
        errors.add(
            SECTION_SHEET, 2, None, _("Add at least one section: every item belongs to one.")
        )
    for row in sheet.rows:
        n = row.number
        key = as_text(row.get("key"))
        title = as_text(row.get("title"))
        parent = as_text(row.get("parent"))
        if not key:
            errors.add(SECTION_SHEET, n, "key", _("The section code is required."))
        elif key in sections:
            errors.add(
                SECTION_SHEET,
                n,
                "key",
                _(
                    "Section code 「%(key)s」 is already used in row %(row)d.",
                    key=key,
                    row=sections[key].row,
                ),
            )
            key = None
        if not title:
            errors.add(SECTION_SHEET, n, "title", _("The section title is required."))
        errors.check_lengths(SECTION_SHEET, n, {"section.title": title})
        if parent is not None and parent not in sections:
            errors.add(
                SECTION_SHEET,
                n,
                "parent",
                _(
                    "No section 「%(key)s」 above this row: write the parent section first.",
                    key=parent,
                ),
            )
            parent = None
        section = _SectionRow(
            row=n,
            key=key or f"#{n}",
            parent=parent,
            number=as_text(row.get("number")),
            title=title or "",
            points=_number(SECTION_SHEET, n, "points", row.get("points"), errors),
            applies_to=_kinds(SECTION_SHEET, n, row.get("applies_to"), errors),
        )
        sections[section.key] = section
        if parent is not None:
            sections[parent].children.append(section)
    return sections


def _existing_measures(plan: Plan | None) -> dict[str, Any]:
    # The workbook has no column for a scoring measure: an item keeps the one it has.
    if plan is None:
        return {}
    return {
        code: measure
        for code, measure in db.session.execute(
            select(Item.code, Item.measure).where(Item.plan_id == plan.id, Item.measure.isnot(None))
        )
    }


def _read_items(
    sheet: Sheet,
    sections: dict[str, _SectionRow],
    names: dict[str, plan_changes.Name],
    city: City,
    kind: str,
    measures: dict[str, Any],
    errors: _Errors,
) -> None:
    if not sheet.rows:
        errors.add(ITEM_SHEET, 2, None, _("Add at least one item (a task or an indicator)."))
    codes: dict[str, int] = {}
    for row in sheet.rows:
        n = row.number
        section_key = as_text(row.get("section"))
        section = sections.get(section_key or "")
        if not section_key:
            errors.add(ITEM_SHEET, n, "section", _("Give the code of the item's section."))
        elif section is None:
            errors.add(
                ITEM_SHEET,
                n,
                "section",
                _(
                    "No section 「%(key)s」 in the sheet 「%(sheet)s」.",
                    key=section_key,
                    sheet=SECTION_SHEET.name,
                ),
            )
        number = as_text(row.get("number"))
        code = as_text(row.get("code")) or number
        if not code:
            errors.add(ITEM_SHEET, n, "number", _("Give the item's number or its code."))
        elif code in codes:
            errors.add(
                ITEM_SHEET,
                n,
                "code" if as_text(row.get("code")) else "number",
                _(
                    "Item 「%(code)s」 is already in row %(row)d; give one of them another "
                    "事项编码.",
                    code=code,
                    row=codes[code],
                ),
            )
        else:
            codes[code] = n
        text = as_text(row.get("text"))
        if not text:
            errors.add(ITEM_SHEET, n, "text", _("The item's text is required."))
        applicability_text = as_text(row.get("applicability"))
        applicability = _APPLICABILITY.get(applicability_text or "全部")
        if applicability is None:
            errors.add(
                ITEM_SHEET,
                n,
                "applicability",
                _("「%(value)s」: write 全部 or 按需.", value=applicability_text or ""),
            )
        units: dict[str, list[str]] = {}
        open_units: str | None = None
        unassigned = kind == PlanKind.TASKS.value and as_text(row.get("lead")) in UNASSIGNED
        for key in _ROLE_COLUMNS:
            if key == "lead" and unassigned:
                units[key] = []
                continue
            split = as_unit_names(row.get(key), names)
            units[key] = split.names
            open_units = open_units or split.open_rest
            for name in units[key]:
                _resolve(name, names, city, ITEM_SHEET, n, key, errors)
        if kind == PlanKind.TASKS.value and not units["lead"] and not unassigned:
            errors.add(
                ITEM_SHEET,
                n,
                "lead",
                _(
                    "A task needs at least one lead unit; write 待分配 if the document names "
                    "none yet."
                ),
            )
        points = _number(ITEM_SHEET, n, "points", row.get("points"), errors)
        errors.check_lengths(
            ITEM_SHEET,
            n,
            {
                "item.title": as_text(row.get("title")),
                "item.text": text,
                "item.deadline_phrase": as_text(row.get("deadline")),
                "item.target": as_text(row.get("target")),
            },
        )
        item = {
            "number": number,
            "code": code,
            "title": as_text(row.get("title")),
            "text": text,
            "points": _yaml_number(points),
            "weight": _yaml_number(_number(ITEM_SHEET, n, "weight", row.get("weight"), errors)),
            "deadline": as_text(row.get("deadline")),
            "target": as_text(row.get("target")),
            "measure": measures.get(code or ""),
            "applicability": applicability or "all",
            "applies_to": _kinds(ITEM_SHEET, n, row.get("applies_to"), errors),
            **units,
            "open_units": open_units,
            "unassigned": unassigned or None,
        }
        if section is not None:
            section.items.append(item)
            if points is not None:
                section.item_points.append(points)


def _check_budgets(
    sections: dict[str, _SectionRow], head: dict[str, Any], sheet: Sheet, errors: _Errors
) -> None:
    """The seed loader's budget rule, reported on the section's (or the plan's) 分值 cell."""
    for section in sections.values():
        if section.points is None:
            continue
        total = sum((c.points for c in section.children if c.points is not None), Decimal(0))
        total += sum(section.item_points, Decimal(0))
        if total > section.points:
            errors.add(
                SECTION_SHEET,
                section.row,
                "points",
                _(
                    "Its sub-sections and items add up to %(total)s points, more than its "
                    "%(points)s.",
                    total=_plain(total),
                    points=_plain(section.points),
                ),
            )
    if head["points"] is not None:
        top = sum(
            (s.points for s in sections.values() if s.parent is None and s.points is not None),
            Decimal(0),
        )
        if top > head["points"]:
            errors.add(
                PLAN_SHEET,
                sheet.rows[0].number,
                "points",
                _(
                    "The first-level sections add up to %(total)s points, more than the plan's "
                    "%(points)s.",
                    total=_plain(top),
                    points=_plain(head["points"]),
                ),
            )


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _yaml_number(value: Decimal | None) -> str | None:
    # Strings keep the exact decimal through YAML; the seed reader turns them into Decimal.
    return _plain(value) if value is not None else None


def _plan_data(
    head: dict[str, Any], sections: dict[str, _SectionRow], existing: Plan | None
) -> dict[str, Any]:
    """The seed file's structure; what the workbook does not carry is kept from the plan."""

    def tree(section: _SectionRow) -> dict[str, Any]:
        return {
            "number": section.number,
            "title": section.title,
            "points": _yaml_number(section.points),
            "applies_to": section.applies_to,
            "items": section.items,
            "sections": [tree(child) for child in section.children],
        }

    scheme = None
    if existing is not None:
        scheme = db.session.scalar(select(Scheme.definition).where(Scheme.plan_id == existing.id))
    issued_on: date | None = head["issued_on"]
    return {
        "code": head["code"],
        "title": head["title"],
        "city": head["city"].code,
        "document_number": head["document_number"],
        "issued_on": issued_on.isoformat() if issued_on else None,
        "year": head["year"],
        "kind": head["kind"],
        "points": _yaml_number(head["points"]),
        "assessed": head["assessed"],
        "source": existing.source if existing else None,
        "notes": existing.notes if existing else None,
        "scheme": scheme,
        "sections": [tree(s) for s in sections.values() if s.parent is None],
    }


def _checked_spec(data: dict[str, Any], city: CitySpec, errors: _Errors) -> PlanSpec | None:
    """Run the seed loader's own validation on the data (as the YAML file it would read)."""
    raw = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    with tempfile.TemporaryDirectory(prefix="taskhub-import-") as folder:
        path = Path(folder) / f"{data['code']}.yaml"
        path.write_bytes(raw)
        try:
            return read_plan(path, {city.code: city})
        except SeedError as exc:
            # The row checks above cover the seed rules; anything left is shown as it is.
            prefix = f"{path}: "
            for problem in exc.problems:
                errors.items.append(RowError("", None, None, problem.removeprefix(prefix)))
            return None


# -- confirm -------------------------------------------------------------------------------


def confirm(
    upload: services.Upload,
    *,
    actor: User,
    seeds_path: Path | None,
    reason: str = "",
    choices: dict[str, plan_names.NameChoice] | None = None,
) -> PlanPreview:
    """Check the kept upload again and load it (flush only; the view commits or rolls back).

    ``choices`` settle unknown unit names first (new units or aliases, in the same
    transaction). A new plan is created as a draft (published from its page). Importing over a
    published plan is a revision (修订): it needs ``reason`` (RevisionNeedsReason without one),
    and the units whose assignments change are told. Closed and archived plans are not changed.

    Returns the preview: with errors nothing was written; ``status`` unchanged means the
    database already matched the file and nothing was written either.
    """
    from taskhub.plans import lifecycle

    result = preview(upload.path, seeds_path=seeds_path)
    if choices and result.unknown_names and result.city is not None:
        city = result.city
        names = plan_changes.city_names(city.id)
        unknown = result.unknown_names
        plan_names.apply_choices(city, unknown, choices, names, actor=actor)
        result = preview(upload.path, seeds_path=seeds_path)
        if result.errors:  # rolled back by the view: offer every name again, as chosen
            result.unknown_names, result.choices = unknown, choices
    if not result.has_changes:
        return result
    assert result.spec is not None and result.city is not None and result.city_spec is not None
    revising = False
    if result.plan_id is not None:
        plan = db.session.get(Plan, result.plan_id)
        assert plan is not None
        if plan.status not in (PlanStatus.DRAFT.value, PlanStatus.PUBLISHED.value):
            raise lifecycle.WrongStatus(plan, "导入修改")
        revising = plan.status == PlanStatus.PUBLISHED.value
        if revising and not reason.strip():
            raise RevisionNeedsReason()
        if revising:
            lifecycle.remember_before_change(plan)
        # The comparison found differences: make the loader write even if its digest matches.
        plan.seed_digest = None
        db.session.flush()
    try:
        loaded = upsert_plan(
            result.spec,
            result.city,
            result.city_spec,
            plan_status=PlanStatus.DRAFT.value,
            sync=not revising,
        )
    except SeedError as exc:
        result.errors = [RowError("", None, None, p) for p in exc.problems]
        return result
    plan_id = db.session.scalar(select(Plan.id).where(Plan.code == loaded.code))
    result.plan_id = plan_id
    if revising:
        plan = db.session.get(Plan, plan_id)
        assert plan is not None
        c = result.counts
        lifecycle.revised(
            plan,
            actor=actor,
            reason=reason.strip(),
            summary=(
                f"Excel导入（{upload.name}）：新增事项{c.get('items_added', 0)}项，"
                f"修改{c.get('items_changed', 0)}项，删除{c.get('items_removed', 0)}项；"
                f"新增任务分配{c.get('assignments_added', 0)}项，"
                f"取消{c.get('assignments_removed', 0)}项。"
            ),
        )
    services.record(
        "plan",
        upload,
        actor=actor,
        summary={
            "plan": loaded.code,
            "plan_id": plan_id,
            "status": result.status,
            **({"reason": reason.strip()} if revising else {}),
            **result.counts,
        },
    )
    return result


class RevisionNeedsReason(ValidationFailed):
    """Importing over a published plan is a revision: the confirm form must give a reason."""

    def __init__(self) -> None:
        super().__init__("导入将修订已发布的方案：请填写修订理由。", ["reason"])


def is_revision(result: PlanPreview) -> bool:
    """Would confirming this preview revise a published plan (so the form asks a reason)?"""
    if result.plan_id is None or not result.has_changes:
        return False
    status = db.session.scalar(select(Plan.status).where(Plan.id == result.plan_id))
    return status == PlanStatus.PUBLISHED.value
