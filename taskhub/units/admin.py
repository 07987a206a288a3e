"""Keeping a city's units: cities, units, their names (aliases) and retirement (merging:
``units.merging``).

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
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import func, select

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
    Unit,
    UnitAlias,
)

if TYPE_CHECKING:
    from taskhub.accounts.models import User

#: A city code as it appears in addresses and seed file names: baotou, hegang, new-city.
CITY_CODE = re.compile(r"^[a-z][a-z0-9-]{1,49}$")


def translate(message: str, **values: Any) -> str:
    """The message in the reader's language on pages and in the API; English (the msgid) on
    the command line, where there is no reader's language."""
    if has_request_context():
        return gettext(message, **values)
    return message % values if values else message


_ = translate


class UnitRefused(ValidationFailed):
    """A change to a city or unit was refused; ``message`` is in the reader's language and
    ``problems`` names the field at fault."""

    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message, [field_name])
        self.field = field_name


def can_keep_units(user: Any) -> bool:
    """Admins and the office keep cities and units; everyone else reads."""
    return user is not None and getattr(user, "role", None) in STAFF


def check_actor(actor: User | None) -> int | None:
    if actor is not None and not can_keep_units(actor):
        raise PermissionDenied(_("Only administrators and the office may change units."))
    return actor.id if actor is not None else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def required_text(limit_name: str, value: Any, field_name: str) -> str:
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
        name = required_text("city.name", data.get("name"), "name")
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
    actor_id = check_actor(actor)
    code = required_text("city.code", data.get("code"), "code").lower()
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
    actor_id = check_actor(actor)
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
    actor_id = check_actor(actor)
    name = required_text("unit.name", data.get("name"), "name")
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
    actor_id = check_actor(actor)
    _refuse_merged(unit)
    before = _unit_state(unit)
    if "name" in data:
        name = required_text("unit.name", data["name"], "name")
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
    actor_id = check_actor(actor)
    _refuse_merged(unit)
    text = required_text("alias.name", name, "name")
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
    actor_id = check_actor(actor)
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
    actor_id = check_actor(actor)
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
    actor_id = check_actor(actor)
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
