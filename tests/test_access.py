"""Access matrix: every role against every route, checked on the server."""

from __future__ import annotations

from typing import Any

import pytest
from flask import current_app
from sqlalchemy import select

from taskhub.accounts import invitations
from taskhub.accounts import services as accounts
from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.models import Assignment, Contact, Item, Plan
from taskhub.units.models import Unit, UnitAlias
from tests.conftest import make_user, unit_named

OWN = "昆都仑区人民政府"  # the unit and assessor users' unit (Baotou)
OTHER = "青山区人民政府"

CONTACT = {"name": "王伟", "position": "科员", "mobile": "13800000000", "email": "wang@example.org"}


def assignment_of(unit_name: str) -> Assignment:
    unit = unit_named(unit_name, "baotou")
    return db.session.scalars(
        select(Assignment)
        .join(Item)
        .join(Plan)
        .where(Plan.code == "baotou-2022", Assignment.unit_id == unit.id)
        .order_by(Assignment.id)
    ).first()


def contact_of(unit_name: str) -> Contact:
    unit = unit_named(unit_name, "baotou")
    contact = Contact(unit_id=unit.id, name="李娜", mobile="13900000000")
    db.session.add(contact)
    db.session.commit()
    return contact


def alias_of(unit: Unit) -> int:
    """A name of the unit other than its own (made for the case)."""
    alias = UnitAlias(city_id=unit.city_id, name="矩阵旧称", unit_id=unit.id)
    db.session.add(alias)
    db.session.commit()
    return alias.id


def target_user() -> int:
    """The user the user-administration cases act on."""
    found = db.session.scalar(select(User.id).where(User.username == "matrix-target"))
    return found if found is not None else make_user("viewer", username="matrix-target").id


NEW_PLAN = {"code": "matrix-2024", "title": "方案", "year": "2024", "kind": "tasks"}


def invited_target() -> User:
    """A unit user without a password, invited (the invitation cases act on them)."""
    found = db.session.scalar(select(User).where(User.username == "matrix-invited"))
    if found is None:
        found = accounts.create_user(
            username="matrix-invited", password=None, role="unit", unit=unit_named(OWN, "baotou")
        )
        db.session.commit()
    return found


def invitation_link() -> str:
    """The path of a new, usable invitation link of the invited target."""
    created = invitations.create(invited_target(), actor=None, config=current_app.config)
    db.session.commit()
    return created.link.split("://", 1)[1].split("/", 1)[1]


NEW_PASSWORD = {"password": "plum blossom ferry lantern"}
NEW_PASSWORD["confirm_password"] = NEW_PASSWORD["password"]


def url_for_case(case: str) -> tuple[str, str, dict | None]:
    """(method, url, form) of a named case, built from the seeded data."""
    item_id = db.session.scalar(select(Item.id).join(Plan).where(Plan.code == "baotou-2022"))
    own, other = unit_named(OWN, "baotou"), unit_named(OTHER, "baotou")
    cases = {
        "plans": ("GET", "/plans", None),
        "plan": ("GET", "/plans/baotou-2022", None),
        "item": ("GET", f"/items/{item_id}", None),
        "units": ("GET", "/units?city=baotou", None),
        "unit": ("GET", f"/units/{other.id}", None),
        "own assignment": ("GET", f"/assignments/{assignment_of(OWN).id}", None),
        "other assignment": ("GET", f"/assignments/{assignment_of(OTHER).id}", None),
        "users": ("GET", "/users", None),
        "create user": (
            "POST",
            "/users",
            {"username": "new-user", "role": "viewer", "password": "long enough pw"},
        ),
        "user page": ("GET", f"/users/{target_user()}", None),
        "set role": ("POST", f"/users/{target_user()}/role", {"role": "office", "unit": ""}),
        "disable user": ("POST", f"/users/{target_user()}/disable", {}),
        "enable user": ("POST", f"/users/{target_user()}/enable", {}),
        "reset password": ("POST", f"/users/{target_user()}/password", NEW_PASSWORD),
        "sign out everywhere": ("POST", f"/users/{target_user()}/sign-out", {}),
        "throttles": ("GET", "/users/throttles", None),
        "clear throttle": (
            "POST",
            "/users/throttles/clear",
            {"scope": "address", "address": "192.0.2.1"},
        ),
        "own account": ("GET", "/account", None),
        "own password": (
            "POST",
            "/account/password",
            {"current_password": "wrong", "new_password": "x", "confirm_password": "x"},
        ),
        "add own contact": ("POST", f"/units/{own.id}/contacts", CONTACT),
        "add other contact": ("POST", f"/units/{other.id}/contacts", CONTACT),
        "edit other contact": ("POST", f"/contacts/{contact_of(OTHER).id}", CONTACT),
        "delete own contact": ("POST", f"/contacts/{contact_of(OWN).id}/delete", {}),
        "delete other contact": ("POST", f"/contacts/{contact_of(OTHER).id}/delete", {}),
        "new plan": ("GET", "/plans/new", None),
        "create plan": ("POST", "/plans/new", NEW_PLAN | {"city": str(own.city_id)}),
        "edit plan": ("GET", "/plans/baotou-2022/edit", None),
        "add section": ("POST", "/plans/baotou-2022/sections", {"title": "新增", "reason": "调整"}),
        "edit item form": ("GET", f"/plans/baotou-2022/items/{item_id}/edit", None),
        "city groups": ("GET", "/cities/baotou/groups", None),
        "group": ("GET", f"/groups/{spare_group()}", None),
        "create group": ("POST", "/cities/baotou/groups", {"name": "矩阵组", "membership": "list"}),
        "edit group": ("POST", f"/groups/{spare_group()}", {"name": "矩阵组二", "source": "x"}),
        "delete group": ("POST", f"/groups/{spare_group()}/delete", {}),
        "units template": ("GET", "/imports/units/template.xlsx?city=baotou", None),
        "units upload": ("POST", "/imports/units", {"city": "baotou"}),
        "units confirm": ("POST", "/imports/units/confirm", {"city": "baotou", "sha256": "0"}),
        "home": ("GET", "/", None),
        "favicon": ("GET", "/favicon.ico", None),
        "setup": ("GET", "/setup", None),
        "overview": ("GET", "/overview", None),
        "to score": ("GET", "/to-score", None),
        "cities": ("GET", "/cities", None),
        "city": ("GET", "/cities/baotou", None),
        "new city form": ("GET", "/cities/new", None),
        "create city": ("POST", "/cities/new", {"code": "matrix-city", "name": "矩阵市"}),
        "edit city": ("POST", "/cities/baotou/edit", {"name": "包头市", "province": "内蒙古"}),
        "new unit": ("POST", "/cities/baotou/units/new", {"name": "矩阵局", "kind": "other"}),
        "edit unit form": ("GET", f"/units/{other.id}/edit", None),
        "edit unit": ("POST", f"/units/{other.id}/edit", {"name": OTHER, "kind": "other"}),
        "add alias": ("POST", f"/units/{other.id}/aliases", {"alias": "矩阵别名"}),
        "remove alias": ("POST", f"/units/{other.id}/aliases/{alias_of(other)}/delete", {}),
        "retire unit": ("POST", f"/units/{other.id}/retire", {}),
        "reactivate unit": ("POST", f"/units/{other.id}/reactivate", {}),
        "merge form": ("GET", f"/units/{other.id}/merge?into={own.id}", None),
        "merge unit": (
            "POST",
            f"/units/{other.id}/merge",
            {"into": own.id, "confirm": "1", "reason": "机构改革"},
        ),
        "publish plan": ("POST", "/plans/baotou-2022/publish", {}),
        "close plan": ("POST", "/plans/baotou-2022/close-plan", {}),
        "archive plan": ("POST", "/plans/baotou-2022/archive", {}),
        "reopen plan": ("POST", "/plans/baotou-2022/reopen", {}),
        "copy plan form": ("GET", "/plans/baotou-2022/copy", None),
        "copy plan": (
            "POST",
            "/plans/baotou-2022/copy",
            {"year": "2023", "code": "baotou-2023", "title": "包头2023"},
        ),
        "plan revisions": ("GET", "/plans/baotou-2022/revisions", None),
        "document import page": ("GET", "/imports/document", None),
        "document upload": ("POST", "/imports/document", {"city": "baotou"}),
        "plan drafts": ("GET", "/plan-drafts", None),
        "plan draft": ("GET", f"/plan-drafts/{open_draft()}", None),
        "edit plan draft": ("POST", f"/plan-drafts/{open_draft()}", {"version": "1"}),
        "confirm plan draft": ("POST", f"/plan-drafts/{open_draft()}/confirm", {"version": "0"}),
        "discard plan draft": ("POST", f"/plan-drafts/{open_draft()}/discard", {}),
        # The review queue's 批量通过 (issue 15); nothing ticked: back to the queue.
        "bulk accept": ("POST", "/review/accept", {"report_ids": []}),
    }
    # Built only when asked for: each makes rows (and a new link revokes the older one).
    people_cases: dict[str, Any] = {
        "users template": lambda: ("GET", "/imports/users/template.xlsx", None),
        "users import": lambda: ("POST", "/imports/users", {}),
        "users import confirm": lambda: ("POST", "/imports/users/confirm", {"sha256": "0" * 64}),
        "invite user": lambda: ("POST", "/users/invite", {"username": "invited", "role": "viewer"}),
        "new invitation link": lambda: ("POST", f"/users/{invited_target().id}/invite", {}),
        "link contact": lambda: (
            "POST",
            f"/users/{invited_target().id}/contact",
            {"contact_id": str(contact_of(OWN).id)},
        ),
        "unlink contact": lambda: ("POST", f"/users/{invited_target().id}/contact/unlink", {}),
        "invitation page": lambda: ("GET", "/" + invitation_link(), None),
        "unknown invitation": lambda: ("GET", "/invite/" + "x" * 43, None),
        "accept invitation (weak password)": lambda: (
            "POST",
            "/" + invitation_link(),
            {"password": "password1", "confirm_password": "password1"},
        ),
    }
    return people_cases[case]() if case in people_cases else cases[case]


def open_draft() -> int:
    """An open plan draft of Baotou (the draft page cases act on it)."""
    from taskhub.documents.models import PlanDraft
    from taskhub.units.models import City

    found = db.session.scalar(select(PlanDraft.id).where(PlanDraft.name == "矩阵草稿.docx"))
    if found is not None:
        return found
    city_id = db.session.scalar(select(City.id).where(City.code == "baotou"))
    data = {"title": "矩阵方案", "kind": "tasks", "sections": [], "items": [], "code": "m-2024"}
    draft = PlanDraft(
        city_id=city_id, name="矩阵草稿.docx", format="docx", source_text="", data=data
    )
    db.session.add(draft)
    db.session.commit()
    return draft.id


def spare_group() -> int:
    """A group of Baotou that no plan names (the group cases act on it)."""
    from taskhub.units.models import City, UnitGroup

    found = db.session.scalar(select(UnitGroup.id).where(UnitGroup.name == "矩阵备用组"))
    if found is not None:
        return found
    city_id = db.session.scalar(select(City.id).where(City.code == "baotou"))
    group = UnitGroup(city_id=city_id, name="矩阵备用组")
    db.session.add(group)
    db.session.commit()
    return group.id


ROLES = ["anonymous", "admin", "office", "assessor", "unit", "viewer"]


def check_access(
    client: Any,
    login_as: Any,
    role: str,
    unit: Unit | None,
    request: tuple[str, str, dict[str, Any] | None],
    expected: int,
    trace: Any,
    *,
    audited: bool = False,
) -> None:
    """One cell of a role × route matrix: ``role`` (signed in with ``unit`` for the unit and
    assessor roles) sends ``request`` (method, url, form) and gets ``expected``; anonymous is
    sent to the login page; a refused or anonymous POST changes nothing ``trace()`` counts,
    and with ``audited`` a POST done (302) adds to it."""
    method, url, form = request
    if role != "anonymous":
        login_as(role, unit if role in ("unit", "assessor") else None)
    before = trace()
    response = client.open(url, method=method, data=form)
    assert response.status_code == expected, f"{role} {method} {url}"
    if role == "anonymous" and expected == 302:
        assert "/login" in response.headers["Location"]
    if method != "POST":
        return
    db.session.expire_all()
    if expected == 403 or role == "anonymous":
        assert trace() == before  # a refused change leaves no trace
    elif audited and expected == 302:
        assert trace() != before  # done: audited


# Expected status per role, in the order of ROLES. 302 for anonymous means "to the login page";
# 302 for a signed-in POST means "done, redirected back".
MATRIX = {
    "plans": [302, 200, 200, 200, 200, 200],
    "plan": [302, 200, 200, 200, 200, 200],
    "item": [302, 200, 200, 200, 200, 200],
    "units": [302, 200, 200, 200, 200, 200],
    "unit": [302, 200, 200, 200, 200, 200],
    "own assignment": [302, 200, 200, 200, 200, 200],
    "other assignment": [302, 200, 200, 200, 403, 200],
    "users": [302, 200, 403, 403, 403, 403],
    "create user": [302, 302, 403, 403, 403, 403],
    "user page": [302, 200, 403, 403, 403, 403],
    "set role": [302, 302, 403, 403, 403, 403],
    "disable user": [302, 302, 403, 403, 403, 403],
    "enable user": [302, 302, 403, 403, 403, 403],
    "reset password": [302, 302, 403, 403, 403, 403],
    "sign out everywhere": [302, 302, 403, 403, 403, 403],
    "throttles": [302, 200, 403, 403, 403, 403],
    "clear throttle": [302, 302, 403, 403, 403, 403],
    "own account": [302, 200, 200, 200, 200, 200],
    "own password": [302, 422, 422, 422, 422, 422],  # refused: the current one is wrong
    "add own contact": [302, 302, 302, 403, 302, 403],
    "add other contact": [302, 302, 302, 403, 403, 403],
    "edit other contact": [302, 302, 302, 403, 403, 403],
    "delete own contact": [302, 302, 302, 403, 302, 403],
    "delete other contact": [302, 302, 302, 403, 403, 403],
    "new plan": [302, 200, 200, 403, 403, 403],
    "create plan": [302, 302, 302, 403, 403, 403],
    "edit plan": [302, 200, 200, 403, 403, 403],
    "add section": [302, 302, 302, 403, 403, 403],
    "edit item form": [302, 200, 200, 403, 403, 403],
    # People (issue 13): the users import and invitations are the admin's; the invitation
    # link itself is public, and only its secret opens it.
    "users template": [302, 200, 403, 403, 403, 403],
    "users import": [302, 422, 403, 403, 403, 403],  # 422: no file
    "users import confirm": [302, 422, 403, 403, 403, 403],  # 422: no kept upload
    "invite user": [302, 200, 403, 403, 403, 403],  # 200: the page with the new link
    "new invitation link": [302, 200, 403, 403, 403, 403],
    "link contact": [302, 302, 403, 403, 403, 403],
    "unlink contact": [302, 302, 403, 403, 403, 403],
    "invitation page": [200, 200, 200, 200, 200, 200],
    "unknown invitation": [404, 404, 404, 404, 404, 404],
    "accept invitation (weak password)": [422, 422, 422, 422, 422, 422],
    "city groups": [302, 200, 200, 200, 200, 200],
    "group": [302, 200, 200, 200, 200, 200],
    "create group": [302, 302, 302, 403, 403, 403],
    "edit group": [302, 302, 302, 403, 403, 403],
    "delete group": [302, 302, 302, 403, 403, 403],
    "units template": [302, 200, 200, 403, 403, 403],
    "units upload": [302, 422, 422, 403, 403, 403],  # refused: no file
    "units confirm": [302, 422, 422, 403, 403, 403],  # refused: no such upload
    "home": [302, 302, 302, 302, 302, 302],  # each role to its own page
    "favicon": [301, 301, 301, 301, 301, 301],  # to /static/favicon.svg, signed in or not
    "setup": [302, 200, 403, 403, 403, 403],
    "overview": [302, 200, 200, 200, 403, 200],
    "to score": [302, 403, 403, 200, 403, 403],
    "cities": [302, 200, 200, 200, 200, 200],
    "city": [302, 200, 200, 200, 200, 200],
    "new city form": [302, 200, 200, 403, 403, 403],
    "create city": [302, 302, 302, 403, 403, 403],
    "edit city": [302, 302, 302, 403, 403, 403],
    "new unit": [302, 302, 302, 403, 403, 403],
    "edit unit form": [302, 200, 200, 403, 403, 403],
    "edit unit": [302, 302, 302, 403, 403, 403],
    "add alias": [302, 302, 302, 403, 403, 403],
    "remove alias": [302, 302, 302, 403, 403, 403],
    "retire unit": [302, 302, 302, 403, 403, 403],
    "reactivate unit": [302, 302, 302, 403, 403, 403],  # refused (active), redirected back
    "merge form": [302, 200, 200, 403, 403, 403],
    "merge unit": [302, 302, 302, 403, 403, 403],
    "publish plan": [302, 302, 302, 403, 403, 403],  # staff: refused (published), redirected
    "close plan": [302, 302, 302, 403, 403, 403],
    "archive plan": [302, 302, 302, 403, 403, 403],
    "reopen plan": [302, 302, 302, 403, 403, 403],
    "copy plan form": [302, 200, 200, 403, 403, 403],
    "copy plan": [302, 302, 302, 403, 403, 403],
    "plan revisions": [302, 200, 200, 200, 200, 200],
    # Plans read from documents (issue 14): the office's and the admin's only.
    "document import page": [302, 200, 200, 403, 403, 403],
    "document upload": [302, 422, 422, 403, 403, 403],  # refused: no file and no text
    "plan drafts": [302, 200, 200, 403, 403, 403],
    "plan draft": [302, 200, 200, 403, 403, 403],
    "edit plan draft": [302, 302, 302, 403, 403, 403],  # nothing changed, back to the grid
    "confirm plan draft": [302, 409, 409, 403, 403, 403],  # refused: an old version
    "discard plan draft": [302, 302, 302, 403, 403, 403],
    "bulk accept": [302, 302, 302, 302, 403, 403],  # reviewers: "select at least one"
}


@pytest.mark.parametrize("case", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, login_as, case, role):
    if role != "anonymous":
        login_as(role, unit_named(OWN, "baotou") if role in ("unit", "assessor") else None)
    method, url, form = url_for_case(case)
    before = trace()
    response = client.open(url, method=method, data=form)
    expected = MATRIX[case][ROLES.index(role)]
    assert response.status_code == expected, f"{role} {method} {url}"
    if role == "anonymous" and expected == 302:
        assert "/login" in response.headers["Location"]
    if (expected == 403 or role == "anonymous") and method == "POST":
        # A refused change leaves no trace.
        db.session.expire_all()
        assert trace() == before


def trace() -> tuple[int | None, int | None]:
    """The newest contact and audit event: a change would add to one of them."""
    return (
        db.session.scalar(select(Contact.id).order_by(Contact.id.desc()).limit(1)),
        db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)),
    )


def test_unit_user_sees_only_own_assignment_on_item_page(client, login_as):
    login_as("unit", unit_named(OWN, "baotou"))
    own, other = assignment_of(OWN), assignment_of(OTHER)
    page = client.get(f"/items/{own.item_id}").get_data(as_text=True)
    assert f"/assignments/{own.id}" in page
    assert f"/assignments/{other.id}" not in page


def test_unit_user_does_not_see_other_units_contacts(client, login_as):
    login_as("unit", unit_named(OWN, "baotou"))
    contact_of(OTHER)
    page = client.get(f"/units/{unit_named(OTHER, 'baotou').id}").get_data(as_text=True)
    assert "13900000000" not in page
    assert "仅本单位和督办室可查看该单位联系人" in page


def test_json_clients_get_401_not_a_redirect(client, session):
    response = client.get("/plans", headers={"Accept": "application/json"})
    assert response.status_code == 401
