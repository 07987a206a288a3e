"""Keeping a city's units: cities, units, their names (aliases), retirement and merging.

Every unit's own name is also one of its alias rows (``UnitAlias``), as the seed loader writes
them: names resolve through the alias table alone, and a name is unique within a city across
units and groups. A merged unit hands all its names, its own included, to the unit it was
merged into, so documents that still use the old name resolve to the surviving unit.

Services take the acting user (None: the operator at the server, from the command line), check
that it may keep units (admin or office), write the audit record and flush; the caller commits.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import func, select, update

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.limits import check_text
from taskhub.core.permissions import STAFF
from taskhub.core.timeutil import office_today
from taskhub.units.models import (
    DEFAULT_TIMEZONE,
    UNIT_KINDS,
    City,
    Contact,
    Unit,
    UnitAlias,
    UnitGroup,
    unit_group_members,
)

if TYPE_CHECKING:
    from taskhub.accounts.models import User
    from taskhub.tracking.models import Assignment

#: A city code as it appears in addresses and seed file names: baotou, hegang, new-city.
CITY_CODE = re.compile(r"^[a-z][a-z0-9-]{1,49}$")


def _(message: str, **values: Any) -> str:
    """The message in the reader's language on pages and in the API; English (the msgid) on
    the command line, where there is no reader's language."""
    if has_request_context():
        return gettext(message, **values)
    return message % values if values else message


class UnitRefused(ValidationFailed):
    """A change to a city or unit was refused; ``message`` is in the reader's language and
    ``problems`` names the field at fault."""

    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message, [field_name])
        self.field = field_name


def can_keep_units(user: Any) -> bool:
    """Admins and the office keep cities and units; everyone else reads."""
    return user is not None and getattr(user, "role", None) in STAFF


def _check_actor(actor: User | None) -> int | None:
    if actor is not None and not can_keep_units(actor):
        raise PermissionDenied(_("Only administrators and the office may change units."))
    return actor.id if actor is not None else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _required(limit_name: str, value: Any, field_name: str) -> str:
    text = _text(value)
    if text is None:
        raise UnitRefused(_("This field is required."), field_name)
    check_text(limit_name, text, field=field_name)
    return text


# -- cities -------------------------------------------------------------------------------------


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _city_state(city: City) -> dict[str, Any]:
    return {
        "code": city.code,
        "name": city.name,
        "province": city.province,
        "timezone": city.timezone,
    }


def _city_fields(data: dict[str, Any], city: City | None) -> dict[str, Any]:
    """The checked name, province and time zone of a city (the ones given)."""
    out: dict[str, Any] = {}
    if "name" in data or city is None:
        name = _required("city.name", data.get("name"), "name")
        clash = db.session.scalar(
            select(City.code).where(City.name == name, City.id != (city.id if city else 0))
        )
        if clash is not None:
            raise UnitRefused(
                _("Another city (%(code)s) is already called “%(name)s”.", code=clash, name=name),
                "name",
            )
        out["name"] = name
    if "province" in data:
        out["province"] = _text(data["province"])
        check_text("city.province", out["province"], field="province")
    if "timezone" in data or city is None:
        zone = _text(data.get("timezone")) or DEFAULT_TIMEZONE
        if zone not in _time_zones():
            raise UnitRefused(
                _("“%(zone)s” is not a time zone; write it like Asia/Shanghai.", zone=zone),
                "timezone",
            )
        out["timezone"] = zone
    return out


def create_city(data: dict[str, Any], *, actor: User | None) -> City:
    """A new city (code, name, province, time zone); its units come next."""
    actor_id = _check_actor(actor)
    code = _required("city.code", data.get("code"), "code").lower()
    if not CITY_CODE.match(code):
        raise UnitRefused(
            _(
                "A city code is 2 to 50 lower-case letters, digits or hyphens and starts "
                "with a letter, such as baotou."
            ),
            "code",
        )
    if db.session.scalar(select(City.id).where(City.code == code)) is not None:
        raise UnitRefused(_("A city with the code “%(code)s” exists already.", code=code), "code")
    city = City(code=code, sources=[], **_city_fields(data, None))
    db.session.add(city)
    db.session.flush()
    audit.record("city.created", "city", city.id, actor_id=actor_id, after=_city_state(city))
    return city


def update_city(city: City, data: dict[str, Any], *, actor: User | None) -> City:
    """Change a city's name, province or time zone (the code stays: addresses use it)."""
    actor_id = _check_actor(actor)
    before = _city_state(city)
    for key, value in _city_fields(data, city).items():
        setattr(city, key, value)
    db.session.flush()
    if _city_state(city) != before:
        audit.record(
            "city.updated",
            "city",
            city.id,
            actor_id=actor_id,
            before=before,
            after=_city_state(city),
        )
    return city


# -- units and their names ----------------------------------------------------------------------


def _unit_state(unit: Unit) -> dict[str, Any]:
    return {
        "name": unit.name,
        "kind": unit.kind,
        "parent_id": unit.parent_id,
        "retired_on": unit.retired_on,
        "merged_into_id": unit.merged_into_id,
        "aliases": sorted(a.name for a in unit.aliases),
    }


def _name_holder(alias: UnitAlias) -> str:
    holder = alias.unit or alias.group
    return holder.name if holder is not None else alias.name


def check_name_free(
    city_id: int, name: str, *, unit: Unit | None = None, field_name: str = "name"
) -> None:
    """Refuse a name another unit or group of the city already has (as its name or alias)."""
    alias = db.session.scalar(
        select(UnitAlias).where(UnitAlias.city_id == city_id, UnitAlias.name == name)
    )
    if alias is not None and (unit is None or alias.unit_id != unit.id):
        raise UnitRefused(
            _(
                "“%(name)s” is already a name of “%(holder)s” in this city; a name can stand "
                "for only one unit or group.",
                name=name,
                holder=_name_holder(alias),
            ),
            field_name,
        )
    other = db.session.scalar(
        select(Unit).where(
            Unit.city_id == city_id, Unit.name == name, Unit.id != (unit.id if unit else 0)
        )
    )
    if other is not None:
        raise UnitRefused(
            _(
                "A retired unit of this city is called “%(name)s”; choose another name.",
                name=name,
            ),
            "name",
        )


def _parent(city: City, parent_id: Any, unit: Unit | None) -> Unit | None:
    if parent_id in (None, ""):
        return None
    parent = db.session.get(Unit, int(parent_id))
    if parent is None or parent.city_id != city.id:
        raise UnitRefused(_("The parent unit must be a unit of the same city."), "parent_id")
    ancestor: Unit | None = parent
    while ancestor is not None:
        if unit is not None and ancestor.id == unit.id:
            raise UnitRefused(_("A unit cannot be placed under itself."), "parent_id")
        ancestor = ancestor.parent
    return parent


def _kind(value: Any) -> str:
    if value not in UNIT_KINDS:
        raise UnitRefused(_("Choose the kind of unit."), "kind")
    return str(value)


def _names(values: Any) -> list[str]:
    """Alias names as given (a list, or text with one name per line), without repeats."""
    if isinstance(values, str):
        values = re.split(r"[\r\n]+", values)
    out: dict[str, None] = {}
    for value in values or []:
        name = _text(value)
        if name:
            check_text("alias.name", name, field="aliases")
            out[name] = None
    return list(out)


def create_unit(city: City, data: dict[str, Any], *, actor: User | None) -> Unit:
    """A new unit of a city with its name (also its first alias row) and other spellings."""
    actor_id = _check_actor(actor)
    name = _required("unit.name", data.get("name"), "name")
    check_name_free(city.id, name)
    unit = Unit(
        city_id=city.id,
        name=name,
        kind=_kind(data.get("kind")),
        parent=_parent(city, data.get("parent_id"), None),
    )
    db.session.add(unit)
    db.session.flush()
    db.session.add(UnitAlias(city_id=city.id, name=name, unit_id=unit.id))
    for alias in _names(data.get("aliases")):
        if alias != name:
            check_name_free(city.id, alias, unit=unit, field_name="aliases")
            db.session.add(UnitAlias(city_id=city.id, name=alias, unit_id=unit.id))
            db.session.flush()
    db.session.flush()
    db.session.refresh(unit, ["aliases"])
    audit.record("unit.created", "unit", unit.id, actor_id=actor_id, after=_unit_state(unit))
    return unit


def _refuse_merged(unit: Unit) -> None:
    if unit.merged_into_id is not None:
        raise UnitRefused(
            _(
                "This unit was merged into “%(target)s”; change that unit instead.",
                target=unit.merged_into.name if unit.merged_into else "",
            ),
            "name",
        )


def update_unit(unit: Unit, data: dict[str, Any], *, actor: User | None) -> Unit:
    """Change a unit's name, kind or parent (only the keys given); a renamed unit keeps its old
    name as an alias, since documents written before still use it."""
    actor_id = _check_actor(actor)
    _refuse_merged(unit)
    before = _unit_state(unit)
    if "name" in data:
        name = _required("unit.name", data["name"], "name")
        if name != unit.name:
            check_name_free(unit.city_id, name, unit=unit)
            if not any(a.name == name for a in unit.aliases):
                db.session.add(UnitAlias(city_id=unit.city_id, name=name, unit_id=unit.id))
            unit.name = name
    if "kind" in data:
        unit.kind = _kind(data["kind"])
    if "parent_id" in data:
        unit.parent = _parent(unit.city, data["parent_id"], unit)
    db.session.flush()
    db.session.refresh(unit, ["aliases"])
    if _unit_state(unit) != before:
        audit.record(
            "unit.updated",
            "unit",
            unit.id,
            actor_id=actor_id,
            before=before,
            after=_unit_state(unit),
        )
    return unit


def add_alias(unit: Unit, name: Any, *, actor: User | None) -> UnitAlias:
    """Another name (short name, old or other spelling) of a unit; unique in its city."""
    actor_id = _check_actor(actor)
    _refuse_merged(unit)
    text = _required("alias.name", name, "name")
    existing = next((a for a in unit.aliases if a.name == text), None)
    if existing is not None:
        return existing
    check_name_free(unit.city_id, text, unit=unit)
    alias = UnitAlias(city_id=unit.city_id, name=text, unit_id=unit.id)
    db.session.add(alias)
    db.session.flush()
    db.session.refresh(unit, ["aliases"])
    audit.record(
        "unit.alias_added",
        "unit",
        unit.id,
        actor_id=actor_id,
        after={"alias": text, "id": alias.id},
    )
    return alias


def remove_alias(alias: UnitAlias, *, actor: User | None) -> None:
    """Remove another name of a unit; its own name stays (rename the unit instead)."""
    actor_id = _check_actor(actor)
    unit = alias.unit
    if unit is None:
        raise UnitRefused(_("This name belongs to a group, not to a unit."), "alias")
    if alias.name == unit.name:
        raise UnitRefused(
            _("“%(name)s” is the unit's own name; rename the unit instead.", name=alias.name),
            "alias",
        )
    name = alias.name
    db.session.delete(alias)
    db.session.flush()
    db.session.refresh(unit, ["aliases"])
    audit.record("unit.alias_removed", "unit", unit.id, actor_id=actor_id, before={"alias": name})


def retire_unit(unit: Unit, *, actor: User | None, on: date | None = None) -> Unit:
    """Mark a unit as no longer existing: it keeps its history and gets no new assignments."""
    actor_id = _check_actor(actor)
    if unit.retired_on is not None:
        raise UnitRefused(_("This unit is retired already."), "retired_on")
    unit.retired_on = on or office_today()
    db.session.flush()
    audit.record(
        "unit.retired", "unit", unit.id, actor_id=actor_id, after={"retired_on": unit.retired_on}
    )
    return unit


def reactivate_unit(unit: Unit, *, actor: User | None) -> Unit:
    """Make a retired unit active again (not a merged one: its names went to another unit)."""
    actor_id = _check_actor(actor)
    _refuse_merged(unit)
    if unit.retired_on is None:
        raise UnitRefused(_("This unit is active."), "retired_on")
    before = {"retired_on": unit.retired_on}
    unit.retired_on = None
    db.session.flush()
    audit.record("unit.reactivated", "unit", unit.id, actor_id=actor_id, before=before)
    return unit


def active_units(city: City) -> list[Unit]:
    """The units a picker offers: active ones, by kind and name."""
    return list(
        db.session.scalars(
            select(Unit)
            .where(Unit.city_id == city.id, Unit.retired_on.is_(None))
            .order_by(Unit.kind, Unit.name)
        )
    )


def unit_counts() -> dict[tuple[int, bool], int]:
    """How many units each city has, by (city id, retired)."""
    retired = Unit.retired_on.is_not(None)
    return {
        (city_id, bool(is_retired)): n
        for city_id, is_retired, n in db.session.execute(
            select(Unit.city_id, retired, func.count()).group_by(Unit.city_id, retired)
        )
    }


# -- merging ------------------------------------------------------------------------------------

#: When both units have an assignment of the same item, the surviving one keeps the stronger
#: role of the two.
_ROLE_STRENGTH = {"lead": 3, "responsible": 2, "assessed": 1}


@dataclass
class MergePreview:
    """What merging ``source`` into ``target`` moves, keeps and refuses.

    Conflict rule: when the target already has an assignment of the same item, the target's
    assignment carries on (taking the stronger role of the two) and the source's is closed:
    it stays with the retired source as history, marked not applicable so that it no longer
    counts in dashboards, bulletins and scores (the merge's audit record says why); nothing is
    deleted.
    """

    source: Unit
    target: Unit
    #: Refusals (in the reader's language); the merge runs only when there are none.
    problems: list[str] = field(default_factory=list)
    moved: list[Assignment] = field(default_factory=list)
    #: (source's assignment, target's assignment of the same item)
    conflicts: list[tuple[Assignment, Assignment]] = field(default_factory=list)
    #: Completed assignments and those of closed or archived plans: they stay (history).
    kept: int = 0
    contacts: list[Contact] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    groups: list[UnitGroup] = field(default_factory=list)
    aliases: list[UnitAlias] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The preview as data (the API's dry run, the audit record)."""
        return {
            "source": {"id": self.source.id, "name": self.source.name},
            "target": {"id": self.target.id, "name": self.target.name},
            "problems": list(self.problems),
            "assignments": [a.id for a in self.moved],
            "conflicts": [
                {"source_assignment": a.id, "target_assignment": b.id, "item_id": a.item_id}
                for a, b in self.conflicts
            ],
            "kept_assignments": self.kept,
            "contacts": [c.id for c in self.contacts],
            "users": [u.id for u in self.users],
            "groups": [g.id for g in self.groups],
            "aliases": [a.name for a in self.aliases],
        }


def _open_plan_statuses() -> tuple[str, ...]:
    from taskhub.plans.models import PlanStatus

    return (PlanStatus.DRAFT.value, PlanStatus.PUBLISHED.value)


def preview_merge(source: Unit, target: Unit) -> MergePreview:
    """What ``merge`` would do, changing nothing."""
    from taskhub.accounts.models import User
    from taskhub.plans.models import Item, Plan
    from taskhub.tracking.models import Assignment, AssignmentStatus

    preview = MergePreview(source, target)
    if source.id == target.id:
        preview.problems.append(_("A unit cannot be merged into itself."))
    if source.city_id != target.city_id:
        preview.problems.append(_("Only units of the same city can be merged."))
    if source.retired_on is not None:
        preview.problems.append(_("“%(name)s” is retired already.", name=source.name))
    if target.retired_on is not None:
        preview.problems.append(
            _("“%(name)s” is retired; choose an active unit to keep.", name=target.name)
        )
    rows = db.session.execute(
        select(Assignment, Plan.status)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Assignment.unit_id == source.id)
        .order_by(Assignment.id)
    ).all()
    theirs = {
        a.item_id: a
        for a in db.session.scalars(
            select(Assignment).where(
                Assignment.unit_id == target.id,
                Assignment.item_id.in_([a.item_id for a, _status in rows]),
            )
        )
    }
    for assignment, plan_status in rows:
        if (
            assignment.status == AssignmentStatus.COMPLETED.value
            or plan_status not in _open_plan_statuses()
        ):
            preview.kept += 1
        elif assignment.item_id in theirs:
            preview.conflicts.append((assignment, theirs[assignment.item_id]))
        else:
            preview.moved.append(assignment)
    preview.contacts = list(source.contacts)
    preview.users = list(
        db.session.scalars(select(User).where(User.unit_id == source.id).order_by(User.id))
    )
    target_groups = {g.id for g in target.groups}
    preview.groups = list(source.groups)
    preview.aliases = list(source.aliases)
    # Groups both belong to: the target stays a member; listed for the record all the same.
    preview.groups.sort(key=lambda g: (g.id in target_groups, g.name))
    return preview


def merge_units(source: Unit, target: Unit, *, actor: User | None, reason: Any) -> MergePreview:
    """Merge ``source`` into ``target`` (机构改革) in the caller's transaction: open assignments,
    contacts, users, group memberships and names move to the target; completed work and
    closed plans stay with the source as history; the source is retired."""
    from taskhub.plans.models import ItemUnit, PlanAssessee
    from taskhub.scoring.models import ItemScore
    from taskhub.tracking.models import PeriodCount

    actor_id = _check_actor(actor)
    reason_text = _required("merge.reason", reason, "reason")
    preview = preview_merge(source, target)
    if preview.problems:
        raise UnitRefused(" ".join(preview.problems), "into")

    moved_ids = [a.id for a in preview.moved]
    for assignment in preview.moved:
        assignment.unit_id = target.id
    for mine, theirs in preview.conflicts:
        if _ROLE_STRENGTH.get(mine.role, 0) > _ROLE_STRENGTH.get(theirs.role, 0):
            theirs.role = mine.role
        mine.is_not_applicable = True  # closed: the target's assignment does the work now
    db.session.flush()
    if moved_ids:
        # Copies of the assignment's unit, kept for one-pass aggregates.
        for model in (ItemScore, PeriodCount):
            db.session.execute(
                update(model)
                .where(model.assignment_id.in_(moved_ids))
                .values(unit_id=target.id)
                .execution_options(synchronize_session=False)
            )
    _move_plan_references(source, target, ItemUnit, PlanAssessee)

    for contact in preview.contacts:
        contact.unit_id = target.id
    for user in preview.users:
        user.unit_id = target.id
    target_groups = {g.id for g in target.groups}
    for group in preview.groups:
        if group.id not in target_groups:
            db.session.execute(
                unit_group_members.insert().values(group_id=group.id, unit_id=target.id)
            )
    db.session.execute(unit_group_members.delete().where(unit_group_members.c.unit_id == source.id))
    for alias in preview.aliases:
        alias.unit_id = target.id
    source.retired_on = office_today()
    source.merged_into_id = target.id
    db.session.flush()
    db.session.expire(source)
    db.session.expire(target)

    summary = {**preview.summary(), "reason": reason_text}
    audit.record("unit.merged", "unit", source.id, actor_id=actor_id, after=summary)
    audit.record("unit.absorbed", "unit", target.id, actor_id=actor_id, after=summary)
    for user in preview.users:
        audit.record(
            "user.unit_changed",
            "user",
            user.id,
            actor_id=actor_id,
            before={"unit_id": source.id},
            after={"unit_id": target.id, "reason": "unit.merged"},
        )
    return preview


def _move_plan_references(source: Unit, target: Unit, item_unit: Any, assessee: Any) -> None:
    """Plans still open name the target where they named the source (re-syncing a plan must
    not take the moved assignments back); a place the target already holds is dropped."""
    from taskhub.plans.models import Item, Plan

    open_plans = select(Plan.id).where(Plan.status.in_(_open_plan_statuses()))
    open_items = select(Item.id).where(Item.plan_id.in_(open_plans))
    rows = db.session.scalars(
        select(item_unit).where(item_unit.unit_id == source.id, item_unit.item_id.in_(open_items))
    ).all()
    for row in rows:
        taken = db.session.scalar(
            select(item_unit.id).where(
                item_unit.item_id == row.item_id,
                item_unit.role == row.role,
                item_unit.unit_id == target.id,
            )
        )
        if taken is None:
            row.unit_id = target.id
        else:
            db.session.delete(row)
    for row in db.session.scalars(
        select(assessee).where(assessee.unit_id == source.id, assessee.plan_id.in_(open_plans))
    ).all():
        taken = db.session.scalar(
            select(assessee.id).where(
                assessee.plan_id == row.plan_id, assessee.unit_id == target.id
            )
        )
        if taken is None:
            row.unit_id = target.id
        else:
            db.session.delete(row)
    db.session.flush()
