"""Outages: a request the database (or the evidence object store) cannot serve answers 503
and says so.

A restart of PostgreSQL, its connections used up, or a locked SQLite file are brief: the page
and the API say so in plain words with ``Retry-After``, and a page form comes back with what
was typed, ready to send again. Errors in the SQL itself (a missing table, a constraint, a
deadlock) are not outages: they go on to the usual 500 (or to their own handlers).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from typing import Any

from flask import current_app, g, render_template, request, session
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

logger = logging.getLogger(__name__)

#: Seconds a client should wait before trying again (a restart takes about a second).
RETRY_AFTER_SECONDS = 5

#: PostgreSQL error classes that mean "the server cannot serve now": 08 connection exception,
#: 53 insufficient resources (53300 too many connections), 57P shutdown or starting up.
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57P")
#: SQLite result codes (primary) that mean the file cannot be used now: busy, locked,
#: I/O error, cannot open.
_SQLITE_UNAVAILABLE_CODES = frozenset({5, 6, 10, 14})

#: Labels of the form fields shown again (other fields show their name).
_FIELD_LABELS = {
    "progress": _l("Work done"),
    "problems": _l("Problems"),
    "next_steps": _l("Next steps"),
    "reason": _l("Reason"),
    "username": _l("Username"),
    "password": _l("Password"),
}


def is_database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached or used right now."""
    if isinstance(error, PoolTimeout):
        return True  # every pooled connection is in use
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    original = error.orig
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE_CODES
    state = getattr(original, "sqlstate", None)
    if state is None:
        # psycopg raises connection failures (refused, timed out, "too many clients" at
        # connect) without a SQLSTATE: the server never answered the query.
        return True
    return str(state).startswith(_PG_UNAVAILABLE_CLASSES)


def database_unavailable(error: Exception) -> Any:
    """503 with Retry-After for an outage; any other database error goes on to the 500."""
    if not is_database_unavailable(error):
        raise error
    logger.warning("database unavailable: %s: %s", type(error).__name__, str(error).splitlines()[0])
    return _unavailable(
        "database_unavailable",
        _l("The database is briefly unavailable"),
        _l("The database is briefly unavailable. Please try again shortly."),
    )


def storage_unavailable(error: Exception) -> Any:
    """503 with Retry-After: the evidence store (an object store) cannot be reached."""
    logger.warning("evidence store unavailable: %s", error)
    return _unavailable(
        "storage_unavailable",
        _l("The file store is briefly unavailable"),
        _l("The file store is briefly unavailable. Please try again shortly."),
    )


def _unavailable(code: str, heading: Any, message: Any) -> Any:
    """The 503 page (or JSON), made as for a visitor, with what a page form sent kept."""
    from taskhub.core.db import db

    # The broken transaction is dropped; the connection pool reconnects on the next request.
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    # Templates and the locale selector would load the signed-in user from the database: the
    # answer is the same for everyone, so it is made as for a visitor.
    g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("locale")
    locale = chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]
    g.catalogue = None
    with force_locale(locale):
        from taskhub.core.api import is_api_request

        if is_api_request():
            return {"code": code, "message": str(message)}, 503, headers
        page = render_template(
            "unavailable.html",
            lang="en" if locale == "en" else "zh-CN",
            heading=str(heading),
            message=str(message),
            retry_after=RETRY_AFTER_SECONDS,
            resubmit=_typed_fields() if request.method == "POST" else None,
        )
    return page, 503, headers


def _typed_fields() -> dict[str, Any]:
    """What a page form sent, to show again and send once more (files cannot come back)."""
    shown: list[tuple[str, str, str]] = []
    carried: list[tuple[str, str]] = []
    secrets: list[tuple[str, str]] = []
    for name, value in request.form.items(multi=True):
        if name == "csrf_token":
            continue  # a fresh one is put in the form
        if "password" in name:
            # Never written into a page: the user types it again.
            secrets.append((name, str(_FIELD_LABELS.get(name, name))))
        elif value.strip() and not value.strip().isdigit():
            shown.append((name, str(_FIELD_LABELS.get(name, name)), value))
        else:
            carried.append((name, value))  # ids, versions, numbers: sent back as they were
    return {
        "action": request.full_path if request.query_string else request.path,
        "multipart": request.mimetype == "multipart/form-data",
        "shown": shown,
        "carried": carried,
        "secrets": secrets,
        "files": sorted(set(request.files)),
    }
