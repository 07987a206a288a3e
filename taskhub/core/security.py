"""Security measures on every request: response headers, session lifetime and idle timeout.

Sign-in throttling is an account rule (taskhub.accounts.throttle); its limits are read from the
configuration here, next to the other security settings. Sessions end early when their user's
session generation changes (taskhub.accounts.services.session_user, Flask-Login's user loader).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable

from flask import Flask, current_app, flash, request, session
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import logout_user
from werkzeug.wrappers import Response

from taskhub.accounts.throttle import LoginLimits
from taskhub.core.api import is_api_request
from taskhub.core.db import now_utc

logger = logging.getLogger(__name__)

#: Settings this module reads, with their defaults (config.py may set them from TASKHUB_*).
DEFAULTS: dict[str, int] = {"SESSION_IDLE_MINUTES": 120, **LoginLimits.defaults()}

#: Session keys: when the user signed in and when we last saw a request (Unix seconds).
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
#: The last-seen time is rewritten at most this often (seconds), not on every request.
SEEN_EVERY = 60

#: HSTS for a year, only sent when the public address is https.
HSTS = "max-age=31536000"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def source_hash(text: bytes | str) -> str:
    """A CSP hash source for an inline script or handler."""
    raw = text.encode() if isinstance(text, str) else text
    return "'sha256-" + base64.b64encode(hashlib.sha256(raw).digest()).decode() + "'"


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """Same-origin everything; no inline scripts except the listed hashes.

    Inline styles are allowed: templates position timeline markers with style attributes and
    ECharts draws tooltips with them; scripts are what an injection would need.
    """
    scripts = ["'self'", *script_hashes]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src " + " ".join(scripts),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


PAGE_CSP = content_security_policy()


def init_app(app: Flask) -> None:
    """Install the app's security measures."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    # Fail at start-up, not at the first sign-in, on a bad setting.
    LoginLimits.from_config(app.config)
    if int(app.config["SESSION_IDLE_MINUTES"]) < 1:
        raise ValueError("SESSION_IDLE_MINUTES must be at least 1")
    app.before_request(_expire_session)
    app.after_request(_add_headers)


def login_limits() -> LoginLimits:
    """The sign-in throttling limits configured for this app."""
    return LoginLimits.from_config(current_app.config)


def client_address() -> str:
    """The client's IP address (ProxyFix puts the real one here behind nginx)."""
    return request.remote_addr or "unknown"


def begin_session() -> None:
    """Call right after login_user: a permanent session with its clocks started."""
    now = int(now_utc().timestamp())
    session.permanent = True
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now


def _ended_by(now: int) -> str | None:
    """Why this session has ended ("lifetime" or "idle"), or None while it is valid."""
    signed_in, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in, int) or not isinstance(seen, int):
        return "lifetime"  # a session from before these clocks existed
    if now - signed_in >= current_app.permanent_session_lifetime.total_seconds():
        return "lifetime"
    if now - seen >= int(current_app.config["SESSION_IDLE_MINUTES"]) * 60:
        return "idle"
    return None


def _expire_session() -> None:
    """Sign out a session that was idle too long or is older than its lifetime.

    The request then goes on signed out, so protected pages send the user to the login page
    (and JSON clients get 401); the flashed message says why.
    """
    if "_user_id" not in session or request.endpoint == "static" or is_api_request():
        return  # (the API ignores cookies: it authenticates by token)
    now = int(now_utc().timestamp())
    reason = _ended_by(now)
    if reason is None:
        if now - session[SEEN_AT] >= SEEN_EVERY:
            session[SEEN_AT] = now
        return
    refresh()  # the request's locale is chosen after this hook; look it up for the message
    if reason == "idle":
        message = _(
            "You were signed out after %(minutes)d minutes without activity. Please sign in again.",
            minutes=int(current_app.config["SESSION_IDLE_MINUTES"]),
        )
    else:
        hours = max(1, int(current_app.permanent_session_lifetime.total_seconds()) // 3600)
        message = _(
            "Your sign-in expired after %(hours)d hours. Please sign in again.", hours=hours
        )
    logout_user()
    session.pop(SIGNED_IN_AT, None)
    session.pop(SEEN_AT, None)
    flash(message, "error")


def _page_policy(response: Response) -> str:
    """The policy of this response; Swagger UI's page needs its one inline script."""
    if (request.endpoint or "").endswith(
        ".openapi_swagger_ui"
    ) and response.mimetype == "text/html":
        scripts = _INLINE_SCRIPT.findall(response.get_data())
        return content_security_policy(source_hash(s) for s in scripts)
    return PAGE_CSP


def _add_headers(response: Response) -> Response:
    """Security headers on every response; a route's own CSP (evidence previews) is kept."""
    headers = response.headers
    own_csp = headers.get("Content-Security-Policy")
    if own_csp is None:
        headers["Content-Security-Policy"] = _page_policy(response)
        frame = "DENY"
    else:
        # Evidence previews may be framed by our own pages; that route says so in its CSP.
        frame = "SAMEORIGIN" if "frame-ancestors 'self'" in own_csp else "DENY"
    headers.setdefault("X-Frame-Options", frame)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if str(current_app.config.get("BASE_URL") or "").startswith("https://"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
