"""JSON API of units (see taskhub.core.api for authentication, errors and paging)."""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint("units", __name__, description="Units, unit groups and contacts.")
