"""Invitation pages: the public link where a new user sets their password (/invite/<token>),
and the admin's actions: invite a new user, send a new link, link a contact to a user."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from taskhub.accounts import invitations, people, services
from taskhub.accounts.admin import _message, _target, _unit_field, _user_page, _users_page
from taskhub.accounts.invitations import InvitationRefused
from taskhub.accounts.messages import account_error
from taskhub.accounts.models import User
from taskhub.accounts.views import bp
from taskhub.core import security
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.inputs import id_arg
from taskhub.core.permissions import roles_required
from taskhub.units.models import Contact

#: The link is a secret: never cached, never sent on as a Referer.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def landing(user: User) -> str:
    """Where a user goes after setting their password: unit staff to 我的任务."""
    if user.role in ("unit", "assessor") and user.unit_id is not None:
        return url_for("tracking.my_tasks")
    return url_for("plans.index")


# --- the public link ----------------------------------------------------------------------------


def _gone(invitation: Any) -> Any:
    """The page for a link that no longer works (410) or never did (404)."""
    status = 404 if invitation is None else 410
    page = render_template("accounts/invitation_gone.html", known=invitation is not None)
    return page, status, PRIVATE


def _form(invitation: Any, *, status: int = 200, error: str | None = None) -> Any:
    page = render_template(
        "accounts/invitation.html",
        user=invitation.user,
        invitation=invitation,
        error=error,
        min_length=services.MIN_PASSWORD_LENGTH,
    )
    return page, status, PRIVATE


@bp.get("/invite/<token>")
def invitation(token: str) -> Any:
    """The invited user's page: who they are and the form to set their password."""
    found = invitations.find(token)
    if not invitations.usable(found):
        return _gone(found)
    return _form(found)


@bp.post("/invite/<token>")
def accept_invitation(token: str) -> Any:
    """Set the password through the link, sign the user in and send them to their page."""
    found = invitations.find(token)
    if not invitations.usable(found):
        return _gone(found)
    form = request.form
    if form.get("password", "") != form.get("confirm_password", ""):
        return _form(found, status=422, error=_("The two new passwords differ."))
    try:
        user = invitations.accept(
            token, form.get("password", ""), address=security.client_address()
        )
    except InvitationRefused:
        db.session.rollback()
        return _gone(found)
    except ValidationFailed as exc:
        db.session.rollback()
        return _form(found, status=422, error=account_error(exc))
    db.session.commit()
    login_user(user)
    security.begin_session()
    flash(_("Your password is set. Welcome to TaskHub."), "success")
    return redirect(landing(user))


# --- the admin's side ---------------------------------------------------------------------------


def _created_page(created: invitations.NewInvitation) -> Any:
    """The one page that shows a new link (never again: only its digest is stored)."""
    (sent,) = invitations.send_emails([created], actor=current_user, config=current_app.config)
    db.session.commit()
    page = render_template("accounts/invitation_created.html", new=sent)
    return page, 200, PRIVATE


@bp.post("/users/invite")
@roles_required("admin")
def invite_user() -> Any:
    """Create a user without a password and an invitation for them (admin)."""
    form = request.form
    try:
        user = services.create_user(
            username=form.get("username", ""),
            password=None,
            role=form.get("role", ""),
            display_name=form.get("display_name") or None,
            unit=_unit_field(form.get("unit", "")),
            email=form.get("email") or None,
            mobile=form.get("mobile") or None,
            actor_id=current_user.id,
        )
        created = invitations.create(user, actor=current_user, config=current_app.config)
    except ValidationFailed as exc:
        db.session.rollback()
        kept = {k: v for k, v in form.items() if k != "password"}
        return _users_page(status=422, error=_message(exc), form=kept)
    db.session.commit()
    return _created_page(created)


def invitation_error(exc: ValidationFailed) -> str:
    code = getattr(exc, "code", None)
    if code == "has_password":
        return _("This user has set a password already; to give them a new one, reset it below.")
    if code == "disabled":
        return _("This user is disabled; enable them before inviting them again.")
    return _message(exc)


@bp.post("/users/<id:user_id>/invite")
@roles_required("admin")
def reinvite(user_id: int) -> Any:
    """A new invitation link for a user who has not set a password; the old link stops
    working (admin)."""
    user = _target(user_id)
    try:
        created = invitations.create(user, actor=current_user, config=current_app.config)
    except ValidationFailed as exc:
        db.session.rollback()
        return _user_page(user, status=422, error=invitation_error(exc))
    db.session.commit()
    return _created_page(created)


@bp.post("/users/<id:user_id>/contact")
@roles_required("admin")
def link_contact(user_id: int) -> Any:
    """Take one of the unit's contacts for this user (admin)."""
    user = _target(user_id)
    contact_id = id_arg("contact_id", source=request.form)
    contact = db.session.get(Contact, contact_id) if contact_id else None
    if contact is None:
        abort(400)
    try:
        people.link(contact, user, actor=current_user)
    except PermissionDenied:
        abort(403)
    except ValidationFailed:
        db.session.rollback()
        return _user_page(
            user, status=422, error=_("Only a contact of the user's own unit can be linked.")
        )
    db.session.commit()
    flash(_("Contact linked to the user."), "success")
    return redirect(url_for("accounts.user_page", user_id=user.id) + "#contact-title")


@bp.post("/users/<id:user_id>/contact/unlink")
@roles_required("admin")
def unlink_contact(user_id: int) -> Any:
    """The user's contact entry is no longer taken for them (admin)."""
    user = _target(user_id)
    contact = people.contact_of(user)
    if contact is not None:
        people.unlink(contact, actor=current_user)
        db.session.commit()
    flash(_("Contact unlinked from the user."), "success")
    return redirect(url_for("accounts.user_page", user_id=user.id) + "#contact-title")
