"""Pages for writing a plan in the browser: a new plan, its outline, an item's form.

Admin and office only. Every POST is one service call in one transaction (taskhub.plans.editor);
a refused form is shown again with the typed values and the message beside the field (422).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.inputs import decimal_arg, digits, id_arg, int_arg
from taskhub.core.permissions import STAFF, roles_required
from taskhub.core.timeutil import office_today
from taskhub.core.web import problem_text
from taskhub.plans import editor, services
from taskhub.plans.models import (
    APPLICABILITIES,
    PLAN_KINDS,
    UNIT_ROLES,
    Item,
    Plan,
    PlanStatus,
    Section,
    UnitRole,
)
from taskhub.units.models import City

bp = Blueprint("plan_editor", __name__)

READ_ONLY = (PlanStatus.CLOSED.value, PlanStatus.ARCHIVED.value)


def _editable_plan(code: str) -> Plan:
    plan = services.get_plan(code)
    if plan is None:
        abort(404)
    if plan.status in READ_ONLY:
        abort(403)
    return plan


def _errors_of(exc: DomainError) -> dict[str, Any]:
    """{field: message}; unknown unit names also under "unknown" (highlighted on the page)."""
    field = getattr(exc, "field", None) or "form"
    errors: dict[str, Any] = {field: problem_text(exc)}
    if isinstance(exc, editor.UnknownUnitNames):
        errors["unknown"] = exc.unknown
    return errors


def _run(action: Callable[[], Any], done: str) -> tuple[Any, dict[str, Any]]:
    """Run one service call as the request's transaction: (result, {}) or (None, errors)."""
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        return None, _errors_of(exc)
    db.session.commit()
    flash(done, "success")
    return result, {}


def _reason() -> str | None:
    return request.form.get("reason")


# ---------------------------------------------------------------------------------------------
# A new plan


def _new_page(errors: dict[str, Any], form: dict[str, str], status: int = 200) -> Any:
    cities = db.session.scalars(select(City).order_by(City.name)).all()
    templates = editor.scheme_templates()
    return (
        render_template(
            "plans/editor/new.html",
            cities=cities,
            kinds=PLAN_KINDS,
            templates=templates,
            errors=errors,
            form=form,
        ),
        status,
    )


@bp.get("/plans/new")
@roles_required(*STAFF)
def new() -> Any:
    """The form for a new plan: city, code, title, year, kind, 文号, points, scheme."""
    year = str(office_today().year)
    return _new_page({}, {"kind": "tasks", "scheme": editor.DEFAULT_SCHEME, "year": year})


@bp.post("/plans/new")
@roles_required(*STAFF)
def create() -> Any:
    form = request.form.to_dict()

    def action() -> Plan:
        city_id = id_arg("city", request.form)
        return editor.create_plan(
            city=db.session.get(City, city_id) if city_id else None,
            code=form.get("code"),
            title=form.get("title"),
            year=int_arg("year", request.form, minimum=0, maximum=9999),
            kind=form.get("kind"),
            document_number=form.get("document_number"),
            points=decimal_arg("points", request.form),
            scheme=form.get("scheme"),
            actor=current_user,
        )

    plan, errors = _run(action, _("Draft plan created. Now add its sections and items."))
    if errors:
        return _new_page(errors, form, 422)
    return redirect(url_for("plan_editor.edit", code=plan.code))


# ---------------------------------------------------------------------------------------------
# The outline


def _outline_page(
    plan: Plan,
    errors: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    target: str | None = None,
    status: int = 200,
) -> Any:
    """The plan as an editable outline; ``target`` names the form that was refused."""
    warnings = editor.readiness_warnings(plan)
    readings = {item.id: editor.read_deadline(plan, item) for item in plan.items}
    by_section: dict[int, list[editor.EditWarning]] = {}
    for w in warnings:
        if w.section_id is not None:
            by_section.setdefault(w.section_id, []).append(w)
    siblings: dict[int | None, list[int]] = {}
    for s in plan.sections:
        siblings.setdefault(s.parent_id, []).append(s.id)
    return (
        render_template(
            "plans/editor/outline.html",
            plan=plan,
            scheme=services.scheme_of(plan),
            templates=editor.scheme_templates(plan.kind),
            warnings=warnings,
            plan_warnings=[w for w in warnings if w.section_id is None],
            section_warnings=by_section,
            first_sections={ids[0] for ids in siblings.values()},
            last_sections={ids[-1] for ids in siblings.values()},
            readings=readings,
            roles=UNIT_ROLES,
            errors=errors or {},
            form=form or {},
            target=target,
            published=plan.status == PlanStatus.PUBLISHED.value,
            names=_names_for(plan) if plan.kind == "indicators" else [],
        ),
        status,
    )


@bp.get("/plans/<code>/edit")
@roles_required(*STAFF)
def edit(code: str) -> Any:
    """The plan's head, sections and items, each with its forms, and what to fix before
    publishing."""
    return _outline_page(_editable_plan(code))


def _outline_post(
    code: str, target: str, action: Callable[[Plan], Any], done: str, anchor: str = ""
) -> Any:
    plan = _editable_plan(code)
    _result, errors = _run(lambda: action(plan), done)
    if errors:
        plan = _editable_plan(code)
        return _outline_page(plan, errors, request.form.to_dict(), target, 422)
    return redirect(url_for("plan_editor.edit", code=code) + anchor)


@bp.post("/plans/<code>/head")
@roles_required(*STAFF)
def update_head(code: str) -> Any:
    def action(plan: Plan) -> Any:
        return editor.update_plan_head(
            plan,
            title=request.form.get("title"),
            year=int_arg("year", request.form, minimum=0, maximum=9999),
            document_number=request.form.get("document_number"),
            points=decimal_arg("points", request.form),
            assessed=request.form.get("assessed"),
            scheme=request.form.get("scheme") or None,
            actor=current_user,
            reason=_reason(),
        )

    return _outline_post(code, "head", action, _("Plan details saved."))


def _section(plan: Plan, section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.plan_id != plan.id:
        abort(404)
    return section


@bp.post("/plans/<code>/sections")
@roles_required(*STAFF)
def add_section(code: str) -> Any:
    def action(plan: Plan) -> Section:
        return editor.add_section(
            plan,
            title=request.form.get("title"),
            number=request.form.get("number"),
            points=decimal_arg("points", request.form),
            parent_id=id_arg("parent_id", request.form),
            actor=current_user,
            reason=_reason(),
        )

    return _outline_post(code, "new-section", action, _("Section added."), "#add-section")


@bp.post("/plans/<code>/sections/<id:section_id>")
@roles_required(*STAFF)
def update_section(code: str, section_id: int) -> Any:
    def action(plan: Plan) -> Section:
        return editor.update_section(
            plan,
            _section(plan, section_id),
            title=request.form.get("title"),
            number=request.form.get("number"),
            points=decimal_arg("points", request.form),
            actor=current_user,
            reason=_reason(),
        )

    return _outline_post(
        code, f"section-{section_id}", action, _("Section saved."), f"#section-{section_id}"
    )


@bp.post("/plans/<code>/sections/<id:section_id>/move")
@roles_required(*STAFF)
def move_section(code: str, section_id: int) -> Any:
    def action(plan: Plan) -> None:
        editor.move_section(
            plan,
            _section(plan, section_id),
            request.form.get("direction", ""),
            actor=current_user,
            reason=_reason(),
        )

    return _outline_post(
        code, f"section-{section_id}", action, _("Section moved."), f"#section-{section_id}"
    )


@bp.post("/plans/<code>/sections/<id:section_id>/delete")
@roles_required(*STAFF)
def delete_section(code: str, section_id: int) -> Any:
    def action(plan: Plan) -> None:
        editor.delete_section(
            plan, _section(plan, section_id), actor=current_user, reason=_reason()
        )

    return _outline_post(code, f"section-{section_id}", action, _("Section deleted."))


def _item(plan: Plan, item_id: int) -> Item:
    item = db.session.get(Item, item_id)
    if item is None or item.plan_id != plan.id:
        abort(404)
    return item


@bp.post("/plans/<code>/items/<id:item_id>/move")
@roles_required(*STAFF)
def move_item(code: str, item_id: int) -> Any:
    def action(plan: Plan) -> None:
        editor.move_item(
            plan,
            _item(plan, item_id),
            request.form.get("direction", ""),
            actor=current_user,
            reason=_reason(),
        )

    return _outline_post(code, f"item-{item_id}", action, _("Item moved."), f"#item-{item_id}")


@bp.post("/plans/<code>/items/<id:item_id>/delete")
@roles_required(*STAFF)
def delete_item(code: str, item_id: int) -> Any:
    def action(plan: Plan) -> None:
        editor.delete_item(plan, _item(plan, item_id), actor=current_user, reason=_reason())

    return _outline_post(code, f"item-{item_id}", action, _("Item deleted."))


# ---------------------------------------------------------------------------------------------
# An item's form (new or existing)


def _names_for(plan: Plan) -> list[dict[str, str]]:
    """Suggestions for unit fields: every name of the city, aliases labelled with their unit."""
    names = editor.name_table(plan.city_id).names
    return [
        {"value": alias, "label": n.canonical if n.canonical != alias else ""}
        for alias, n in sorted(names.items(), key=lambda kv: (kv[1].canonical, kv[0]))
    ]


def _item_form(item: Item) -> dict[str, str]:
    def number(value: Any) -> str:
        return "" if value is None else format(value.normalize(), "f")

    form = {
        "section_id": str(item.section_id or ""),
        "number": item.number or "",
        "title": item.title or "",
        "text": item.text,
        "points": number(item.points),
        "weight": number(item.weight),
        "deadline": item.deadline_phrase or "",
        "target": item.target or "",
        "applicability": item.applicability,
    }
    for role, key in editor.ROLE_FIELDS.items():
        form[key] = "、".join(u.name for u in item.units_by_role(role))
    return form


def _item_page(
    plan: Plan,
    item: Item | None,
    form: dict[str, str],
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> Any:
    reading = editor.read_deadline(plan, item) if item is not None else None
    tasks = plan.kind == "tasks"
    role_order = (
        [UnitRole.LEAD.value, UnitRole.RESPONSIBLE.value, UnitRole.LEAD_ASSESSOR.value]
        if tasks
        else [UnitRole.LEAD_ASSESSOR.value, UnitRole.LEAD.value, UnitRole.RESPONSIBLE.value]
    )
    return (
        render_template(
            "plans/editor/item.html",
            plan=plan,
            item=item,
            form=form,
            errors=errors or {},
            reading=reading,
            names=_names_for(plan),
            role_order=role_order,
            role_fields=editor.ROLE_FIELDS,
            applicabilities=APPLICABILITIES,
            published=plan.status == PlanStatus.PUBLISHED.value,
        ),
        status,
    )


def _item_input() -> editor.ItemInput:
    form = request.form
    return editor.ItemInput(
        section_id=id_arg("section_id", form),
        number=form.get("number"),
        title=form.get("title"),
        text=form.get("text"),
        points=decimal_arg("points", form),
        weight=decimal_arg("weight", form),
        deadline=form.get("deadline"),
        target=form.get("target"),
        applicability=form.get("applicability") or "all",
        units={role: form.get(key) for role, key in editor.ROLE_FIELDS.items()},
    )


def _after_item_saved(plan: Plan, item: Item) -> Response:
    if request.form.get("then") == "another":
        return redirect(url_for("plan_editor.new_item", code=plan.code, section=item.section_id))
    return redirect(url_for("plan_editor.edit", code=plan.code) + f"#item-{item.id}")


@bp.get("/plans/<code>/items/new")
@roles_required(*STAFF)
def new_item(code: str) -> Any:
    """An empty item form, in the section given (?section=), else the last section."""
    plan = _editable_plan(code)
    if not plan.sections:
        flash(_("Add a section first: every item belongs to a section."), "error")
        return redirect(url_for("plan_editor.edit", code=code) + "#add-section")
    section_id = id_arg("section") or plan.sections[-1].id
    form = {"section_id": str(section_id), "applicability": "all", "number": _next_number(plan)}
    return _item_page(plan, None, form)


def _next_number(plan: Plan) -> str:
    """The number after the plan's highest plain item number (1, 2, … as documents count)."""
    numbers = [n for n in (digits(i.number) for i in plan.items) if n is not None]
    return str(max(numbers) + 1) if numbers else ("1" if not plan.items else "")


@bp.post("/plans/<code>/items/new")
@roles_required(*STAFF)
def create_item(code: str) -> Any:
    plan = _editable_plan(code)
    item, errors = _run(
        lambda: editor.add_item(plan, _item_input(), actor=current_user, reason=_reason()),
        _("Item added."),
    )
    if errors:
        return _item_page(_editable_plan(code), None, request.form.to_dict(), errors, 422)
    return _after_item_saved(plan, item)


@bp.get("/plans/<code>/items/<id:item_id>/edit")
@roles_required(*STAFF)
def edit_item(code: str, item_id: int) -> Any:
    plan = _editable_plan(code)
    item = _item(plan, item_id)
    return _item_page(plan, item, _item_form(item))


@bp.post("/plans/<code>/items/<id:item_id>/edit")
@roles_required(*STAFF)
def update_item(code: str, item_id: int) -> Any:
    plan = _editable_plan(code)
    item = _item(plan, item_id)
    saved, errors = _run(
        lambda: editor.update_item(plan, item, _item_input(), actor=current_user, reason=_reason()),
        _("Item saved."),
    )
    if errors:
        plan = _editable_plan(code)
        return _item_page(plan, _item(plan, item_id), request.form.to_dict(), errors, 422)
    return _after_item_saved(plan, saved)
