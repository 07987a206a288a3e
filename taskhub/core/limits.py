"""The limits of what TaskHub accepts as input: one table, used by services, schemas and docs.

Services call :func:`check_text` / :func:`check_texts` on every text they store, so the pages,
the API and the Excel imports refuse the same things; the API's schemas take their
``maxLength`` from here (:func:`length`), and docs/security.md lists the table. Limits count
characters (a Chinese character is one), not bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import validate

from taskhub.core.errors import ValidationFailed

#: Largest id or row offset the databases take (ids are 32-bit integers on PostgreSQL);
#: larger values cannot match anything.
MAX_ID = 2**31 - 1

#: The longest text each field takes, in characters, by "object.field".
TEXT_LIMITS: dict[str, int] = {
    # Progress reports: 工作进展, 存在问题, 下步计划 (about 20 printed pages each).
    "report.progress": 20_000,
    "report.problems": 20_000,
    "report.next_steps": 20_000,
    # Reasons given by people deciding things.
    "review.reason": 2_000,
    "extension.reason": 2_000,
    "extension.decision_reason": 2_000,
    "score.reason": 500,
    "period.reason": 500,
    "period.doc_number": 60,
    "milestone.title": 200,
    # Units, groups and contacts.
    "unit.name": 100,
    "unit.code": 50,
    "group.name": 100,
    "group.source": 2_000,
    "contact.name": 100,
    "contact.position": 100,
    "contact.office_phone": 30,
    "contact.mobile": 30,
    "contact.email": 200,
    "contact.webhook_url": 500,
    # Cities and the other names of units (cities and units pages, API, command line).
    "city.code": 50,
    "city.name": 100,
    "city.province": 50,
    "alias.name": 100,
    "merge.reason": 2_000,
    # Accounts.
    "user.username": 50,
    "user.display_name": 100,
    "user.email": 200,
    "user.mobile": 30,
    "user.password": 200,
    "token.name": 100,
    # Settings pages.
    "calendar.note": 200,
    "reminder_rule.name": 100,
    "webhook.url": 2_000,
    "webhook.description": 200,
    # Plans (seed files and the plan import).
    "plan.title": 200,
    "plan.document_number": 100,
    "section.title": 500,
    "item.title": 500,
    "item.text": 5_000,
    "item.target": 500,
    "item.deadline_phrase": 200,
    # Plans written in the browser (plan editor).
    "section.number": 50,
    "item.number": 50,
    "plan.revision_reason": 2_000,
    # Plan documents read into drafts (taskhub.documents): the text of one document, read
    # from a file or pasted (a 300-page plan is about 300,000 characters).
    "document.text": 500_000,
    # Escalation notices (督办单): what is required, the unit's answer, the office's note.
    "escalation.required_action": 2_000,
    "escalation.answer": 20_000,
    "escalation.note": 2_000,
    "escalation.level_name": 50,
    "instruction.text": 5_000,
    "instruction.answer": 20_000,
    "handover.reason": 2_000,
    "handover.note": 2_000,
    # Sub-tasks (分解任务) and co-handling parts (协办意见).
    "subtask.text": 5_000,
    "subtask.target": 500,
    "subtask.department": 100,
    "subtask.milestone": 200,
    "subtask.close_reason": 2_000,
    "co_report.text": 5_000,
    # Search boxes and filters of the lists.
    "search.text": 100,
}

#: Largest size and precision of a number typed in (scores, components, allocations,
#: numerators and denominators): no score, budget or count comes near them, and Decimal
#: arithmetic on them can never overflow.
NUMBER_LIMIT = Decimal(10) ** 9
NUMBER_PLACES = 10


def limit(name: str) -> int:
    return TEXT_LIMITS[name]


def length(name: str, *, required: bool = False) -> validate.Length:
    """A marshmallow validator with the table's maximum (the OpenAPI document's maxLength)."""
    return validate.Length(min=1 if required else None, max=TEXT_LIMITS[name])


class TextTooLong(ValidationFailed):
    """A text is longer than its field's limit; ``field`` is the form or API field name."""

    def __init__(self, field: str, limit: int, length: int) -> None:
        super().__init__(
            f"{field} is too long: {length} characters, at most {limit}", problems=[field]
        )
        self.field = field
        self.limit = limit
        self.length = length


def check_text(name: str, value: str | None, *, field: str | None = None) -> None:
    """Refuse ``value`` when longer than the limit of ``name`` ("object.field")."""
    if value is not None and len(value) > TEXT_LIMITS[name]:
        raise TextTooLong(field or name.rsplit(".", 1)[1], TEXT_LIMITS[name], len(value))


def check_texts(kind: str, values: Mapping[str, Any]) -> None:
    """:func:`check_text` for several fields of one object, e.g. ``check_texts("report",
    {"progress": progress, ...})``; values that are not text are left to other checks."""
    for field, value in values.items():
        if isinstance(value, str):
            check_text(f"{kind}.{field}", value, field=field)


class BadNumber(ValidationFailed):
    """A number that no field takes: not finite, too large or too precise."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {NUMBER_PROBLEMS[problem]}", problems=[field])
        self.field = field
        self.problem = problem


NUMBER_PROBLEMS = {
    "not_a_number": "not a number",
    "not_finite": "must be a finite number (not NaN or Infinity)",
    "too_large": f"must be between -{NUMBER_LIMIT:,} and {NUMBER_LIMIT:,}",
    "too_precise": f"give at most {NUMBER_PLACES} decimal places",
}


def number_problem(value: Decimal) -> str | None:
    """Why ``value`` is no acceptable input (a key of NUMBER_PROBLEMS), or None."""
    if not value.is_finite():
        return "not_finite"
    if abs(value) > NUMBER_LIMIT:
        return "too_large"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -NUMBER_PLACES:
        return "too_precise"
    return None


def check_number(value: Decimal | None, field: str) -> None:
    """Refuse NaN, infinities and numbers beyond NUMBER_LIMIT or NUMBER_PLACES."""
    if value is not None:
        problem = number_problem(value)
        if problem is not None:
            raise BadNumber(field, problem)
