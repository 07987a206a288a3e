"""The life of a plan: draft → published → closed / archived, numbered revisions, year copy.

A draft has its sections, items, item units and scheme but no assignments or milestones.
Publishing checks the whole plan with the seed loader's own rules (the plan's rows are turned
back into seed data, :func:`seed_data`, and read by :func:`~taskhub.plans.seedspec.read_plan`),
then creates the assignments and milestones. Changing a published plan's rows is a numbered
revision (修订, :func:`revised`): assignments follow the rows, the change is recorded with its
reason, and the units whose assignments changed are told. Problems are Chinese sentences: the
office reads them on the plan page, in the API's error body and on the command line.

Services take an explicit ``actor`` (``None`` for the operator at the server), guard the
transition, write the audit record and flush; the caller commits.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import DomainError, ValidationFailed
from taskhub.core.limits import check_text
from taskhub.plans.models import (
    Item,
    ItemUnit,
    Plan,
    PlanAssessee,
    PlanRevision,
    PlanStatus,
    RevisionKind,
    Section,
)
from taskhub.plans.seedspec import ROLE_KEYS, CitySpec, PlanSpec, SeedError, read_plan
from taskhub.scoring.models import Scheme
from taskhub.tracking.models import (
    Assignment,
    ItemMilestone,
    MilestoneSource,
    ProgressReport,
)
from taskhub.units.models import City, Unit, UnitAlias, UnitGroup

if TYPE_CHECKING:
    from taskhub.accounts.models import User

#: Longest reason (修订理由) and summary a revision keeps, in characters.
REASON_LIMIT = 2_000
SUMMARY_LIMIT = 5_000
#: A plan code as URLs and seed files take it (the plan import's rule).
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: A year named in a deadline phrase (2022年底, 2021—2023年, 2022-06-30).
EXPLICIT_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")

STATUS_NAMES = {"draft": "草稿", "published": "已发布", "closed": "已关闭", "archived": "已归档"}


class WrongStatus(DomainError):
    """The plan is not in a status that allows the change (``code`` = the plan's status)."""

    def __init__(self, plan: Plan, action: str) -> None:
        super().__init__(
            f"方案「{plan.code}」当前为{STATUS_NAMES.get(plan.status, plan.status)}，不能{action}。"
        )
        self.code = f"plan_{plan.status}"


class PlanInvalid(ValidationFailed):
    """The plan fails the seed loader's checks; ``problems`` are Chinese sentences."""

    def __init__(self, plan: Plan, problems: list[str]) -> None:
        super().__init__(f"方案「{plan.code}」有{len(problems)}处问题，未发布。", problems)


# -- rows back to seed data -----------------------------------------------------------------


def _plain(value: Decimal | None) -> str | None:
    # Strings keep the exact decimal through YAML; the seed reader turns them into Decimal.
    return format(value.normalize(), "f") if value is not None else None


def _rows(plan: Plan) -> tuple[list[Section], list[Item]]:
    """The plan's sections and items as the database has them now (not a stale collection)."""
    sections = db.session.scalars(
        select(Section)
        .where(Section.plan_id == plan.id)
        .order_by(Section.position)
        .execution_options(populate_existing=True)
    ).all()
    items = db.session.scalars(
        select(Item)
        .where(Item.plan_id == plan.id)
        .order_by(Item.position)
        .options(selectinload(Item.units).options(selectinload(ItemUnit.unit)))
        .options(selectinload(Item.units).options(selectinload(ItemUnit.group)))
        .execution_options(populate_existing=True)
    ).all()
    return list(sections), list(items)


def _item_data(item: Item, steps: list[ItemMilestone]) -> dict[str, Any]:
    data: dict[str, Any] = {"number": item.number}
    if item.code != item.number:
        data["code"] = item.code
    data.update(
        title=item.title,
        text=item.text,
        points=_plain(item.points),
        weight=_plain(item.weight),
        deadline=item.deadline_phrase,
        target=item.target,
        measure=item.measure,
        applicability=item.applicability,
        applies_to=item.applies_to,
    )
    for key, role in ROLE_KEYS.items():
        data[key] = [u.name for u in item.units if u.role == role]
    if item.open_units:
        data["open_units"] = item.open_units
    if steps:
        # Steps the document (or the office) dated itself, beside those read from the phrase.
        data["milestones"] = [
            {"due": m.due_on.isoformat(), "title": m.title, "kind": m.kind} for m in steps
        ]
    if item.is_unassigned:
        # 待分配: a task with no lead yet is published without assignments and stays on the
        # plan page's 待分配 list for the office until a lead is set (a revision).
        data["unassigned"] = True
    return data


def seed_data(plan: Plan) -> dict[str, Any]:
    """The plan's rows as the seed data dict :func:`read_plan` accepts (a YAML file's content).

    Units are named by their canonical names; numbers are exact decimal strings.
    """
    sections, items = _rows(plan)
    items_of: dict[int | None, list[Item]] = {}
    for item in items:
        items_of.setdefault(item.section_id, []).append(item)
    children: dict[int | None, list[Section]] = {}
    for section in sections:
        children.setdefault(section.parent_id, []).append(section)

    steps: dict[int, list[ItemMilestone]] = {}
    for step in db.session.scalars(
        select(ItemMilestone)
        .join(Item, Item.id == ItemMilestone.item_id)
        .where(Item.plan_id == plan.id, ItemMilestone.source == MilestoneSource.OFFICE.value)
        .order_by(ItemMilestone.item_id, ItemMilestone.due_on, ItemMilestone.id)
    ):
        steps.setdefault(step.item_id, []).append(step)

    def tree(section: Section) -> dict[str, Any]:
        return {
            "number": section.number,
            "title": section.title,
            "points": _plain(section.points),
            "applies_to": section.applies_to,
            "items": [_item_data(i, steps.get(i.id, [])) for i in items_of.get(section.id, [])],
            "sections": [tree(child) for child in children.get(section.id, [])],
        }

    assessees = db.session.scalars(
        select(PlanAssessee)
        .where(PlanAssessee.plan_id == plan.id)
        .order_by(PlanAssessee.position)
        .options(selectinload(PlanAssessee.unit), selectinload(PlanAssessee.group))
    ).all()
    scheme = db.session.scalar(select(Scheme.definition).where(Scheme.plan_id == plan.id))
    city = db.session.get(City, plan.city_id)
    assert city is not None
    return {
        "code": plan.code,
        "title": plan.title,
        "city": city.code,
        "document_number": plan.document_number,
        "issued_on": plan.issued_on.isoformat() if plan.issued_on else None,
        "year": plan.year,
        "kind": plan.kind,
        "points": _plain(plan.points),
        "source": plan.source,
        "notes": plan.notes,
        "assessed": [(a.unit or a.group).name for a in assessees],  # type: ignore[union-attr]
        "scheme": scheme,
        "sections": [tree(s) for s in children.get(None, [])],
    }


def city_spec(city: City) -> CitySpec:
    """The city's names (units, groups, aliases) as the seed reader checks plans against."""
    names: dict[str, tuple[str, str]] = {}
    for alias in db.session.scalars(
        select(UnitAlias)
        .where(UnitAlias.city_id == city.id)
        .options(selectinload(UnitAlias.unit), selectinload(UnitAlias.group))
    ):
        target = alias.unit or alias.group
        if target is not None:
            names[alias.name] = ("unit" if alias.unit else "group", target.name)
    for name in db.session.scalars(select(UnitGroup.name).where(UnitGroup.city_id == city.id)):
        names[name] = ("group", name)
    for name in db.session.scalars(select(Unit.name).where(Unit.city_id == city.id)):
        names[name] = ("unit", name)
    return CitySpec(
        path=Path(f"<{city.code}>"),
        code=city.code,
        name=city.name,
        sources=[],
        units=[],
        groups=[],
        digest="",
        names=names,
    )


def read_data(data: dict[str, Any], city: CitySpec) -> PlanSpec:
    """Read seed data with the seed loader's own reader (as the YAML file it would read)."""
    raw = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    with tempfile.TemporaryDirectory(prefix="taskhub-plan-") as folder:
        path = Path(folder) / f"{data['code']}.yaml"
        path.write_bytes(raw)
        try:
            return read_plan(path, {city.code: city})
        except SeedError as exc:
            raise SeedError([p.removeprefix(f"{path}: ") for p in exc.problems]) from None


# -- checks ---------------------------------------------------------------------------------

#: The seed reader's problem sentences (where, problem) in the office's words.
_WHERE = [
    (re.compile(r"^item (.+)$"), "事项{0}"),
    (re.compile(r"^section (.+)$"), "章节「{0}」"),
    (re.compile(r"^assessed$"), "考评对象"),
]
_PROBLEMS = [
    (re.compile(r"^code and title are required$"), "方案编号和标题不能为空"),
    (re.compile(r"^kind must be one of .*$"), "方案类型无效"),
    (re.compile(r"^year must be a four-digit year, not (.*)$"), "年度必须是四位数年份，而不是{0}"),
    (re.compile(r"^issued_on (.*) is not a YYYY-MM-DD date$"), "印发日期{0}不是有效日期"),
    (re.compile(r"^scheme must be a mapping$"), "考核方案格式无效"),
    (re.compile(r"^(\w+) '?(.*?)'? is not a number$"), "分值{1}不是数字"),
    (re.compile(r"^(\w+) '?(.*?)'? must be a non-negative number$"), "分值{1}不能为负数"),
    (
        re.compile(r"^'(.*)' is not a unit, group or alias of .*$"),
        "「{0}」不是本市的单位、单位组或别名",
    ),
    (re.compile(r"^unknown unit kind .*$"), "适用的单位类型无效"),
    (re.compile(r"^each section needs a title$"), "章节缺少标题"),
    (re.compile(r"^an item needs a number or a code$"), "有事项缺少编号"),
    (re.compile(r"^item code '(.*)' is used twice in the plan$"), "事项编号「{0}」重复"),
    (re.compile(r"^text is required$"), "事项内容不能为空"),
    (re.compile(r"^applicability must be one of .*$"), "适用范围无效"),
    (re.compile(r"^measure must be a mapping$"), "计分规则格式无效"),
    (re.compile(r"^\w+ must be a list of names$"), "单位名单格式无效"),
    (re.compile(r"^a task needs at least one lead unit \(lead\)$"), "没有牵头单位"),
    (
        re.compile(r"^children's points add up to (\S+), more than the section's (\S+)$"),
        "下级分值合计{0}分，超过本章节的{1}分",
    ),
    (
        re.compile(r"^sections add up to (\S+) points, more than the plan's (\S+)$"),
        "各章节分值合计{0}分，超过方案总分{1}分",
    ),
]


def _in_chinese(problem: str) -> str:
    """One problem of the seed reader ("where: problem") as the office reads it."""
    where, _, text = problem.partition(": ") if ": " in problem else ("", "", problem)
    for pattern, words in _WHERE:
        found = pattern.match(where)
        if found:
            where = words.format(*found.groups())
            break
    for pattern, words in _PROBLEMS:
        found = pattern.match(text)
        if found:
            text = words.format(*found.groups())
            break
    return f"{where}：{text}" if where else text


def _check(plan: Plan) -> tuple[PlanSpec | None, list[str]]:
    """The plan read back with the seed loader's rules, and its problems in Chinese."""
    found = [
        f"事项{i.label}：不属于任何章节"
        for i in db.session.scalars(
            select(Item).where(Item.plan_id == plan.id, Item.section_id.is_(None))
        )
    ]
    city = db.session.get(City, plan.city_id)
    assert city is not None
    try:
        spec = read_data(seed_data(plan), city_spec(city))
    except SeedError as exc:
        return None, found + [_in_chinese(p) for p in exc.problems]
    return (None if found else spec), found


def problems(plan: Plan) -> list[str]:
    """Everything that keeps the plan from being published, in Chinese ([] = none)."""
    return _check(plan)[1]


def checked_spec(plan: Plan) -> PlanSpec:
    """The plan read back with the seed loader's rules, or PlanInvalid with the problems."""
    spec, found = _check(plan)
    if spec is None:
        raise PlanInvalid(plan, found)
    return spec


# -- assignments ------------------------------------------------------------------------------


def _assignments(plan: Plan) -> dict[tuple[str, str], str]:
    """(item code, unit name) → role of every assignment of the plan."""
    rows = db.session.execute(
        select(Item.code, Unit.name, Assignment.role)
        .join(Assignment, Assignment.item_id == Item.id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Item.plan_id == plan.id)
    )
    return {(code, unit): role for code, unit, role in rows}


def _sync(plan: Plan, spec: PlanSpec) -> None:
    """Assignments and schedules from the plan's rows (the seed loader's own path)."""
    from taskhub.plans.seeds import _sync_assignments
    from taskhub.tracking.schedule import apply_parsed_schedules

    names = city_spec(db.session.get(City, plan.city_id))  # type: ignore[arg-type]
    ids: dict[str, tuple[int | None, int | None]] = {}
    units = {
        name: uid
        for name, uid in db.session.execute(
            select(Unit.name, Unit.id).where(Unit.city_id == plan.city_id)
        )
    }
    groups = {
        name: gid
        for name, gid in db.session.execute(
            select(UnitGroup.name, UnitGroup.id).where(UnitGroup.city_id == plan.city_id)
        )
    }
    for name, (kind, canonical) in names.names.items():
        ids[name] = (units[canonical], None) if kind == "unit" else (None, groups[canonical])
    items = {i.code: i for i in db.session.scalars(select(Item).where(Item.plan_id == plan.id))}
    _sync_assignments(plan, spec, items, ids.__getitem__)
    db.session.flush()
    apply_parsed_schedules(plan)


def _snapshot(plan: Plan) -> dict[str, Any]:
    return {
        "plan": seed_data(plan),
        "assignments": [[code, unit, role] for (code, unit), role in _assignments(plan).items()],
    }


def _flat_items(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def visit(sections: list[dict[str, Any]]) -> None:
        for section in sections:
            for item in section.get("items") or []:
                out[str(item.get("code") or item.get("number"))] = item
            visit(section.get("sections") or [])

    visit(data.get("sections") or [])
    return out


# -- transitions ----------------------------------------------------------------------------


def _guard(plan: Plan, allowed: Iterable[str], action: str) -> None:
    if plan.status not in allowed:
        raise WrongStatus(plan, action)


def _log(
    plan: Plan,
    kind: RevisionKind,
    *,
    actor: User | None,
    reason: str,
    summary: str,
    changes: dict[str, Any],
    snapshot: dict[str, Any] | None,
) -> PlanRevision:
    entry = PlanRevision(
        plan_id=plan.id,
        number=plan.revision,
        kind=kind.value,
        reason=reason,
        summary=summary,
        changes=changes,
        snapshot=snapshot,
        actor_id=actor.id if actor else None,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def publish(plan: Plan, *, actor: User | None) -> PlanRevision:
    """Check the draft with the seed loader's rules, create its assignments and milestones,
    and publish it. A plan with problems raises PlanInvalid and nothing changes."""
    _guard(plan, [PlanStatus.DRAFT.value], "发布")
    spec = checked_spec(plan)
    _sync(plan, spec)
    plan.status = PlanStatus.PUBLISHED.value
    db.session.flush()
    snapshot = _snapshot(plan)
    count = len(snapshot["assignments"])
    entry = _log(
        plan,
        RevisionKind.PUBLISHED,
        actor=actor,
        reason="",
        summary=f"发布：{len(spec.items)}项事项，分配给单位{count}项任务。",
        changes={"items": len(spec.items), "assignments_added": count},
        snapshot=snapshot,
    )
    audit.record(
        "plan.published",
        "plan",
        plan.id,
        actor_id=actor.id if actor else None,
        before={"status": PlanStatus.DRAFT.value},
        after={"status": plan.status, "items": len(spec.items), "assignments": count},
    )
    return entry


def remember_before_change(plan: Plan) -> None:
    """Keep the published plan as it is now, so :func:`revised` can say exactly what changed.

    Optional: callers that change the rows (the editor, the import) call it first. Without it
    the plan's last recorded revision is the baseline."""
    db.session.info.setdefault("plan_baseline", {})[plan.id] = _snapshot(plan)


def _baseline(plan: Plan) -> dict[str, Any] | None:
    kept: dict[str, Any] | None = db.session.info.get("plan_baseline", {}).pop(plan.id, None)
    if kept is not None:
        return kept
    return db.session.scalar(
        select(PlanRevision.snapshot)
        .where(PlanRevision.plan_id == plan.id, PlanRevision.snapshot.isnot(None))
        .order_by(PlanRevision.id.desc())
        .limit(1)
    )


def revised(plan: Plan, *, actor: User, reason: str, summary: str) -> PlanRevision:
    """Record a revision (修订) after the rows of a published plan were changed.

    Bumps ``plan.revision``, re-syncs assignments and schedules from the plan's current rows
    (assignments with reports are kept, as the seed loader keeps them), stores the revision
    with what changed, audits, and notifies the units whose assignments changed (added,
    removed, another role, or their item's text, deadline or points changed).
    """
    _guard(plan, [PlanStatus.PUBLISHED.value], "修订")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写修订理由。", ["reason"])
    check_text_limit("reason", reason, REASON_LIMIT)
    summary = (summary or "").strip()
    check_text_limit("summary", summary, SUMMARY_LIMIT)
    baseline = _baseline(plan)
    before = _assignments(plan)
    if baseline is not None:
        # Items deleted before this call took their assignments with them: take them from
        # the baseline so the units still hear of it.
        codes = {code for code, _ in before}
        for code, unit, role in baseline["assignments"]:
            if code not in codes:
                before[(code, unit)] = role
    spec = checked_spec(plan)
    _sync(plan, spec)
    after = _assignments(plan)
    data = seed_data(plan)
    snapshot = {
        "plan": data,
        "assignments": [[code, unit, role] for (code, unit), role in after.items()],
    }
    added = sorted(k for k in after if k not in before)
    removed = sorted(k for k in before if k not in after)
    role_changed = sorted(k for k in after if k in before and before[k] != after[k])
    items_changed: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
    unit_names = {unit for _, unit in [*added, *removed, *role_changed]}
    if baseline is not None:
        old, new = _flat_items(baseline["plan"]), _flat_items(data)
        items_changed["added"] = [c for c in new if c not in old]
        items_changed["removed"] = [c for c in old if c not in new]
        items_changed["changed"] = [c for c in new if c in old and new[c] != old[c]]
        for code in items_changed["changed"]:
            content = {k: v for k, v in new[code].items() if k not in ROLE_KEYS}
            if content != {k: v for k, v in old[code].items() if k not in ROLE_KEYS}:
                unit_names |= {unit for (c, unit) in after if c == code}
    plan.revision += 1
    changes = {
        "items_added": items_changed["added"],
        "items_removed": items_changed["removed"],
        "items_changed": items_changed["changed"],
        "assignments_added": [list(k) for k in added],
        "assignments_removed": [list(k) for k in removed],
        "assignments_role_changed": [list(k) for k in role_changed],
        "units_notified": sorted(unit_names),
    }
    entry = _log(
        plan,
        RevisionKind.REVISED,
        actor=actor,
        reason=reason,
        summary=summary or describe(changes),
        changes=changes,
        snapshot=snapshot,
    )
    audit.record(
        "plan.revised",
        "plan",
        plan.id,
        actor_id=actor.id,
        before={"revision": plan.revision - 1},
        after={"revision": plan.revision, "reason": reason, **changes},
    )
    _notify(plan, entry, unit_names)
    return entry


def check_text_limit(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ValidationFailed(f"{field}过长：{len(value)}字，最多{limit}字。", [field])


def describe(changes: dict[str, Any]) -> str:
    """What a revision changed, in one Chinese sentence."""
    parts = []
    for key, words in (
        ("items_added", "新增事项"),
        ("items_removed", "删除事项"),
        ("items_changed", "修改事项"),
        ("assignments_added", "新增任务分配"),
        ("assignments_removed", "取消任务分配"),
        ("assignments_role_changed", "调整单位角色"),
    ):
        if changes.get(key):
            parts.append(f"{words}{len(changes[key])}项")
    return "，".join(parts) + "。" if parts else "任务分配没有变化。"


def _notify(plan: Plan, entry: PlanRevision, unit_names: set[str]) -> None:
    from taskhub.reminders.services import notify_units

    if not unit_names:
        return
    units = {
        uid: name
        for uid, name in db.session.execute(
            select(Unit.id, Unit.name).where(
                Unit.city_id == plan.city_id, Unit.name.in_(unit_names)
            )
        )
    }
    changes = entry.changes
    texts: dict[int, tuple[str, str]] = {}
    for unit_id, name in units.items():
        mine = [
            f"{label}：{'、'.join(code for code, unit in changes[key] if unit == name)}"
            for key, label in (
                ("assignments_added", "新增任务（事项）"),
                ("assignments_removed", "取消任务（事项）"),
                ("assignments_role_changed", "角色调整（事项）"),
            )
            if any(unit == name for _, unit in changes[key])
        ]
        title = f"【方案修订】{plan.title}第{entry.number}次修订"
        body = (
            f"{name}：{plan.title}已修订（第{entry.number}次），修订理由：{entry.reason}。"
            + ("；".join(mine) + "。" if mine else "本单位承担事项的内容或期限有调整。")
            + "请登录任务督办平台查看。"
        )
        texts[unit_id] = (title, body)
    notify_units(texts, link=f"/plans/{plan.code}/revisions", key=f"plan-revision:{entry.id}")


def close(plan: Plan, *, actor: User | None) -> None:
    """The plan's work is over: read-only, still shown in rankings and history."""
    _move(plan, [PlanStatus.PUBLISHED.value], PlanStatus.CLOSED, ("closed", "关闭"), actor)


def archive(plan: Plan, *, actor: User | None) -> None:
    """Hidden from everyday lists; the plan stays reachable by its URL."""
    _move(
        plan,
        [PlanStatus.DRAFT.value, PlanStatus.PUBLISHED.value, PlanStatus.CLOSED.value],
        PlanStatus.ARCHIVED,
        ("archived", "归档"),
        actor,
    )


def reopen(plan: Plan, *, actor: User | None) -> None:
    """A closed or archived plan is used again: published again (a never published one is a
    draft again)."""
    was_published = (
        db.session.scalar(
            select(PlanRevision.id)
            .where(
                PlanRevision.plan_id == plan.id,
                PlanRevision.kind == RevisionKind.PUBLISHED.value,
            )
            .limit(1)
        )
        is not None
        or db.session.scalar(
            select(Assignment.id).join(Item).where(Item.plan_id == plan.id).limit(1)
        )
        is not None
    )
    target = PlanStatus.PUBLISHED if was_published else PlanStatus.DRAFT
    allowed = [PlanStatus.CLOSED.value, PlanStatus.ARCHIVED.value]
    _move(plan, allowed, target, ("reopened", "重新启用"), actor)


def _move(
    plan: Plan,
    allowed: list[str],
    target: PlanStatus,
    action: tuple[str, str],
    actor: User | None,
) -> None:
    _guard(plan, allowed, action[1])
    before = plan.status
    plan.status = target.value
    db.session.flush()
    audit.record(
        f"plan.{action[0]}",
        "plan",
        plan.id,
        actor_id=actor.id if actor else None,
        before={"status": before},
        after={"status": plan.status},
    )


# -- copy to a new year ---------------------------------------------------------------------


@dataclass
class Shifted:
    """A deadline phrase that named an explicit year, shifted to the new year: to review."""

    item: str
    before: str
    after: str


def shift_years(phrase: str | None, by: int) -> str | None:
    """The phrase with every year it names moved by ``by`` years (2022年底 → 2023年底)."""
    if phrase is None or by == 0:
        return phrase
    return EXPLICIT_YEAR.sub(lambda m: str(int(m.group(0)) + by), phrase)


def copy_to_year(plan: Plan, *, year: int, code: str, title: str, actor: User | None) -> Plan:
    """A draft for ``year`` with the plan's structure, units, points and scheme.

    Deadline phrases are read again in the new year; phrases that name a year are shifted by
    the difference and listed for review in the copy's revision record (never kept silently).
    """
    code, title = (code or "").strip(), (title or "").strip()
    if not CODE.fullmatch(code):
        raise ValidationFailed(
            "方案编号只能由字母、数字、“-”和“_”组成，以字母或数字开头，最长64个字符。", ["code"]
        )
    if db.session.scalar(select(Plan.id).where(Plan.code == code)) is not None:
        raise ValidationFailed(f"方案编号「{code}」已被使用。", ["code"])
    if not title:
        raise ValidationFailed("请填写新方案的标题。", ["title"])
    check_text("plan.title", title)
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationFailed("年度必须是2000至2100之间的四位数年份。", ["year"])
    by = year - plan.year
    copy = Plan(
        code=code,
        title=title,
        city_id=plan.city_id,
        year=year,
        kind=plan.kind,
        points=plan.points,
        status=PlanStatus.DRAFT.value,
        revision=0,
    )
    db.session.add(copy)
    db.session.flush()
    sections, items = _rows(plan)
    new_sections: dict[int, Section] = {}
    for s in sections:
        new_sections[s.id] = Section(
            plan_id=copy.id,
            parent=new_sections[s.parent_id] if s.parent_id else None,
            position=s.position,
            depth=s.depth,
            path=s.path,
            number=s.number,
            title=s.title,
            points=s.points,
            applies_to=s.applies_to,
        )
        db.session.add(new_sections[s.id])
    db.session.flush()
    review: list[Shifted] = []
    for i in items:
        phrase = shift_years(i.deadline_phrase, by)
        if phrase != i.deadline_phrase:
            review.append(Shifted(i.code, i.deadline_phrase or "", phrase or ""))
        new = Item(
            plan_id=copy.id,
            section_id=new_sections[i.section_id].id if i.section_id else None,
            position=i.position,
            number=i.number,
            code=i.code,
            title=i.title,
            text=i.text,
            points=i.points,
            weight=i.weight,
            deadline_phrase=phrase,
            target=i.target,
            measure=i.measure,
            applicability=i.applicability,
            applies_to=i.applies_to,
            open_units=i.open_units,
        )
        new.units = [
            ItemUnit(role=u.role, position=u.position, unit_id=u.unit_id, group_id=u.group_id)
            for u in i.units
        ]
        db.session.add(new)
    for a in db.session.scalars(select(PlanAssessee).where(PlanAssessee.plan_id == plan.id)):
        db.session.add(
            PlanAssessee(
                plan_id=copy.id, position=a.position, unit_id=a.unit_id, group_id=a.group_id
            )
        )
    scheme = db.session.scalar(select(Scheme.definition).where(Scheme.plan_id == plan.id))
    if scheme is not None:
        db.session.add(Scheme(plan_id=copy.id, definition=scheme))
    db.session.flush()
    unparsed = mark_unreadable(copy)
    changes = {
        "source": plan.code,
        "review": [asdict(r) for r in review],
        "unparsed": unparsed,
    }
    summary = f"由{plan.year}年度方案复制，共{len(items)}项事项。" + (
        f"{len(review)}项事项的期限写明了年份，已顺延{by}年，请逐项核对。" if review else ""
    )
    _log(
        copy,
        RevisionKind.COPIED,
        actor=actor,
        reason=f"由「{plan.title}」（{plan.code}）复制到{year}年度",
        summary=summary,
        changes=changes,
        snapshot=None,
    )
    audit.record(
        "plan.copied",
        "plan",
        copy.id,
        actor_id=actor.id if actor else None,
        after={"code": copy.code, "year": year, "source": plan.code, **changes},
    )
    return copy


def mark_unreadable(plan: Plan) -> list[str]:
    """Flag the draft's deadline phrases that cannot be read in its year (kept verbatim, listed
    for the office), as publishing will; the codes of those items. No schedule is made."""
    from taskhub.tracking.deadlines import parse_deadline

    starts_on = plan.issued_on if plan.issued_on and plan.issued_on.year == plan.year else None
    unparsed = []
    for item in db.session.scalars(select(Item).where(Item.plan_id == plan.id)):
        result = parse_deadline(
            item.deadline_phrase, year=plan.year, text=item.text, starts_on=starts_on
        )
        item.is_deadline_unparsed = bool(item.deadline_phrase) and not result.is_parsed
        if item.is_deadline_unparsed:
            unparsed.append(item.code)
    db.session.flush()
    return unparsed


def to_review(plan: Plan) -> list[dict[str, str]]:
    """The deadline phrases a year copy shifted, while the copy is still a draft."""
    if plan.status != PlanStatus.DRAFT.value:
        return []
    changes = db.session.scalar(
        select(PlanRevision.changes)
        .where(PlanRevision.plan_id == plan.id, PlanRevision.kind == RevisionKind.COPIED.value)
        .order_by(PlanRevision.id.desc())
        .limit(1)
    )
    return list(changes.get("review", [])) if changes else []


def revisions(plan: Plan) -> list[PlanRevision]:
    """The plan's revision record, newest first."""
    return list(
        db.session.scalars(
            select(PlanRevision)
            .where(PlanRevision.plan_id == plan.id)
            .options(selectinload(PlanRevision.actor))
            .order_by(PlanRevision.id.desc())
        )
    )


def has_tracked_work(item_ids: list[int]) -> list[int]:
    """Items among ``item_ids`` that units have reported on: they must not be deleted."""
    return list(
        db.session.scalars(
            select(Assignment.item_id)
            .join(ProgressReport, ProgressReport.assignment_id == Assignment.id)
            .where(Assignment.item_id.in_(item_ids))
            .distinct()
        )
    )
