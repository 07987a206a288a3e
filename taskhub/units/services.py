"""Unit rules: resolving names through aliases, expanding groups, keeping contacts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied
from taskhub.core.limits import check_texts
from taskhub.units.models import City, Contact, Unit, UnitAlias, UnitGroup

CONTACT_FIELDS = ("name", "position", "office_phone", "mobile", "email", "webhook_url")


def resolve_name(city_id: int, name: str) -> Unit | UnitGroup | None:
    """The one unit or group a name (canonical or alias) stands for in a city."""
    alias = db.session.scalar(
        select(UnitAlias).where(UnitAlias.city_id == city_id, UnitAlias.name == name.strip())
    )
    if alias is None:
        return None
    return alias.unit or alias.group


def units_named(name: str, city_code: str | None = None) -> list[Unit]:
    """The units a name (canonical or alias) stands for, in one city or in all of them."""
    query = (
        select(Unit)
        .join(UnitAlias, UnitAlias.unit_id == Unit.id)
        .where(UnitAlias.name == name.strip())
        .order_by(Unit.id)
    )
    if city_code:
        query = query.join(City, City.id == Unit.city_id).where(City.code == city_code)
    return list(db.session.scalars(query).unique())


def unit_label(unit: Unit) -> str:
    """How the unit picker names a unit: unique across cities ("昆都仑区人民政府（包头市）")."""
    return f"{unit.name}（{unit.city.name}）"


_LABEL = re.compile(r"^(?P<name>.+?)\s*[（(]\s*(?P<city>[^（）()]+?)\s*[）)]$")


class UnitNotFound(Exception):
    """The picker's text names no unit, or several (``candidates``)."""

    def __init__(self, text: str, candidates: list[Unit]) -> None:
        super().__init__(text)
        self.text = text
        self.candidates = candidates


def unit_from_label(text: str) -> Unit | None:
    """The unit the picker's text stands for: a label from ``unit_choices`` or a name or alias
    that only one unit has; None for empty text. Raises UnitNotFound (no unit, or several)."""
    text = text.strip()
    if not text:
        return None
    found = _LABEL.match(text)
    if found:
        matches = [
            u for u in units_named(found["name"]) if found["city"] in (u.city.name, u.city.code)
        ]
        if len(matches) == 1:
            return matches[0]
    matches = units_named(text)
    if len(matches) != 1:
        raise UnitNotFound(text, matches)
    return matches[0]


@dataclass(frozen=True)
class UnitChoice:
    """One option of the unit picker: its label and the other names it is known by."""

    label: str
    aliases: str


def unit_choices() -> list[UnitChoice]:
    """Every unit as a picker option, by city and name."""
    units = db.session.scalars(
        select(Unit)
        .join(City, City.id == Unit.city_id)
        .where(Unit.retired_on.is_(None))  # retired units are no longer chosen
        .options(selectinload(Unit.aliases), selectinload(Unit.city))
        .order_by(City.name, Unit.name)
    )
    return [
        UnitChoice(
            unit_label(unit),
            "、".join(sorted({a.name for a in unit.aliases if a.name != unit.name})),
        )
        for unit in units
    ]


def _contact_state(contact: Contact) -> dict[str, Any]:
    return {f: getattr(contact, f) for f in CONTACT_FIELDS}


def add_contact(unit: Unit, data: dict[str, Any], *, actor: Any) -> Contact:
    """Add a contact to a unit (validated data from ContactArgs)."""
    if not unit.can_edit_contacts(actor):
        raise PermissionDenied("you may not edit this unit's contacts")
    check_texts("contact", {f: data.get(f) for f in CONTACT_FIELDS})
    contact = Contact(unit=unit, **{f: data.get(f) for f in CONTACT_FIELDS})
    db.session.add(contact)
    db.session.flush()
    audit.record(
        "contact.created", "contact", contact.id, actor_id=actor.id, after=_contact_state(contact)
    )
    return contact


def update_contact(contact: Contact, data: dict[str, Any], *, actor: Any) -> Contact:
    """Change a contact's fields."""
    if not contact.unit.can_edit_contacts(actor):
        raise PermissionDenied("you may not edit this unit's contacts")
    check_texts("contact", {f: data.get(f) for f in CONTACT_FIELDS})
    before = _contact_state(contact)
    for field in CONTACT_FIELDS:
        setattr(contact, field, data.get(field))
    contact.is_demo = False
    db.session.flush()
    audit.record(
        "contact.updated",
        "contact",
        contact.id,
        actor_id=actor.id,
        before=before,
        after=_contact_state(contact),
    )
    return contact


def delete_contact(contact: Contact, *, actor: Any) -> None:
    """Remove a contact; the audit trail keeps what it was."""
    if not contact.unit.can_edit_contacts(actor):
        raise PermissionDenied("you may not edit this unit's contacts")
    before = _contact_state(contact)
    contact_id = contact.id
    db.session.delete(contact)
    db.session.flush()
    audit.record("contact.deleted", "contact", contact_id, actor_id=actor.id, before=before)
