"""Sign-in pages and user administration."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from taskhub.accounts import services
from taskhub.accounts.models import ROLES, User
from taskhub.core.db import db
from taskhub.core.errors import ValidationFailed
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
    error = None
    if request.method == "POST":
        user = services.authenticate(
            request.form.get("username", ""), request.form.get("password", "")
        )
        if user is None:
            db.session.rollback()
            error = _("Wrong username or password.")
        else:
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("accounts/login.html", error=error), status


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
    return render_template("accounts/users.html", users=rows, roles=ROLES)


@bp.post("/users")
@roles_required("admin")
def create_user() -> Any:
    """Create a user (admin)."""
    form = request.form
    unit = None
    if form.get("unit_id"):
        unit = db.session.get(Unit, int(form["unit_id"])) if form["unit_id"].isdigit() else None
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
