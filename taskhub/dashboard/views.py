"""Dashboard pages (thin views; the figures come from ``services``)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__)
