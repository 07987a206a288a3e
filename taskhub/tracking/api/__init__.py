"""JSON API of tracking: assignments, milestones, progress reports with evidence, reviews and
extension requests (the pattern the other domains' api modules follow).

Lists read plain rows (Core selects with joins), never ORM objects one by one: the open-
assignments list is what city dashboards poll. Changes go through ``tracking.services`` (the
same rules and audit records as the pages); each request commits once or rolls back.
"""

from __future__ import annotations

from flask import request

from taskhub.core import api as core
from taskhub.tracking.schemas import MAX_ID

blp = core.blueprint(
    "tracking",
    __name__,
    description="Assignments, milestones, progress reports with evidence, reviews, extensions.",
)


@blp.before_request
def _ids_in_range() -> None:
    # /reports/99999999999999999999 names nothing; the drivers would raise on the number.
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and value > MAX_ID:
            core.abort(404, "No object has that id.")


# The routes register themselves on ``blp`` when their modules are imported.
from taskhub.tracking.api import assignments, extensions, reports  # noqa: E402, F401
