"""What loading a checked plan spec would change: the import preview's counts (reads only).

The comparison mirrors taskhub.plans.seeds.upsert_plan field by field, so "no changes" here
means the loader would write nothing, and any difference makes the confirm step write.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from taskhub.core.db import db
from taskhub.plans.models import Item, ItemUnit, Plan, PlanAssessee, PlanKind, Section, UnitRole
from taskhub.plans.seedspec import CitySpec, PlanSpec
from taskhub.tracking.models import Assignment, AssignmentRole, ProgressReport
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup
from taskhub.units.services import group_member_ids

#: Changed items listed on the preview page (the counts cover all of them).
LISTED_CHANGES = 200

COUNT_KEYS = (
    "sections_added",
    "sections_changed",
    "sections_removed",
    "items_added",
    "items_changed",
    "items_removed",
    "links_added",
    "links_removed",
    "assignments_added",
    "assignments_removed",
)


@dataclass(frozen=True)
class Name:
    """What a unit name (canonical or alias) stands for in a city."""

    unit_id: int | None
    group_id: int | None
    #: Canonical name of the unit or group.
    canonical: str


@dataclass
class Changes:
    #: new | updated | unchanged
    status: str
    counts: dict[str, int]
    #: (item code, added | changed | removed), at most LISTED_CHANGES of them.
    items: list[tuple[str, str]] = field(default_factory=list)
    #: Codes of items missing from the file that units have reported on (cannot be removed).
    tracked: list[str] = field(default_factory=list)


def city_names(city_id: int) -> dict[str, Name]:
    """Every usable name of the city's units and groups (the alias table holds them all)."""
    rows = db.session.execute(
        select(UnitAlias.name, UnitAlias.unit_id, UnitAlias.group_id, Unit.name, UnitGroup.name)
        .outerjoin(Unit, Unit.id == UnitAlias.unit_id)
        .outerjoin(UnitGroup, UnitGroup.id == UnitAlias.group_id)
        .where(UnitAlias.city_id == city_id)
    )
    return {
        alias: Name(unit_id, group_id, unit_name or group_name or alias)
        for alias, unit_id, group_id, unit_name, group_name in rows
    }


def city_spec(city: City, names: dict[str, Name]) -> CitySpec:
    """The seed reader's view of a city, built from the database's names and aliases."""
    mapping = {
        alias: ("unit" if n.unit_id is not None else "group", n.canonical)
        for alias, n in sorted(names.items())
    }
    digest = hashlib.sha256(repr(sorted(mapping.items())).encode()).hexdigest()
    return CitySpec(
        path=Path(city.code),
        code=city.code,
        name=city.name,
        sources=[],
        units=[],
        groups=[],
        digest=digest,
        names=mapping,
    )


def _ids(name: str, names: dict[str, Name]) -> tuple[int | None, int | None]:
    found = names[name]
    return found.unit_id, found.group_id


def _wanted_links(spec: PlanSpec, names: dict[str, Name]) -> dict[str, list[tuple[Any, ...]]]:
    """Per item code, its unit links in the loader's order: (role, unit_id, group_id)."""
    return {
        s.code: [(role, *_ids(n, names)) for role, group in s.units.items() for n in group]
        for s in spec.items
    }


def _wanted_assignments(
    spec: PlanSpec, names: dict[str, Name], city: City
) -> dict[tuple[str, int], str]:
    """(item code, unit id) -> role, as the loader assigns (groups expand to their members)."""
    members = group_member_ids(city.id)
    kinds = {
        uid: kind
        for uid, kind in db.session.execute(
            select(Unit.id, Unit.kind).where(Unit.city_id == city.id)
        )
    }

    def expand(group: list[str]) -> list[int]:
        out: dict[int, None] = {}
        for name in group:
            unit_id, group_id = _ids(name, names)
            for uid in [unit_id] if unit_id is not None else members.get(group_id or 0, []):
                out[uid] = None
        return list(out)

    wanted: dict[tuple[str, int], str] = {}
    assessed = expand(spec.assessed)
    for s in spec.items:
        if spec.kind == PlanKind.TASKS.value:
            for uid in expand(s.units[UnitRole.RESPONSIBLE.value]):
                wanted[(s.code, uid)] = AssignmentRole.RESPONSIBLE.value
            for uid in expand(s.units[UnitRole.LEAD.value]):
                wanted[(s.code, uid)] = AssignmentRole.LEAD.value
        elif s.units[UnitRole.LEAD.value]:
            for uid in expand(s.units[UnitRole.LEAD.value]):
                wanted[(s.code, uid)] = AssignmentRole.LEAD.value
        else:
            for uid in assessed:
                if s.effective_applies_to is None or kinds.get(uid) in s.effective_applies_to:
                    wanted[(s.code, uid)] = AssignmentRole.ASSESSED.value
    return wanted


def _same(a: Any, b: Any) -> bool:
    # Decimal("1.50") == Decimal("1.5"); None only equals None.
    return (a is None and b is None) or (a is not None and b is not None and a == b)


def compare(spec: PlanSpec, plan: Plan | None, names: dict[str, Name], city: City) -> Changes:
    """The changes loading ``spec`` would make to the stored ``plan`` (None: a new plan)."""
    links = _wanted_links(spec, names)
    wanted_assignments = _wanted_assignments(spec, names, city)
    counts = dict.fromkeys(COUNT_KEYS, 0)
    if plan is None:
        counts["sections_added"] = len(spec.sections)
        counts["items_added"] = len(spec.items)
        counts["links_added"] = sum(len(v) for v in links.values())
        counts["assignments_added"] = len(wanted_assignments)
        return Changes("new", counts, [(s.code, "added") for s in spec.items[:LISTED_CHANGES]])

    stored_sections = db.session.scalars(select(Section).where(Section.plan_id == plan.id)).all()
    path_of = {s.id: s.path for s in stored_sections}
    by_path = {s.path: s for s in stored_sections}
    for sec in spec.sections:
        old = by_path.get(sec.path)
        if old is None:
            counts["sections_added"] += 1
        elif not (
            path_of.get(old.parent_id or 0) == sec.parent_path
            and old.depth == sec.depth
            and old.position == sec.position
            and old.number == sec.number
            and old.title == sec.title
            and _same(old.points, sec.points)
            and old.applies_to == sec.applies_to
        ):
            counts["sections_changed"] += 1
    counts["sections_removed"] = len(set(by_path) - {s.path for s in spec.sections})

    stored_items = {
        i.code: i for i in db.session.scalars(select(Item).where(Item.plan_id == plan.id))
    }
    stored_links: dict[int, list[tuple[Any, ...]]] = {}
    for item_id, role, unit_id, group_id in db.session.execute(
        select(ItemUnit.item_id, ItemUnit.role, ItemUnit.unit_id, ItemUnit.group_id)
        .join(Item, Item.id == ItemUnit.item_id)
        .where(Item.plan_id == plan.id)
        .order_by(ItemUnit.item_id, ItemUnit.position)
    ):
        stored_links.setdefault(item_id, []).append((role, unit_id, group_id))
    listed: list[tuple[str, str]] = []
    for item in spec.items:
        old_item = stored_items.get(item.code)
        new_links = links[item.code]
        if old_item is None:
            counts["items_added"] += 1
            counts["links_added"] += len(new_links)
            listed.append((item.code, "added"))
            continue
        old_links = stored_links.get(old_item.id, [])
        counts["links_added"] += sum((Counter(new_links) - Counter(old_links)).values())
        counts["links_removed"] += sum((Counter(old_links) - Counter(new_links)).values())
        if not (
            path_of.get(old_item.section_id or 0) == item.section_path
            and old_item.position == item.position
            and old_item.number == item.number
            and old_item.title == item.title
            and old_item.text == item.text
            and _same(old_item.points, item.points)
            and _same(old_item.weight, item.weight)
            and old_item.deadline_phrase == item.deadline
            and old_item.target == item.target
            and old_item.measure == item.measure
            and old_item.applicability == item.applicability
            and old_item.applies_to == item.applies_to
            and old_item.open_units == item.open_units
            and old_links == new_links
        ):
            counts["items_changed"] += 1
            listed.append((item.code, "changed"))
    wanted_codes = {s.code for s in spec.items}
    removed = [code for code in stored_items if code not in wanted_codes]
    counts["items_removed"] = len(removed)
    for code in removed:
        counts["links_removed"] += len(stored_links.get(stored_items[code].id, []))
        listed.append((code, "removed"))

    code_of = {i.id: code for code, i in stored_items.items()}
    reported = set(
        db.session.scalars(
            select(ProgressReport.assignment_id)
            .join(Assignment, Assignment.id == ProgressReport.assignment_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Item.plan_id == plan.id)
            .distinct()
        )
    )
    tracked: set[str] = set()
    roles_changed = 0
    for assignment_id, item_id, unit_id, role in db.session.execute(
        select(Assignment.id, Assignment.item_id, Assignment.unit_id, Assignment.role)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id)
    ):
        key = (code_of[item_id], unit_id)
        if key in wanted_assignments:
            roles_changed += wanted_assignments.pop(key) != role
        elif assignment_id in reported:
            # The loader keeps it (units reported on it), but it cannot keep a removed item.
            if key[0] not in wanted_codes:
                tracked.add(key[0])
        else:
            counts["assignments_removed"] += 1
    counts["assignments_added"] = len(wanted_assignments)
    changed = _plan_changed(spec, plan, names) or roles_changed > 0 or any(counts.values())
    return Changes(
        "updated" if changed else "unchanged",
        counts,
        listed[:LISTED_CHANGES],
        sorted(tracked),
    )


def _plan_changed(spec: PlanSpec, plan: Plan, names: dict[str, Name]) -> bool:
    assessees = [
        (a.unit_id, a.group_id)
        for a in db.session.scalars(
            select(PlanAssessee)
            .where(PlanAssessee.plan_id == plan.id)
            .order_by(PlanAssessee.position)
        )
    ]
    return not (
        plan.title == spec.title
        and plan.year == spec.year
        and plan.kind == spec.kind
        and plan.document_number == spec.document_number
        and plan.issued_on == spec.issued_on
        and _same(plan.points, spec.points)
        and assessees == [_ids(n, names) for n in spec.assessed]
    )
