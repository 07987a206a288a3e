"""Logging: structured lines with a request id (filled in by the operations work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Set up logging for the app."""
