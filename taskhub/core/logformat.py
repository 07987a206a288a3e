"""Log lines without secrets: redaction, the text and JSON formatters, the stderr handler.

Standard library only, and no import of another TaskHub module: the gunicorn master loads this
file under a name of its own (deploy/gunicorn.conf.py) to format its own lines, without
importing the ``taskhub`` package, so that the workers it forks import every module afresh.
The app's logging (request ids, access lines) is in taskhub.core.logs, which uses these.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

#: Request attributes copied onto records, in the order JSON lines show them.
CONTEXT_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id", "remote_addr")

REDACTED = "***"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Personal API tokens (taskhub.accounts.tokens: "thk_" + 43 url-safe characters).
    (re.compile(r"\bthk_[A-Za-z0-9_-]{6,}"), "thk_" + REDACTED),
    # The password in URL user info: postgresql://user:secret@host/db.
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@\s/]+@"), r"\1:" + REDACTED + "@"),
    # Authorization and cookie header values, to the end of the line or quoted value.
    (
        re.compile(
            r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+",
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)(\b(?:set-)?cookie[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # key=value and "key": "value" where the key names a secret (TASKHUB_SMTP_PASSWORD=…,
    # password=…, csrf_token=…, 'secret': '…').
    (
        re.compile(
            r"(?i)([\"']?[A-Za-z0-9_-]*(?:password|passwd|secret|token|api_?key)[\"']?"
            r"\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;\"']+)"
        ),
        r"\1" + REDACTED,
    ),
)

#: Configured secret values (SECRET_KEY, SMTP and database passwords), scrubbed verbatim.
_known_secrets: set[str] = set()
#: Secrets shorter than this are not scrubbed verbatim (they would match ordinary words).
_MIN_SECRET = 6


def redact(text: str) -> str:
    """``text`` with secrets replaced by ***: tokens, passwords, URL credentials, cookies."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def add_secrets(values: Iterable[str | None]) -> None:
    """Scrub these configured values verbatim from every log line."""
    _known_secrets.update(v for v in values if v and len(v) >= _MIN_SECRET)


class RedactFilter(logging.Filter):
    """Renders the message (and traceback) and scrubs secrets from it before any formatter."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        path = getattr(record, "path", None)
        if isinstance(path, str):
            record.path = redact(path)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, then the request fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        entry["pid"] = record.process
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-03-01 09:30:00,123 INFO taskhub.access [1f3c…] message`` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test capture, gunicorn's redirect)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}


def logging_config(
    fmt: str, level: str, filters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A logging.config.dictConfig document: our handler on the root, gunicorn's logs through it.

    ``filters`` adds filter factories in front of the redaction (taskhub.core.logs adds the
    request context); classes are given as objects, so a copy of this module loaded under
    another name (deploy/gunicorn.conf.py) configures its own classes.
    """
    level = _level(level)
    factories = {**(filters or {}), "redact": RedactFilter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"taskhub": {"()": FORMATTERS.get(fmt, TextFormatter)}},
        "filters": {name: {"()": factory} for name, factory in factories.items()},
        "handlers": {
            "stderr": {
                "()": StderrHandler,
                "formatter": "taskhub",
                "filters": list(factories),
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            # The app writes the access lines (with request ids); gunicorn's stay off.
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def _level(name: str) -> str:
    """A level logging knows (a bad TASKHUB_LOG_LEVEL is reported by the config check)."""
    name = str(name).strip().upper()
    return name if name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "INFO"
