"""Query-string arguments of the ledger and the timeline (GET, so every view is a shareable URL)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from taskhub.core.inputs import MAX_ID, MAX_PAGE
from taskhub.core.limits import length
from taskhub.ledger.lights import COLORS
from taskhub.tracking.models import AssignmentStatus

#: Whitelisted sort keys of the ledger (anything else falls back to the document order).
SORTS = ("item", "plan", "unit", "status", "light", "percent", "due", "report")
STATUSES = tuple(s.value for s in AssignmentStatus)
GROUPINGS = ("unit", "area")
#: The deadline board's views (tracking.services.VIEWS, repeated to keep this module light).
BOARD_VIEWS = ("open", "due_soon", "overdue", "returned", "submitted", "completed", "all")


class _GetArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def blank_to_missing(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        """An empty select or date field means "no filter"."""
        return {k: v.strip() for k, v in dict(data).items() if isinstance(v, str) and v.strip()}


class LedgerArgs(_GetArgs):
    """Filters, sort and page of the ledger and its export."""

    plan = fields.String(validate=validate.Length(max=100))
    area = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    unit = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    #: Typed into the unit search box (cities with too many units for a list).
    unit_name = fields.String(validate=length("search.text"))
    lead = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    status = fields.String(validate=validate.OneOf(STATUSES))
    light = fields.String(validate=validate.OneOf(COLORS))
    due_from = fields.Date(data_key="from", format="iso")
    due_to = fields.Date(data_key="to", format="iso")
    sort = fields.String(load_default="item")
    dir = fields.String(load_default="asc")
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))


class TimelineArgs(_GetArgs):
    """Plan, grouping, year and page of the timeline."""

    plan = fields.String(validate=validate.Length(max=100))
    group = fields.String(load_default="unit", validate=validate.OneOf(GROUPINGS))
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))


def load_args(schema: Schema, args: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The valid arguments, and the names of the invalid ones (dropped, so they filter nothing).

    Sort, direction and page never fail: an unknown value falls back to its default.
    """
    data = dict(args)
    errors: dict[str, str] = {}
    for _ in range(len(data) + 1):
        try:
            values = schema.load(data)
            break
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {}
            bad = [key for key in messages if key in data]
            if not bad:
                raise
            for key in bad:
                if key in ("sort", "dir", "page"):
                    data.pop(key)
                else:
                    errors[key] = str(data.pop(key))
    else:  # pragma: no cover - every round removes at least one key
        raise RuntimeError("arguments did not validate")
    if values.get("sort") not in SORTS:
        values["sort"] = "item"
    if values.get("dir") not in ("asc", "desc"):
        values["dir"] = "asc"
    values["page"] = max(1, min(values.get("page") or 1, 1_000_000))
    return values, errors


class BoardArgs(LedgerArgs):
    """The deadline board's filters: the ledger's, and a view (open, due soon, overdue, …)."""

    view = fields.String(load_default="open", validate=validate.OneOf(BOARD_VIEWS))
