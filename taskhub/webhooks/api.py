"""JSON API of webhooks (see taskhub.core.api for authentication, errors and paging)."""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint("webhooks", __name__, description="Outgoing event webhooks (admins).")
