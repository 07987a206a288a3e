"""JSON API of reports (see taskhub.core.api for authentication, errors and paging)."""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint("reports", __name__, description="Bulletins (通报).")
