"""Unit rules: resolving names through aliases, expanding groups, keeping contacts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, delete, exists, insert, or_, select, union_all
from sqlalchemy.orm import selectinload
from sqlalchemy.sql import Subquery

from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import DomainError, PermissionDenied, ValidationFailed
from taskhub.core.limits import check_texts
from taskhub.units.models import (
    UNIT_KINDS,
    City,
    Contact,
    Unit,
    UnitAlias,
    UnitGroup,
    unit_group_members,
)

CONTACT_FIELDS = ("name", "position", "office_phone", "mobile", "email", "webhook_url")
#: Flags of a contact set on the contact form and the API (not by the Excel import, which keeps
#: them): ``is_unit_leader`` marks the unit's principal leader (单位主要负责人).
CONTACT_FLAGS = ("is_unit_leader",)


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
    return {f: getattr(contact, f) for f in CONTACT_FIELDS + CONTACT_FLAGS}


def add_contact(unit: Unit, data: dict[str, Any], *, actor: Any) -> Contact:
    """Add a contact to a unit (validated data from ContactArgs)."""
    if not unit.can_edit_contacts(actor):
        raise PermissionDenied("you may not edit this unit's contacts")
    check_texts("contact", {f: data.get(f) for f in CONTACT_FIELDS})
    contact = Contact(unit=unit, **{f: data.get(f) for f in CONTACT_FIELDS})
    for flag in CONTACT_FLAGS:
        setattr(contact, flag, bool(data.get(flag)))
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
    for flag in CONTACT_FLAGS:
        if flag in data:  # left out (the Excel import): kept
            setattr(contact, flag, bool(data[flag]))
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


# -- names ----------------------------------------------------------------------------------

_SPACE_NEAR_WIDE = re.compile(r"\s*([^\x00-\x7f])\s*")


def normalise_name(text: str) -> str:
    """One spelling of a unit or group name: full-width brackets, letters, digits and spaces
    become half-width (NFKC, as deadline phrases are read), spaces next to Chinese characters
    go and other runs of spaces become one. 各县（市、区） and 各县(市、区) are one name."""
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    return _SPACE_NEAR_WIDE.sub(r"\1", text)


# -- groups ---------------------------------------------------------------------------------


class GroupRefused(ValidationFailed):
    """A group change breaks a rule of groups (name taken, member of another city…)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, [field])
        self.field = field


class GroupInUse(DomainError):
    """A group named by a plan cannot be deleted."""

    code = "in_use"


def membership(*, city_id: int | None = None, group_id: int | None = None) -> Subquery:
    """(group_id, unit_id) of every member: list groups' stored rows and, for rule groups,
    the units of the rule's kind (under the rule's parent) as they are now."""
    ugm = unit_group_members
    listed = (
        select(ugm.c.group_id.label("group_id"), ugm.c.unit_id.label("unit_id"))
        .join(UnitGroup, UnitGroup.id == ugm.c.group_id)
        .join(Unit, Unit.id == ugm.c.unit_id)
        .where(UnitGroup.rule_kind.is_(None))
    )
    ruled = select(UnitGroup.id.label("group_id"), Unit.id.label("unit_id")).join(
        Unit,
        and_(
            Unit.city_id == UnitGroup.city_id,
            Unit.kind == UnitGroup.rule_kind,
            or_(UnitGroup.rule_parent_id.is_(None), Unit.parent_id == UnitGroup.rule_parent_id),
            # A rule means the units of that kind now: a retired unit no longer belongs. Listed
            # members stay as stored (a merge moves them; history keeps them).
            Unit.retired_on.is_(None),
        ),
    )
    parts = []
    for part in (listed, ruled):
        if city_id is not None:
            part = part.where(UnitGroup.city_id == city_id)
        if group_id is not None:
            part = part.where(UnitGroup.id == group_id)
        parts.append(part)
    return union_all(*parts).subquery("membership")


def group_member_ids(city_id: int) -> dict[int, list[int]]:
    """Each group of the city with its member unit ids in id order (rule groups expanded now,
    list groups as stored); a group without members is left out."""
    found = membership(city_id=city_id)
    out: dict[int, list[int]] = {}
    for group_id, unit_id in db.session.execute(
        select(found.c.group_id, found.c.unit_id).order_by(found.c.group_id, found.c.unit_id)
    ):
        out.setdefault(group_id, []).append(unit_id)
    return out


def member_ids_of(group_id: int) -> Select[Any]:
    """A sub-select of the unit ids of one group's members."""
    found = membership(group_id=group_id)
    return select(found.c.unit_id)


def groups_containing(unit_id: int) -> Select[Any]:
    """A sub-select of the ids of the groups the unit is a member of (listed or by rule)."""
    found = membership()
    return select(found.c.group_id).where(found.c.unit_id == unit_id)


def _group_state(group: UnitGroup) -> dict[str, Any]:
    state: dict[str, Any] = {
        "name": group.name,
        "source": group.source,
        "rule_kind": group.rule_kind,
        "rule_parent_id": group.rule_parent_id,
    }
    if group.rule_kind is None:
        state["members"] = sorted(
            db.session.scalars(
                select(unit_group_members.c.unit_id).where(
                    unit_group_members.c.group_id == group.id
                )
            )
        )
    return state


def _check_group(
    city_id: int,
    name: str,
    rule_kind: str | None,
    rule_parent_id: int | None,
    *,
    group_id: int | None,
) -> None:
    check_texts("group", {"name": name})
    if not name:
        raise GroupRefused(_("The group needs a name."), "name")
    taken = db.session.scalar(
        select(UnitAlias).where(UnitAlias.city_id == city_id, UnitAlias.name == name)
    )
    if taken is not None and (taken.unit_id is not None or taken.group_id != group_id):
        target = taken.unit or taken.group
        raise GroupRefused(
            _(
                "「%(name)s」 already stands for %(target)s in this city: a name must mean "
                "one unit or one group.",
                name=name,
                target=target.name if target else "",
            ),
            "name",
        )
    if rule_kind is not None and rule_kind not in UNIT_KINDS:
        raise GroupRefused(_("Choose a unit kind for the rule."), "rule_kind")
    if rule_parent_id is not None:
        if rule_kind is None:
            raise GroupRefused(_("A parent unit needs a unit kind for the rule."), "rule_kind")
        parent = db.session.get(Unit, rule_parent_id)
        if parent is None or parent.city_id != city_id:
            raise GroupRefused(
                _("The rule's parent unit must be a unit of the same city."), "rule_parent_id"
            )


def _check_members(city_id: int, unit_ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(unit_ids))
    if not wanted:
        return wanted
    found = set(
        db.session.scalars(select(Unit.id).where(Unit.id.in_(wanted), Unit.city_id == city_id))
    )
    missing = [u for u in wanted if u not in found]
    if missing:
        raise GroupRefused(
            _(
                "Members must be units of the group's city; not: %(ids)s.",
                ids=", ".join(str(u) for u in missing),
            ),
            "members",
        )
    return wanted


def _write_members(group: UnitGroup, unit_ids: list[int]) -> None:
    db.session.execute(delete(unit_group_members).where(unit_group_members.c.group_id == group.id))
    if unit_ids:
        db.session.execute(
            insert(unit_group_members),
            [{"group_id": group.id, "unit_id": u} for u in unit_ids],
        )
    db.session.expire(group, ["members"])


def _actor_id(actor: Any) -> int | None:
    """The acting user's id; None for the command line (the operator)."""
    return actor.id if actor is not None else None


def _require_editor(actor: Any) -> None:
    """The office edits groups; ``actor`` None is the command line, run by the operator."""
    if actor is not None and actor.role not in ("admin", "office"):
        raise PermissionDenied(_("Only the office may change unit groups."))


def create_group(
    city: City,
    name: str,
    *,
    source: str | None = None,
    members: Iterable[int] = (),
    rule_kind: str | None = None,
    rule_parent_id: int | None = None,
    actor: Any,
) -> UnitGroup:
    """A new group of the city: a list of members, or a rule (all units of a kind, optionally
    under a parent); its name becomes a name plans may use. Audited."""
    _require_editor(actor)
    name = normalise_name(name or "")
    source = (source or "").strip() or None
    _check_group(city.id, name, rule_kind, rule_parent_id, group_id=None)
    unit_ids = [] if rule_kind else _check_members(city.id, members)
    group = UnitGroup(
        city_id=city.id,
        name=name,
        source=source,
        rule_kind=rule_kind,
        rule_parent_id=rule_parent_id,
    )
    db.session.add(group)
    db.session.flush()
    db.session.add(UnitAlias(city_id=city.id, name=name, group_id=group.id))
    _write_members(group, unit_ids)
    db.session.flush()
    audit.record(
        "group.created", "group", group.id, actor_id=_actor_id(actor), after=_group_state(group)
    )
    return group


_UNSET: Any = object()


def update_group(
    group: UnitGroup,
    *,
    name: str | None = None,
    source: str | None = _UNSET,
    rule_kind: str | None = _UNSET,
    rule_parent_id: int | None = _UNSET,
    members: Iterable[int] | None = None,
    actor: Any,
) -> UnitGroup:
    """Change what is given: name (its alias follows), source, the rule (``rule_kind=None``
    makes it a list group, keeping ``members`` if given) or the member list. Audited."""
    _require_editor(actor)
    before = _group_state(group)
    new_name = normalise_name(name) if name is not None else group.name
    kind = group.rule_kind if rule_kind is _UNSET else rule_kind
    parent = group.rule_parent_id if rule_parent_id is _UNSET else rule_parent_id
    if kind is None:
        parent = None
    _check_group(group.city_id, new_name, kind, parent, group_id=group.id)
    if kind is not None and members is not None:
        raise GroupRefused(
            _("The members of a rule group follow its rule; make it a list group first."),
            "members",
        )
    unit_ids = _check_members(group.city_id, members) if members is not None else None
    if new_name != group.name:
        # The group's own name moves to the new one; its other names stay.
        names = {
            a.name: a
            for a in db.session.scalars(
                select(UnitAlias).where(
                    UnitAlias.city_id == group.city_id,
                    UnitAlias.name.in_([group.name, new_name]),
                )
            )
        }
        old, new = names.get(group.name), names.get(new_name)
        if old is not None and old.group_id == group.id:
            if new is None:
                old.name = new_name
            else:
                db.session.delete(old)
        elif new is None:
            db.session.add(UnitAlias(city_id=group.city_id, name=new_name, group_id=group.id))
        group.name = new_name
    if source is not _UNSET:
        group.source = (source or "").strip() or None
    group.rule_kind, group.rule_parent_id = kind, parent
    if kind is not None:
        unit_ids = []  # a rule group keeps no list
    if unit_ids is not None:
        _write_members(group, unit_ids)
    db.session.flush()
    after = _group_state(group)
    if after != before:
        audit.record(
            "group.updated",
            "group",
            group.id,
            actor_id=_actor_id(actor),
            before=before,
            after=after,
        )
    return group


def set_members(group: UnitGroup, unit_ids: Iterable[int], *, actor: Any) -> UnitGroup:
    """Replace a list group's members. Audited."""
    return update_group(group, members=list(unit_ids), actor=actor)


def group_in_use(group: UnitGroup) -> bool:
    """Whether a plan names the group (as a unit of an item, or as its assessed units)."""
    from taskhub.plans.models import ItemUnit, PlanAssessee

    return bool(
        db.session.scalar(
            select(
                or_(
                    exists().where(ItemUnit.group_id == group.id),
                    exists().where(PlanAssessee.group_id == group.id),
                )
            )
        )
    )


def delete_group(group: UnitGroup, *, actor: Any) -> None:
    """Remove a group that no plan names, with its names. Audited."""
    _require_editor(actor)
    if group_in_use(group):
        raise GroupInUse(
            _(
                "「%(name)s」 is named by a plan and cannot be deleted; remove it from the plan "
                "first.",
                name=group.name,
            )
        )
    before = _group_state(group)
    group_id = group.id
    db.session.execute(delete(UnitAlias).where(UnitAlias.group_id == group_id))
    _write_members(group, [])
    db.session.delete(group)
    db.session.flush()
    audit.record("group.deleted", "group", group_id, actor_id=_actor_id(actor), before=before)


# Seed files note where a group's list came from for maintainers ("document: …",
# "003_….txt: …", "public fact: …"); pages show readers a Chinese label instead.
_NOTE_FROM_DOCUMENT = re.compile(r"^(?:document\b|\d{3}_[0-9a-f]+\.txt\b)", re.IGNORECASE)
_NOTE_PUBLIC_FACT = re.compile(r"^public fact\b", re.IGNORECASE)
_NOTE_NO_LIST = re.compile(r"^the document names no\b", re.IGNORECASE)


def source_label(source: str | None) -> str:
    """Where a group's member list came from, as readers are told it (— when unknown)."""
    if not source:
        return "—"
    if _NOTE_NO_LIST.match(source):
        return _("The document gives no list; every unit of the kind")
    if _NOTE_FROM_DOCUMENT.match(source):
        return _("The plan document")
    if _NOTE_PUBLIC_FACT.match(source):
        return _("Public information (administrative divisions)")
    return source
