"""Display labels for stored codes (roles, kinds, statuses), translated at render time."""

from __future__ import annotations

from flask import g, has_request_context
from flask_babel import lazy_gettext as _l

LABELS = {
    "role": {
        "admin": _l("Administrator"),
        "office": _l("Coordinating office"),
        "assessor": _l("Assessor"),
        "unit": _l("Unit staff"),
        "viewer": _l("Viewer"),
    },
    "unit_kind": {
        "county": _l("County / district"),
        "township": _l("Township / street"),
        "department": _l("Department"),
        "enterprise": _l("Enterprise"),
        "other": _l("Other"),
    },
    "unit_role": {
        "lead": _l("Lead unit"),
        "responsible": _l("Responsible units"),
        "lead_assessor": _l("Lead assessment units"),
        "assessed": _l("Assessed"),
    },
    "plan_kind": {"tasks": _l("Task plan"), "indicators": _l("Indicator system")},
    "plan_status": {
        "draft": _l("Draft"),
        "published": _l("Published"),
        "closed": _l("Closed"),
        "archived": _l("Archived"),
    },
    "revision_kind": {
        "published": _l("Published"),
        "revised": _l("Revised"),
        "copied": _l("Copied from another year"),
    },
    "status": {
        "new": _l("Not acknowledged"),
        "acknowledged": _l("Acknowledged"),
        "in_progress": _l("In progress"),
        "submitted": _l("Awaiting review"),
        "returned": _l("Returned"),
        "completed": _l("Completed"),
    },
    "applicability": {"all": _l("All"), "as_needed": _l("As needed")},
    "milestone_kind": {
        "stage": _l("Stage result"),
        "notable": _l("Notable result"),
        "complete": _l("Completion"),
        "checkpoint": _l("Checkpoint"),
        "step": _l("Step"),
    },
    "milestone_status": {"open": _l("Open"), "done": _l("Done"), "waived": _l("Waived")},
    "report_status": {
        "submitted": _l("Awaiting review"),
        "accepted": _l("Accepted"),
        "returned": _l("Returned"),
    },
    "light": {"red": _l("Red"), "yellow": _l("Yellow"), "green": _l("Green"), "grey": _l("Grey")},
    "light_reason": {
        "overdue": _l("Overdue"),
        "due_soon": _l("Due soon"),
        "behind_pace": _l("Behind the time-elapsed pace"),
        "on_track": _l("On track"),
        "completed": _l("Completed"),
        "no_milestones": _l("No milestones set"),
    },
    "extension_status": {
        "pending": _l("Pending"),
        "approved": _l("Approved"),
        "rejected": _l("Rejected"),
    },
    "view": {
        "open": _l("Open"),
        "due_soon": _l("Due in 2 weeks"),
        "overdue": _l("Overdue"),
        "returned": _l("Returned"),
        "submitted": _l("Awaiting review"),
        "completed": _l("Completed"),
        "all": _l("All"),
    },
    "recipient": {
        "unit_contacts": _l("The unit's contacts"),
        "lead_unit": _l("The lead unit"),
        "office": _l("The office"),
    },
    "notice_event": {
        "report_submitted": _l("A report awaits review"),
        "report_accepted": _l("Our report is accepted"),
        "report_returned": _l("Our report is returned"),
        "extension_decided": _l("Our extension request is decided"),
    },
    "channel": {
        "email": _l("Email"),
        "webhook": _l("Chat robot"),
        "in_app": _l("In the app"),
        "hook": _l("Event webhook"),
    },
    "score_source": {
        "completion": _l("Completion"),
        "assessor": _l("Assessor"),
        "import": _l("Imported"),
        "not_scored": _l("Not scored"),
        "entered": _l("Entered"),
        "not_entered": _l("Not entered"),
        "period": _l("Period"),
        "supervision": _l("Supervision records"),
        "not_applicable": _l("Not applicable"),
    },
    "audit_action": {
        "assignment.acknowledged": _l("Acknowledged receipt"),
        "assignment.handover_requested": _l("Asked to send the task back"),
        "assignment.handed_over": _l("Handed the task over to another unit"),
        "assignment.handover_rejected": _l("Did not agree to send the task back"),
        "report.submitted": _l("Reported progress"),
        "report.accepted": _l("Accepted the report"),
        "report.returned": _l("Returned the report"),
        "assignment.closed": _l("Signed the task off"),
        "assignment.reopened": _l("Reopened the task"),
        "extension.requested": _l("Requested an extension"),
        "extension.approved": _l("Approved the extension"),
        "extension.rejected": _l("Rejected the extension"),
        "notifications.preferences_changed": _l("Changed the notification settings"),
        "subtask.created": _l("Decomposed a sub-task"),
        "subtask.acknowledged": _l("Acknowledged the sub-task"),
        "subtask.report_submitted": _l("Reported on the sub-task"),
        "subtask.report_lead_accepted": _l("Accepted the sub-task report for the office's review"),
        "subtask.report_accepted": _l("Accepted the sub-task report"),
        "subtask.report_returned": _l("Returned the sub-task report"),
        "subtask.closed": _l("Closed the sub-task with a reason"),
        "co_report.submitted": _l("Gave the co-handling part"),
        "co_report.updated": _l("Changed the co-handling part"),
        "escalation.issued": _l("Issued an escalation notice"),
        "escalation.answered": _l("Answered the escalation notice"),
        "escalation.closed": _l("Closed the escalation notice"),
        "escalation.withdrawn": _l("Withdrew the escalation notice"),
        "instruction.recorded": _l("Recorded a leader's instruction"),
        "instruction.answered": _l("Answered the leader's instruction"),
    },
    "outbox_status": {"pending": _l("Pending"), "sent": _l("Sent"), "failed": _l("Failed")},
}


def label(group: str, code: str | None) -> str:
    """The translated label of a code, or the code itself when unknown."""
    if code is None:
        return ""
    if not has_request_context():
        return str(LABELS[group].get(code, code))
    # A ledger page asks for the same few labels hundreds of times; each lazy string would look
    # the catalogue up again. Remember them for this request (reset before each request).
    cache = g.get("labels")
    if cache is None:
        cache = g.labels = {}
    key = (group, code)
    text = cache.get(key)
    if text is None:
        text = cache[key] = str(LABELS[group].get(code, code))
    return text


#: marshmallow's and our validators' messages, translated for forms.
FIELD_ERRORS = {
    "Missing data for required field.": _l("This field is required."),
    "must not contain NUL characters": _l("This text contains a character that cannot be stored."),
    "Field may not be null.": _l("This field is required."),
    "Not a valid email address.": _l("Enter a valid email address, such as name@example.org."),
    "Not a valid URL.": _l("Enter a full web address starting with http:// or https://."),
    # taskhub.units.schemas.ROBOT_URL_ERROR
    "not a DingTalk (https://oapi.dingtalk.com/robot/send?access_token=…) or WeCom "
    "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…) robot address": _l(
        "Enter a DingTalk or WeCom group robot address: "
        "https://oapi.dingtalk.com/robot/send?access_token=… or "
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"
    ),
    "not a phone number": _l("Enter a phone number using digits, spaces, +, - or brackets."),
    "give at least one of office phone, mobile, email or webhook": _l(
        "Give at least one way to reach the contact: office phone, mobile, email or webhook."
    ),
}


def field_error(message: str) -> str:
    """A form field's error in the user's language."""
    if message.startswith("Longer than maximum length") or message.startswith("Length must"):
        return str(_l("This text is too long."))
    return str(FIELD_ERRORS.get(message, message))
