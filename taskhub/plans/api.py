"""JSON API of plans (see taskhub.core.api for authentication, errors and paging)."""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint("plans", __name__, description="Plans, their sections and items.")
