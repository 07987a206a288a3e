"""Writing a plan in the browser: the plan head, sections, items and their units, as rows.

Every function checks its input with the seed loader's rules (unit names resolve against the
city's units, aliases and groups; texts within their limits; points non-negative), changes the
rows, writes the audit record and flushes; the caller commits. A draft is edited freely; a
published plan is edited only with a reason (修订理由) and every change ends in
:func:`taskhub.plans.lifecycle.revised`; closed and archived plans are read-only.
Messages are Chinese (through the translation catalogue): they are shown next to the field.
"""

from __future__ import annotations

import copy
import difflib
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import DomainError, ValidationFailed
from taskhub.core.limits import check_number, limit
from taskhub.core.sections import section_label
from taskhub.imports.plan_changes import Name, city_names
from taskhub.plans import lifecycle
from taskhub.plans.models import (
    APPLICABILITIES,
    PLAN_KINDS,
    UNIT_ROLES,
    Item,
    ItemUnit,
    Plan,
    PlanAssessee,
    PlanKind,
    PlanStatus,
    Section,
    UnitRole,
)
from taskhub.scoring.models import ItemScore, Scheme
from taskhub.tracking.deadlines import ParseResult, parse_deadline
from taskhub.tracking.models import Assignment, ProgressReport
from taskhub.units.models import City
from taskhub.units.names import split_unit_names

#: Plan codes as the plan import takes them: letters, digits, - and _ (e.g. hegang-2024).
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
#: The scheme choice meaning "the plain completion-based default".
DEFAULT_SCHEME = "default"


class FieldError(ValidationFailed):
    """One form field is refused; ``field`` names it so the page shows the message beside it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, [field])
        self.field = field


class UnknownUnitNames(FieldError):
    """Unit names of a field that resolve to no unit, group or alias of the city."""

    def __init__(self, field: str, message: str, unknown: list[str]) -> None:
        super().__init__(field, message)
        self.unknown = unknown


class PlanReadOnly(DomainError):
    """Closed and archived plans are kept as they were: no edits."""


# ---------------------------------------------------------------------------------------------
# Unit names: top-level splitting and resolution


def normalise_name(name: str) -> str:
    """The form names are compared in: full-width brackets and spaces folded (NFKC)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


@dataclass
class NameTable:
    """A city's usable names (units, groups, aliases), looked up without bracket width issues."""

    names: dict[str, Name]
    by_normal: dict[str, Name] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_normal = {normalise_name(k): v for k, v in self.names.items()}

    def get(self, name: str) -> Name | None:
        return self.by_normal.get(normalise_name(name))

    def closest(self, name: str, n: int = 3) -> list[str]:
        """Known names like ``name``: those containing it or contained in it, then by likeness."""
        wanted = normalise_name(name)
        canonical = sorted({v.canonical for v in self.names.values()} | set(self.names))
        near = [c for c in canonical if wanted and (wanted in c or normalise_name(c) in wanted)]
        near.sort(key=lambda c: -difflib.SequenceMatcher(None, wanted, c).ratio())
        like = difflib.get_close_matches(wanted, canonical, n=n, cutoff=0.4)
        out: list[str] = []
        for candidate in [*near, *like]:
            if candidate not in out:
                out.append(candidate)
        return out[:n]


def name_table(city_id: int) -> NameTable:
    return NameTable(city_names(city_id))


@dataclass(frozen=True)
class Resolved:
    name: str
    unit_id: int | None
    group_id: int | None


def resolve_names(text: str | None, table: NameTable, field_name: str) -> list[Resolved]:
    """Split and resolve a unit list; an unknown name is refused with the closest known ones."""
    # One splitter for the editor, the Excel import and the seed reader.
    names = split_unit_names(text, table.names.keys()).names
    out: list[Resolved] = []
    unknown: list[str] = []
    for name in names:
        target = table.get(name)
        if target is None:
            unknown.append(name)
            continue
        if not any((r.unit_id, r.group_id) == (target.unit_id, target.group_id) for r in out):
            out.append(Resolved(target.canonical, target.unit_id, target.group_id))
    if unknown:
        hints = []
        for name in unknown:
            close = table.closest(name)
            if close:
                hints.append(
                    _(
                        "「%(name)s」 is not a unit, group or alias of this city; did you mean "
                        "%(close)s?",
                        name=name,
                        close="、".join(f"「{c}」" for c in close),
                    )
                )
            else:
                hints.append(
                    _(
                        "「%(name)s」 is not a unit, group or alias of this city; add the unit "
                        "or an alias on the units page first.",
                        name=name,
                    )
                )
        raise UnknownUnitNames(field_name, " ".join(hints), unknown)
    return out


# ---------------------------------------------------------------------------------------------
# Checks shared by the forms


def _text(value: str | None, name: str, field_name: str, *, required: bool = False) -> str | None:
    text = (value or "").strip() or None
    if required and text is None:
        raise FieldError(field_name, _("This field is required."))
    if text is not None and len(text) > limit(name):
        raise FieldError(
            field_name,
            _(
                "Too long: %(length)d characters, at most %(limit)d.",
                length=len(text),
                limit=limit(name),
            ),
        )
    return text


def _points(value: Decimal | None, field_name: str) -> Decimal | None:
    if value is None:
        return None
    check_number(value, field_name)
    if value < 0:
        raise FieldError(field_name, _("Points cannot be negative."))
    return value


def _year(year: int | None) -> int:
    if year is None or not 2000 <= year <= 2100:
        raise FieldError("year", _("Enter the plan's year, a four-digit year such as 2024."))
    return year


def _editable(plan: Plan, reason: str | None) -> str | None:
    """Refuse closed/archived plans; a published plan needs a reason (修订理由)."""
    if plan.status in (PlanStatus.CLOSED.value, PlanStatus.ARCHIVED.value):
        raise PlanReadOnly(_("This plan is closed or archived and can no longer be changed."))
    if plan.status == PlanStatus.PUBLISHED.value:
        text = _text(reason, "plan.revision_reason", "reason")
        if text is None:
            raise FieldError(
                "reason",
                _("This plan is published: give the reason for the revision (修订理由)."),
            )
        # The plan as it was, so the revision can say exactly what this change altered.
        lifecycle.remember_before_change(plan)
        return text
    return None


def _changed(
    plan: Plan,
    actor: User,
    reason: str | None,
    action: str,
    object_type: str,
    object_id: object,
    summary: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Audit one change; on a published plan the change is a revision (lifecycle.revised)."""
    db.session.flush()
    audit.record(
        f"plan.editor.{action}",
        object_type,
        object_id,
        actor_id=actor.id,
        before=before,
        after={**(after or {}), "plan": plan.code, "summary": summary},
    )
    if plan.status == PlanStatus.PUBLISHED.value:
        assert reason is not None
        lifecycle.revised(plan, actor=actor, reason=reason, summary=summary)


# ---------------------------------------------------------------------------------------------
# Schemes


def default_scheme() -> dict[str, Any]:
    """Plain completion-based scoring: milestones on time earn all, late half, missed none."""
    return {
        "engine": {
            "type": "points",
            "scale": 100,
            "rounding": 2,
            "completion": {"on_time": "1", "late": "0.5", "missed": "0"},
            "items_component": "completion",
            "periods": {
                "month": {"composite": {"completion": "1"}},
                "half_year": {"composite": {"completion": "1"}},
                "year": {"composite": {"completion": "1"}},
            },
        },
        "method": "completion",
    }


def scheme_templates(kind: str | None = None) -> list[Plan]:
    """Plans whose scheme can be copied (of ``kind`` when given), newest first."""
    query = (
        select(Plan).join(Scheme, Scheme.plan_id == Plan.id).order_by(Plan.year.desc(), Plan.code)
    )
    if kind:
        query = query.where(Plan.kind == kind)
    return list(db.session.scalars(query))


def _scheme_definition(choice: str | None, kind: str) -> tuple[dict[str, Any], str]:
    """(definition, source) for a scheme choice: ``default`` or the code of a template plan."""
    choice = (choice or DEFAULT_SCHEME).strip()
    if choice == DEFAULT_SCHEME:
        return default_scheme(), DEFAULT_SCHEME
    template = db.session.scalar(select(Plan).where(Plan.code == choice))
    scheme = (
        db.session.scalar(select(Scheme).where(Scheme.plan_id == template.id)) if template else None
    )
    if template is None or scheme is None:
        raise FieldError("scheme", _("Choose a scheme from the list."))
    if template.kind != kind:
        raise FieldError(
            "scheme",
            _("That scheme belongs to a plan of another kind; choose one of the same kind."),
        )
    definition = copy.deepcopy(scheme.definition)
    definition["template"] = template.code
    return definition, template.code


# ---------------------------------------------------------------------------------------------
# The plan head


def create_plan(
    *,
    city: City | None,
    code: str | None,
    title: str | None,
    year: int | None,
    kind: str | None,
    document_number: str | None,
    points: Decimal | None,
    scheme: str | None,
    actor: User,
) -> Plan:
    """A new draft plan of a city, with a scheme copied from a template or the default."""
    if city is None:
        raise FieldError("city", _("Choose the city."))
    code = (code or "").strip()
    if not CODE_PATTERN.fullmatch(code) or code.lower() == "new":
        raise FieldError(
            "code",
            _("Give a short code of letters, digits, - and _, such as hegang-2024."),
        )
    if db.session.scalar(select(Plan.id).where(Plan.code == code)) is not None:
        raise FieldError("code", _("The code %(code)s is already used by a plan.", code=code))
    if kind not in PLAN_KINDS:
        raise FieldError("kind", _("Choose the kind of plan."))
    plan = Plan(
        code=code,
        title=_text(title, "plan.title", "title", required=True) or "",
        city_id=city.id,
        year=_year(year),
        kind=kind,
        document_number=_text(document_number, "plan.document_number", "document_number"),
        points=_points(points, "points"),
        status=PlanStatus.DRAFT.value,
        revision=0,
    )
    definition, source = _scheme_definition(scheme, kind)
    db.session.add(plan)
    db.session.flush()
    db.session.add(Scheme(plan_id=plan.id, definition=definition))
    db.session.flush()
    audit.record(
        "plan.editor.created",
        "plan",
        plan.id,
        actor_id=actor.id,
        after={
            "code": plan.code,
            "title": plan.title,
            "city": city.code,
            "year": plan.year,
            "kind": plan.kind,
            "points": plan.points,
            "scheme": source,
            "status": plan.status,
        },
    )
    return plan


def _head(plan: Plan) -> dict[str, Any]:
    return {
        "title": plan.title,
        "year": plan.year,
        "document_number": plan.document_number,
        "points": plan.points,
        "issued_on": plan.issued_on,
        "assessed": [
            a.unit.name if a.unit else a.group.name if a.group else "" for a in plan.assessees
        ],
    }


def update_plan_head(
    plan: Plan,
    *,
    title: str | None,
    year: int | None,
    document_number: str | None,
    points: Decimal | None,
    assessed: str | None,
    actor: User,
    reason: str | None = None,
    scheme: str | None = None,
) -> Plan:
    """Change the title, year, 文号, total points, assessed units and (optionally) scheme."""
    reason = _editable(plan, reason)
    before = _head(plan)
    new_title = _text(title, "plan.title", "title", required=True) or ""
    new_year = _year(year)
    new_number = _text(document_number, "plan.document_number", "document_number")
    new_points = _points(points, "points")
    wanted = (
        resolve_names(assessed, name_table(plan.city_id), "assessed")
        if plan.kind == PlanKind.INDICATORS.value and assessed is not None
        else None
    )
    if scheme:
        definition, _source = _scheme_definition(scheme, plan.kind)
        row = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
        if row is None:
            db.session.add(Scheme(plan_id=plan.id, definition=definition))
        else:
            row.definition = definition
    plan.title, plan.year, plan.document_number, plan.points = (
        new_title,
        new_year,
        new_number,
        new_points,
    )
    if wanted is not None:
        db.session.execute(delete(PlanAssessee).where(PlanAssessee.plan_id == plan.id))
        for position, r in enumerate(wanted, start=1):
            db.session.add(
                PlanAssessee(
                    plan_id=plan.id, position=position, unit_id=r.unit_id, group_id=r.group_id
                )
            )
        db.session.flush()
        db.session.expire(plan, ["assessees"])
    if before["year"] != new_year:
        # Deadline phrases are read in the plan's year.
        for item in plan.items:
            _read_deadline(plan, item)
    after = _head(plan)
    if scheme:
        after["scheme"] = scheme
    _changed(
        plan,
        actor,
        reason,
        "head_updated",
        "plan",
        plan.id,
        _("Plan details changed"),
        before=before,
        after=after,
    )
    return plan


# ---------------------------------------------------------------------------------------------
# Sections


def _tree(plan: Plan) -> dict[int | None, list[Section]]:
    """Sections by parent id, siblings in their current order."""
    children: dict[int | None, list[Section]] = {}
    for s in sorted(
        db.session.scalars(select(Section).where(Section.plan_id == plan.id)),
        key=lambda s: (s.position, s.id),
    ):
        children.setdefault(s.parent_id, []).append(s)
    return children


def _renumber(plan: Plan, children: dict[int | None, list[Section]]) -> None:
    """Paths, depths and depth-first positions of sections, then items' plan-wide positions."""
    order: list[tuple[Section, str, int]] = []

    def walk(parent_id: int | None, prefix: str, depth: int) -> None:
        for index, s in enumerate(children.get(parent_id, []), start=1):
            path = f"{prefix}/{index}" if prefix else str(index)
            order.append((s, path, depth))
            walk(s.id, path, depth + 1)

    walk(None, "", 1)
    # Temporary paths first: (plan_id, path) is unique and paths swap places.
    changed = [(s, path, depth) for s, path, depth in order if s.path != path]
    for s, _path, _depth in changed:
        s.path = f"~{s.id}"
    db.session.flush()
    for position, (s, path, depth) in enumerate(order, start=1):
        s.path, s.depth, s.position = path, depth, position
    db.session.flush()
    items = list(db.session.scalars(select(Item).where(Item.plan_id == plan.id)))
    rank = {s.id: n for n, (s, _p, _d) in enumerate(order)}
    items.sort(key=lambda i: (rank.get(i.section_id, -1) if i.section_id else -1, i.position, i.id))
    for position, item in enumerate(items, start=1):
        item.position = position
    db.session.flush()
    db.session.expire(plan, ["sections", "items"])


def _section_of(
    plan: Plan, section_id: int | None, field_name: str = "parent_id"
) -> Section | None:
    if section_id is None:
        return None
    section = db.session.get(Section, section_id)
    if section is None or section.plan_id != plan.id:
        raise FieldError(field_name, _("Choose a section of this plan."))
    return section


def _section_data(section: Section) -> dict[str, Any]:
    return {
        "path": section.path,
        "number": section.number,
        "title": section.title,
        "points": section.points,
        "parent_id": section.parent_id,
    }


def add_section(
    plan: Plan,
    *,
    title: str | None,
    number: str | None = None,
    points: Decimal | None = None,
    parent_id: int | None = None,
    actor: User,
    reason: str | None = None,
) -> Section:
    """A new section at the end of its parent (or of the plan)."""
    reason = _editable(plan, reason)
    parent = _section_of(plan, parent_id)
    section = Section(
        plan_id=plan.id,
        parent_id=parent.id if parent else None,
        title=_text(title, "section.title", "title", required=True) or "",
        number=_text(number, "section.number", "number"),
        points=_points(points, "points"),
        path=f"~new-{uuid.uuid4().hex[:12]}",
        depth=(parent.depth + 1) if parent else 1,
        position=10**6,
    )
    db.session.add(section)
    db.session.flush()
    _renumber(plan, _tree(plan))
    _changed(
        plan,
        actor,
        reason,
        "section_added",
        "section",
        section.id,
        _("Section %(title)s added", title=section.title),
        after=_section_data(section),
    )
    return section


def update_section(
    plan: Plan,
    section: Section,
    *,
    title: str | None,
    number: str | None,
    points: Decimal | None,
    actor: User,
    reason: str | None = None,
) -> Section:
    reason = _editable(plan, reason)
    _check_owner(plan, section.plan_id)
    before = _section_data(section)
    section.title = _text(title, "section.title", "title", required=True) or ""
    section.number = _text(number, "section.number", "number")
    section.points = _points(points, "points")
    _changed(
        plan,
        actor,
        reason,
        "section_updated",
        "section",
        section.id,
        _("Section %(title)s changed", title=section.title),
        before=before,
        after=_section_data(section),
    )
    return section


def move_section(
    plan: Plan, section: Section, direction: str, *, actor: User, reason: str | None = None
) -> None:
    """Move a section up or down among its siblings (its items and sub-sections move along)."""
    reason = _editable(plan, reason)
    _check_owner(plan, section.plan_id)
    children = _tree(plan)
    siblings = children.get(section.parent_id, [])
    _swap(siblings, section, direction)
    _renumber(plan, children)
    _changed(
        plan,
        actor,
        reason,
        "section_moved",
        "section",
        section.id,
        _("Section %(title)s moved", title=section.title),
        after={"path": section.path},
    )


def delete_section(plan: Plan, section: Section, *, actor: User, reason: str | None = None) -> None:
    """Delete an empty section (its items and sub-sections must be moved or deleted first)."""
    reason = _editable(plan, reason)
    _check_owner(plan, section.plan_id)
    has_items = db.session.scalar(select(Item.id).where(Item.section_id == section.id).limit(1))
    has_children = db.session.scalar(
        select(Section.id).where(Section.parent_id == section.id).limit(1)
    )
    if has_items is not None or has_children is not None:
        raise FieldError(
            "section",
            _("This section still has items or sub-sections: delete or move them first."),
        )
    before, section_id = _section_data(section), section.id
    db.session.delete(section)
    db.session.flush()
    _renumber(plan, _tree(plan))
    _changed(
        plan,
        actor,
        reason,
        "section_deleted",
        "section",
        section_id,
        _("Section %(title)s deleted", title=before["title"]),
        before=before,
    )


def _swap(siblings: list[Any], obj: Any, direction: str) -> None:
    index = siblings.index(obj)
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down") or not 0 <= other < len(siblings):
        raise FieldError("direction", _("It cannot move further that way."))
    siblings[index], siblings[other] = siblings[other], siblings[index]


def _check_owner(plan: Plan, plan_id: int) -> None:
    if plan_id != plan.id:
        raise FieldError("plan", _("That is not part of this plan."))


# ---------------------------------------------------------------------------------------------
# Items


#: Form fields of the units by role.
ROLE_FIELDS = {
    UnitRole.LEAD.value: "lead",
    UnitRole.RESPONSIBLE.value: "responsible",
    UnitRole.LEAD_ASSESSOR.value: "lead_assessors",
}


@dataclass
class ItemInput:
    """What the item form sends (texts as typed; units per role as the document writes them)."""

    section_id: int | None
    text: str | None
    number: str | None = None
    title: str | None = None
    points: Decimal | None = None
    weight: Decimal | None = None
    deadline: str | None = None
    target: str | None = None
    applicability: str = "all"
    units: Mapping[str, str | None] = field(default_factory=dict)


@dataclass
class _CheckedItem:
    section: Section
    text: str
    number: str | None
    title: str | None
    points: Decimal | None
    weight: Decimal | None
    deadline: str | None
    target: str | None
    applicability: str
    units: dict[str, list[Resolved]]


def _check_item(plan: Plan, data: ItemInput) -> _CheckedItem:
    """Every field checked; unknown unit names of all roles reported together."""
    section = _section_of(plan, data.section_id, "section_id")
    if section is None:
        raise FieldError("section_id", _("Choose the section the item belongs to."))
    text = _text(data.text, "item.text", "text", required=True) or ""
    number = _text(data.number, "item.number", "number")
    title = _text(data.title, "item.title", "title")
    deadline = _text(data.deadline, "item.deadline_phrase", "deadline")
    target = _text(data.target, "item.target", "target")
    points = _points(data.points, "points")
    weight = _points(data.weight, "weight")
    if data.applicability not in APPLICABILITIES:
        raise FieldError("applicability", _("Choose whether the item applies to all units."))
    table = name_table(plan.city_id)
    units: dict[str, list[Resolved]] = {}
    for role in UNIT_ROLES:
        field_name = ROLE_FIELDS[role]
        units[role] = resolve_names(data.units.get(role), table, field_name)
    return _CheckedItem(
        section, text, number, title, points, weight, deadline, target, data.applicability, units
    )


def _item_data(item: Item) -> dict[str, Any]:
    return {
        "code": item.code,
        "number": item.number,
        "section_id": item.section_id,
        "title": item.title,
        "text": item.text,
        "points": item.points,
        "weight": item.weight,
        "deadline": item.deadline_phrase,
        "target": item.target,
        "applicability": item.applicability,
        "units": {role: [u.name for u in item.units_by_role(role)] for role in UNIT_ROLES},
    }


def _new_code(plan: Plan, number: str | None, section: Section) -> str:
    taken = set(db.session.scalars(select(Item.code).where(Item.plan_id == plan.id)))
    candidates = [number, f"{section.path.replace('/', '.')}-{number}"] if number else []
    for candidate in candidates:
        if candidate and len(candidate) <= 60 and candidate not in taken:
            return candidate
    n = len(taken) + 1
    while f"i{n}" in taken:
        n += 1
    return f"i{n}"


def _apply(plan: Plan, item: Item, c: _CheckedItem) -> None:
    item.section_id = c.section.id
    item.number, item.title, item.text = c.number, c.title, c.text
    item.points, item.weight = c.points, c.weight
    item.deadline_phrase, item.target, item.applicability = c.deadline, c.target, c.applicability
    _read_deadline(plan, item)
    db.session.execute(delete(ItemUnit).where(ItemUnit.item_id == item.id))
    position = 0
    for role in UNIT_ROLES:
        for r in c.units[role]:
            position += 1
            db.session.add(
                ItemUnit(
                    item_id=item.id,
                    role=role,
                    position=position,
                    unit_id=r.unit_id,
                    group_id=r.group_id,
                )
            )
    db.session.flush()
    db.session.expire(item, ["units"])


def read_deadline(plan: Plan, item: Item) -> ParseResult:
    """The item's deadline phrase read for the plan's year (as publishing will read it)."""
    starts_on = plan.issued_on if plan.issued_on and plan.issued_on.year == plan.year else None
    return parse_deadline(item.deadline_phrase, year=plan.year, text=item.text, starts_on=starts_on)


def _read_deadline(plan: Plan, item: Item) -> None:
    item.is_deadline_unparsed = (
        bool(item.deadline_phrase) and not read_deadline(plan, item).is_parsed
    )


def add_item(plan: Plan, data: ItemInput, *, actor: User, reason: str | None = None) -> Item:
    """A new item at the end of its section."""
    reason = _editable(plan, reason)
    checked = _check_item(plan, data)
    item = Item(
        plan_id=plan.id,
        code=_new_code(plan, checked.number, checked.section),
        text=checked.text,
        position=10**6,
    )
    db.session.add(item)
    db.session.flush()
    _apply(plan, item, checked)
    _renumber(plan, _tree(plan))
    _changed(
        plan,
        actor,
        reason,
        "item_added",
        "item",
        item.id,
        _("Item %(label)s added", label=item.label),
        after=_item_data(item),
    )
    return item


def update_item(
    plan: Plan, item: Item, data: ItemInput, *, actor: User, reason: str | None = None
) -> Item:
    reason = _editable(plan, reason)
    _check_owner(plan, item.plan_id)
    checked = _check_item(plan, data)
    before = _item_data(item)
    moved = item.section_id != checked.section.id
    _apply(plan, item, checked)
    if moved:
        item.position = 10**6  # to the end of its new section
        db.session.flush()
        _renumber(plan, _tree(plan))
    _changed(
        plan,
        actor,
        reason,
        "item_updated",
        "item",
        item.id,
        _("Item %(label)s changed", label=item.label),
        before=before,
        after=_item_data(item),
    )
    return item


def move_item(
    plan: Plan, item: Item, direction: str, *, actor: User, reason: str | None = None
) -> None:
    """Move an item up or down within its section."""
    reason = _editable(plan, reason)
    _check_owner(plan, item.plan_id)
    siblings = sorted(
        db.session.scalars(
            select(Item).where(Item.plan_id == plan.id, Item.section_id == item.section_id)
        ),
        key=lambda i: (i.position, i.id),
    )
    _swap(siblings, item, direction)
    for position, sibling in enumerate(siblings):
        sibling.position = position - len(siblings)  # the new order, before renumbering
    db.session.flush()
    _renumber(plan, _tree(plan))
    _changed(
        plan,
        actor,
        reason,
        "item_moved",
        "item",
        item.id,
        _("Item %(label)s moved", label=item.label),
        after={"position": item.position},
    )


def delete_item(plan: Plan, item: Item, *, actor: User, reason: str | None = None) -> None:
    """Delete an item; refused once a unit has reported progress on it (history is kept)."""
    reason = _editable(plan, reason)
    _check_owner(plan, item.plan_id)
    reported = db.session.scalar(
        select(ProgressReport.id)
        .join(Assignment, Assignment.id == ProgressReport.assignment_id)
        .where(Assignment.item_id == item.id)
        .limit(1)
    )
    if reported is None:  # a sub-task's report (分解任务) is progress reported on it too
        from taskhub.supervision.models import Subtask, SubtaskReport

        reported = db.session.scalar(
            select(SubtaskReport.id)
            .join(Subtask, Subtask.id == SubtaskReport.subtask_id)
            .join(Assignment, Assignment.id == Subtask.assignment_id)
            .where(Assignment.item_id == item.id)
            .limit(1)
        )
    scored = db.session.scalar(select(ItemScore.id).where(ItemScore.item_id == item.id).limit(1))
    if reported is not None or scored is not None:
        raise FieldError(
            "item",
            _("Units have reported progress on this item; it cannot be deleted."),
        )
    before, item_id = _item_data(item), item.id
    db.session.delete(item)
    db.session.flush()
    _renumber(plan, _tree(plan))
    _changed(
        plan,
        actor,
        reason,
        "item_deleted",
        "item",
        item_id,
        _("Item %(label)s deleted", label=before["number"] or before["code"]),
        before=before,
    )


# ---------------------------------------------------------------------------------------------
# Budgets and readiness


@dataclass(frozen=True)
class EditWarning:
    """A problem to fix before publishing: where (section id, or None for the plan) and what."""

    section_id: int | None
    message: str


ZERO = Decimal(0)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _budget_message(total: Decimal, budget: Decimal, whose: str) -> str:
    if total > budget:
        return _(
            "%(whose)s: the points below add up to %(total)s, more than its %(budget)s.",
            whose=whose,
            total=_plain(total),
            budget=_plain(budget),
        )
    return _(
        "%(whose)s: the points below add up to %(total)s, %(missing)s short of its %(budget)s.",
        whose=whose,
        total=_plain(total),
        missing=_plain(budget - total),
        budget=_plain(budget),
    )


def budget_warnings(plan: Plan) -> list[EditWarning]:
    """Sections (and the plan) whose points do not add up to their budget.

    A section without a budget counts with the points of what is below it. A budget whose
    children carry no points at all is shared out later (allocation), not a problem."""
    sections = sorted(
        db.session.scalars(select(Section).where(Section.plan_id == plan.id)),
        key=lambda s: s.position,
    )
    items = list(db.session.scalars(select(Item).where(Item.plan_id == plan.id)))
    below: dict[int | None, list[Decimal | None]] = {}
    for i in items:
        below.setdefault(i.section_id, []).append(i.points)
    subsections: dict[int | None, list[Section]] = {}
    for s in sections:
        subsections.setdefault(s.parent_id, []).append(s)
    cache: dict[int, Decimal | None] = {}

    def given(parent_id: int | None) -> list[Decimal]:
        parts = [effective(c) for c in subsections.get(parent_id, [])]
        parts += below.get(parent_id, []) if parent_id is not None else []
        return [p for p in parts if p is not None]

    def effective(s: Section) -> Decimal | None:
        if s.id not in cache:
            parts = given(s.id)
            cache[s.id] = (
                s.points if s.points is not None else (sum(parts, ZERO) if parts else None)
            )
        return cache[s.id]

    out: list[EditWarning] = []
    for s in sections:
        parts = given(s.id)
        if s.points is not None and parts and sum(parts, ZERO) != s.points:
            whose = section_label(s.number, s.title)
            out.append(EditWarning(s.id, _budget_message(sum(parts, ZERO), s.points, whose)))
    top = given(None) + [p for p in below.get(None, []) if p is not None]
    if plan.points is not None and top and sum(top, ZERO) != plan.points:
        out.append(EditWarning(None, _budget_message(sum(top, ZERO), plan.points, _("The plan"))))
    return out


def readiness_warnings(plan: Plan) -> list[EditWarning]:
    """Budget problems plus tasks without a lead unit and unread deadline phrases."""
    out = budget_warnings(plan)
    items = db.session.scalars(
        select(Item).where(Item.plan_id == plan.id).order_by(Item.position)
    ).all()
    if plan.kind == PlanKind.TASKS.value:
        for item in items:
            if not item.units_by_role(UnitRole.LEAD.value):
                out.append(
                    EditWarning(
                        item.section_id,
                        _("Item %(label)s has no lead unit yet.", label=item.label),
                    )
                )
    if plan.kind == PlanKind.INDICATORS.value and not plan.assessees:
        out.append(EditWarning(None, _("The indicator system names no assessed units yet.")))
    return out
