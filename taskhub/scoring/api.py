"""JSON API of scoring (see taskhub.core.api for authentication, errors and paging)."""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint(
    "scoring", __name__, description="Scores, explanations, rankings and period snapshots."
)
