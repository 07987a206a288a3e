"""Draft plans read from documents: create, correct, then confirm through the plan importer.

A draft keeps the document's text and the parse as JSON (``Draft.to_json()`` plus the head's
``code``, the unknown unit names and a stable ``id`` on every section and item). The office
corrects it cell by cell (``update``, optimistic: a stale version is refused), and confirming
writes the plan workbook (sheets 方案, 章节, 事项) and runs the Excel importer's own preview and
confirm on it: the same validation, the same unknown-name choices, all or nothing. Errors of
the importer name a sheet row; they are mapped back to the draft's items and sections.

The office and admins only (drafts are plans not yet imported). Services flush; the caller
commits, or rolls back on an error.
"""

from __future__ import annotations

import copy
import hashlib
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db, lock
from taskhub.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from taskhub.core.inputs import digits
from taskhub.core.limits import limit
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.documents import readers
from taskhub.documents.model import (
    FLAG_AMBIGUOUS,
    FLAG_CUT_OFF,
    FLAG_DEADLINE_UNREADABLE,
    FLAG_NO_LEAD,
    FLAG_POINTS_MISMATCH,
    KIND_INDICATORS,
    KIND_TASKS,
    Draft,
    number_json,
)
from taskhub.documents.models import DraftStatus, PlanDraft
from taskhub.documents.resolve import (
    HEAD_PLACE,
    UNIT_FIELDS,
    lookup,
    resolve,
    resolve_data,
    resolve_item_data,
    walk_items,
    walk_sections,
)
from taskhub.imports import plan as plan_import
from taskhub.imports import services as import_services
from taskhub.imports.plan_names import NameChoice
from taskhub.imports.plan_sheets import ITEM_SHEET, PLAN_SHEET, SECTION_SHEET
from taskhub.imports.workbook import build_template
from taskhub.plans.models import Plan
from taskhub.tracking.deadlines import parse_deadline
from taskhub.tracking.services import StaleObject
from taskhub.units.models import City
from taskhub.units.names import split_unit_names

#: The name of a draft made from pasted text.
PASTED = "粘贴的文本"
#: Audit object type of draft events.
AUDIT_OBJECT = "plan_draft"
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_KIND_WORDS = {KIND_TASKS: "任务方案", KIND_INDICATORS: "考评指标体系"}
_TEXT_FIELDS = {
    "number": "item.number",
    "title": "item.title",
    "text": "item.text",
    "deadline_text": "item.deadline_phrase",
    "target": "item.target",
}
_SECTION_TEXT_FIELDS = {"number": "section.number", "title": "section.title"}
_NUMBER_FIELDS = ("points", "weight")
#: Written in the 牵头单位 cell of a task whose document names no lead (the importer's 待分配).
_UNASSIGNED = plan_import.UNASSIGNED[0]
_OPEN_TAIL = "等有关单位"
#: The section that holds items printed under no heading (the importer needs one).
_LOOSE_SECTION = "s0"


class DraftChanged(StaleObject):
    """The draft was changed by someone else since it was read (409)."""


class DraftClosed(DomainError):
    """The draft was already confirmed or discarded."""


# -- access -----------------------------------------------------------------------------------


def _require_staff(actor: User | None) -> None:
    """The office and admins; None is the operator at the command line (``taskhub plan
    import-document``), who may do anything."""
    if actor is not None and actor.role not in STAFF:
        raise PermissionDenied(_("Only the office can read plans from documents."))


def get(draft_id: int, actor: User) -> PlanDraft:
    """The draft, for the office and admins (every city: offices are not city-scoped)."""
    _require_staff(actor)
    draft = db.session.get(PlanDraft, draft_id)
    if draft is None:
        raise NotFound(_("There is no draft %(id)s.", id=draft_id))
    return draft


def open_drafts(actor: User) -> list[PlanDraft]:
    """Drafts still being checked, most recently changed first."""
    _require_staff(actor)
    return list(
        db.session.scalars(
            select(PlanDraft)
            .where(PlanDraft.status == DraftStatus.OPEN.value)
            .order_by(PlanDraft.updated_at.desc(), PlanDraft.id.desc())
        )
    )


def _require_open(draft: PlanDraft) -> None:
    if draft.status != DraftStatus.OPEN.value:
        raise DraftClosed(
            _("This draft was already confirmed or discarded; upload the document again.")
        )


# -- create -----------------------------------------------------------------------------------


def create(
    *,
    city: City,
    actor: User | None,
    name: str,
    data: bytes | None = None,
    text: str | None = None,
    year: int | None = None,
) -> PlanDraft:
    """Read a document (``data``, a file called ``name``) or pasted ``text``, parse it, resolve
    its unit names against ``city`` and keep it as an open draft (flush; audited).

    Raises UnreadableDocument with what to save the file as, ValidationFailed for a bad year.
    """
    _require_staff(actor)
    if year is not None and not 2000 <= year <= 2100:
        raise ValidationFailed(
            _("「%(value)s」 is not a four-digit year such as 2024.", value=year), ["year"]
        )
    if data is not None:
        doc = readers.read(name, data)
    else:
        doc = readers.from_pasted(text or "")
        name = name or PASTED
    # Imported here: compiling the reader's rules costs ~0.2 s, which every CLI command and
    # worker start would otherwise pay before any document is read.
    from taskhub.documents import parser

    parsed = parser.parse(doc, year=year)
    return store(parsed, city=city, actor=actor, name=name or PASTED, format=doc.format)


def store(parsed: Draft, *, city: City, actor: User | None, name: str, format: str) -> PlanDraft:
    """Keep a parsed draft for ``city`` (its unit names resolved, ids given; flush; audited)."""
    _require_staff(actor)
    resolve(parsed, city)
    content = parsed.to_json()
    _number(content)
    content["code"] = suggest_code(city, parsed.year)
    resolve_data(content, city)
    draft = PlanDraft(
        city_id=city.id,
        created_by_id=actor.id if actor else None,
        name=(name or PASTED)[:200],
        format=format,
        source_text=parsed.source_text,
        data=content,
    )
    db.session.add(draft)
    db.session.flush()
    audit.record(
        "plan_draft.created",
        AUDIT_OBJECT,
        draft.id,
        actor_id=actor.id if actor else None,
        after={
            "name": draft.name,
            "format": draft.format,
            "city": city.code,
            "items": len(walk_items(content)),
            "unknown_names": len(content["unknown_names"]),
        },
    )
    return draft


def _number(data: dict[str, Any]) -> None:
    """Give every section and item its stable id (s1…, i1… in document order)."""
    for index, (section, _path) in enumerate(walk_sections(data), start=1):
        section["id"] = f"s{index}"
    for index, item in enumerate(walk_items(data), start=1):
        item["id"] = f"i{index}"


def suggest_code(city: City, year: int | None) -> str:
    """``<city code>-<year>``, with -2, -3 … when a plan or an open draft has it already."""
    base = f"{city.code}-{year or office_today().year}"
    taken = set(db.session.scalars(select(Plan.code).where(Plan.code.startswith(base))))
    taken |= {
        str(d.data.get("code"))
        for d in db.session.scalars(
            select(PlanDraft).where(PlanDraft.status == DraftStatus.OPEN.value)
        )
    }
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}-{n}"
    return code


# -- update -----------------------------------------------------------------------------------


def update(
    draft: PlanDraft, changes: dict[str, Any], *, actor: User | None, version: int
) -> PlanDraft:
    """Apply the office's corrections (see the module's docs for the shape of ``changes``).

    Unit lists may be lists or one string (split as documents write them); an edited item's
    unknown names and flags are worked out again. Refused whole: ValidationFailed naming the
    item and field, DraftChanged when ``version`` is not the draft's (someone else saved).
    """
    _require_staff(actor)
    lock(draft)
    if draft.version != version:
        raise DraftChanged(
            _("Someone else changed this draft since you opened it; reload it and edit again.")
        )
    _require_open(draft)
    if not isinstance(changes, Mapping):
        raise ValidationFailed(_("The changes must be an object."), ["changes"])
    unknown_keys = set(changes) - {"head", "items", "sections"}
    if unknown_keys:
        raise ValidationFailed(
            _("Unknown part of a draft: %(keys)s.", keys="、".join(sorted(unknown_keys))),
            sorted(unknown_keys),
        )
    data = copy.deepcopy(draft.data)
    names = resolve_data(data, draft.city)  # the city may have learnt names since
    known_names = list(names)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    head = changes.get("head") or {}
    _apply_head(data, _mapping(head, "head"), known_names, before, after)
    sections = {s["id"]: s for s, _p in walk_sections(data)}
    for section_id, fields in _mapping(changes.get("sections") or {}, "sections").items():
        section = sections.get(section_id)
        if section is None:
            raise ValidationFailed(
                _("There is no section 「%(id)s」 in this draft.", id=section_id), ["sections"]
            )
        _apply_section(section, _mapping(fields, section_id), before, after)
    items = {i["id"]: i for i in walk_items(data)}
    known = lookup(names)
    for item_id, fields in _mapping(changes.get("items") or {}, "items").items():
        item = items.get(item_id)
        if item is None:
            raise ValidationFailed(
                _("There is no item 「%(id)s」 in this draft.", id=item_id), ["items"]
            )
        _apply_item(item, _mapping(fields, item_id), data, known_names, before, after)
        resolve_item_data(item, known)
    resolve_data(data, draft.city)
    draft.data = data
    db.session.flush()
    audit.record(
        "plan_draft.updated",
        AUDIT_OBJECT,
        draft.id,
        actor_id=actor.id if actor else None,
        before=before,
        after=after,
    )
    return draft


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationFailed(_("「%(where)s」 must be an object.", where=where), [where])
    return value


def _item_label(item: dict[str, Any]) -> str:
    return str(item.get("number") or item.get("title") or item.get("id"))


#: The draft's fields as the workbook and the draft page name them (the offices' words).
FIELD_LABELS = {
    "number": "序号",
    "title": "名称",
    "text": "内容",
    "lead_units": "牵头单位",
    "responsible_units": "责任单位",
    "lead_assessors": "牵头考核单位",
    "deadline_text": "完成时限",
    "points": "分值",
    "weight": "权重",
    "target": "目标值",
    "assessed": "考评对象",
    "document_number": "文号",
    "issued_on": "印发日期",
}


#: Marks a section's label for :func:`_invalid` (sections and items share the field checks).
_SECTION_MARK = "§"


def _invalid(label: str, field: str, message: str) -> ValidationFailed:
    if label.startswith(_SECTION_MARK):
        return ValidationFailed(
            _(
                "Section 「%(section)s」, %(field)s: %(message)s",
                section=label[1:],
                field=FIELD_LABELS.get(field, field),
                message=message,
            ),
            [field],
        )
    if label == HEAD_PLACE:
        return ValidationFailed(
            _(
                "The plan's %(field)s: %(message)s",
                field=FIELD_LABELS.get(field, field),
                message=message,
            ),
            [field],
        )
    return ValidationFailed(
        _(
            "Item 「%(item)s」, %(field)s: %(message)s",
            item=label,
            field=FIELD_LABELS.get(field, field),
            message=message,
        ),
        [field],
    )


def _text(value: Any, label: str, field: str, limit_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise _invalid(label, field, _("write text."))
    text = str(value).strip()
    if len(text) > limit(limit_name):
        raise _invalid(
            label,
            field,
            _(
                "%(length)d characters, at most %(limit)d.",
                length=len(text),
                limit=limit(limit_name),
            ),
        )
    return text or None


def _decimal(value: Any, label: str, field: str) -> int | float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(str(value).strip().rstrip("%％分"))
    except InvalidOperation:
        number = Decimal(-1)
    if not number.is_finite() or number < 0 or number > 10**6:
        raise _invalid(
            label, field, _("「%(value)s」 is not a number of zero or more.", value=value)
        )
    return number_json(number)


def _units(value: Any, label: str, field: str, known_names: list[str]) -> tuple[list[str], bool]:
    """A unit list as a list, or as one string split as documents write it."""
    if value is None:
        return [], False
    if isinstance(value, str):
        split = split_unit_names(value, known_names)
        return split.names, split.open_rest is not None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = [v.strip() for v in value if v.strip()]
        for name in names:
            if len(name) > limit("unit.name"):
                raise _invalid(
                    label,
                    field,
                    _(
                        "「%(name)s」 is too long for a unit name (at most %(limit)d characters).",
                        name=name,
                        limit=limit("unit.name"),
                    ),
                )
        return names, False
    raise _invalid(label, field, _("write the unit names, separated by 、."))


def _apply_head(
    data: dict[str, Any],
    head: Mapping[str, Any],
    known_names: list[str],
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    label = HEAD_PLACE
    for key, value in head.items():
        if key == "title":
            new: Any = _text(value, label, key, "plan.title")
        elif key == "document_number":
            new = _text(value, label, key, "plan.document_number")
        elif key == "code":
            new = _text(value, label, key, "plan.title")
            if not new or not _CODE.fullmatch(new):
                raise ValidationFailed(
                    _(
                        "「%(value)s」: use letters, digits, - and _ only (at most 64), "
                        "e.g. hegang-2024.",
                        value=value or "",
                    ),
                    ["code"],
                )
        elif key == "year":
            text = str(value).strip() if value is not None else ""
            year = digits(text)
            if year is None or not 2000 <= year <= 2100:
                raise ValidationFailed(
                    _("「%(value)s」 is not a four-digit year such as 2024.", value=text), ["year"]
                )
            new = year
        elif key == "issued_on":
            new = _text(value, label, key, "plan.document_number")
            if new:
                try:
                    new = date.fromisoformat(new).isoformat()
                except ValueError:
                    raise ValidationFailed(
                        _("「%(value)s」 is not a date; write e.g. 2024-03-01.", value=new),
                        ["issued_on"],
                    )
        elif key == "kind":
            if value not in (KIND_TASKS, KIND_INDICATORS):
                raise ValidationFailed(
                    _("「%(value)s」: write tasks or indicators.", value=value), ["kind"]
                )
            new = value
        elif key == "points":
            new = _decimal(value, label, key)
        elif key == "assessed":
            new, _open = _units(value, label, key, known_names)
        else:
            raise ValidationFailed(_("The plan has no field 「%(field)s」.", field=key), [str(key)])
        if data.get(key) != new:
            before[f"head.{key}"], after[f"head.{key}"] = data.get(key), new
            data[key] = new


def _apply_section(
    section: dict[str, Any],
    fields: Mapping[str, Any],
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    label = _SECTION_MARK + str(section.get("number") or section.get("title") or section["id"])
    for key, value in fields.items():
        if key in _SECTION_TEXT_FIELDS:
            new: Any = _text(value, label, key, _SECTION_TEXT_FIELDS[key])
            if key == "title" and not new:
                raise ValidationFailed(
                    _("Section 「%(section)s」: the title is required.", section=label[1:]),
                    ["title"],
                )
        elif key == "points":
            new = _decimal(value, label, key)
        else:
            raise ValidationFailed(
                _("A section has no field 「%(field)s」.", field=key), [str(key)]
            )
        if section.get(key) != new:
            where = f"{section['id']}.{key}"
            before[where], after[where] = section.get(key), new
            section[key] = new
            if key == "points":
                section["flags"] = [
                    f for f in section.get("flags") or [] if f != FLAG_POINTS_MISMATCH
                ]


def _apply_item(
    item: dict[str, Any],
    fields: Mapping[str, Any],
    data: dict[str, Any],
    known_names: list[str],
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    label = _item_label(item)
    flags: list[str] = list(item.get("flags") or [])
    for key, value in fields.items():
        if key in _TEXT_FIELDS:
            new: Any = _text(value, label, key, _TEXT_FIELDS[key])
            if key == "text" and not new:
                raise _invalid(label, key, _("the item's text is required."))
        elif key in _NUMBER_FIELDS:
            new = _decimal(value, label, key)
        elif key in UNIT_FIELDS:
            new, open_units = _units(value, label, key, known_names)
            if open_units and not item.get("open_units"):
                item["open_units"] = True
        else:
            raise ValidationFailed(
                _("Item 「%(item)s」 has no field 「%(field)s」.", item=label, field=key),
                [str(key)],
            )
        if item.get(key) == new:
            continue
        where = f"{item['id']}.{key}"
        before[where], after[where] = item.get(key), new
        item[key] = new
        # The office's correction settles what the reader had flagged about that field.
        if key == "text":
            flags = [f for f in flags if f != FLAG_CUT_OFF]
            item["complete"] = True
        elif key in UNIT_FIELDS:
            flags = [f for f in flags if f != FLAG_AMBIGUOUS]
            item["units_inherited"] = False
        elif key == "points":
            flags = [f for f in flags if f != FLAG_POINTS_MISMATCH]
    item["flags"] = _item_flags(item, flags, data)


def _item_flags(item: dict[str, Any], flags: list[str], data: dict[str, Any]) -> list[str]:
    """The flags that follow from the item's fields, worked out again after an edit."""
    out = [f for f in flags if f not in (FLAG_NO_LEAD, FLAG_DEADLINE_UNREADABLE)]
    if data.get("kind") != KIND_INDICATORS and not item.get("lead_units"):
        out.append(FLAG_NO_LEAD)
    phrase = item.get("deadline_text")
    year = data.get("year") or office_today().year
    if phrase and not parse_deadline(phrase, year=year, text=item.get("text") or "").is_parsed:
        out.append(FLAG_DEADLINE_UNREADABLE)
    return out


# -- the grid ---------------------------------------------------------------------------------


def rows(draft: PlanDraft) -> list[dict[str, Any]]:
    """One row per item for the draft page: where it sits (section path), its fields, flags and
    unknown units, and its source sentence with the extracted parts located in it
    (``highlights``: start/end offsets within ``sentence`` and what they are)."""
    data = draft.data
    out: list[dict[str, Any]] = []
    loose: list[tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]] = [
        (item, None, []) for item in data.get("items") or []
    ]
    placed = [
        (item, section, [*path, section])
        for section, path in walk_sections(data)
        for item in section.get("items") or []
    ]
    for item, section, path in [*loose, *placed]:
        source = item.get("source")
        sentence = ""
        if source:
            sentence = draft.source_text[source["start"] : source["end"]]
        out.append(
            {
                "id": item["id"],
                "section_id": section["id"] if section else None,
                "path": [
                    {
                        "id": s["id"],
                        "number": s.get("number"),
                        "title": s.get("title"),
                        "points": s.get("points"),
                    }
                    for s in path
                ],
                **{
                    key: item.get(key)
                    for key in (
                        "number",
                        "title",
                        "text",
                        "lead_units",
                        "responsible_units",
                        "lead_assessors",
                        "open_units",
                        "units_inherited",
                        "deadline_text",
                        "points",
                        "weight",
                        "target",
                        "complete",
                        "flags",
                        "unknown_units",
                        "source",
                    )
                },
                "sentence": sentence,
                "highlights": highlights(sentence, item),
            }
        )
    return out


def highlights(sentence: str, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Where the item's units, deadline phrase and points stand in its source sentence, in
    order, without overlaps (an extracted string not found there is simply not marked)."""
    unknown = set(item.get("unknown_units") or [])
    wanted: list[tuple[str, str]] = []
    for field in UNIT_FIELDS:
        for name in item.get(field) or []:
            wanted.append((name, "unknown_unit" if name in unknown else "unit"))
    if item.get("deadline_text"):
        wanted.append((item["deadline_text"], "deadline"))
    # Points and weights only as printed with their unit (5分, 10%): a bare number would
    # mark the item's own number or a year.
    points, weight = item.get("points"), item.get("weight")
    number_forms = {
        "points": [f"{points}分", f"{points}.0分"] if points is not None else [],
        "weight": [f"{weight}%", f"{weight}％"] if weight is not None else [],
    }
    for kind, forms in number_forms.items():
        wanted.extend((form, kind) for form in forms)
    found: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []
    for text, kind in wanted:
        if not text or (kind in number_forms and any(f["kind"] == kind for f in found)):
            continue
        start = sentence.find(text)
        while start >= 0:
            end = start + len(text)
            if not any(start < e and s < end for s, e in taken):
                taken.append((start, end))
                found.append({"start": start, "end": end, "kind": kind, "text": text})
                break
            start = sentence.find(text, start + 1)
    found.sort(key=lambda f: f["start"])
    return found


# -- confirm through the plan importer ---------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The workbook written for a draft, and which draft part each sheet row came from."""

    content: bytes
    #: (sheet name, row number) -> section or item id, or "head".
    places: dict[tuple[str, int], str]


@dataclass(frozen=True)
class DraftError:
    """An importer error placed on the draft: ``target`` is an item id ("i3"), a section id,
    "head" or None (the plan as a whole); ``field`` the draft's field name where known."""

    target: str | None
    field: str | None
    message: str
    #: The importer's own place (sheet, row, column) as the Excel preview shows it.
    sheet: str
    row: int | None
    column: str | None


#: The workbook's column headers -> the draft's field names.
_FIELDS_BY_HEADER = {
    **{c.header: c.key for c in PLAN_SHEET.columns},
    **{c.header: c.key for c in SECTION_SHEET.columns},
    **{c.header: c.key for c in ITEM_SHEET.columns},
}
_DRAFT_FIELD = {
    "lead": "lead_units",
    "responsible": "responsible_units",
    "lead_assessors": "lead_assessors",
    "deadline": "deadline_text",
    "code": "number",
}


def layout(draft: PlanDraft) -> Layout:
    """The plan workbook (方案, 章节, 事项) of the draft, as the Excel import reads it."""
    data = draft.data
    places: dict[tuple[str, int], str] = {(PLAN_SHEET.name, 2): HEAD_PLACE}
    kind = data.get("kind") or KIND_TASKS
    plan_row = {
        "code": data.get("code"),
        "title": data.get("title"),
        "city": draft.city.code,
        "document_number": data.get("document_number"),
        "issued_on": data.get("issued_on"),
        "year": data.get("year"),
        "kind": _KIND_WORDS.get(kind, kind),
        "points": data.get("points"),
        "assessed": "、".join(data.get("assessed") or []),
    }
    section_rows: list[dict[str, Any]] = []
    keys: dict[str, str] = {}
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    if data.get("items"):
        # Items printed under no heading: one section named after the plan holds them.
        keys[_LOOSE_SECTION] = "0"
        places[(SECTION_SHEET.name, len(section_rows) + 2)] = _LOOSE_SECTION
        section_rows.append({"key": "0", "title": data.get("title") or _("Tasks")})
        groups.append(("0", data["items"]))
    counters: dict[str, int] = {}
    for section, path in walk_sections(data):
        parent = keys[path[-1]["id"]] if path else None
        counters[parent or ""] = counters.get(parent or "", 0) + 1
        key = f"{parent}.{counters[parent or '']}" if parent else str(counters[""])
        keys[section["id"]] = key
        places[(SECTION_SHEET.name, len(section_rows) + 2)] = section["id"]
        section_rows.append(
            {
                "key": key,
                "parent": parent,
                "number": section.get("number"),
                "title": section.get("title"),
                "points": section.get("points"),
            }
        )
        groups.append((key, section.get("items") or []))
    all_numbers = [i.get("number") for _k, items in groups for i in items]
    item_rows: list[dict[str, Any]] = []
    for key, items in groups:
        for position, item in enumerate(items, start=1):
            number = item.get("number")
            code = None
            if not number or all_numbers.count(number) > 1:
                # Numbers that restart under each heading: the section's key makes them unique.
                code = f"{key}-{number or position}"
            places[(ITEM_SHEET.name, len(item_rows) + 2)] = item["id"]
            item_rows.append(_item_row(item, key, code, kind))
    content = build_template(
        [(PLAN_SHEET, [plan_row]), (SECTION_SHEET, section_rows), (ITEM_SHEET, item_rows)],
        [_("Written from a plan document (taskhub.documents) for the plan import.")],
    )
    return Layout(content, places)


def _item_row(item: dict[str, Any], section: str, code: str | None, kind: str) -> dict[str, Any]:
    lead = list(item.get("lead_units") or [])
    responsible = list(item.get("responsible_units") or [])
    lead_cell = "、".join(lead)
    if kind == KIND_TASKS and not lead:
        lead_cell = _UNASSIGNED
    responsible_cell = "、".join(responsible)
    if item.get("open_units"):
        if responsible_cell:
            responsible_cell += _OPEN_TAIL
        elif lead:
            lead_cell += _OPEN_TAIL
    return {
        "section": section,
        "number": item.get("number"),
        "code": code,
        "title": item.get("title"),
        "text": item.get("text") or item.get("title"),
        "points": item.get("points"),
        "weight": item.get("weight"),
        "deadline": item.get("deadline_text"),
        "target": item.get("target"),
        "applicability": "按需" if item.get("applicability") == "as_needed" else "全部",
        "lead": lead_cell or None,
        "responsible": responsible_cell or None,
        "lead_assessors": "、".join(item.get("lead_assessors") or []) or None,
    }


@contextmanager
def _workbook(draft: PlanDraft) -> Iterator[tuple[Layout, import_services.Upload]]:
    made = layout(draft)
    with tempfile.TemporaryDirectory(prefix="taskhub-draft-") as folder:
        path = Path(folder) / "plan.xlsx"
        path.write_bytes(made.content)
        digest = hashlib.sha256(made.content).hexdigest()
        # The import history names the document the plan was read from.
        yield made, import_services.Upload(digest, draft.name, path)


def _seeds_path() -> Path | None:
    path = current_app.config.get("SEEDS_PATH") if has_app_context() else None
    return Path(path) if path else None


def preview(draft: PlanDraft) -> plan_import.PlanPreview:
    """What confirming would do: the plan importer's preview of the draft (writes nothing)."""
    with _workbook(draft) as (_made, upload):
        return plan_import.preview(upload.path, seeds_path=_seeds_path())


def confirm(
    draft: PlanDraft,
    *,
    actor: User | None,
    choices: dict[str, NameChoice] | None = None,
    reason: str = "",
    version: int | None = None,
) -> plan_import.PlanPreview:
    """Import the draft through the plan importer (flush; all or nothing).

    ``version``: the draft's version the person confirming saw; DraftChanged when someone
    saved since (checked under the draft's lock, so an edit saved at the same moment is never
    imported unseen).

    ``choices`` settle unknown names as on the Excel preview (new unit or alias). On success
    the plan exists as a draft plan (published from its page), the draft is confirmed and
    points to it. With errors (``result.errors``; :func:`errors` places them on items) nothing
    should be kept: the caller rolls back (choices may have added units).
    """
    _require_staff(actor)
    lock(draft)
    _require_open(draft)
    if version is not None and draft.version != version:
        raise DraftChanged(
            _("Someone else changed this draft since you opened it; reload it and edit again.")
        )
    with _workbook(draft) as (_made, upload):
        if actor is None:
            # The command line settles no names and writes no revision (it has no person to
            # name as the reviser): a published plan's code is refused before anything runs.
            checked = plan_import.preview(upload.path, seeds_path=_seeds_path())
            if plan_import.is_revision(checked):
                raise DomainError(
                    _(
                        "Plan 「%(code)s」 is published: importing over it is a revision; do it "
                        "from the draft's page with a reason, or choose another code.",
                        code=checked.code,
                    )
                )
            choices = None
        result = plan_import.confirm(
            upload,
            actor=cast(User, actor),  # None only from the command line: no choices, no revision
            seeds_path=_seeds_path(),
            reason=reason,
            choices=choices,
        )
    if result.errors or result.plan_id is None:
        return result
    draft.status = DraftStatus.CONFIRMED.value
    draft.plan_id = result.plan_id
    db.session.flush()
    audit.record(
        "plan_draft.confirmed",
        AUDIT_OBJECT,
        draft.id,
        actor_id=actor.id if actor else None,
        after={
            "plan": result.code,
            "plan_id": result.plan_id,
            "status": result.status,
            "choices": sorted(choices or {}),
            **result.counts,
        },
    )
    return result


def errors(draft: PlanDraft, result: plan_import.PlanPreview) -> list[DraftError]:
    """The importer's errors placed on the draft's items, sections or head."""
    places = layout(draft).places
    out = []
    for error in result.errors:
        target = places.get((error.sheet, error.row)) if error.row is not None else None
        key = _FIELDS_BY_HEADER.get(error.column or "")
        field = _DRAFT_FIELD.get(key, key) if key else None
        if error.sheet == PLAN_SHEET.name:
            target = HEAD_PLACE
        out.append(DraftError(target, field, error.message, error.sheet, error.row, error.column))
    return out


def unknown_places(draft: PlanDraft, result: plan_import.PlanPreview) -> dict[str, list[str]]:
    """For each unknown name of the preview, the draft ids (items, or "head") that use it."""
    places = layout(draft).places
    out: dict[str, list[str]] = {}
    for entry in result.unknown_names:
        for place in entry.places:
            sheet, _sep, rest = place.partition(" ")
            row = rest.split(" ", 1)[0]
            target = places.get((sheet, int(row))) if row.isdigit() else None
            if target and target not in out.setdefault(entry.name, []):
                out[entry.name].append(target)
    return out


def discard(draft: PlanDraft, *, actor: User | None) -> PlanDraft:
    """Drop an open draft (kept, marked discarded; audited)."""
    _require_staff(actor)
    lock(draft)
    _require_open(draft)
    draft.status = DraftStatus.DISCARDED.value
    db.session.flush()
    audit.record(
        "plan_draft.discarded",
        AUDIT_OBJECT,
        draft.id,
        actor_id=actor.id if actor else None,
        after={"name": draft.name},
    )
    return draft


def to_json(draft: PlanDraft) -> dict[str, Any]:
    """The draft as the API returns it: its state, the draft JSON and the grid rows' flags."""
    return {
        "id": draft.id,
        "version": draft.version,
        "status": draft.status,
        "city": draft.city.code,
        "name": draft.name,
        "format": draft.format,
        "plan_id": draft.plan_id,
        "created_at": draft.created_at.isoformat(),
        "updated_at": draft.updated_at.isoformat(),
        "draft": draft.data,
        "flags": {row["id"]: row["flags"] for row in rows(draft) if row["flags"]},
    }
