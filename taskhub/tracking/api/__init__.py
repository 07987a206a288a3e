"""JSON API of tracking: assignments, milestones, progress reports with evidence, reviews and
extension requests (the pattern the other domains' api modules follow).

Lists read plain rows (Core selects with joins), never ORM objects one by one: the open-
assignments list is what city dashboards poll. Changes go through ``tracking.services`` (the
same rules and audit records as the pages); each request commits once or rolls back.
"""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint(
    "tracking",
    __name__,
    description="Assignments, milestones, progress reports with evidence, reviews, extensions.",
)


# The routes register themselves on ``blp`` when their modules are imported.
from taskhub.tracking.api import assignments, extensions, reports  # noqa: E402, F401
