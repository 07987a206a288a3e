"""Admin pages of outgoing webhooks: endpoints, their secrets, test events and deliveries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from taskhub.core.db import db
from taskhub.core.errors import DomainError
from taskhub.core.permissions import roles_required
from taskhub.core.web import attempt
from taskhub.webhooks import services
from taskhub.webhooks.models import WEBHOOK_EVENTS, WebhookEndpoint

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")

EVENT_LABELS = {
    "report.submitted": _l("Progress report submitted"),
    "review.done": _l("Report reviewed"),
    "milestone.overdue": _l("Milestone overdue"),
    "period.closed": _l("Assessment period closed"),
    "audit.checkpoint": _l("Audit trail checkpoint"),
    services.TEST_EVENT: _l("Test event"),
}

#: The services' error codes in the user's language.
ERRORS = {
    "url_required": _l("Enter the receiver's address."),
    "url_too_long": _l("The address is too long (at most 2000 characters)."),
    "url_spaces": _l("The address must not contain spaces."),
    "url_scheme": _l("The address must start with http:// or https://."),
    "url_host": _l("The address has no host name, e.g. https://dashboard.example.gov.cn/hooks."),
    "url_credentials": _l(
        "Do not put a user name or password in the address: the signature proves that a "
        "message comes from TaskHub."
    ),
    "url_port": _l("The port must be a number from 1 to 65535."),
    "internal_address": _l(
        "This address is inside the internal network (this server, a private, link-local or "
        "reserved address). TaskHub sends events to public addresses only, unless the "
        "operator allows the host in TASKHUB_WEBHOOK_ALLOW."
    ),
    "events_required": _l("Choose at least one event."),
    "events_unknown": _l("Choose events from the list."),
    "description_too_long": _l("The description is too long (at most 200 characters)."),
    "disabled": _l("Enable the endpoint before sending a test event."),
}


def _problem(exc: DomainError) -> str:
    code = getattr(exc, "code", None)
    return str(ERRORS[code]) if isinstance(code, str) and code in ERRORS else exc.message


def get_endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


def _form_values(form: MultiDict[str, str]) -> dict[str, Any]:
    return {
        "url": form.get("url", ""),
        "description": form.get("description", ""),
        "events": form.getlist("events"),
        "is_enabled": form.get("is_enabled") == "on",
    }


def _secret_page(endpoint: WebhookEndpoint, secret: str, *, created: bool) -> Any:
    """The secret, shown this once; never cached (no redirect: it must not sit in a session)."""
    response = render_template(
        "webhooks/secret.html", endpoint=endpoint, secret=secret, created=created
    )
    return response, 200, {"Cache-Control": "no-store"}


def _render_list(form: dict[str, Any] | None = None, errors: dict[str, str] | None = None) -> Any:
    endpoints = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
    return render_template(
        "webhooks/index.html",
        endpoints=endpoints,
        counts=services.delivery_counts(),
        events=WEBHOOK_EVENTS,
        event_labels=EVENT_LABELS,
        form=form or {"events": [], "is_enabled": True},
        errors=errors or {},
    )


def _render_edit(
    endpoint: WebhookEndpoint,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Any:
    return render_template(
        "webhooks/edit.html",
        endpoint=endpoint,
        deliveries=services.recent_deliveries(endpoint.id),
        event_of=services.event_of,
        events=WEBHOOK_EVENTS,
        event_labels=EVENT_LABELS,
        form=form
        or {
            "url": endpoint.url,
            "description": endpoint.description,
            "events": endpoint.events,
            "is_enabled": endpoint.is_enabled,
        },
        errors=errors or {},
    )


@bp.get("")
@roles_required("admin")
def index() -> Any:
    """Registered endpoints with their delivery counts, and the form for a new one."""
    return _render_list()


@bp.post("")
@roles_required("admin")
def create() -> Any:
    """Register an endpoint; its secret is shown once, on the next page."""
    values = _form_values(request.form)
    try:
        endpoint, secret = services.create_endpoint(actor=current_user, **values)
    except DomainError as exc:
        db.session.rollback()
        return _render_list(values, {exc.field or "url": _problem(exc)}), 422
    db.session.commit()
    return _secret_page(endpoint, secret, created=True)


@bp.get("/<id:endpoint_id>")
@roles_required("admin")
def edit(endpoint_id: int) -> Any:
    """One endpoint: its settings, actions and recent deliveries."""
    return _render_edit(get_endpoint_or_404(endpoint_id))


@bp.post("/<id:endpoint_id>")
@roles_required("admin")
def update(endpoint_id: int) -> Any:
    """Save an endpoint's address, description, events and enabled flag."""
    endpoint = get_endpoint_or_404(endpoint_id)
    values = _form_values(request.form)
    try:
        services.update_endpoint(endpoint, actor=current_user, **values)
    except DomainError as exc:
        db.session.rollback()
        return _render_edit(endpoint, values, {exc.field or "url": _problem(exc)}), 422
    db.session.commit()
    flash(_("Webhook saved."), "success")
    return redirect(url_for("webhooks.edit", endpoint_id=endpoint_id))


@bp.post("/<id:endpoint_id>/enabled")
@roles_required("admin")
def set_enabled(endpoint_id: int) -> Any:
    """Switch an endpoint on or off."""
    endpoint = get_endpoint_or_404(endpoint_id)
    enabled = request.form.get("enabled") == "1"
    attempt(
        lambda: services.set_enabled(endpoint, enabled, actor=current_user),
        done=_("Webhook enabled.") if enabled else _("Webhook disabled; nothing more is sent."),
        describe=_problem,
    )
    return redirect(url_for("webhooks.edit", endpoint_id=endpoint_id))


@bp.post("/<id:endpoint_id>/secret")
@roles_required("admin")
def rotate_secret(endpoint_id: int) -> Any:
    """Replace the secret; the new one is shown once."""
    endpoint = get_endpoint_or_404(endpoint_id)
    secret = services.rotate_secret(endpoint, actor=current_user)
    db.session.commit()
    return _secret_page(endpoint, secret, created=False)


@bp.post("/<id:endpoint_id>/test")
@roles_required("admin")
def send_test(endpoint_id: int) -> Any:
    """Queue a test event; it goes out with the next delivery run."""
    endpoint = get_endpoint_or_404(endpoint_id)
    attempt(
        lambda: services.send_test(endpoint, actor=current_user),
        done=_("Test event queued; it is sent within five minutes and listed below."),
        describe=_problem,
    )
    return redirect(url_for("webhooks.edit", endpoint_id=endpoint_id))


@bp.post("/<id:endpoint_id>/delete")
@roles_required("admin")
def delete(endpoint_id: int) -> Any:
    """Delete an endpoint; its pending deliveries are cancelled."""
    endpoint = get_endpoint_or_404(endpoint_id)
    services.delete_endpoint(endpoint, actor=current_user)
    db.session.commit()
    flash(_("Webhook deleted."), "success")
    return redirect(url_for("webhooks.index"))
