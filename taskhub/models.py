"""Import every model so that metadata (and Alembic) sees all tables."""

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.jobs.models import SchedulerLease
from taskhub.plans.models import Item, ItemUnit, Plan, PlanAssessee, Section
from taskhub.reminders.models import OutboxMessage
from taskhub.scoring.models import Period, Scheme, Score, Snapshot
from taskhub.tracking.models import (
    Assignment,
    Evidence,
    ExtensionRequest,
    Milestone,
    ProgressReport,
    Review,
)
from taskhub.units.models import City, Contact, Unit, UnitAlias, UnitGroup

__all__ = [
    "Assignment",
    "AuditEvent",
    "City",
    "Contact",
    "Evidence",
    "ExtensionRequest",
    "Item",
    "ItemUnit",
    "Milestone",
    "OutboxMessage",
    "Period",
    "Plan",
    "PlanAssessee",
    "ProgressReport",
    "Review",
    "SchedulerLease",
    "Scheme",
    "Score",
    "Section",
    "Snapshot",
    "Unit",
    "UnitAlias",
    "UnitGroup",
    "User",
]
