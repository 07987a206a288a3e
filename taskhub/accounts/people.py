"""Contacts and users of a unit, related: a contact (联系人, who receives reminders) may be one
of the unit's users (who signs in).

The link is ``contacts.user_id``. An admin links and unlinks on the user's page; the contacts
import and the users import link a contact and a user of the same unit that share a mobile
number or an e-mail address. Reminders still go to contacts, as before: the link only shows
who is who.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.units.models import Contact

_NOT_DIGITS = re.compile(r"\D+")


class LinkRefused(ValidationFailed):
    """The contact cannot be linked to the user; ``code`` says why (views translate it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _require_admin(actor: User | None) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("only an administrator may link contacts and users")


def phone_key(value: str | None) -> str | None:
    """A phone number compared by its digits: "138 0013 8000" and "+86-13800138000" match."""
    digits = _NOT_DIGITS.sub("", value or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits or None


def email_key(value: str | None) -> str | None:
    return (value or "").strip().casefold() or None


def _actor_id(actor: User | None) -> int | None:
    return actor.id if actor is not None else None


def link(contact: Contact, user: User, *, actor: User | None) -> None:
    """Make ``contact`` the contact entry of ``user`` (same unit; one contact per user)."""
    _require_admin(actor)
    if user.unit_id is None or user.unit_id != contact.unit_id:
        raise LinkRefused("other_unit", "the contact and the user belong to different units")
    _link(contact, user, actor_id=_actor_id(actor), how="admin")


def _link(contact: Contact, user: User, *, actor_id: int | None, how: str) -> None:
    if contact.user_id == user.id:
        return
    for other in db.session.scalars(select(Contact).where(Contact.user_id == user.id)):
        _unlink(other, actor_id=actor_id)
    before = contact.user_id
    contact.user_id = user.id
    db.session.flush()
    audit.record(
        "contact.user_linked",
        "user",
        user.id,
        actor_id=actor_id,
        before={"contact_user_id": before} if before else None,
        after={"contact_id": contact.id, "contact_name": contact.name, "how": how},
    )


def unlink(contact: Contact, *, actor: User | None) -> None:
    """The contact is no longer taken for a user (both stay as they are)."""
    _require_admin(actor)
    _unlink(contact, actor_id=_actor_id(actor))


def _unlink(contact: Contact, *, actor_id: int | None) -> None:
    if contact.user_id is None:
        return
    user_id = contact.user_id
    contact.user_id = None
    db.session.flush()
    audit.record(
        "contact.user_unlinked",
        "user",
        user_id,
        actor_id=actor_id,
        after={"contact_id": contact.id, "contact_name": contact.name},
    )


def link_matching(unit_ids: Iterable[int], *, actor: User | None) -> int:
    """Link each unlinked contact of these units to the unit's unlinked user with the same
    mobile number or e-mail address (only when exactly one user matches); how many.

    Run by the contacts and users imports after they write, so a person imported on both
    lists is one person. No admin check: a unit's staff may run the contacts import, and the
    matching only records what the data says (audited with the import's actor).
    """
    ids = sorted(set(unit_ids))
    if not ids:
        return 0
    users = list(db.session.scalars(select(User).where(User.unit_id.in_(ids)).order_by(User.id)))
    contacts = list(
        db.session.scalars(select(Contact).where(Contact.unit_id.in_(ids)).order_by(Contact.id))
    )
    taken = {c.user_id for c in contacts if c.user_id is not None}
    linked = 0
    for contact in contacts:
        if contact.user_id is not None:
            continue
        phone, email = phone_key(contact.mobile), email_key(contact.email)
        matches = [
            u
            for u in users
            if u.unit_id == contact.unit_id
            and u.id not in taken
            and (
                (phone is not None and phone_key(u.mobile) == phone)
                or (email is not None and email_key(u.email) == email)
            )
        ]
        if len(matches) != 1:
            continue
        _link(contact, matches[0], actor_id=_actor_id(actor), how="import")
        taken.add(matches[0].id)
        linked += 1
    return linked


def contact_of(user: User) -> Contact | None:
    """The contact entry linked to a user, if any."""
    return db.session.scalar(
        select(Contact).where(Contact.user_id == user.id).order_by(Contact.id).limit(1)
    )


def unit_users(unit_id: int) -> list[User]:
    """The unit's users, enabled first, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.unit_id == unit_id)
            .order_by(User.is_enabled.desc(), User.display_name, User.id)
        )
    )
