"""Read and validate seed files (no database): YAML in, checked specs or a list of problems."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from taskhub.plans.models import APPLICABILITIES, PLAN_KINDS, UnitRole
from taskhub.units.models import UNIT_KINDS
from taskhub.units.names import split_unit_names

ROLE_KEYS = {
    "lead": UnitRole.LEAD.value,
    "responsible": UnitRole.RESPONSIBLE.value,
    "lead_assessors": UnitRole.LEAD_ASSESSOR.value,
}


#: Milestone kinds a seed file may give (taskhub.tracking.models.MilestoneKind, without the
#: recurring checkpoint).
_MILESTONE_KINDS = ("step", "complete", "stage", "notable")


class SeedError(Exception):
    """A seed file is invalid; ``problems`` are full sentences naming file and item."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class UnitSpec:
    name: str
    kind: str
    aliases: list[str]
    parent: str | None


@dataclass
class GroupSpec:
    name: str
    aliases: list[str]
    source: str | None
    members: list[str]
    member_kinds: list[str]


@dataclass
class CitySpec:
    path: Path
    code: str
    name: str
    sources: list[str]
    units: list[UnitSpec]
    groups: list[GroupSpec]
    digest: str
    #: Every usable name -> ("unit" | "group", canonical name).
    names: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class SectionSpec:
    path: str
    parent_path: str | None
    depth: int
    position: int
    number: str | None
    title: str
    points: Decimal | None
    applies_to: list[str] | None


@dataclass
class ItemSpec:
    code: str
    number: str | None
    position: int
    section_path: str | None
    title: str | None
    text: str
    points: Decimal | None
    weight: Decimal | None
    deadline: str | None
    target: str | None
    measure: dict[str, Any] | None
    applicability: str
    applies_to: list[str] | None
    #: Unit kinds the item applies to after inheriting from its sections (None: all).
    effective_applies_to: list[str] | None
    units: dict[str, list[str]]
    #: The open end of the unit list (等有关单位): more units than named.
    open_units: str | None = None
    #: Milestones the document dates itself (not a deadline phrase): set as office steps.
    milestones: list[MilestoneSpec] = field(default_factory=list)


@dataclass(frozen=True)
class MilestoneSpec:
    """A dated step of an item given in the seed file (``milestones:``)."""

    due_on: date
    title: str
    kind: str = "step"


@dataclass
class PlanSpec:
    path: Path
    code: str
    title: str
    city: str
    document_number: str | None
    issued_on: date | None
    year: int
    kind: str
    source: str | None
    points: Decimal | None
    notes: str | None
    assessed: list[str]
    scheme: dict[str, Any] | None
    sections: list[SectionSpec]
    items: list[ItemSpec]
    digest: str


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, problem: str) -> None:
        prefix = f"{self.path}: {where}: " if where else f"{self.path}: "
        self.items.append(prefix + problem)

    def raise_if_any(self) -> None:
        if self.items:
            raise SeedError(self.items)


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SeedError([f"{path}: cannot read the file: {exc.strerror}"])
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SeedError([f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"])
    if not isinstance(data, dict):
        raise SeedError([f"{path}: expected a mapping at the top of the file"])
    return data, hashlib.sha256(raw).hexdigest()


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: Any, where: str, name: str, problems: _Problems) -> Decimal | None:
    if value is None:
        return None
    try:
        # str() first: YAML floats such as 1.5 become exact decimals.
        number = Decimal(str(value))
    except InvalidOperation:
        problems.add(where, f"{name} {value!r} is not a number")
        return None
    if not number.is_finite() or number < 0:
        problems.add(where, f"{name} {value!r} must be a non-negative number")
        return None
    return number


def _names(
    value: Any, where: str, key: str, problems: _Problems, known: Iterable[str] = ()
) -> list[str]:
    """A list of names; one string is a unit list as documents write it (split at its top
    level by taskhub.units.names.split_unit_names, the city's names winning)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = split_unit_names(value, known).names or [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(where, f"{key} must be a list of names")
        return []
    return [v.strip() for v in value]


def _kinds(value: Any, where: str, problems: _Problems) -> list[str] | None:
    if value is None or value == []:
        return None  # no restriction
    kinds = value if isinstance(value, list) else [value]
    bad = [k for k in kinds if k not in UNIT_KINDS]
    if bad:
        problems.add(where, f"unknown unit kind {bad[0]!r}; use one of {', '.join(UNIT_KINDS)}")
        return None
    return list(kinds)


def read_city(path: Path) -> CitySpec:
    """Parse and check a cities/<city>.yaml file."""
    data, digest = _read_yaml(path)
    problems = _Problems(path)
    code = _str(data.get("code"))
    name = _str(data.get("name"))
    if not code or not name:
        problems.add("", "code and name are required")
    units: list[UnitSpec] = []
    for i, raw in enumerate(data.get("units") or [], start=1):
        if not isinstance(raw, dict) or not _str(raw.get("name")):
            problems.add(f"unit #{i}", "each unit needs a name")
            continue
        unit_name = str(_str(raw["name"]))
        kind = raw.get("kind")
        if kind not in UNIT_KINDS:
            problems.add(f"unit {unit_name}", f"unknown kind {kind!r}; use one of {UNIT_KINDS}")
            continue
        units.append(
            UnitSpec(
                name=unit_name,
                kind=kind,
                aliases=_names(raw.get("aliases"), f"unit {unit_name}", "aliases", problems),
                parent=_str(raw.get("parent")),
            )
        )
    groups: list[GroupSpec] = []
    for i, raw in enumerate(data.get("groups") or [], start=1):
        if not isinstance(raw, dict) or not _str(raw.get("name")):
            problems.add(f"group #{i}", "each group needs a name")
            continue
        group_name = str(_str(raw["name"]))
        where = f"group {group_name}"
        groups.append(
            GroupSpec(
                name=group_name,
                aliases=_names(raw.get("aliases"), where, "aliases", problems),
                source=_str(raw.get("source")),
                members=_names(raw.get("members"), where, "members", problems),
                member_kinds=_kinds(raw.get("member_kinds"), where, problems) or [],
            )
        )
    city = CitySpec(
        path=path,
        code=code or "",
        name=name or "",
        sources=[str(s) for s in data.get("sources") or []],
        units=units,
        groups=groups,
        digest=digest,
    )
    # One namespace per city: every name resolves to exactly one unit or group.
    for unit in units:
        for alias in [unit.name, *unit.aliases]:
            _claim(city, alias, ("unit", unit.name), problems)
    for group in groups:
        for alias in [group.name, *group.aliases]:
            _claim(city, alias, ("group", group.name), problems)
    for unit in units:
        if unit.parent and city.names.get(unit.parent, ("", ""))[0] != "unit":
            problems.add(f"unit {unit.name}", f"parent {unit.parent!r} is not a unit of the city")
    for group in groups:
        for member in group.members:
            if city.names.get(member, ("", ""))[0] != "unit":
                problems.add(f"group {group.name}", f"member {member!r} is not a unit of the city")
        if not group.members and not group.member_kinds:
            problems.add(f"group {group.name}", "a group needs members or member_kinds")
    problems.raise_if_any()
    return city


def _claim(city: CitySpec, alias: str, target: tuple[str, str], problems: _Problems) -> None:
    existing = city.names.get(alias)
    if existing is not None and existing != target:
        problems.add(
            f"{target[0]} {target[1]}",
            f"name {alias!r} already stands for {existing[0]} {existing[1]}; "
            "a name must resolve to exactly one unit or group",
        )
        return
    city.names[alias] = target


def read_plan(
    path: Path, cities: dict[str, CitySpec], *, overrides: dict[str, Any] | None = None
) -> PlanSpec:
    """Parse and check a plans/<code>.yaml file against its city's names.

    ``overrides`` replace top-level keys of the file (the demo's plan takes the current year
    and a code of its own); they count in the digest like the file's bytes.
    """
    data, digest = _read_yaml(path)
    if overrides:
        data.update(overrides)
        digest = hashlib.sha256((digest + repr(sorted(overrides.items()))).encode()).hexdigest()
    problems = _Problems(path)
    code = _str(data.get("code"))
    title = _str(data.get("title"))
    city_code = _str(data.get("city"))
    kind = data.get("kind")
    year = data.get("year")
    if not code or not title:
        problems.add("", "code and title are required")
    if kind not in PLAN_KINDS:
        problems.add("", f"kind must be one of {', '.join(PLAN_KINDS)}, not {kind!r}")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        problems.add("", f"year must be a four-digit year, not {year!r}")
    city = cities.get(city_code or "")
    if city is None:
        problems.add("", f"city {city_code!r} has no file seeds/cities/{city_code}.yaml")
        problems.raise_if_any()
    assert city is not None
    issued_on = None
    if data.get("issued_on") is not None:
        raw_date = data["issued_on"]
        try:
            issued_on = raw_date if isinstance(raw_date, date) else date.fromisoformat(raw_date)
        except (TypeError, ValueError):
            problems.add("", f"issued_on {raw_date!r} is not a YYYY-MM-DD date")
    scheme = data.get("scheme")
    if scheme is not None and not isinstance(scheme, dict):
        problems.add("", "scheme must be a mapping")
        scheme = None
    if scheme is not None:
        from taskhub.scoring.facts import problems_of

        for problem in problems_of(scheme.get("engine")):
            problems.add("scheme", problem)
    spec = PlanSpec(
        path=path,
        code=code or "",
        title=title or "",
        city=city.code,
        document_number=_str(data.get("document_number")),
        issued_on=issued_on,
        year=year if isinstance(year, int) else 0,
        kind=str(kind),
        source=_str(data.get("source")),
        points=_decimal(data.get("points"), "", "points", problems),
        notes=data.get("notes"),
        assessed=_names(data.get("assessed"), "assessed", "assessed", problems, city.names),
        scheme=_jsonable(scheme) if scheme else None,
        sections=[],
        items=[],
        digest=digest,
    )
    for name in spec.assessed:
        _check_name(city, name, "assessed", problems)
    _walk_sections(data.get("sections") or [], None, 1, None, spec, city, problems)
    _check_budgets(spec, problems)
    problems.raise_if_any()
    return spec


def _jsonable(value: Any) -> Any:
    """Dates inside a scheme become ISO strings so the scheme can be stored as JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _check_name(city: CitySpec, name: str, where: str, problems: _Problems) -> None:
    if name not in city.names:
        problems.add(
            where,
            f"{name!r} is not a unit, group or alias of {city.code} "
            f"(add it to seeds/cities/{city.code}.yaml)",
        )


def _walk_sections(
    raw_sections: Any,
    parent: SectionSpec | None,
    depth: int,
    inherited_kinds: list[str] | None,
    spec: PlanSpec,
    city: CitySpec,
    problems: _Problems,
) -> None:
    if not isinstance(raw_sections, list):
        problems.add("sections", "sections must be a list")
        return
    for index, raw in enumerate(raw_sections, start=1):
        path = f"{parent.path}/{index}" if parent else str(index)
        if not isinstance(raw, dict) or not _str(raw.get("title")):
            problems.add(f"section {path}", "each section needs a title")
            continue
        where = f"section {_str(raw.get('number')) or ''} {raw['title']}".replace("  ", " ")
        kinds = _kinds(raw.get("applies_to"), where, problems)
        section = SectionSpec(
            path=path,
            parent_path=parent.path if parent else None,
            depth=depth,
            position=len(spec.sections) + 1,
            number=_str(raw.get("number")),
            title=str(_str(raw["title"])),
            points=_decimal(raw.get("points"), where, "points", problems),
            applies_to=kinds,
        )
        spec.sections.append(section)
        effective = kinds if kinds is not None else inherited_kinds
        for raw_item in raw.get("items") or []:
            _read_item(raw_item, section, effective, spec, city, problems)
        _walk_sections(
            raw.get("sections") or [], section, depth + 1, effective, spec, city, problems
        )


def _read_item(
    raw: Any,
    section: SectionSpec,
    inherited_kinds: list[str] | None,
    spec: PlanSpec,
    city: CitySpec,
    problems: _Problems,
) -> None:
    if not isinstance(raw, dict):
        problems.add(f"section {section.title}", "each item must be a mapping")
        return
    number = _str(raw.get("number"))
    code = _str(raw.get("code")) or number
    where = f"item {number or code or '?'}"
    if not code:
        problems.add(f"section {section.title}", "an item needs a number or a code")
        return
    if any(item.code == code for item in spec.items):
        problems.add(where, f"item code {code!r} is used twice in the plan")
    text = _str(raw.get("text"))
    if not text:
        problems.add(where, "text is required")
    applicability = raw.get("applicability") or "all"
    if applicability not in APPLICABILITIES:
        problems.add(where, f"applicability must be one of {', '.join(APPLICABILITIES)}")
    measure = raw.get("measure")
    if measure is not None and not isinstance(measure, dict):
        problems.add(where, "measure must be a mapping")
        measure = None
    kinds = _kinds(raw.get("applies_to"), where, problems)
    units: dict[str, list[str]] = {}
    for key, role in ROLE_KEYS.items():
        names = _names(raw.get(key), where, key, problems, city.names)
        for name in names:
            _check_name(city, name, where, problems)
        units[role] = names
    # 待分配: a task whose document names no lead yet is kept, unassigned, when marked so.
    if spec.kind == "tasks" and not units[UnitRole.LEAD.value] and not raw.get("unassigned"):
        problems.add(
            where, "a task needs at least one lead unit (lead), or unassigned: true (待分配)"
        )
    spec.items.append(
        ItemSpec(
            code=code,
            number=number,
            position=len(spec.items) + 1,
            section_path=section.path,
            title=_str(raw.get("title")),
            text=text or "",
            points=_decimal(raw.get("points"), where, "points", problems),
            weight=_decimal(raw.get("weight"), where, "weight", problems),
            deadline=_str(raw.get("deadline")),
            target=_str(raw.get("target")),
            measure=_jsonable(measure) if measure else None,
            applicability=str(applicability),
            applies_to=kinds,
            effective_applies_to=kinds if kinds is not None else inherited_kinds,
            units=units,
            open_units=_str(raw.get("open_units")) or _open_rest(raw, city),
            milestones=_milestones(raw.get("milestones"), where, problems),
        )
    )


def _open_rest(raw: dict[str, Any], city: CitySpec) -> str | None:
    """The open end (等有关单位) of the first role written as one string, if any."""
    for key in ROLE_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and (rest := split_unit_names(value, city.names).open_rest):
            return rest
    return None


def _milestones(value: Any, where: str, problems: _Problems) -> list[MilestoneSpec]:
    """``milestones: [{due: YYYY-MM-DD, title: …, kind: step}]`` of an item."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(where, "milestones must be a list of {due, title}")
        return []
    out = []
    for raw in value:
        due = raw.get("due") if isinstance(raw, dict) else None
        title = _str(raw.get("title")) if isinstance(raw, dict) else None
        kind = (raw.get("kind") if isinstance(raw, dict) else None) or "step"
        try:
            due_on = due if isinstance(due, date) else date.fromisoformat(str(due))
        except ValueError:
            problems.add(where, f"milestone due {due!r} is not a YYYY-MM-DD date")
            continue
        if not title:
            problems.add(where, "each milestone needs a title")
            continue
        if kind not in _MILESTONE_KINDS:
            problems.add(where, f"milestone kind must be one of {', '.join(_MILESTONE_KINDS)}")
            continue
        out.append(MilestoneSpec(due_on, title, kind))
    return out


def _check_budgets(spec: PlanSpec, problems: _Problems) -> None:
    """Children's points (sub-section budgets and items' own points) never exceed a budget."""
    for section in spec.sections:
        if section.points is None:
            continue
        children = [s.points for s in spec.sections if s.parent_path == section.path]
        items = [i.points for i in spec.items if i.section_path == section.path]
        total = sum((p for p in [*children, *items] if p is not None), Decimal(0))
        if total > section.points:
            label = f"section {section.number or ''} {section.title}".replace("  ", " ")
            problems.add(
                label,
                f"children's points add up to {total}, more than the section's {section.points}",
            )
    if spec.points is not None:
        top = sum(
            (s.points for s in spec.sections if s.depth == 1 and s.points is not None), Decimal(0)
        )
        if top > spec.points:
            problems.add("", f"sections add up to {top} points, more than the plan's {spec.points}")


def discover(seeds_path: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Plan files by plan code and city files by city code (from the file names)."""
    plans = {p.stem: p for p in sorted((seeds_path / "plans").glob("*.yaml"))}
    cities = {p.stem: p for p in sorted((seeds_path / "cities").glob("*.yaml"))}
    return plans, cities
