"""API: plan drafts read from documents (/api/v1/plan-drafts/)."""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint(
    "plan-drafts", __name__, description="Draft plans read from documents, before import."
)
