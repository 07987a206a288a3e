"""Bulletin pages and downloads: the printable page, the .xlsx and the .docx."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.core.permissions import READ_ALL, roles_required
from taskhub.core.replica import reads_replica
from taskhub.plans.models import Plan
from taskhub.reports import services
from taskhub.reports.downloads import docx_file, overdue_file, xlsx_file
from taskhub.scoring import services as scoring
from taskhub.scoring.labels import period_text
from taskhub.scoring.models import Period
from taskhub.scoring.schemes import parse_period_code

bp = Blueprint("reports", __name__)


def get_plan_or_404(code: str) -> Plan:
    plan = db.session.scalar(select(Plan).where(Plan.code == code))
    if plan is None:
        abort(404)
    return plan


def _periods(plan: Plan) -> list[Period]:
    return list(
        db.session.scalars(
            select(Period).where(Period.plan_id == plan.id).order_by(Period.starts_on, Period.code)
        )
    )


def _problem(plan: Plan, period: str, message: str, status: int) -> tuple[str, int]:
    """The bulletin page without a bulletin: the problem and the period picker."""
    page = render_template(
        "reports/bulletin.html",
        plan=plan,
        bulletin=None,
        period=period,
        periods=_periods(plan),
        suggestions=scoring.period_codes(plan),
        error=message,
        docx=services.docx_available(),
        cn_ordinal=services.cn_ordinal,
    )
    return page, status


def _build(plan: Plan) -> services.Bulletin | tuple[str, int]:
    """The bulletin of the requested period, or the page explaining what is wrong (400)."""
    period = (request.args.get("period") or "").strip()
    if not period:
        return _problem(plan, "", _("Choose a period from the list."), 400)
    try:
        kind = parse_period_code(period)[0]
    except ValidationFailed:
        message = _("The address names no period this page knows; choose one from the list.")
        return _problem(plan, period, message, 400)
    kinds = scoring.scored_kinds(plan)
    if not kinds:
        return _problem(plan, period, _("This plan has no scoring scheme, so no bulletin."), 400)
    if kind not in kinds:
        message = _(
            "This plan is not scored for %(period)s. Its periods are like %(examples)s.",
            period=period_text(period),
            examples="、".join(period_text(c) for c in scoring.period_codes(plan, first_only=True)),
        )
        return _problem(plan, period, message, 400)
    try:
        return services.build_bulletin(plan, period)
    except ValidationFailed as exc:
        return _problem(plan, period, exc.message, 400)


@bp.get("/plans/<code>/bulletin")
@roles_required(*READ_ALL)
@reads_replica
def bulletin(code: str) -> Any:
    """The printable bulletin of a period (?period=2022-H1); without a period, the picker."""
    plan = get_plan_or_404(code)
    if not request.args.get("period"):
        page, _status = _problem(plan, "", "", 200)
        return page
    built = _build(plan)
    if isinstance(built, tuple):
        return built
    return render_template(
        "reports/bulletin.html",
        plan=plan,
        bulletin=built,
        period=built.period_code,
        periods=_periods(plan),
        suggestions=scoring.period_codes(plan),
        error=None,
        docx=services.docx_available(),
        cn_ordinal=services.cn_ordinal,
        standing_names=services.STANDING_NAMES,
        attachment_note=services.ATTACHMENT_NOTE,
        date_cn=services.date_cn,
        overdue_shown=services.OVERDUE_SHOWN,
    )


@bp.get("/plans/<code>/bulletin.xlsx")
@roles_required(*READ_ALL)
@reads_replica
def bulletin_xlsx(code: str) -> Any:
    """The bulletin's ranking and overdue items as an Excel workbook."""
    plan = get_plan_or_404(code)
    built = _build(plan)
    if isinstance(built, tuple):
        return built
    return xlsx_file(built)


@bp.get("/plans/<code>/bulletin-overdue.xlsx")
@roles_required(*READ_ALL)
@reads_replica
def bulletin_overdue_xlsx(code: str) -> Any:
    """The bulletin's attachment: every overdue item with its days overdue (Excel)."""
    plan = get_plan_or_404(code)
    built = _build(plan)
    if isinstance(built, tuple):
        return built
    return overdue_file(built)


@bp.get("/plans/<code>/bulletin.docx")
@roles_required(*READ_ALL)
@reads_replica
def bulletin_docx(code: str) -> Any:
    """The bulletin as a Word document in official-document layout."""
    plan = get_plan_or_404(code)
    built = _build(plan)
    if isinstance(built, tuple):
        return built
    response = docx_file(built)
    if response is None:
        abort(404)  # python-docx is not installed here
    return response
