"""Security plumbing shared by every page: headers, session expiry (filled in next)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the app's security measures."""
