"""Pages that keep cities and their units: create and edit a city, its units and their other
names, retire, reactivate and merge units. Everyone signed in reads; admins and the office
change (checked here and again in ``units.admin``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.inputs import id_arg, page_arg
from taskhub.core.permissions import STAFF, login_required, roles_required
from taskhub.core.web import FIELD_LABELS, problem_text
from taskhub.tracking.models import Assignment
from taskhub.units import admin, merging
from taskhub.units.models import UNIT_KINDS, City, Unit, UnitAlias, UnitGroup
from taskhub.units.views import UNITS_PAGE, bp, get_unit_or_404

#: Labels of this module's fields for "too long" messages (the shared ones are in core.web).
_LABELS = {
    **FIELD_LABELS,
    "name": _l("Name of the unit or city"),
    "code": _l("City code"),
    "province": _l("Province"),
    "timezone": _l("Time zone"),
    "aliases": _l("Other names"),
}


def _problem(exc: DomainError) -> str:
    return problem_text(exc, _LABELS)


def _try(change: Callable[[], Any]) -> tuple[Any, dict[str, str]]:
    """Run a service change as the request's transaction: (result, {}) committed, or
    (None, errors by field) rolled back."""
    try:
        result = change()
    except DomainError as exc:
        db.session.rollback()
        return None, {getattr(exc, "field", None) or "_": _problem(exc)}
    db.session.commit()
    return result, {}


def get_city_or_404(code: str) -> City:
    city = db.session.scalar(select(City).where(City.code == code[:50]))
    if city is None:
        abort(404)
    return city


def _form(*names: str) -> dict[str, str]:
    return {n: request.form.get(n, "") for n in names}


# -- cities -------------------------------------------------------------------------------------


@bp.get("/cities")
@login_required
def cities() -> Any:
    """Every city with its numbers of active and retired units and of groups."""
    counts = admin.unit_counts()
    groups = dict(
        db.session.execute(
            select(UnitGroup.city_id, func.count()).group_by(UnitGroup.city_id)
        ).all()
    )
    rows = [
        (
            city,
            counts.get((city.id, False), 0),
            counts.get((city.id, True), 0),
            groups.get(city.id, 0),
        )
        for city in db.session.scalars(select(City).order_by(City.name))
    ]
    return render_template(
        "units/cities.html", rows=rows, can_edit=admin.can_keep_units(current_user)
    )


CITY_FIELDS = ("code", "name", "province", "timezone")


@bp.route("/cities/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new_city() -> Any:
    """Create a city; its units come next (one by one, or from Excel)."""
    form = {"timezone": "Asia/Shanghai"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = _form(*CITY_FIELDS)
        city, errors = _try(lambda: admin.create_city(form, actor=current_user))
        if city is not None:
            flash(_("City created. Add its units now, or import them from Excel."), "success")
            return redirect(url_for("units.show_city", code=city.code))
    return render_template("units/city_form.html", city=None, form=form, errors=errors), (
        422 if errors else 200
    )


@bp.route("/cities/<code>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit_city(code: str) -> Any:
    """Change a city's name, province or time zone."""
    city = get_city_or_404(code)
    form = {"code": city.code, "name": city.name, "province": city.province or ""}
    form["timezone"] = city.timezone
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {"code": city.code, **_form("name", "province", "timezone")}
        done, errors = _try(lambda: admin.update_city(city, form, actor=current_user))
        if done is not None:
            flash(_("City saved."), "success")
            return redirect(url_for("units.show_city", code=city.code))
    return render_template("units/city_form.html", city=city, form=form, errors=errors), (
        422 if errors else 200
    )


@bp.get("/cities/<code>")
@login_required
def show_city(code: str) -> Any:
    """A city's units (kind, parent, other names, status), paged; retired ones on request."""
    city = get_city_or_404(code)
    show_retired = request.args.get("retired") == "1"
    page = page_arg()
    query = select(Unit).where(Unit.city_id == city.id)
    if not show_retired:
        query = query.where(Unit.retired_on.is_(None))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    units = list(
        db.session.scalars(
            query.options(
                selectinload(Unit.aliases),
                selectinload(Unit.parent),
                selectinload(Unit.merged_into),
            )
            .order_by(Unit.kind, Unit.id)
            .limit(UNITS_PAGE)
            .offset((page - 1) * UNITS_PAGE)
        )
    )
    retired = db.session.scalar(
        select(func.count()).where(Unit.city_id == city.id, Unit.retired_on.is_not(None))
    )
    return render_template(
        "units/city.html",
        city=city,
        units=units,
        show_retired=show_retired,
        retired=retired or 0,
        page=page,
        page_size=UNITS_PAGE,
        total=total,
        can_edit=admin.can_keep_units(current_user),
    )


# -- units --------------------------------------------------------------------------------------

UNIT_FIELDS = ("name", "kind", "parent_id")


def _unit_form_data() -> dict[str, Any]:
    data: dict[str, Any] = _form("name", "kind", "aliases")
    data["parent_id"] = id_arg("parent_id", request.form)
    return data


def _unit_page(city: City, unit: Unit | None, form: dict[str, Any], errors: dict[str, str]) -> Any:
    parents = [u for u in admin.active_units(city) if unit is None or u.id != unit.id]
    return (
        render_template(
            "units/unit_form.html",
            city=city,
            unit=unit,
            form=form,
            errors=errors,
            kinds=UNIT_KINDS,
            parents=parents,
        ),
        422 if errors else 200,
    )


@bp.route("/cities/<code>/units/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new_unit(code: str) -> Any:
    """Add a unit to a city, with its other names (one a line)."""
    city = get_city_or_404(code)
    form: dict[str, Any] = {"kind": request.args.get("kind", "department")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = _unit_form_data()
        unit, errors = _try(lambda: admin.create_unit(city, form, actor=current_user))
        if unit is not None:
            flash(_("Unit “%(name)s” added.", name=unit.name), "success")
            return redirect(url_for("units.show_city", code=city.code))
    return _unit_page(city, None, form, errors)


@bp.route("/units/<id:unit_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit_unit(unit_id: int) -> Any:
    """Change a unit's name, kind and parent; add and remove its other names."""
    unit = get_unit_or_404(unit_id)
    form: dict[str, Any] = {"name": unit.name, "kind": unit.kind, "parent_id": unit.parent_id}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = _unit_form_data()
        data = {k: form[k] for k in UNIT_FIELDS}
        form["leader_id"] = id_arg("leader_id", request.form)

        def change() -> Unit:
            from taskhub.leaders.services import set_unit_leader

            set_unit_leader(unit, form["leader_id"], actor=current_user)
            return admin.update_unit(unit, data, actor=current_user)

        done, errors = _try(change)
        if done is not None:
            flash(_("Unit saved."), "success")
            return redirect(url_for("units.edit_unit", unit_id=unit.id))
        unit = get_unit_or_404(unit_id)
    return _unit_page(unit.city, unit, form, errors)


@bp.post("/units/<id:unit_id>/aliases")
@roles_required(*STAFF)
def add_alias(unit_id: int) -> Any:
    """Give a unit another name (short name, other spelling)."""
    unit = get_unit_or_404(unit_id)
    name = request.form.get("alias", "")
    done, errors = _try(lambda: admin.add_alias(unit, name, actor=current_user))
    if done is None:
        unit = get_unit_or_404(unit_id)
        form = {"name": unit.name, "kind": unit.kind, "parent_id": unit.parent_id, "alias": name}
        return _unit_page(unit.city, unit, form, {"alias": next(iter(errors.values()))})
    flash(_("Name “%(name)s” added.", name=done.name), "success")
    return redirect(url_for("units.edit_unit", unit_id=unit_id))


@bp.post("/units/<id:unit_id>/aliases/<id:alias_id>/delete")
@roles_required(*STAFF)
def remove_alias(unit_id: int, alias_id: int) -> Any:
    """Remove one of a unit's other names."""
    alias = db.session.get(UnitAlias, alias_id)
    if alias is None or alias.unit_id != unit_id:
        abort(404)
    name = alias.name
    _done, errors = _try(lambda: admin.remove_alias(alias, actor=current_user))
    if errors:
        flash(_("Not saved: %(problem)s", problem=next(iter(errors.values()))), "error")
    else:
        flash(_("Name “%(name)s” removed.", name=name), "success")
    return redirect(url_for("units.edit_unit", unit_id=unit_id))


@bp.post("/units/<id:unit_id>/retire")
@roles_required(*STAFF)
def retire_unit(unit_id: int) -> Any:
    """Retire a unit: it keeps its history and gets no new assignments."""
    unit = get_unit_or_404(unit_id)
    return _status_change(unit, admin.retire_unit, _("Unit retired."))


@bp.post("/units/<id:unit_id>/reactivate")
@roles_required(*STAFF)
def reactivate_unit(unit_id: int) -> Any:
    """Make a retired unit active again."""
    unit = get_unit_or_404(unit_id)
    return _status_change(unit, admin.reactivate_unit, _("Unit active again."))


def _status_change(unit: Unit, change: Callable[..., Unit], done: str) -> Any:
    unit_id = unit.id
    _result, errors = _try(lambda: change(unit, actor=current_user))
    if errors:
        flash(_("Not saved: %(problem)s", problem=next(iter(errors.values()))), "error")
    else:
        flash(done, "success")
    return redirect(url_for("units.show", unit_id=unit_id))


@bp.route("/units/<id:unit_id>/merge", methods=["GET", "POST"])
@roles_required(*STAFF)
def merge_unit(unit_id: int) -> Any:
    """Merge a unit into another (机构改革): choose the surviving unit, see what moves,
    confirm with a reason."""
    unit = get_unit_or_404(unit_id)
    source = request.form if request.method == "POST" else request.args
    target_id = id_arg("into", source)
    target = db.session.get(Unit, target_id) if target_id else None
    if target is not None and target.city_id != unit.city_id:
        target = None
    reason = source.get("reason", "")
    errors: dict[str, str] = {}
    if request.method == "POST" and target is not None and source.get("confirm") == "1":
        chosen, names = target, (unit.name, target.name)
        done, errors = _try(
            lambda: merging.merge_units(unit, chosen, actor=current_user, reason=reason)
        )
        if done is not None:
            flash(_("“%(a)s” was merged into “%(b)s”.", a=names[0], b=names[1]), "success")
            return redirect(url_for("units.show", unit_id=chosen.id))
        unit, target = get_unit_or_404(unit_id), get_unit_or_404(chosen.id)
    elif request.method == "POST":
        errors = {"into": _("Choose the unit that carries on, then confirm.")}
    preview = merging.preview_merge(unit, target) if target is not None else None
    counts = {}
    if preview is not None:
        counts = _plan_titles([a for a in preview.moved] + [a for a, _b in preview.conflicts])
    return (
        render_template(
            "units/merge.html",
            unit=unit,
            target=target,
            targets=[u for u in admin.active_units(unit.city) if u.id != unit.id],
            preview=preview,
            titles=counts,
            reason=reason,
            errors=errors,
        ),
        422 if errors else 200,
    )


def _plan_titles(assignments: list[Assignment]) -> dict[int, str]:
    """Each assignment's item, as the preview names it (plan code and item code)."""
    from taskhub.plans.models import Item, Plan

    ids = [a.id for a in assignments]
    if not ids:
        return {}
    return {
        assignment_id: f"{plan_title} · {item_code} {item_title or ''}"
        for assignment_id, plan_title, item_code, item_title in db.session.execute(
            select(Assignment.id, Plan.title, Item.code, Item.title)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(Assignment.id.in_(ids))
        )
    }
