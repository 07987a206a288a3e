"""The safety net for concurrent changes: a collision the services did not foresee answers 409.

The services make every optimistic check a compare-and-set: they take the row lock before
checking a version or an ETag (``taskhub.core.db.lock``), so of concurrent changes based on
one read exactly one passes and the others get a domain error (409 stale). What reaches this
module is a collision that slipped past that: the ORM's version check failing at the write
(``StaleDataError``: an UPDATE … WHERE version = :v matched no row), PostgreSQL breaking a
deadlock or a serialisation failure, or two requests inserting the same new row (a unique
violation on PostgreSQL; SQLite's writers never overlap, so there it is a bug: a 500).
Nothing was written (the transaction is rolled back), so the client may simply try again:
the API answers 409 with the usual error body, a page a 409 page in the user's language,
never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import Conflict

from taskhub.core.db import db

logger = logging.getLogger(__name__)

#: PostgreSQL's SQLSTATEs of a collision: serialization_failure, deadlock_detected, and
#: unique_violation (the row a concurrent request inserted first).
CONFLICT_SQLSTATES = frozenset({"40001", "40P01", "23505"})


def is_conflict(error: BaseException) -> bool:
    """Whether the error is a collision with a concurrent transaction (nothing was written)."""
    if isinstance(error, StaleDataError):
        return True
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return sqlstate in CONFLICT_SQLSTATES
    return False


def conflict_response(error: BaseException) -> Any:
    """409: as the API's error body, or as a page."""
    from taskhub.core.api import error_response, is_api_request

    db.session.rollback()
    logger.warning("concurrent change refused (409): %s", type(error).__name__)
    if is_api_request():
        conflict = Conflict(
            "The object was changed by someone else at the same moment; nothing was saved. "
            "Read it again and retry."
        )
        conflict.data = {"code": "stale"}  # type: ignore[attr-defined]
        return error_response(conflict)
    message = _(
        "Someone else changed this at the same moment, so nothing was saved. Go back, "
        "reload the page and try again."
    )
    return render_template("error.html", code=409, message=message), 409
