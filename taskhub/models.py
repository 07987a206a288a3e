"""Import every model so that metadata (and Alembic) sees all tables."""

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.calendar.models import CalendarOverride
from taskhub.jobs.models import JobRun, SchedulerLease
from taskhub.plans.models import Item, ItemUnit, Plan, PlanAssessee, Section
from taskhub.reminders.models import Notification, OutboxMessage, ReminderRule
from taskhub.scoring.models import Period, Scheme, Score, Snapshot
from taskhub.tracking.models import (
    Assignment,
    Evidence,
    ExtensionRequest,
    ItemMilestone,
    Milestone,
    ProgressReport,
    Review,
)
from taskhub.units.models import City, Contact, Unit, UnitAlias, UnitGroup

__all__ = [
    "Assignment",
    "AuditEvent",
    "CalendarOverride",
    "City",
    "Contact",
    "Evidence",
    "ExtensionRequest",
    "Item",
    "ItemMilestone",
    "ItemUnit",
    "JobRun",
    "Milestone",
    "Notification",
    "OutboxMessage",
    "Period",
    "Plan",
    "PlanAssessee",
    "ProgressReport",
    "ReminderRule",
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
