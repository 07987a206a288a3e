"""Ledger and timeline pages (thin views; queries live in ``services``)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ledger", __name__)
