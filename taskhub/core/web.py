"""Small helpers shared by page views."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.limits import TextTooLong

T = TypeVar("T")

#: Names of the fields a text limit may refuse, as the forms label them.
FIELD_LABELS = {
    "progress": _l("Work done"),
    "problems": _l("Problems"),
    "next_steps": _l("Next steps"),
    "reason": _l("Reason"),
    "title": _l("Title"),
    "name": _l("Name"),
    "note": _l("Note"),
    "description": _l("Description"),
    "position": _l("Position"),
    "email": _l("Email"),
    "mobile": _l("Mobile"),
    "office_phone": _l("Office phone"),
    "username": _l("Username"),
    "password": _l("Password"),
    "source": _l("Source of the list"),
}


def problem_text(exc: DomainError, labels: Mapping[str, Any] = FIELD_LABELS) -> str:
    """A service's refusal in the user's language where it has one (limits), else its
    message; ``labels`` names the form's fields."""
    if isinstance(exc, TextTooLong):
        return _(
            "「%(field)s」 is too long: %(length)d characters, at most %(limit)d.",
            field=str(labels.get(exc.field or "", exc.field)),
            length=exc.length,
            limit=exc.limit,
        )
    return exc.message


def attempt(
    action: Callable[[], T],
    *,
    done: Callable[[T], str] | str,
    describe: Callable[[DomainError], str] = lambda exc: problem_text(exc),
) -> T | None:
    """Run a service call as the request's one transaction, and tell the user how it went.

    A refused change (DomainError) is rolled back and shown as "Not saved: …"; success commits
    and shows ``done``. Returns the service's result, or None when it was refused.
    """
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        flash(_("Not saved: %(problem)s", problem=describe(exc)), "error")
        return None
    db.session.commit()
    flash(done(result) if callable(done) else done, "success")
    return result
