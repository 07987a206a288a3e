"""JSON API of scoring (see taskhub.core.api for authentication, errors and paging).

The rules are the scoring services' (taskhub.scoring.services); these views load, authorise,
parse, call them and answer. Who may do what follows the pages in taskhub.scoring.views:
every signed-in role sees the rankings (as published), a unit sees only its own unit's
explanation and entered scores, the office and lead assessment units score items, and the
office enters unit-level components and closes periods.

Results are computed for the whole plan at once (one SQL roll-up), so their lists are paged in
Python after the roll-up. Entered scores carry a ``version`` (how many times they were set, from
their audit records) so concurrent changes are detected.
"""

from __future__ import annotations

from taskhub.core import api as core

blp = core.blueprint(
    "scoring", __name__, description="Scores, explanations, rankings and period snapshots."
)


# The routes register themselves on ``blp`` when their modules are imported, in this order
# (the order of the OpenAPI document's paths).
from taskhub.scoring.api import periods, results, scores, snapshots  # noqa: E402, F401
