"""Small helpers shared by page views."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import flash
from flask_babel import gettext as _

from taskhub.core.db import db
from taskhub.core.errors import DomainError

T = TypeVar("T")


def attempt(
    action: Callable[[], T],
    *,
    done: Callable[[T], str] | str,
    describe: Callable[[DomainError], str] = lambda exc: exc.message,
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
