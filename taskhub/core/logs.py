"""Logging: one line per event, with the request id, and never a secret.

TASKHUB_LOG_FORMAT picks ``text`` (readable, the default for development) or ``json`` (one
object per line for log collectors; recommended in production). Every request gets an id (the
proxy's X-Request-ID when it sends a sane one, else a new one), echoed in the response header
and carried by every log record made while serving it; one access line is logged per request.
A filter on the handler scrubs tokens, passwords and URL credentials from every line, whoever
wrote it (taskhub.core.logformat). deploy/gunicorn.conf.py installs the same handler for
gunicorn's own logs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, ClassVar

from flask import Flask, g, has_app_context, has_request_context, request
from sqlalchemy import inspect
from werkzeug.wrappers import Response

from taskhub.core import logformat
from taskhub.core.logformat import (
    FORMATTERS,
    RedactFilter,
    StderrHandler,
    TextFormatter,
    _level,
    add_secrets,
)

#: Logger of the per-request access lines.
access_logger = logging.getLogger("taskhub.access")

#: Where the request id lives in the WSGI environ (set once per request).
_ENVIRON_ID = "taskhub.request_id"
_ENVIRON_STARTED = "taskhub.request_started"
#: Longest request id taken from a client or proxy; longer ones are cut.
MAX_REQUEST_ID = 64
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._:-]")

#: Paths of load balancer probes: their successful access lines are DEBUG, not INFO.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})

# -- request ids ----------------------------------------------------------------------------


def request_id() -> str | None:
    """This request's id (None outside a request)."""
    if not has_request_context():
        return None
    environ = request.environ
    rid = environ.get(_ENVIRON_ID)
    if rid is None:
        incoming = _UNSAFE_ID_CHARS.sub("", request.headers.get("X-Request-ID", ""))
        rid = environ[_ENVIRON_ID] = incoming[:MAX_REQUEST_ID] or uuid.uuid4().hex
    return str(rid)


def _current_user_id() -> int | None:
    """The signed-in (or token) user's id if already loaded; never loads it."""
    if not has_app_context():
        return None
    for attribute in ("api_user", "_login_user"):
        user = g.get(attribute)
        state = inspect(user, raiseerr=False) if user is not None else None
        # The identity key, not user.id: an expired row would be reloaded inside logging.
        if state is not None and state.identity:
            return int(state.identity[0])
    return None


# -- the request context on every line ------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds the request's id, method, path, client address and user to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and getattr(record, "request_id", None) is None:
            record.request_id = request_id()
            record.method = request.method
            record.path = request.path
            record.remote_addr = request.remote_addr
            record.user_id = _current_user_id()
        return True


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """The dictConfig document of taskhub.core.logformat, with the request context added."""
    return logformat.logging_config(fmt, level, {"context": ContextFilter})


def configure(fmt: str, level: str) -> None:
    """Put our handler on the root logger, unless gunicorn's logconfig_dict already did."""
    level = _level(level)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, StderrHandler)]
    # One not marked as the app's was installed by deploy/gunicorn.conf.py: keep it.
    if all(getattr(h, "_taskhub_app", False) for h in ours):
        for old in ours:
            root.removeHandler(old)
        handler = StderrHandler()
        handler._taskhub_app = True  # type: ignore[attr-defined]
        handler.setFormatter(FORMATTERS.get(fmt, TextFormatter)())
        handler.addFilter(ContextFilter())
        handler.addFilter(RedactFilter())
        root.addHandler(handler)
    root.setLevel(level)
    _quiet_chatty_loggers(level)
    _enable_taskhub_loggers()


#: Libraries that log routine work at INFO: the development server's access lines (ours
#: replace them) and APScheduler's "running job" twice a minute for the lease renewal.
CHATTY = ("werkzeug", "apscheduler")


def _quiet_chatty_loggers(level: str) -> None:
    for name in CHATTY:
        logger = logging.getLogger(name)
        if level != "DEBUG" and logger.level in (logging.NOTSET, logging.INFO):
            logger.setLevel(logging.WARNING)


def _enable_taskhub_loggers() -> None:
    """Undo logging.config.fileConfig's disabling of existing loggers.

    Alembic's env.py calls fileConfig(alembic.ini), which disables every logger that exists
    at that moment; an app created after an in-process migration would log nothing.
    """
    for name, logger in logging.Logger.manager.loggerDict.items():
        if name.startswith("taskhub") and isinstance(logger, logging.Logger):
            logger.disabled = False


# -- the app --------------------------------------------------------------------------------


class _AccessLog:
    """before/after request hooks: start the clock, then log one line and echo the id."""

    probe_paths: ClassVar[frozenset[str]] = PROBE_PATHS

    @staticmethod
    def start() -> None:
        request.environ[_ENVIRON_STARTED] = time.perf_counter()
        request_id()

    @classmethod
    def finish(cls, response: Response) -> Response:
        rid = request_id()
        if rid:
            response.headers["X-Request-ID"] = rid
        started = request.environ.get(_ENVIRON_STARTED)
        duration = round((time.perf_counter() - started) * 1000, 1) if started else None
        status = response.status_code
        if status >= 500:
            level = logging.ERROR
        elif request.path in cls.probe_paths and status < 400:
            level = logging.DEBUG  # a probe every few seconds would drown the log
        else:
            level = logging.INFO
        if access_logger.isEnabledFor(level):
            access_logger.log(
                level,
                "%s %s %s %s ms",
                request.method,
                request.path,
                status,
                duration,
                extra={
                    "request_id": rid,
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": duration,
                    "user_id": _current_user_id(),
                    "remote_addr": request.remote_addr,
                },
            )
        return response


def init_app(app: Flask) -> None:
    """Set up logging for the app: handler, request ids, access lines, trusted proxies."""
    from flask.logging import default_handler
    from werkzeug.middleware.proxy_fix import ProxyFix

    from taskhub.config import database_password

    configure(app.config.get("LOG_FORMAT", "text"), app.config.get("LOG_LEVEL", "INFO"))
    # Flask's own handler would print every app log a second time.
    app.logger.removeHandler(default_handler)

    add_secrets(
        [
            app.config.get("SECRET_KEY"),
            app.config.get("SMTP_PASSWORD"),
            app.config.get("S3_SECRET_KEY"),
            database_password(app.config.get("SQLALCHEMY_DATABASE_URI")),
        ]
    )

    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies > 0:
        # Behind nginx: the client address and scheme come from the proxy's X-Forwarded-*
        # headers, trusted for exactly that many hops (Port and Prefix are never trusted:
        # our nginx snippet does not set them, so a client could).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=0, x_prefix=0
        )
    app.before_request(_AccessLog.start)
    app.after_request(_AccessLog.finish)
