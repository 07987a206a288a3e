"""Load checked seed specs into the database: idempotent upserts in the caller's transaction."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, insert, select

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.plans.models import (
    Item,
    ItemUnit,
    Plan,
    PlanAssessee,
    PlanKind,
    PlanStatus,
    Section,
    UnitRole,
)
from taskhub.plans.seedspec import (
    CitySpec,
    PlanSpec,
    SeedError,
    discover,
    read_city,
    read_plan,
)
from taskhub.scoring.models import Scheme
from taskhub.tracking.models import Assignment, AssignmentRole, ProgressReport
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: Bump when the loader's output for the same files changes, so existing plans are re-synced.
LOADER_VERSION = "4"


@dataclass
class LoadResult:
    code: str
    status: str  #: loaded | updated | unchanged
    sections: int
    items: int
    assignments: int
    #: Items whose deadline phrase could not be read (kept verbatim, listed for the office).
    unparsed: list[str] = field(default_factory=list)


def load_seeds(
    seeds_path: Path, codes: Iterable[str] = (), progress: Progress = lambda _m: None
) -> list[LoadResult]:
    """Validate every requested plan (and its city) first, then write them all (no commit)."""
    plan_files, city_files = discover(seeds_path)
    wanted = list(codes) or list(plan_files)
    unknown = [c for c in wanted if c not in plan_files]
    if unknown:
        known = ", ".join(plan_files) or "none"
        raise SeedError(
            [
                f"no seed file for plan {c!r} in {seeds_path / 'plans'} (known: {known})"
                for c in unknown
            ]
        )
    problems: list[str] = []
    cities: dict[str, CitySpec] = {}
    for code, path in city_files.items():
        try:
            city = read_city(path)
        except SeedError as exc:
            problems.extend(exc.problems)
            continue
        if city.code != code:
            problems.append(f"{path}: code {city.code!r} does not match the file name")
        cities[code] = city
    specs: list[PlanSpec] = []
    for code in wanted:
        progress(f"checking {plan_files[code]}")
        try:
            spec = read_plan(plan_files[code], cities)
        except SeedError as exc:
            problems.extend(exc.problems)
            continue
        if spec.code != code:
            problems.append(f"{spec.path}: code {spec.code!r} does not match the file name")
        specs.append(spec)
    if problems:
        raise SeedError(problems)

    results = []
    loaded_cities: dict[str, City] = {}
    for n, spec in enumerate(specs, start=1):
        city_spec = cities[spec.city]
        if spec.city not in loaded_cities:
            progress(f"[{n}/{len(specs)}] {spec.code}: units of {city_spec.name}")
            loaded_cities[spec.city] = upsert_city(city_spec)
        progress(f"[{n}/{len(specs)}] {spec.code}: {len(spec.items)} items")
        result = upsert_plan(spec, loaded_cities[spec.city], city_spec)
        progress(
            f"[{n}/{len(specs)}] {spec.code}: {result.status}, {result.items} items, "
            f"{result.assignments} assignments"
        )
        results.append(result)
    return results


def upsert_city(spec: CitySpec) -> City:
    """Create or update a city's units, aliases and groups to match its file."""
    city = db.session.scalar(select(City).where(City.code == spec.code))
    if city is None:
        city = City(code=spec.code, name=spec.name, sources=spec.sources)
        db.session.add(city)
    else:
        city.name, city.sources = spec.name, spec.sources
    db.session.flush()

    units = {u.name: u for u in db.session.scalars(select(Unit).where(Unit.city_id == city.id))}
    for u in spec.units:
        unit = units.get(u.name)
        if unit is None:
            unit = units[u.name] = Unit(city_id=city.id, name=u.name, kind=u.kind)
            db.session.add(unit)
        unit.kind = u.kind
    db.session.flush()
    for u in spec.units:
        units[u.name].parent_id = units[spec.names[u.parent][1]].id if u.parent else None

    groups = {
        g.name: g for g in db.session.scalars(select(UnitGroup).where(UnitGroup.city_id == city.id))
    }
    for g in spec.groups:
        group = groups.get(g.name)
        if group is None:
            group = groups[g.name] = UnitGroup(city_id=city.id, name=g.name)
            db.session.add(group)
        group.source = g.source
        members = {units[spec.names[m][1]] for m in g.members}
        members |= {u for u in units.values() if u.kind in g.member_kinds}
        group.members = sorted(members, key=lambda u: u.id)
    db.session.flush()

    # The file is the truth for the names it declares; names added by admins stay.
    aliases = {
        a.name: a for a in db.session.scalars(select(UnitAlias).where(UnitAlias.city_id == city.id))
    }
    for name, (kind, canonical) in spec.names.items():
        # A merged unit's names belong to the unit it was merged into (units.merging).
        unit_id = _surviving(units[canonical]).id if kind == "unit" else None
        group_id = groups[canonical].id if kind == "group" else None
        alias = aliases.get(name)
        if alias is None:
            db.session.add(
                UnitAlias(city_id=city.id, name=name, unit_id=unit_id, group_id=group_id)
            )
        else:
            alias.unit_id, alias.group_id = unit_id, group_id
    db.session.flush()
    return city


def _surviving(unit: Unit) -> Unit:
    """The unit that carries on a merged unit's work (the unit itself when not merged)."""
    seen = {unit.id}
    while unit.merged_into is not None and unit.merged_into.id not in seen:
        unit = unit.merged_into
        seen.add(unit.id)
    return unit


def upsert_plan(
    spec: PlanSpec,
    city: City,
    city_spec: CitySpec,
    *,
    plan_status: str = PlanStatus.PUBLISHED.value,
    sync: bool = True,
) -> LoadResult:
    """Create or update one plan; an unchanged file (and city) is a no-op.

    A new plan gets ``plan_status`` (the shipped seeds load published). A draft has no assignments
    or schedules: they are created when it is published. ``sync=False`` writes the rows only,
    for a caller that re-syncs itself (a revision, taskhub.plans.lifecycle.revised).
    """
    digest = hashlib.sha256((LOADER_VERSION + spec.digest + city_spec.digest).encode()).hexdigest()
    plan = db.session.scalar(select(Plan).where(Plan.code == spec.code))
    if plan is not None and plan.seed_digest == digest:
        return _result(plan, "unchanged")
    status = "updated" if plan is not None else "loaded"
    if plan is None:
        plan = Plan(
            code=spec.code,
            title=spec.title,
            city_id=city.id,
            year=spec.year,
            kind=spec.kind,
            status=plan_status,
        )
        db.session.add(plan)
    plan.title, plan.city_id, plan.year, plan.kind = spec.title, city.id, spec.year, spec.kind
    plan.document_number, plan.issued_on = spec.document_number, spec.issued_on
    plan.points, plan.source, plan.notes = spec.points, spec.source, spec.notes
    plan.seed_digest = digest
    db.session.flush()

    resolve = _resolver(city.id)
    sections = _upsert_sections(plan, spec)
    items = _upsert_items(plan, spec, sections)
    _replace_item_units(spec, items, resolve)
    _replace_assessees(plan, spec, resolve)
    _upsert_scheme(plan, spec)
    db.session.flush()
    if sync and plan.status != PlanStatus.DRAFT.value:
        _sync_assignments(plan, spec, items, resolve)
        db.session.flush()
        # Deadline phrases become the items' schedules (office-set steps are kept).
        from taskhub.tracking.schedule import apply_parsed_schedules

        apply_parsed_schedules(plan)
        _add_dated_steps(spec, items)
    elif plan.status == PlanStatus.DRAFT.value:
        from taskhub.plans.lifecycle import mark_unreadable

        mark_unreadable(plan)
    audit.record(
        f"plan.seed_{status}",
        "plan",
        plan.id,
        actor_id=None,
        after={"code": plan.code, "digest": digest, "items": len(spec.items)},
    )
    return _result(plan, status)


def _add_dated_steps(spec: PlanSpec, items: dict[str, Item]) -> None:
    """Milestones the file dates itself (``milestones:``) join the item's schedule once."""
    from taskhub.tracking.schedule import MilestoneInput, add_item_milestones

    for s in spec.items:
        if s.milestones:
            steps = [MilestoneInput(m.kind, m.due_on, m.title) for m in s.milestones]
            add_item_milestones([items[s.code]], steps, actor_id=None)


def _result(plan: Plan, status: str) -> LoadResult:
    from sqlalchemy import func

    count = db.session.scalar
    return LoadResult(
        code=plan.code,
        status=status,
        sections=count(select(func.count()).where(Section.plan_id == plan.id)) or 0,
        items=count(select(func.count()).where(Item.plan_id == plan.id)) or 0,
        assignments=count(
            select(func.count()).select_from(Assignment).join(Item).where(Item.plan_id == plan.id)
        )
        or 0,
        unparsed=list(
            db.session.scalars(
                select(Item.code).where(Item.plan_id == plan.id, Item.is_deadline_unparsed)
            )
        ),
    )


def _resolver(city_id: int) -> Callable[[str], tuple[int | None, int | None]]:
    names = {
        a.name: (a.unit_id, a.group_id)
        for a in db.session.scalars(select(UnitAlias).where(UnitAlias.city_id == city_id))
    }
    return names.__getitem__


def _upsert_sections(plan: Plan, spec: PlanSpec) -> dict[str, Section]:
    existing = {
        s.path: s for s in db.session.scalars(select(Section).where(Section.plan_id == plan.id))
    }
    wanted = {s.path for s in spec.sections}
    # Items are re-parented before stale sections go, so nothing cascades by accident.
    by_path: dict[str, Section] = {}
    for s in spec.sections:
        section = existing.get(s.path)
        if section is None:
            section = Section(
                plan_id=plan.id, path=s.path, title=s.title, depth=s.depth, position=s.position
            )
            db.session.add(section)
        section.parent = by_path[s.parent_path] if s.parent_path else None
        section.depth, section.position, section.number = s.depth, s.position, s.number
        section.title, section.points, section.applies_to = s.title, s.points, s.applies_to
        by_path[s.path] = section
    db.session.flush()
    stale = [s for path, s in existing.items() if path not in wanted]
    return by_path if not stale else _drop_sections(by_path, stale)


def _drop_sections(by_path: dict[str, Section], stale: list[Section]) -> dict[str, Section]:
    # Deepest first so that children go before parents.
    for section in sorted(stale, key=lambda s: -s.depth):
        for item in list(section.items):
            item.section_id = None
        db.session.flush()
        db.session.delete(section)
    db.session.flush()
    return by_path


def _upsert_items(plan: Plan, spec: PlanSpec, sections: dict[str, Section]) -> dict[str, Item]:
    existing = {i.code: i for i in db.session.scalars(select(Item).where(Item.plan_id == plan.id))}
    wanted = {i.code for i in spec.items}
    stale = [i for code, i in existing.items() if code not in wanted]
    _refuse_dropping_tracked(spec, stale)
    for gone in stale:
        db.session.delete(gone)
    db.session.flush()
    items: dict[str, Item] = {}
    for s in spec.items:
        item = existing.get(s.code)
        if item is None:
            item = Item(plan_id=plan.id, code=s.code, text=s.text, position=s.position)
            db.session.add(item)
        item.section = sections[s.section_path] if s.section_path else None
        item.position, item.number, item.title, item.text = s.position, s.number, s.title, s.text
        item.points, item.weight, item.deadline_phrase = s.points, s.weight, s.deadline
        item.target, item.measure = s.target, s.measure
        item.applicability, item.applies_to = s.applicability, s.applies_to
        item.open_units = s.open_units
        items[s.code] = item
    db.session.flush()
    return items


def _refuse_dropping_tracked(spec: PlanSpec, stale: list[Item]) -> None:
    if not stale:
        return
    tracked = db.session.scalars(
        select(Item.code)
        .join(Assignment, Assignment.item_id == Item.id)
        .join(ProgressReport, ProgressReport.assignment_id == Assignment.id)
        .where(Item.id.in_([i.id for i in stale]))
        .distinct()
    ).all()
    if tracked:
        raise SeedError(
            [
                f"{spec.path}: item {code}: it was removed from the file but units have reported "
                "progress on it; keep the item or archive the plan instead"
                for code in tracked
            ]
        )


def _replace_item_units(
    spec: PlanSpec, items: dict[str, Item], resolve: Callable[[str], tuple[int | None, int | None]]
) -> None:
    item_ids = [i.id for i in items.values()]
    db.session.execute(delete(ItemUnit).where(ItemUnit.item_id.in_(item_ids)))
    rows = []
    for s in spec.items:
        position = 0
        for role, names in s.units.items():
            for name in names:
                unit_id, group_id = resolve(name)
                position += 1
                rows.append(
                    {
                        "item_id": items[s.code].id,
                        "role": role,
                        "position": position,
                        "unit_id": unit_id,
                        "group_id": group_id,
                    }
                )
    if rows:
        db.session.execute(insert(ItemUnit), rows)
    for item in items.values():
        db.session.expire(item, ["units"])


def _replace_assessees(
    plan: Plan, spec: PlanSpec, resolve: Callable[[str], tuple[int | None, int | None]]
) -> None:
    db.session.execute(delete(PlanAssessee).where(PlanAssessee.plan_id == plan.id))
    for position, name in enumerate(spec.assessed, start=1):
        unit_id, group_id = resolve(name)
        db.session.add(
            PlanAssessee(plan_id=plan.id, position=position, unit_id=unit_id, group_id=group_id)
        )
    db.session.flush()
    db.session.expire(plan, ["assessees"])


def _upsert_scheme(plan: Plan, spec: PlanSpec) -> None:
    scheme = db.session.scalar(select(Scheme).where(Scheme.plan_id == plan.id))
    if spec.scheme is None:
        if scheme is not None:
            db.session.delete(scheme)
        return
    if scheme is None:
        db.session.add(Scheme(plan_id=plan.id, definition=spec.scheme))
    else:
        scheme.definition = spec.scheme


def _expand(
    names: list[str],
    resolve: Callable[[str], tuple[int | None, int | None]],
    members: dict[int, list[int]],
) -> list[int]:
    """Unit ids named directly or through groups, in document order, without repeats."""
    out: dict[int, None] = {}
    for name in names:
        unit_id, group_id = resolve(name)
        for uid in [unit_id] if unit_id is not None else members.get(group_id or 0, []):
            out[uid] = None
    return list(out)


def _sync_assignments(
    plan: Plan,
    spec: PlanSpec,
    items: dict[str, Item],
    resolve: Callable[[str], tuple[int | None, int | None]],
) -> None:
    """Tasks go to their lead and responsible units; indicators to every assessed unit (or to
    the item's own lead units when it names some)."""
    from taskhub.units.services import group_member_ids

    members = group_member_ids(plan.city_id)
    kinds = {
        uid: kind
        for uid, kind in db.session.execute(
            select(Unit.id, Unit.kind).where(Unit.city_id == plan.city_id)
        )
    }

    wanted: dict[tuple[int, int], str] = {}
    assessed = _expand(spec.assessed, resolve, members)
    for s in spec.items:
        item_id = items[s.code].id
        if spec.kind == PlanKind.TASKS:
            lead = _expand(s.units[UnitRole.LEAD], resolve, members)
            for uid in _expand(s.units[UnitRole.RESPONSIBLE], resolve, members):
                wanted[(item_id, uid)] = AssignmentRole.RESPONSIBLE.value
            for uid in lead:
                wanted[(item_id, uid)] = AssignmentRole.LEAD.value
        elif s.units[UnitRole.LEAD]:
            # An indicator system's item naming its own lead units is their obligation (汕尾's
            # annual report), not an indicator of every assessed unit.
            for uid in _expand(s.units[UnitRole.LEAD], resolve, members):
                wanted[(item_id, uid)] = AssignmentRole.LEAD.value
        else:
            for uid in assessed:
                if s.effective_applies_to is None or kinds.get(uid) in s.effective_applies_to:
                    wanted[(item_id, uid)] = AssignmentRole.ASSESSED.value

    # Retired units get no new assignments; the ones they have stay (their history).
    retired = set(db.session.scalars(select(Unit.id).where(Unit.retired_on.is_not(None))))
    wanted = {key: role for key, role in wanted.items() if key[1] not in retired}
    existing = {
        (a.item_id, a.unit_id): a
        for a in db.session.scalars(select(Assignment).join(Item).where(Item.plan_id == plan.id))
    }
    for key, assignment in existing.items():
        if key[1] in retired:
            continue
        if key not in wanted:
            if not assignment.reports:
                db.session.delete(assignment)
        elif assignment.role != wanted[key]:
            assignment.role = wanted[key]
    new_rows = [
        {"item_id": item_id, "unit_id": unit_id, "role": role}
        for (item_id, unit_id), role in wanted.items()
        if (item_id, unit_id) not in existing
    ]
    db.session.flush()
    if new_rows:
        db.session.execute(insert(Assignment), new_rows)
