"""Pages of a city's unit groups: the list, one group's members, and the office's edits."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
from taskhub.core.inputs import id_arg, id_list_arg
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.web import problem_text
from taskhub.units import services
from taskhub.units.models import UNIT_KINDS, City, Unit, UnitGroup

bp = Blueprint("groups", __name__)


def get_city_or_404(code: str) -> City:
    city = db.session.scalar(select(City).where(City.code == code[:50]))
    if city is None:
        abort(404)
    return city


def get_group_or_404(group_id: int) -> UnitGroup:
    group = db.session.get(UnitGroup, group_id)
    if group is None:
        abort(404)
    return group


def _city_units(city: City) -> list[Unit]:
    return list(
        db.session.scalars(select(Unit).where(Unit.city_id == city.id).order_by(Unit.kind, Unit.id))
    )


def _problem(exc: ValidationFailed | None) -> dict[str, str] | None:
    """A refusal as the form shows it: the field at fault and the message."""
    if exc is None:
        return None
    return {"field": getattr(exc, "field", None) or "name", "message": problem_text(exc)}


def _form_data() -> dict[str, Any]:
    """The group form as the services take it (a rule, or a list of member ids)."""
    is_rule = request.form.get("membership") == "rule"
    data: dict[str, Any] = {
        "name": request.form.get("name", ""),
        "source": request.form.get("source", ""),
        # An unknown kind is refused by the service with the field named.
        "rule_kind": (request.form.get("rule_kind") or "") if is_rule else None,
        "rule_parent_id": id_arg("rule_parent", request.form) if is_rule else None,
    }
    if not is_rule:
        data["members"] = id_list_arg("members", request.form)
    return data


def _groups_page(city: City, status: int = 200, **form: Any) -> Any:
    groups = list(
        db.session.scalars(
            select(UnitGroup).where(UnitGroup.city_id == city.id).order_by(UnitGroup.id)
        )
    )
    sizes = {g: len(ids) for g, ids in services.group_member_ids(city.id).items()}
    return (
        render_template(
            "units/groups.html",
            city=city,
            groups=groups,
            sizes=sizes,
            units=_city_units(city) if current_user.role in STAFF else [],
            kinds=UNIT_KINDS,
            can_edit=current_user.role in STAFF,
            form=form.get("form") or {},
            error=_problem(form.get("error")),
        ),
        status,
    )


@bp.get("/cities/<code>/groups")
@login_required
def index(code: str) -> Any:
    """A city's groups with their membership (list or rule), size and source."""
    return _groups_page(get_city_or_404(code))


@bp.post("/cities/<code>/groups")
@roles_required(*STAFF)
def create(code: str) -> Any:
    """Create a group; its members are chosen on the group's page (or follow its rule)."""
    city = get_city_or_404(code)
    data = _form_data()
    try:
        group = services.create_group(city, actor=current_user, **data)
    except ValidationFailed as exc:
        db.session.rollback()
        return _groups_page(city, 422, form=request.form.to_dict(), error=exc)
    db.session.commit()
    flash(_("Group %(name)s created.", name=group.name), "success")
    return redirect(url_for("groups.show", group_id=group.id))


def _group_page(group: UnitGroup, status: int = 200, error: Any = None) -> Any:
    member_ids = services.group_member_ids(group.city_id).get(group.id, [])
    units = _city_units(group.city)
    by_id = {u.id: u for u in units}
    return (
        render_template(
            "units/group.html",
            group=group,
            members=[by_id[u] for u in member_ids if u in by_id],
            member_ids=set(member_ids),
            units=units if group.can_edit(current_user) else [],
            kinds=UNIT_KINDS,
            can_edit=group.can_edit(current_user),
            in_use=services.group_in_use(group),
            form=request.form.to_dict() if error else {},
            error=_problem(error),
        ),
        status,
    )


@bp.get("/groups/<id:group_id>")
@login_required
def show(group_id: int) -> Any:
    """One group: how its members are chosen, the members, and (office) the edit form."""
    return _group_page(get_group_or_404(group_id))


@bp.post("/groups/<id:group_id>")
@roles_required(*STAFF)
def update(group_id: int) -> Any:
    """Save the group's name, source and membership (a list of units or a rule)."""
    group = get_group_or_404(group_id)
    data = _form_data()
    try:
        services.update_group(group, actor=current_user, **data)
    except ValidationFailed as exc:
        db.session.rollback()
        return _group_page(get_group_or_404(group_id), 422, error=exc)
    db.session.commit()
    flash(_("Group saved."), "success")
    return redirect(url_for("groups.show", group_id=group.id))


@bp.post("/groups/<id:group_id>/delete")
@roles_required(*STAFF)
def delete(group_id: int) -> Any:
    """Delete a group no plan names."""
    group = get_group_or_404(group_id)
    code = group.city.code
    try:
        services.delete_group(group, actor=current_user)
    except services.GroupInUse as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("groups.show", group_id=group_id))
    db.session.commit()
    flash(_("Group deleted."), "success")
    return redirect(url_for("groups.index", code=code))
