"""Unit rules: resolving names through aliases, expanding groups, keeping contacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied
from taskhub.core.limits import check_texts
from taskhub.units.models import Contact, Unit, UnitAlias, UnitGroup

CONTACT_FIELDS = ("name", "position", "office_phone", "mobile", "email", "webhook_url")


def resolve_name(city_id: int, name: str) -> Unit | UnitGroup | None:
    """The one unit or group a name (canonical or alias) stands for in a city."""
    alias = db.session.scalar(
        select(UnitAlias).where(UnitAlias.city_id == city_id, UnitAlias.name == name.strip())
    )
    if alias is None:
        return None
    return alias.unit or alias.group


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
