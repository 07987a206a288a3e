"""Sign-in pages, the own account page and personal API tokens (user administration: admin.py)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from marshmallow import ValidationError

from taskhub.accounts import passwords, services, tokens
from taskhub.accounts.messages import account_error
from taskhub.accounts.models import ApiToken, User
from taskhub.core import security
from taskhub.core.db import db
from taskhub.core.errors import PermissionDenied, ValidationFailed
from taskhub.core.labels import field_error
from taskhub.core.permissions import login_required, roles_required

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only follow relative redirects after login (no open redirect); without one, the
    user's own landing page."""
    if (
        target
        and not urlsplit(target).netloc
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))  # browsers read /\host as //host
    ):
        return target
    from taskhub.dashboard.landing import landing_url

    return landing_url(current_user, seeds=current_app.config["SEEDS"])


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in with a username and password."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
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
        page = render_template("accounts/login.html", error=throttled_message(exc.wait))
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
    """Sign out: every session of the user ends, so a copied cookie no longer works."""
    services.sign_out(current_user._get_current_object())
    db.session.commit()
    logout_user()
    return redirect(url_for("accounts.login"))


def throttled_message(wait: timedelta) -> str:
    """How long to wait, in seconds under a minute and in whole minutes above."""
    seconds = math.ceil(wait.total_seconds())
    if seconds < 60:
        return _(
            "Too many failed sign-in attempts. Please wait %(seconds)d seconds and try again.",
            seconds=seconds,
        )
    return _(
        "Too many failed sign-in attempts. Please wait %(minutes)d minutes and try again.",
        minutes=math.ceil(seconds / 60),
    )


# --- the signed-in user's own account -----------------------------------------------------------


def _account_page(*, status: int = 200, error: str | None = None) -> Any:
    from taskhub.reminders import notices

    page = render_template(
        "accounts/account.html",
        error=error,
        min_length=passwords.MIN_PASSWORD_LENGTH,
        notice_choices=notices.choices_of(current_user),
        notice_events=notices.events_for(current_user),
        notice_channels=notices.PERSONAL_CHANNELS,
    )
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/account")
@login_required
def account() -> Any:
    """The signed-in user's account: who they are, and changing their password."""
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    """Change one's own password (the current one is required); other sessions end."""
    user = current_user._get_current_object()
    form = request.form
    if form.get("new_password", "") != form.get("confirm_password", ""):
        return _account_page(status=422, error=_("The two new passwords differ."))
    try:
        services.change_own_password(
            user,
            current=form.get("current_password", ""),
            new=form.get("new_password", ""),
            address=security.client_address(),
            limits=security.login_limits(),
        )
    except services.LoginThrottled as exc:
        db.session.rollback()
        page, _status, headers = _account_page(status=429, error=throttled_message(exc.wait))
        return page, 429, {**headers, "Retry-After": str(math.ceil(exc.wait.total_seconds()))}
    except ValidationFailed as exc:
        # A wrong current password is still recorded (a failed attempt, in the audit trail).
        if getattr(exc, "code", None) == "wrong_current":
            db.session.commit()
        else:
            db.session.rollback()
        return _account_page(status=422, error=account_error(exc))
    db.session.commit()
    # This browser goes on with the new generation; every other session has ended.
    login_user(user)
    security.begin_session()
    flash(_("Password changed. Your other sessions have been signed out."), "success")
    return redirect(url_for("accounts.account"))


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


# User administration and invitations register their routes on this blueprint.
from taskhub.accounts import admin, invitation_views  # noqa: E402, F401
