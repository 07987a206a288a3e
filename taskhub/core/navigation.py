"""The main menu as data: which entries each role sees, which pages light each entry up, the
settings pages gathered under one 管理 group (the bar stays one line at 1366 px), and the count
badges of the three to-do lists (one statement per page for all three). base.html only draws
what ``main_menu`` returns."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import g, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import ScalarSelect, select
from sqlalchemy.exc import SQLAlchemyError

from taskhub.core.db import db

logger = logging.getLogger(__name__)

#: Roles whose settings pages sit in the 管理 group; others see their few entries in the bar.
GROUPING_ROLES = ("admin", "office")

Shows = Callable[[Any], bool]


def _roles(*roles: str) -> Shows:
    return lambda user: user.role in roles


def _everyone(user: Any) -> bool:
    return True


@dataclass(frozen=True)
class Entry:
    """One menu entry: shown to the users ``shows`` accepts, current on the listed endpoints
    (a name ending in "." stands for the whole blueprint)."""

    key: str
    endpoint: str
    label: Any
    shows: Shows = _everyone
    current_on: tuple[str, ...] = ()
    #: Gathered in the 管理 group for GROUPING_ROLES.
    settings: bool = False
    #: The name of the count shown beside the entry (see ``_COUNTS``).
    badge: str | None = None
    url_args: Callable[[Any], dict[str, Any]] = field(default=lambda user: {})


ENTRIES: tuple[Entry, ...] = (
    Entry("dashboard", "dashboard.index", _l("Dashboard"), current_on=("dashboard.plan",)),
    Entry("overview", "dashboard.overview", _l("Overview"), lambda u: u.role != "unit"),
    Entry("to_score", "dashboard.to_score", _l("To score"), _roles("assessor")),
    Entry(
        "plans",
        "plans.index",
        _l("Plans"),
        current_on=("plans.", "plan_editor.", "scoring.", "reports."),
    ),
    Entry(
        "my_tasks",
        "tracking.my_tasks",
        _l("My tasks"),
        lambda u: bool(u.unit_id) and u.role in ("unit", "assessor"),
        current_on=("tracking.assignment", "tracking.assignment_history"),
    ),
    Entry(
        "subtasks",
        "subtasks.index",
        _l("Sub-tasks"),
        _roles("admin", "office", "unit"),
        current_on=("subtasks.show",),
        # The office's bar is full at 1366 px: its 分解任务 heads the 管理 group; a unit's is
        # in the bar.
        settings=True,
        badge="subtasks",
    ),
    Entry("ledger", "ledger.index", _l("Ledger")),
    Entry("timeline", "ledger.timeline", _l("Timeline")),
    Entry("board", "tracking.board", _l("Deadline board"), lambda u: u.role != "unit"),
    Entry(
        "review",
        "tracking.review_queue",
        _l("Review queue"),
        _roles("admin", "office", "assessor"),
        badge="review",
    ),
    Entry(
        "extensions",
        "tracking.extensions",
        _l("Extensions"),
        _roles("admin", "office"),
        badge="extensions",
    ),
    Entry(
        "handovers",
        "supervision.handovers",
        _l("Send-back requests"),
        _roles("admin", "office"),
        badge="handovers",
    ),
    Entry(
        "units",
        "units.index",
        _l("Units"),
        current_on=("units.edit_unit", "units.merge_unit", "units.show"),
    ),
    Entry("notifications", "reminders.notifications", _l("Notifications"), badge="notifications"),
    Entry(
        "my_unit",
        "units.show",
        _l("My unit"),
        lambda u: u.unit_id is not None and u.role not in GROUPING_ROLES,
        url_args=lambda u: {"unit_id": u.unit_id},
    ),
    # The settings group, in the order an administrator sets a deployment up.
    Entry("setup", "dashboard.setup", _l("Setup"), _roles("admin"), settings=True),
    Entry(
        "cities",
        "units.cities",
        _l("Cities"),
        _roles("admin", "office"),
        current_on=(
            "units.show_city",
            "units.edit_city",
            "units.new_city",
            "units.new_unit",
            "groups.",
        ),
        settings=True,
    ),
    Entry("calendar", "calendar.index", _l("Calendar"), lambda u: u.role != "unit", settings=True),
    Entry("rules", "reminders.rules", _l("Reminders"), _roles("admin", "office"), settings=True),
    Entry("outbox", "reminders.outbox", _l("Outbox"), _roles("admin", "office"), settings=True),
    Entry(
        "imports",
        "imports.index",
        _l("Excel imports"),
        _roles("admin", "office", "unit"),
        current_on=("imports.", "documents."),
        settings=True,
    ),
    Entry(
        "users",
        "accounts.users",
        _l("Users"),
        _roles("admin"),
        current_on=("accounts.user_page", "accounts.throttles", "accounts.user_tokens"),
        settings=True,
    ),
    Entry("webhooks", "webhooks.index", _l("Webhooks"), _roles("admin"), settings=True),
)

#: Badges count up to here and read "99+" beyond 99: a page never counts a province's backlog.
BADGE_CAP = 100

#: The group's name in the bar.
GROUP_LABEL = lazy_pgettext("menu", "Manage")


def _review_count(user: Any) -> ScalarSelect[int]:
    from taskhub.tracking.queues import awaiting_review, counted

    return counted(awaiting_review(user), BADGE_CAP)


def _extensions_count(user: Any) -> ScalarSelect[int]:
    from taskhub.tracking.queues import counted, pending_extensions

    return counted(pending_extensions(), BADGE_CAP)


def _handovers_count(user: Any) -> ScalarSelect[int]:
    from taskhub.supervision.handover import pending_requests
    from taskhub.tracking.queues import counted

    return counted(pending_requests(), BADGE_CAP)


def _subtasks_count(user: Any) -> ScalarSelect[int]:
    from taskhub.supervision.subtasks import awaiting_action
    from taskhub.tracking.queues import counted

    return counted(awaiting_action(user), BADGE_CAP)


def _notifications_count(user: Any) -> ScalarSelect[int]:
    from taskhub.reminders.inbox import unread

    return unread(user, BADGE_CAP)


#: Each badge's COUNT, from the module that builds the list it counts.
_COUNTS: dict[str, Callable[[Any], ScalarSelect[int]]] = {
    "review": _review_count,
    "extensions": _extensions_count,
    "handovers": _handovers_count,
    "subtasks": _subtasks_count,
    "notifications": _notifications_count,
}


def badge_counts(user: Any, badges: list[str]) -> dict[str, int]:
    """The counts of these badges, all in one statement (a page pays one round trip)."""
    if not badges:
        return {}
    try:
        row = db.session.execute(select(*(_COUNTS[b](user).label(b) for b in badges))).one()
    except SQLAlchemyError:
        # The error page of a failed transaction draws the menu too: it goes without badges
        # rather than failing a second time.
        logger.warning("menu badges left out: the database refused the count", exc_info=True)
        return {}
    return {badge: int(row[i] or 0) for i, badge in enumerate(badges)}


@dataclass(frozen=True)
class Link:
    """An entry as drawn for this request."""

    key: str
    label: str
    url: str
    is_current: bool
    count: int | None = None

    @property
    def count_text(self) -> str:
        """The badge's text: the count, or 99+ past 99."""
        if self.count is None:
            return ""
        return f"{BADGE_CAP - 1}+" if self.count >= BADGE_CAP else str(self.count)


@dataclass(frozen=True)
class Menu:
    bar: list[Link]
    group: list[Link]
    group_label: str

    @property
    def group_is_current(self) -> bool:
        return any(link.is_current for link in self.group)


def is_current(entry: Entry, endpoint: str | None, view_args: dict[str, Any], user: Any) -> bool:
    """Whether the open page (``endpoint`` with ``view_args``) belongs to ``entry``."""
    if not endpoint:
        return False
    # A unit page is "My unit" when it is the user's own unit and that entry is shown.
    if endpoint == "units.show" and view_args.get("unit_id") == user.unit_id:
        own_unit = next(e for e in ENTRIES if e.key == "my_unit")
        if own_unit.shows(user):
            return entry.key == "my_unit"
    if entry.key == "my_unit":
        return False
    if endpoint == entry.endpoint:
        return True
    return any(
        endpoint.startswith(name) if name.endswith(".") else endpoint == name
        for name in entry.current_on
    )


def build_menu(user: Any, endpoint: str | None, view_args: dict[str, Any]) -> Menu:
    """The entries ``user`` sees, each marked current or not, with its count badge."""
    grouping = user.role in GROUPING_ROLES
    shown = [entry for entry in ENTRIES if entry.shows(user)]
    counts = badge_counts(user, [entry.badge for entry in shown if entry.badge])
    bar: list[Link] = []
    group: list[Link] = []
    for entry in shown:
        link = Link(
            key=entry.key,
            label=str(entry.label),
            url=url_for(entry.endpoint, **entry.url_args(user)),
            is_current=is_current(entry, endpoint, view_args, user),
            count=counts.get(entry.badge) if entry.badge else None,
        )
        (group if entry.settings and grouping else bar).append(link)
    return Menu(bar=bar, group=group, group_label=str(GROUP_LABEL))


def main_menu() -> Menu | None:
    """This request's menu for the signed-in user, built once (a page and its error page share
    it); None for visitors."""
    from flask import request
    from flask_login import current_user

    if not current_user.is_authenticated:
        return None
    menu = g.get("main_menu")
    if menu is None:
        menu = g.main_menu = build_menu(
            current_user, request.endpoint, dict(request.view_args or {})
        )
    return menu
