"""Import pages: template download, upload, preview with per-row errors, confirm."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("imports", __name__)
