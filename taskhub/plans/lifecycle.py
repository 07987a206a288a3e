"""A plan's life: draft → published → closed/archived, and revisions of a published plan.

MINIMAL STAND-IN written on branch i13-editor: the lifecycle branch (i13-lifecycle) writes this
module in full (publish, close, copy, revisions that re-sync assignments and notify units) and
replaces this file at merge. Only ``revised`` is here, with the agreed signature.
"""

from __future__ import annotations

from taskhub.accounts.models import User
from taskhub.audit import services as audit
from taskhub.core.db import db
from taskhub.plans.models import Plan


def revised(plan: Plan, *, actor: User, reason: str, summary: str) -> None:
    """Record a change of a published plan as a numbered revision (修订), with its reason."""
    plan.revision = (plan.revision or 0) + 1
    db.session.flush()
    audit.record(
        "plan.revised",
        "plan",
        plan.id,
        actor_id=actor.id,
        after={"code": plan.code, "revision": plan.revision, "reason": reason, "summary": summary},
    )
