"""Pages for units, groups and contacts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from taskhub.core.db import db
from taskhub.core.inputs import id_arg, page_arg
from taskhub.core.permissions import login_required
from taskhub.tracking.models import Assignment
from taskhub.units import services
from taskhub.units.admin import can_keep_units
from taskhub.units.models import UNIT_KINDS, City, Contact, Unit, UnitGroup
from taskhub.units.schemas import ContactArgs

bp = Blueprint("units", __name__)


def get_unit_or_404(unit_id: int) -> Unit:
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        abort(404)
    return unit


#: Units per page of the units list; a province has thousands.
UNITS_PAGE = 100
#: Groups with more members than this list them on their own (paged) page.
GROUP_PREVIEW = 30


@bp.get("/units")
@login_required
def index() -> Any:
    """Units by city and kind (or one group's members), paged, with their assignment counts,
    and the city's groups."""
    cities = db.session.scalars(select(City).order_by(City.name)).all()
    city_code = request.args.get("city") or (cities[0].code if cities else None)
    city = next((c for c in cities if c.code == city_code), None)
    kind = request.args.get("kind") if request.args.get("kind") in UNIT_KINDS else None
    show_retired = request.args.get("retired") == "1"
    page = page_arg()
    units: list[tuple[Unit, int]] = []
    groups: list[tuple[UnitGroup, int, list[Unit]]] = []
    group: UnitGroup | None = None
    total = 0
    if city is not None:
        group_id = id_arg("group")
        group = db.session.get(UnitGroup, group_id) if group_id else None
        if group is not None and group.city_id != city.id:
            group = None
        query = select(Unit).where(Unit.city_id == city.id)
        if kind:
            query = query.where(Unit.kind == kind)
        if not show_retired:
            query = query.where(Unit.retired_on.is_(None))
        if group is not None:
            query = query.where(Unit.id.in_(services.member_ids_of(group.id)))
        total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        shown = list(
            db.session.scalars(
                query.options(selectinload(Unit.aliases))
                .order_by(Unit.kind, Unit.id)
                .limit(UNITS_PAGE)
                .offset((page - 1) * UNITS_PAGE)
            )
        )
        counts = dict(
            db.session.execute(
                select(Assignment.unit_id, func.count())
                .where(Assignment.unit_id.in_([u.id for u in shown]))
                .group_by(Assignment.unit_id)
            ).all()
        )
        units = [(u, counts.get(u.id, 0)) for u in shown]
        groups = _groups_of(city)
    return render_template(
        "units/index.html",
        cities=cities,
        city=city,
        kind=kind,
        kinds=UNIT_KINDS,
        show_retired=show_retired,
        can_keep_units=can_keep_units(current_user),
        units=units,
        groups=groups,
        group=group,
        page=page,
        page_size=UNITS_PAGE,
        total=total,
        preview=GROUP_PREVIEW,
    )


def _groups_of(city: City) -> list[tuple[UnitGroup, int, list[Unit]]]:
    """Each group with its size and, when small, its members (large ones link to a page)."""
    member_ids = services.group_member_ids(city.id)
    sizes = {g: len(ids) for g, ids in member_ids.items()}
    groups = list(
        db.session.scalars(
            select(UnitGroup).where(UnitGroup.city_id == city.id).order_by(UnitGroup.id)
        )
    )
    small = [g.id for g in groups if sizes.get(g.id, 0) <= GROUP_PREVIEW]
    members: dict[int, list[Unit]] = {g: [] for g in small}
    wanted = [u for g in small for u in member_ids.get(g, [])]
    by_id = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(wanted)))}
    for group_id in small:
        members[group_id] = [by_id[u] for u in member_ids.get(group_id, [])]
    return [(g, sizes.get(g.id, 0), members.get(g.id, [])) for g in groups]


@bp.get("/units/<id:unit_id>")
@login_required
def show(unit_id: int) -> Any:
    """One unit: aliases, groups, contacts (if allowed) and assignment counts by plan."""
    unit = get_unit_or_404(unit_id)
    from taskhub.plans.models import Item, Plan

    by_plan = db.session.execute(
        select(Plan.code, Plan.title, Assignment.role, func.count())
        .join(Item, Item.plan_id == Plan.id)
        .join(Assignment, Assignment.item_id == Item.id)
        .where(Assignment.unit_id == unit.id)
        .group_by(Plan.code, Plan.title, Assignment.role)
        .order_by(Plan.code)
    ).all()
    return render_template(
        "units/show.html",
        unit=unit,
        groups=db.session.scalars(
            select(UnitGroup)
            .where(UnitGroup.id.in_(services.groups_containing(unit.id)))
            .order_by(UnitGroup.name)
        ).all(),
        by_plan=by_plan,
        can_view_contacts=unit.can_view_contacts(current_user),
        can_edit_contacts=unit.can_edit_contacts(current_user),
        can_keep_units=can_keep_units(current_user),
        errors={},
        form={},
        editing=None,
        **_people(unit),
    )


def _people(unit: Unit) -> dict[str, Any]:
    """The unit's users and which contact each one is (those who see the contacts only)."""
    if not unit.can_view_contacts(current_user):
        return {"unit_users": [], "user_contacts": {}}
    from taskhub.accounts import people

    return {
        "unit_users": people.unit_users(unit.id),
        "user_contacts": {c.user_id: c for c in unit.contacts if c.user_id is not None},
    }


def _contact_form_error(
    unit: Unit, errors: dict[str, Any], form: dict[str, Any], *, editing: int | None = None
) -> Any:
    """The unit page again with the errors next to the fields of the form that was sent
    (``editing``: an existing contact's form; None: the new-contact form)."""
    return (
        render_template(
            "units/show.html",
            unit=unit,
            by_plan=[],
            can_view_contacts=True,
            can_edit_contacts=True,
            can_keep_units=can_keep_units(current_user),
            errors={k: v[0] if isinstance(v, list) else v for k, v in errors.items()},
            form=form,
            editing=editing,
            **_people(unit),
        ),
        422,
    )


@bp.post("/units/<id:unit_id>/contacts")
@login_required
def add_contact(unit_id: int) -> Any:
    """Add a contact to a unit (office, or the unit's own staff)."""
    unit = get_unit_or_404(unit_id)
    if not unit.can_edit_contacts(current_user):
        abort(403)
    try:
        data = ContactArgs().load(request.form)
    except ValidationError as exc:
        return _contact_form_error(unit, exc.normalized_messages(), request.form.to_dict())
    services.add_contact(unit, data, actor=current_user)
    db.session.commit()
    flash(_("Contact added."), "success")
    return redirect(url_for("units.show", unit_id=unit.id))


def get_contact_or_404(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.post("/contacts/<id:contact_id>")
@login_required
def update_contact(contact_id: int) -> Any:
    """Change a contact."""
    contact = get_contact_or_404(contact_id)
    if not contact.unit.can_edit_contacts(current_user):
        abort(403)
    try:
        data = ContactArgs().load(request.form)
    except ValidationError as exc:
        return _contact_form_error(
            contact.unit, exc.normalized_messages(), request.form.to_dict(), editing=contact.id
        )
    services.update_contact(contact, data, actor=current_user)
    db.session.commit()
    flash(_("Contact saved."), "success")
    return redirect(url_for("units.show", unit_id=contact.unit_id))


@bp.post("/contacts/<id:contact_id>/delete")
@login_required
def delete_contact(contact_id: int) -> Any:
    """Remove a contact."""
    contact = get_contact_or_404(contact_id)
    if not contact.unit.can_edit_contacts(current_user):
        abort(403)
    unit_id = contact.unit_id
    services.delete_contact(contact, actor=current_user)
    db.session.commit()
    flash(_("Contact removed."), "success")
    return redirect(url_for("units.show", unit_id=unit_id))


from taskhub.units import city_pages  # noqa: E402, F401
