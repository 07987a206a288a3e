"""Import every model so that metadata (and Alembic) sees all tables."""

from taskhub.accounts.models import ApiToken, Invitation, LoginAttempt, User
from taskhub.audit.models import AuditEvent
from taskhub.cadence.models import ReportingCadence
from taskhub.calendar.models import CalendarOverride
from taskhub.documents.models import PlanDraft
from taskhub.jobs.models import JobRun, SchedulerLease
from taskhub.leaders.models import (
    DigestSetting,
    Instruction,
    InstructionTarget,
    ItemLeader,
    Leader,
    UnitLeader,
)
from taskhub.plans.models import Item, ItemUnit, Plan, PlanAssessee, PlanRevision, Section
from taskhub.reminders.models import Notification, OutboxMessage, ReminderRule
from taskhub.scoring.models import (
    ComponentScore,
    ItemScore,
    Period,
    PointAllocation,
    Scheme,
    Snapshot,
)
from taskhub.supervision.models import (
    CoReport,
    Escalation,
    EscalationLevel,
    HandoverRequest,
    Subtask,
    SubtaskMilestone,
    SubtaskReport,
)
from taskhub.tracking.models import (
    Assignment,
    Evidence,
    ExtensionRequest,
    ItemMilestone,
    Milestone,
    PeriodCount,
    ProgressReport,
    Review,
)
from taskhub.units.models import City, Contact, Unit, UnitAlias, UnitGroup
from taskhub.webhooks.models import WebhookEndpoint

__all__ = [
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "CalendarOverride",
    "City",
    "CoReport",
    "ComponentScore",
    "Contact",
    "DigestSetting",
    "Escalation",
    "EscalationLevel",
    "Evidence",
    "ExtensionRequest",
    "HandoverRequest",
    "Instruction",
    "InstructionTarget",
    "Invitation",
    "Item",
    "ItemLeader",
    "ItemMilestone",
    "ItemScore",
    "ItemUnit",
    "JobRun",
    "Leader",
    "LoginAttempt",
    "Milestone",
    "Notification",
    "OutboxMessage",
    "Period",
    "PeriodCount",
    "Plan",
    "PlanAssessee",
    "PlanDraft",
    "PlanRevision",
    "PointAllocation",
    "ProgressReport",
    "ReminderRule",
    "ReportingCadence",
    "Review",
    "SchedulerLease",
    "Scheme",
    "Section",
    "Snapshot",
    "Subtask",
    "SubtaskMilestone",
    "SubtaskReport",
    "Unit",
    "UnitAlias",
    "UnitGroup",
    "UnitLeader",
    "User",
    "WebhookEndpoint",
]
