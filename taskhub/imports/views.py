"""Import pages: template download, upload, preview with per-row errors, confirm."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from taskhub.accounts import invitations
from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.inputs import page_arg
from taskhub.core.permissions import STAFF, roles_required
from taskhub.imports import contacts, plan, plan_names, plan_sheets, services, units, users
from taskhub.imports.workbook import WorkbookRejected
from taskhub.plans.models import Plan
from taskhub.units.models import UNIT_KINDS, City

bp = Blueprint("imports", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 50
#: Unit staff import their own unit's contacts; plans are the office's.
CONTACT_ROLES = (*STAFF, "unit")


def _root() -> Path:
    return services.uploads_root(current_app.instance_path)


def _seeds_path() -> Path | None:
    path = current_app.config.get("SEEDS_PATH")
    return Path(path) if path else None


def _index(status: int = 200, **errors: str) -> Any:
    page = page_arg()
    events, total = services.history(current_user, page=page, page_size=PAGE_SIZE)
    cities = db.session.scalars(select(City).order_by(City.code)).all()
    return (
        render_template(
            "imports/index.html",
            events=events,
            total=total,
            page=page,
            page_size=PAGE_SIZE,
            cities=cities,
            can_import_plans=current_user.role in STAFF,
            errors=errors,
        ),
        status,
    )


@bp.get("/imports")
@roles_required(*CONTACT_ROLES)
def index() -> Any:
    """The import page: templates, upload forms and the history of imports."""
    return _index()


@bp.get("/imports/plan/template.xlsx")
@roles_required(*STAFF)
def plan_template() -> Any:
    """The plan workbook template (with the chosen city's unit names)."""
    code = request.args.get("city")
    city = db.session.scalar(select(City).where(City.code == code)) if code else None
    if city is None:
        city = db.session.scalar(select(City).order_by(City.code).limit(1))
    data = plan_sheets.template(city)
    return _xlsx(data, "方案导入模板.xlsx")


@bp.get("/imports/contacts/template.xlsx")
@roles_required(*CONTACT_ROLES)
def contacts_template() -> Any:
    """The contacts workbook template."""
    return _xlsx(contacts.template(current_user), "联系人导入模板.xlsx")


def _concurrent() -> str:
    return _("The data changed while importing. Upload the file again to see a new preview.")


def _committed() -> bool:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def _xlsx(data: bytes, name: str) -> Any:
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=name)


@bp.post("/imports/plan")
@roles_required(*STAFF)
def plan_upload() -> Any:
    """Upload a plan workbook and show what importing it would do."""
    return _upload("plan", lambda path: plan.preview(path, seeds_path=_seeds_path()))


@bp.post("/imports/plan/confirm")
@roles_required(*STAFF)
def plan_confirm() -> Any:
    """Check the kept upload again and import it in one transaction: a new plan as a draft,
    a published plan as a revision (修订) with the reason given on the form."""
    reason = request.form.get("reason", "")
    try:
        result, answer = _confirm(
            "plan",
            lambda upload: plan.confirm(
                upload,
                actor=current_user,
                seeds_path=_seeds_path(),
                reason=reason,
                choices=plan_names.parse_choices(request.form),
            ),
            _("Nothing was imported: the plan already matches this file."),
        )
    except plan.RevisionNeedsReason:
        db.session.rollback()
        upload = services.stored(
            request.form.get("sha256", ""), request.form.get("name", ""), root=_root()
        )
        page = render_template(
            PREVIEWS["plan"],
            result=plan.preview(upload.path, seeds_path=_seeds_path()),
            upload=upload,
            revision=True,
            unit_kinds=UNIT_KINDS,
            reason_error=_("Give the reason for this revision."),
        )
        return page, 422
    except DomainError as exc:
        db.session.rollback()
        return _index(422, plan=exc.message)
    if answer is not None:
        return answer
    if db.session.scalar(select(Plan.status).where(Plan.code == result.code)) == "draft":
        flash(
            _("Plan %(code)s imported as a draft: check it, then publish it.", code=result.code),
            "success",
        )
    else:
        flash(_("Plan %(code)s imported.", code=result.code), "success")
    return redirect(url_for("plans.show", code=result.code))


@bp.post("/imports/contacts")
@roles_required(*CONTACT_ROLES)
def contacts_upload() -> Any:
    """Upload a contacts workbook and show what importing it would do."""
    return _upload("contacts", lambda path: contacts.preview(path, actor=current_user))


@bp.post("/imports/contacts/confirm")
@roles_required(*CONTACT_ROLES)
def contacts_confirm() -> Any:
    """Check the kept upload again and write its contacts in one transaction."""
    result, answer = _confirm(
        "contacts",
        lambda upload: contacts.confirm(upload, actor=current_user),
        _("Nothing was imported: the contacts already match this file."),
    )
    if answer is not None:
        return answer
    flash(
        _(
            "Contacts imported: %(added)d added, %(updated)d updated.",
            added=result.count("new"),
            updated=result.count("updated"),
        ),
        "success",
    )
    return redirect(url_for("imports.index"))


#: The preview page of each kind of import.
PREVIEWS = {"plan": "imports/plan_preview.html", "contacts": "imports/contacts_preview.html"}
PREVIEWS["users"] = "imports/users_preview.html"


def _preview_page(kind: str, result: Any, upload: services.Upload) -> Any:
    revision = kind == "plan" and plan.is_revision(result)
    return (
        render_template(
            PREVIEWS[kind], result=result, upload=upload, unit_kinds=UNIT_KINDS, revision=revision
        ),
        422 if result.errors else 200,
    )


def _upload(kind: str, preview: Callable[[Path], Any]) -> Any:
    """Receive the upload, keep it, and show its preview (or why the file was refused)."""
    try:
        upload = services.receive(
            request.files.get("file"),
            root=_root(),
            max_bytes=current_app.config["MAX_UPLOAD_BYTES"],
        )
        result = preview(upload.path)
    except (services.UploadRefused, WorkbookRejected) as exc:
        return _index(422, **{kind: exc.message})
    return _preview_page(kind, result, upload)


def _confirm(
    kind: str, confirm: Callable[[services.Upload], Any], unchanged: str
) -> tuple[Any, Any]:
    """Check the kept upload again and write it: (result, None) once committed, or (None, the
    answer to give) when it was refused, had errors, changed nothing or raced another writer."""
    try:
        upload = services.stored(
            request.form.get("sha256", ""), request.form.get("name", ""), root=_root()
        )
        result = confirm(upload)
    except (services.UploadRefused, WorkbookRejected) as exc:
        db.session.rollback()
        return None, _index(422, **{kind: exc.message})
    except IntegrityError:
        # Someone changed the same rows between our checks and the write.
        db.session.rollback()
        return None, _index(422, **{kind: _concurrent()})
    if result.errors:
        db.session.rollback()
        return None, _preview_page(kind, result, upload)
    if not result.has_changes:
        flash(unchanged, "success")
        return None, redirect(url_for("imports.index"))
    if not _committed():
        return None, _index(422, **{kind: _concurrent()})
    return result, None


# --- users (admin) ----------------------------------------------------------------------------


@bp.get("/imports/users/template.xlsx")
@roles_required("admin")
def users_template() -> Any:
    """The users workbook template."""
    return _xlsx(users.template(), "用户导入模板.xlsx")


@bp.post("/imports/users")
@roles_required("admin")
def users_upload() -> Any:
    """Upload a users workbook and show what importing it would do."""
    return _upload("users", lambda path: users.preview(path, actor=current_user))


@bp.post("/imports/users/confirm")
@roles_required("admin")
def users_confirm() -> Any:
    """Write the users in one transaction, then e-mail the new users' invitations and show
    their links (once: this page is the only place they appear)."""
    result, answer = _confirm(
        "users",
        lambda upload: users.confirm(upload, actor=current_user, config=current_app.config),
        _("Nothing was imported: the users already match this file."),
    )
    if answer is not None:
        return answer
    invited = invitations.send_emails(result.invited, actor=current_user, config=current_app.config)
    db.session.commit()
    page = render_template("imports/users_done.html", result=result, invited=invited)
    return page, 200, {"Cache-Control": "no-store"}


# -- units, aliases and groups of a city ---------------------------------------------------------

PREVIEWS["units"] = "imports/units_preview.html"


def _units_city() -> Any:
    """The city chosen on the import card (kept in the preview's forms)."""
    code = request.values.get("city", "")
    return db.session.scalar(select(City).where(City.code == code[:50])) if code else None


@bp.get("/imports/units/template.xlsx")
@roles_required(*STAFF)
def units_template() -> Any:
    """The units workbook template (with the chosen city's current units for reference)."""
    return _xlsx(units.template(_units_city()), "单位导入模板.xlsx")


@bp.post("/imports/units")
@roles_required(*STAFF)
def units_upload() -> Any:
    """Upload a units workbook and show what importing it into the city would do."""
    city = _units_city()
    if city is None:
        return _index(422, units=_("Choose the city to import the units into."))
    return _upload("units", lambda path: units.preview(path, city))


@bp.post("/imports/units/confirm")
@roles_required(*STAFF)
def units_confirm() -> Any:
    """Check the kept upload again and write its units, names and groups in one transaction."""
    city = _units_city()
    if city is None:
        return _index(422, units=_("Choose the city to import the units into."))
    result, answer = _confirm(
        "units",
        lambda upload: units.confirm(upload, city, actor=current_user),
        _("Nothing was imported: the units, names and groups already match this file."),
    )
    if answer is not None:
        return answer
    flash(
        _(
            "Units imported into %(city)s: %(units)d units, %(aliases)d other names and "
            "%(groups)d groups added or changed.",
            city=city.name,
            units=result.count("unit", "new") + result.count("unit", "updated"),
            aliases=result.count("alias", "new"),
            groups=result.count("group", "new") + result.count("group", "updated"),
        ),
        "success",
    )
    return redirect(url_for("groups.index", code=city.code))
