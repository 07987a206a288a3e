"""Ledger and timeline pages (thin views; queries live in ``services`` and ``timeline``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from math import ceil
from typing import Any

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.permissions import login_required
from taskhub.core.replica import reads_replica
from taskhub.core.timeutil import office_today
from taskhub.core.xlsx import xlsx_response
from taskhub.dashboard.landing import newest_active
from taskhub.ledger import exports, services
from taskhub.ledger import timeline as timelines
from taskhub.ledger.lights import COLORS
from taskhub.ledger.schemas import STATUSES, LedgerArgs, TimelineArgs, load_args
from taskhub.plans.models import Plan

bp = Blueprint("ledger", __name__)


def messages(invalid: dict[str, str], problems: dict[str, str]) -> dict[str, str]:
    """Each refused argument's message, keyed by the form field it belongs to."""
    by_field = {
        "from": _("Enter the date as YYYY-MM-DD, for example 2022-06-30."),
        "to": _("Enter the date as YYYY-MM-DD, for example 2022-06-30."),
        "year": _("Enter a year from 2000 to 2100."),
    }
    by_problem = {
        "plan": _("There is no plan with this code."),
        "area": _("Choose an area of the selected plan."),
        "area_without_plan": _("Choose a plan first, then one of its areas."),
        "range": _("The end date is before the start date."),
        "unit_none": _("No unit has this name; check the spelling or type part of the name."),
        "unit_many": _("Several units match; choose one below or type more of the name."),
    }
    out = {name: by_field.get(name, _("Choose one of the listed options.")) for name in invalid}
    out.update({name: by_problem[code] for name, code in problems.items()})
    return out


#: The timeline's name for it.
_messages = messages


def page_numbers(page: int, pages: int) -> list[int | None]:
    """Page links to show: first, last and two either side of the current one (None: a gap)."""
    wanted = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for n in wanted:
        previous = out[-1] if out else None
        if previous is not None and n - previous > 1:
            out.append(None)
        out.append(n)
    return out


def filter_context(resolved: services.Resolved) -> dict[str, Any]:
    """What the unit and lead filters offer (the ledger's and the board's), with or without a
    plan: a list of units, or a search box when there are too many."""
    plan, unit_id = resolved.plan, resolved.filters.unit_id
    units = services.unit_choices(plan) if current_user.role != "unit" else []
    return {
        "units": units,
        "unit_name": resolved.unit_name
        or (services.unit_name(unit_id) if units is None and unit_id else None),
        "unit_matches": resolved.unit_matches[: services.UNIT_MATCHES],
        "more_matches": len(resolved.unit_matches) > services.UNIT_MATCHES,
        "leads": services.lead_choices(plan),
        "options": _options,
        # One url_for per page instead of one per row.
        "assignment_url": url_for("tracking.assignment", assignment_id=0).removesuffix("0"),
    }


@bp.get("/ledger")
@login_required
@reads_replica
def index() -> Any:
    """任务台账: every assignment the user may see, filtered, sorted and paged on the server.

    Pages go on by cursor (``after`` / ``before``: the last or first row's place in the order,
    ``last=1``: the last page): the same cost at any depth. ``page`` is the page's number as
    the links count it (a label); alone, it is a page by number (OFFSET, cheap near the start).
    """
    values, invalid = load_args(LedgerArgs(), request.args)
    resolved = services.resolve_filters(values)
    ledger = services.Ledger(resolved.filters, viewer=current_user, today=office_today())
    total, estimated = ledger.total()
    pages = max(1, ceil(total / services.PAGE_SIZE))
    number = min(values["page"], pages)
    page: int | None = number
    status = 200
    try:
        after, before = request.args.get("after"), request.args.get("before")
        if after or before:
            cursor = services.Cursor.decode(after or before or "", resolved.filters)
            shown = ledger.at(cursor, backward=not after)
            # A link's number is a label; a link without one has no number to show.
            page = values["page"] if "page" in request.args else None
        elif request.args.get("last"):
            # The last page holds what is left after whole pages (when the total is exact),
            # so that going back from it meets the same pages as going forward.
            size = services.PAGE_SIZE
            if not estimated and total:
                size = total - (pages - 1) * services.PAGE_SIZE
            shown, page = ledger.at(None, backward=True, size=size), pages
        else:
            shown = ledger.numbered(number)
    except services.InvalidCursor:
        flash(
            _(
                "This page link is not valid any more (changed, cut short or made for another "
                "sort); the first page is shown instead."
            ),
            "error",
        )
        status, page, shown = 400, 1, ledger.numbered(1)
    plan = resolved.plan
    return render_template(
        "ledger/index.html",
        rows=shown.rows,
        shown=shown,
        total=total,
        total_estimated=estimated,
        page=page,
        pages=pages,
        page_size=services.PAGE_SIZE,
        filters=resolved.filters,
        plan=plan,
        areas=resolved.areas,
        plans=db.session.scalars(select(Plan).order_by(Plan.code)).all(),
        statuses=STATUSES,
        colors=COLORS,
        errors=messages(invalid, resolved.problems),
        rejected=invalid,
        sort=values["sort"],
        direction=values["dir"],
        **filter_context(resolved),
    ), status


@bp.get("/ledger.xlsx")
@login_required
@reads_replica
def export() -> Any:
    """The ledger as Excel: every row the same filters match, in the same order (streamed)."""
    values, invalid = load_args(LedgerArgs(), request.args)
    resolved = services.resolve_filters(values)
    if invalid or resolved.problems:
        flash(_("Not exported: correct the filters marked below first."), "error")
        query = request.query_string.decode("utf-8", "replace")
        return redirect(f"{url_for('ledger.index')}?{query}")
    return stream_export(resolved, resolved.filters)


def stream_export(
    resolved: services.Resolved,
    filters: services.LedgerFilters,
    *,
    kind: str = exports.LEDGER_SHEET,
    ascii_kind: str = "ledger",
) -> Any:
    """The rows ``filters`` match as a streamed workbook (the ledger's and the board's export).

    stream_with_context keeps the request (and its database session) open while the body is
    read: rows come from the database in chunks as the workbook is written.
    """
    today = office_today()
    ledger = services.Ledger(filters, viewer=current_user, today=today)
    notes = exports.describe_filters(replace(resolved, filters=filters), viewer=current_user)
    body = exports.ledger_xlsx_stream(ledger.export_rows(), notes=notes, sheet=kind)
    name, ascii_name = exports.ledger_file_names(
        resolved.plan, today, kind=kind, ascii_kind=ascii_kind
    )
    return xlsx_response(stream_with_context(body), name, ascii_name)


@bp.get("/timeline")
@login_required
def timeline() -> Any:
    """The plan's milestones of a year in date order, a page at a time (today's page first)."""
    values, invalid = load_args(TimelineArgs(), request.args)
    plans = db.session.scalars(select(Plan).order_by(Plan.code)).all()
    plan = next((p for p in plans if p.code == values.get("plan")), None)
    problems = {"plan": "plan"} if values.get("plan") and plan is None else {}
    plan = plan or newest_active(plans)
    data = (
        timelines.build(
            plan,
            group=values["group"],
            viewer=current_user,
            today=office_today(),
            year=values.get("year") or plan.year,
            # Without a page asked for, the page starting at today.
            page=values["page"] if "page" in request.args else None,
            after=timelines.Cursor.parse(request.args.get("after")),
            before=timelines.Cursor.parse(request.args.get("before")),
        )
        if plan is not None
        else None
    )
    return render_template(
        "ledger/timeline.html",
        plans=plans,
        plan=plan,
        data=data,
        group=values["group"],
        as_table=request.args.get("view") == "table",
        page_numbers=page_numbers(data.page, data.pages) if data else [],
        month_names=[format_date(date(2000, m, 1), "MMM") for m in range(1, 13)],
        errors=_messages(invalid, problems),
    )


def _options(choices: Iterable[Any], selected: int | None) -> Markup:
    """<option>s for a unit filter. A province offers thousands of units: joining them here is
    an order of magnitude faster than a template loop."""
    return Markup(
        "".join(
            f'<option value="{int(u.id)}"{" selected" if u.id == selected else ""}>'
            f"{escape(u.name)}</option>"
            for u in choices
        )
    )
