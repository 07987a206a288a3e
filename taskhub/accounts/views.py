"""Sign-in pages, personal API tokens and user administration."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from marshmallow import ValidationError
from sqlalchemy import select

from taskhub.accounts import services, tokens
from taskhub.accounts.models import ROLES, ApiToken, User
from taskhub.core import security
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.inputs import id_arg
from taskhub.core.labels import field_error
from taskhub.core.permissions import login_required, roles_required
from taskhub.units.models import Unit

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only follow relative redirects after login (no open redirect)."""
    if target and not urlsplit(target).netloc and target.startswith("/"):
        return target
    return url_for("plans.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in with a username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("plans.index"))
    if request.method != "POST":  # GET, and HEAD (which Flask routes here too)
        return render_template("accounts/login.html", error=None)
    try:
        user = services.sign_in(
            request.form.get("username", ""),
            request.form.get("password", ""),
            address=security.client_address(),
            limits=security.login_limits(),
        )
    except services.LoginThrottled as exc:
        db.session.rollback()
        minutes = max(1, math.ceil(exc.wait.total_seconds() / 60))
        error = _(
            "Too many failed sign-in attempts. Please wait %(minutes)d minutes and try again.",
            minutes=minutes,
        )
        page = render_template("accounts/login.html", error=error)
        return page, 429, {"Retry-After": str(math.ceil(exc.wait.total_seconds()))}
    db.session.commit()  # the attempt is recorded either way
    if user is None:
        return render_template("accounts/login.html", error=_("Wrong username or password.")), 401
    login_user(user)
    security.begin_session()
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
@login_required
def logout() -> Any:
    """Sign out."""
    logout_user()
    return redirect(url_for("accounts.login"))


@bp.get("/users")
@roles_required("admin")
def users() -> Any:
    """List users (admin)."""
    rows = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template(
        "accounts/users.html",
        users=rows,
        roles=ROLES,
        token_counts=tokens.active_token_counts(),
    )


@bp.post("/users")
@roles_required("admin")
def create_user() -> Any:
    """Create a user (admin)."""
    form = request.form
    unit = None
    if form.get("unit_id"):
        unit_id = id_arg("unit_id", form)
        unit = db.session.get(Unit, unit_id) if unit_id else None
        if unit is None:
            flash(_("Unknown unit."), "error")
            return redirect(url_for("accounts.users"))
    try:
        services.create_user(
            username=form.get("username", ""),
            password=form.get("password", ""),
            role=form.get("role", ""),
            display_name=form.get("display_name") or None,
            unit=unit,
            email=form.get("email") or None,
            actor_id=current_user.id,
        )
    except ValidationFailed as exc:
        db.session.rollback()
        flash(_("Could not create the user: %(problem)s", problem=exc.message), "error")
        return redirect(url_for("accounts.users"))
    db.session.commit()
    flash(_("User created."), "success")
    return redirect(url_for("accounts.users"))


# --- personal API tokens ------------------------------------------------------------------------


def _tokens_page(
    owner: User,
    *,
    status: int = 200,
    created: ApiToken | None = None,
    plain: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Any:
    """The token list of ``owner`` (with the new token's secret, shown this once)."""
    page = render_template(
        "accounts/tokens.html",
        owner=owner,
        is_own=owner.id == current_user.id,
        rows=tokens.tokens_with_state(owner),
        created=created,
        plain=plain,
        errors=errors or {},
        form=form or {},
        max_days=tokens.MAX_EXPIRY_DAYS,
        max_name=tokens.MAX_NAME,
    )
    # A token list (and once, a secret): never kept by the browser's or a proxy's cache.
    return page, status, {"Cache-Control": "no-store"}


def _token_form_errors(messages: dict[str, Any]) -> dict[str, str]:
    """One translated message per field of the new-token form."""
    errors: dict[str, str] = {}
    for name, texts in messages.items():
        text = str(texts[0] if isinstance(texts, list) else texts)
        if name == "expires_in_days":
            errors[name] = _(
                "Enter a whole number of days from 1 to %(max)d, or leave it empty.",
                max=tokens.MAX_EXPIRY_DAYS,
            )
        elif name == "name" and text.startswith(("Length", "Longer")):
            errors[name] = _("A name has at most %(max)d characters.", max=tokens.MAX_NAME)
        else:
            errors[name] = field_error(text)
    return errors


@bp.get("/account/tokens")
@login_required
def my_tokens() -> Any:
    """The signed-in user's API tokens."""
    return _tokens_page(current_user)


@bp.post("/account/tokens")
@login_required
def create_token() -> Any:
    """Create a token for the signed-in user; its secret is shown on this page only."""
    try:
        data = tokens.TokenArgs().load(request.form)
    except ValidationError as exc:
        errors = _token_form_errors(exc.normalized_messages())
        return _tokens_page(current_user, status=422, errors=errors, form=request.form.to_dict())
    token, plain = tokens.create_token(
        current_user,
        data["name"],
        actor=current_user,
        expires_at=tokens.expiry_after(data["expires_in_days"]),
    )
    db.session.commit()
    return _tokens_page(current_user, created=token, plain=plain)


@bp.get("/users/<id:user_id>/tokens")
@roles_required("admin")
def user_tokens(user_id: int) -> Any:
    """A user's API tokens, for an admin to review and revoke."""
    owner = db.session.get(User, user_id)
    if owner is None:
        abort(404)
    return _tokens_page(owner)


@bp.post("/account/tokens/<id:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    """Revoke a token (its owner, or an admin)."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404)
    try:
        tokens.revoke_token(token, actor=current_user)
    except PermissionDenied:
        abort(403)
    db.session.commit()
    flash(_("Token “%(name)s” revoked; it no longer works.", name=token.name), "success")
    if token.user_id == current_user.id:
        return redirect(url_for("accounts.my_tokens"))
    return redirect(url_for("accounts.user_tokens", user_id=token.user_id))
