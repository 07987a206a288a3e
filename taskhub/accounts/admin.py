"""User administration pages (admins): find users, create them, change role and unit, disable
and enable, reset a password, sign a user out everywhere, see and clear sign-in throttles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from taskhub.accounts import invitations, passwords, people, services, throttle, tokens
from taskhub.accounts.messages import account_error
from taskhub.accounts.models import ROLES, User
from taskhub.accounts.views import bp
from taskhub.audit.models import AuditEvent
from taskhub.core import security
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.permissions import roles_required
from taskhub.units.models import Unit
from taskhub.units.services import UnitNotFound, unit_choices, unit_from_label, unit_label

#: Account events shown on a user's page (the user list itself is not paged: an office has
#: tens to a few hundred accounts).
RECENT_EVENTS = 30

ACTION_LABELS = {
    "user.created": _l("Account created"),
    "user.disabled": _l("Disabled"),
    "user.enabled": _l("Enabled"),
    "user.role_changed": _l("Role or unit changed"),
    "user.password_reset": _l("Password reset by an administrator"),
    "user.password_changed": _l("Password changed by the user"),
    "user.password_change_failed": _l("Password change refused: wrong current password"),
    "user.signed_out": _l("Signed out"),
    "user.signed_out_everywhere": _l("Signed out everywhere by an administrator"),
    "user.sign_in_failed": _l("Failed sign-in"),
    "user.updated": _l("Name, mobile or e-mail changed"),
    "invitation.created": _l("Invitation link created"),
    "invitation.revoked": _l("Invitation link revoked (replaced by a new one)"),
    "invitation.sent": _l("Invitation e-mailed"),
    "invitation.email_failed": _l("Invitation e-mail not sent"),
    "invitation.used": _l("Password set through the invitation"),
    "contact.user_linked": _l("Linked to a contact of the unit"),
    "contact.user_unlinked": _l("Unlinked from a contact"),
}

SCOPE_LABELS = {
    throttle.Scope.PAIR: _l("This name from this address"),
    throttle.Scope.USER: _l("This name, from addresses it has not signed in from lately"),
    throttle.Scope.ADDRESS: _l("This address, for names that have not signed in from it lately"),
}


def _target(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _unit_field(text: str) -> Unit | None:
    """The unit picked in a form (ValidationFailed with a translated message otherwise)."""
    try:
        return unit_from_label(text)
    except UnitNotFound as exc:
        if exc.candidates:
            names = "、".join(unit_label(u) for u in exc.candidates)
            raise ValidationFailed(
                _(
                    "“%(text)s” names several units: %(names)s. Pick one from the list.",
                    text=exc.text,
                    names=names,
                )
            ) from None
        raise ValidationFailed(
            _("No unit is called “%(text)s”. Pick one from the list.", text=exc.text)
        ) from None


def _message(exc: ValidationFailed) -> str:
    """A service's refusal in the reader's language (unit picker messages already are)."""
    return account_error(exc) if hasattr(exc, "code") else exc.message


def _limits() -> throttle.LoginLimits:
    return security.login_limits()


# --- the user list ------------------------------------------------------------------------------


def _users_page(*, status: int = 200, error: str | None = None, form: Any = None) -> Any:
    filters = services.UserFilters(
        text=request.args.get("q", "")[:100],
        role=request.args.get("role", ""),
        state=request.args.get("state", ""),
    )
    rows = db.session.scalars(services.query_users(filters)).all()
    page = render_template(
        "accounts/users.html",
        users=rows,
        filters=filters,
        roles=ROLES,
        token_counts=tokens.active_token_counts(),
        invited=invitations.latest_by_user(
            db.session.scalars(select(User.id).where(User.has_password.is_(False))).all()
        ),
        throttled_names={t.username for t in throttle.active_throttles(limits=_limits())},
        unit_choices=unit_choices(),
        error=error,
        form=form or {},
        min_length=passwords.MIN_PASSWORD_LENGTH,
    )
    return page, status


@bp.get("/users")
@roles_required("admin")
def users() -> Any:
    """Find users by name, unit, role or state (admin)."""
    return _users_page()


@bp.post("/users")
@roles_required("admin")
def create_user() -> Any:
    """Create a user (admin)."""
    form = request.form
    kept = {k: v for k, v in form.items() if k != "password"}
    try:
        services.create_user(
            username=form.get("username", ""),
            password=form.get("password", ""),
            role=form.get("role", ""),
            display_name=form.get("display_name") or None,
            unit=_unit_field(form.get("unit", "")),
            email=form.get("email") or None,
            mobile=form.get("mobile") or None,
            actor_id=current_user.id,
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return _users_page(status=422, error=_message(exc), form=kept)
    db.session.commit()
    flash(_("User created."), "success")
    return redirect(url_for("accounts.users"))


# --- one user -----------------------------------------------------------------------------------


def _user_page(user: User, *, status: int = 200, error: str | None = None) -> Any:
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "user", AuditEvent.object_id == str(user.id))
        .order_by(AuditEvent.id.desc())
        .limit(RECENT_EVENTS)
    ).all()
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    actors = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    page = render_template(
        "accounts/user.html",
        user=user,
        roles=ROLES,
        unit_choices=unit_choices(),
        unit_text=unit_label(user.unit) if user.unit else "",
        throttles=throttle.active_throttles(limits=_limits(), username=user.username),
        scope_labels=SCOPE_LABELS,
        events=events,
        actors=actors,
        action_labels=ACTION_LABELS,
        active_tokens=tokens.active_token_counts().get(user.id, 0),
        **_people_facts(user),
        error=error,
        min_length=passwords.MIN_PASSWORD_LENGTH,
        now=throttle.now_utc(),
    )
    return page, status, {"Cache-Control": "no-store"}


def _people_facts(user: User) -> dict[str, Any]:
    """The user page's invitation and contact sections (taskhub.accounts.invitation_views)."""
    invitation = invitations.latest(user)
    return {
        "invitation": invitation,
        "invitation_state": invitations.state(invitation) if invitation else None,
        "contact": people.contact_of(user),
        "unit_contacts": list(user.unit.contacts) if user.unit is not None else [],
    }


@bp.get("/users/<id:user_id>")
@roles_required("admin")
def user_page(user_id: int) -> Any:
    """One user: role and unit, state, password, sessions, throttles and account history."""
    return _user_page(_target(user_id))


def _change(user_id: int, change: Callable[[User], None], done: str) -> Any:
    """Apply one lifecycle change to a user, then show their page again."""
    user = _target(user_id)
    try:
        change(user)
    except PermissionDenied:
        abort(403)
    except ValidationFailed as exc:
        db.session.rollback()
        return _user_page(user, status=422, error=_message(exc))
    db.session.commit()
    flash(done, "success")
    if not current_user.is_admin:  # an admin who gave themselves another role
        return redirect(url_for("plans.index"))
    return redirect(url_for("accounts.user_page", user_id=user.id))


@bp.post("/users/<id:user_id>/role")
@roles_required("admin")
def set_role(user_id: int) -> Any:
    """Give a user another role and unit (admin)."""
    form = request.form

    def change(user: User) -> None:
        unit = _unit_field(form.get("unit", ""))
        services.change_role(user, role=form.get("role", ""), unit=unit, actor=current_user)

    return _change(user_id, change, _("Role and unit saved."))


@bp.post("/users/<id:user_id>/disable")
@roles_required("admin")
def disable(user_id: int) -> Any:
    """Disable a user: sessions end and API tokens stop working at once (admin)."""

    def change(user: User) -> None:
        services.disable_user(user, actor=current_user)

    return _change(
        user_id, change, _("User disabled; their sessions and API tokens no longer work.")
    )


@bp.post("/users/<id:user_id>/enable")
@roles_required("admin")
def enable(user_id: int) -> Any:
    """Enable a disabled user (admin)."""

    def change(user: User) -> None:
        services.enable_user(user, actor=current_user)

    return _change(user_id, change, _("User enabled."))


@bp.post("/users/<id:user_id>/password")
@roles_required("admin")
def reset_password(user_id: int) -> Any:
    """Set a new password for a user; their sessions end (admin)."""
    form = request.form

    def change(user: User) -> None:
        if form.get("password", "") != form.get("confirm_password", ""):
            raise ValidationFailed(_("The two new passwords differ."))
        services.reset_password(user, form.get("password", ""), actor=current_user)

    return _change(
        user_id, change, _("Password set; every session of the user has been signed out.")
    )


@bp.post("/users/<id:user_id>/sign-out")
@roles_required("admin")
def sign_out_everywhere(user_id: int) -> Any:
    """End every session of a user now (admin)."""

    def change(user: User) -> None:
        services.sign_out_everywhere(user, actor=current_user)

    return _change(user_id, change, _("Every session of the user has been signed out."))


# --- sign-in throttles --------------------------------------------------------------------------


@bp.get("/users/throttles")
@roles_required("admin")
def throttles() -> Any:
    """Every sign-in throttle in force, to see and clear (admin)."""
    return render_template(
        "accounts/throttles.html",
        throttles=throttle.active_throttles(limits=_limits()),
        scope_labels=SCOPE_LABELS,
        limits=_limits(),
        now=throttle.now_utc(),
    )


def _back(default: str) -> str:
    """Where to go after clearing: the page the form came from, if it is one of ours."""
    target = request.form.get("next", "")
    return target if target.startswith("/users") and "//" not in target else default


@bp.post("/users/throttles/clear")
@roles_required("admin")
def clear_throttle() -> Any:
    """Forget the failed sign-ins of one throttle, so its name or address may sign in (admin)."""
    form = request.form
    try:
        scope = throttle.Scope(form.get("scope", ""))
        services.clear_throttle(
            scope,
            username=form.get("username") or None,
            address=form.get("address") or None,
            actor=current_user,
        )
    except ValueError:
        abort(400)
    db.session.commit()
    flash(_("Throttle cleared."), "success")
    return redirect(_back(url_for("accounts.throttles")))
