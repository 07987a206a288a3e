"""Pages: upload or paste a plan document, check the draft next to its source, confirm."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("documents", __name__)
