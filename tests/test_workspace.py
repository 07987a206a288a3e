"""The unit workspace (/my): what to act on (returned, due soon, awaiting review), every task
with its light and a one-click way to report, the unit's contacts; only the unit's own rows,
in a fixed number of queries however many there are.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, Milestone, MilestoneStatus, ProgressReport
from taskhub.units.models import Contact
from tests.conftest import Browser, make_user, unit_named

KUNDULUN = "昆都仑区人民政府"  # Baotou: the unit user's own unit
QINGSHAN = "青山区人民政府"  # Baotou: another unit


def visible(page: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture
def person(app: Flask, session: Any) -> Callable[..., Browser]:
    def _open(role: str, unit: str | None = None, name: str | None = None) -> Browser:
        owner = unit_named(unit, "baotou") if unit else None
        return Browser(app, make_user(role, owner, name or f"{role}-{unit or 'staff'}"))

    return _open


def baotou_assignments(unit: str) -> list[int]:
    """The unit's Baotou assignments that have milestones, by item position."""
    owner = unit_named(unit, "baotou")
    has_steps = select(Milestone.assignment_id)
    return list(
        db.session.scalars(
            select(Assignment.id)
            .join(Item, Item.id == Assignment.item_id)
            .join(Plan, Plan.id == Item.plan_id)
            .where(
                Plan.code == "baotou-2022",
                Assignment.unit_id == owner.id,
                Assignment.id.in_(has_steps),
            )
            .order_by(Item.position, Item.id)
        )
    )


def due_in(aid: int, days: int) -> None:
    """Move every open milestone of the assignment to today + days (as an extension would)."""
    for m in db.session.scalars(
        select(Milestone).where(
            Milestone.assignment_id == aid, Milestone.status == MilestoneStatus.OPEN.value
        )
    ):
        m.extended_to = office_today() + timedelta(days=days)
    db.session.commit()


def reported(person: Browser, aid: int) -> int:
    """The unit reports on the assignment; returns the report's id."""
    page = person.page(f"/assignments/{aid}")
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    response = person.post(
        f"/assignments/{aid}/reports",
        data={"progress": "已完成系统部署。", "percent": "50", "version": version.group(1)},
    )
    assert response.status_code == 302
    return (
        db.session.scalars(
            select(ProgressReport.id)
            .where(ProgressReport.assignment_id == aid)
            .order_by(ProgressReport.id.desc())
        ).first()
        or 0
    )


def short_list(page: str, key: str) -> tuple[str, list[int]]:
    """(heading text, assignment ids) of a workspace short list."""
    match = re.search(
        rf'<section class="attention attention-{key} card"[^>]*>(.*?)</section>', page, re.S
    )
    assert match, f"no {key} list"
    body = match.group(1)
    heading = re.search(r"<h2[^>]*>(.*?)</h2>", body, re.S)
    assert heading
    ids = [int(i) for i in re.findall(r'href="/assignments/(\d+)"', body)]
    return visible(heading.group(1)), ids


def listed(page: str) -> list[int]:
    """Assignment ids in the task list table (not the short lists above it)."""
    table = page.split('<h2 id="tasks">', 1)[1].split("</table>", 1)[0]
    return [int(i) for i in re.findall(r'href="/assignments/(\d+)"', table)]


# --- the short lists -----------------------------------------------------------------------


def test_returned_due_soon_and_awaiting_review_hold_the_right_tasks(
    person: Callable[..., Browser],
) -> None:
    unit, office = person("unit", KUNDULUN), person("office")
    other = person("unit", QINGSHAN, "unit-qingshan")
    today_, edge, past_edge, yesterday, returned, waiting, *_ = baotou_assignments(KUNDULUN)
    for aid, days in ((today_, 0), (edge, 14), (past_edge, 15), (yesterday, -1)):
        due_in(aid, days)
    reason = "请补充系统上线截图。"
    report_id = reported(unit, returned)
    office.post(f"/reports/{report_id}/review", data={"decision": "return", "reason": reason})
    reported(unit, waiting)
    # Another unit's returned task is never on this unit's page.
    theirs = baotou_assignments(QINGSHAN)[0]
    office.post(
        f"/reports/{reported(other, theirs)}/review", data={"decision": "return", "reason": "x"}
    )

    page = unit.page("/my")

    heading, ids = short_list(page, "returned")
    assert heading == "被退回（需重新报送） (1)" and ids == [returned]
    assert f"退回理由：{reason}" in visible(page)
    heading, ids = short_list(page, "due_soon")
    # Due today and due in exactly 14 days are "soon"; 15 days is not, yesterday is overdue.
    assert heading == "即将到期（14 天内） (2)" and ids == [today_, edge]
    heading, ids = short_list(page, "submitted")
    assert heading == "待审核 (1)" and ids == [waiting]
    assert "报送于 " in visible(page.split("attention-submitted", 1)[1])
    # The same sets behind the views' own lists.
    assert listed(unit.page("/my?view=due_soon")) == [today_, edge]
    assert listed(unit.page("/my?view=returned")) == [returned]
    assert listed(unit.page("/my?view=submitted")) == [waiting]
    assert theirs not in listed(unit.page("/my?view=all")) + listed(
        unit.page("/my?view=all&page=2")
    )


def test_one_click_from_a_row_to_the_report_form(person: Callable[..., Browser]) -> None:
    unit, office = person("unit", KUNDULUN), person("office")
    soon, returned, waiting, *_ = baotou_assignments(KUNDULUN)
    due_in(soon, 3)
    office.post(
        f"/reports/{reported(unit, returned)}/review",
        data={"decision": "return", "reason": "请补充。"},
    )
    reported(unit, waiting)

    page = unit.page("/my")

    form_of = {aid: f'href="/assignments/{aid}?report=1"' for aid in (soon, returned)}
    assert form_of[soon] in page.split('class="attention attention-due_soon')[1]
    again = page.split('class="attention attention-returned')[1].split("</section>")[0]
    assert form_of[returned] in again and "重新报送" in visible(again)
    # A report awaiting review cannot be followed by another: no link for it.
    assert f'href="/assignments/{waiting}?report=1"' not in page
    # Every row of a task list that can take a report has the link too.
    table = unit.page("/my?view=due_soon").split('<h2 id="tasks">', 1)[1]
    assert form_of[soon] in table
    # The link opens the form, focused on its first field.
    target = unit.page(f"/assignments/{soon}?report=1")
    assert '<section id="report"' in target and '<details class="card" open>' in target
    assert '<textarea id="r-progress" name="progress" required autofocus>' in target


# --- only the unit's rows, in a fixed number of queries --------------------------------------


@contextmanager
def counted() -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    statements: list[str] = []

    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE")):  # the test's own transaction
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def test_my_tasks_load_only_the_units_rows_without_a_query_per_row(
    person: Callable[..., Browser],
) -> None:
    unit = person("unit", KUNDULUN)
    own = unit_named(KUNDULUN, "baotou").id

    with counted() as full:
        first = unit.page("/my?view=all")  # 50 rows
    with counted() as shorter:
        second = unit.page("/my?view=all&page=2")  # 40 rows
    with counted() as none:
        unit.page("/my?view=overdue")  # none flagged yet

    ids = listed(first) + listed(second)
    assert len(ids) == 90 == len(set(ids))
    owners = set(db.session.scalars(select(Assignment.unit_id).where(Assignment.id.in_(ids))))
    assert owners == {own}
    # The number of statements does not grow with the rows shown.
    assert len(full) == len(shorter), (len(full), len(shorter))
    assert len(none) <= len(full)  # no rows: the eager loads are skipped
    with counted() as workspace:
        unit.page("/my")  # the short lists and the contacts add a fixed few
    assert len(workspace) <= len(full) + 6, (len(workspace), len(full))


def test_an_office_user_is_sent_to_the_board(person: Callable[..., Browser]) -> None:
    response = person("office").get("/my")
    assert response.status_code == 302 and response.headers["Location"].endswith("/board")


# --- the unit's contacts ---------------------------------------------------------------------

CONTACT = {"name": "王伟", "position": "科员", "mobile": "13800000000", "email": "wang@example.org"}


def contact_of(unit: str, name: str = "李娜", mobile: str = "13900000000") -> int:
    contact = Contact(unit_id=unit_named(unit, "baotou").id, name=name, mobile=mobile)
    db.session.add(contact)
    db.session.commit()
    return contact.id


def contact_state(contact_id: int) -> tuple[str, str | None] | None:
    db.session.expire_all()
    contact = db.session.get(Contact, contact_id)
    return (contact.name, contact.mobile) if contact else None


def test_my_tasks_show_the_units_contacts_with_a_link_to_edit_them(
    person: Callable[..., Browser],
) -> None:
    contact_of(KUNDULUN, "赵敏", "13700000000")
    contact_of(QINGSHAN, "钱江", "13600000000")
    unit = person("unit", KUNDULUN)
    own = unit_named(KUNDULUN, "baotou").id

    page = unit.page("/my")

    box = page.split('<h2 id="h-contacts">', 1)[1].split("</section>", 1)[0]
    assert "赵敏" in box and "13700000000" in box
    assert "钱江" not in page and "13600000000" not in page
    assert f'href="/units/{own}#contacts"' in box and "编辑联系人" in visible(box)


def test_unit_staff_edit_their_own_contacts_only(person: Callable[..., Browser]) -> None:
    own_contact, their_contact = contact_of(KUNDULUN), contact_of(QINGSHAN)
    own, other = unit_named(KUNDULUN, "baotou").id, unit_named(QINGSHAN, "baotou").id
    unit = person("unit", KUNDULUN)
    audits = db.session.scalar(select(func.count()).select_from(AuditEvent))

    # Their own: change, add, remove.
    changed = {**CONTACT, "name": "李娜", "mobile": "13911111111"}
    assert unit.post(f"/contacts/{own_contact}", data=changed).status_code == 302
    assert contact_state(own_contact) == ("李娜", "13911111111")
    assert unit.post(f"/units/{own}/contacts", data=CONTACT).status_code == 302
    added = db.session.scalar(
        select(Contact.id).where(Contact.unit_id == own, Contact.name == "王伟")
    )
    assert added is not None
    assert unit.post(f"/contacts/{added}/delete").status_code == 302
    assert contact_state(added) is None
    after_own = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert after_own == (audits or 0) + 3  # each change is on record

    # Another unit's: refused on the server, whatever the form says, and nothing written.
    for url, form in (
        (f"/units/{other}/contacts", CONTACT),
        (f"/contacts/{their_contact}", changed),
        (f"/contacts/{their_contact}/delete", {}),
    ):
        response = unit.post(url, data=form)
        assert response.status_code == 403, url
        assert "您没有权限访问此页面。" in visible(response.get_data(as_text=True))
    assert contact_state(their_contact) == ("李娜", "13900000000")
    assert (
        db.session.scalar(select(func.count()).select_from(Contact).where(Contact.unit_id == other))
        == 1
    )
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == after_own
    # Nor can they read it.
    assert "13900000000" not in unit.page(f"/units/{other}")


def test_a_bad_contact_edit_shows_the_error_beside_that_contacts_field(
    person: Callable[..., Browser],
) -> None:
    own_contact = contact_of(KUNDULUN)
    unit = person("unit", KUNDULUN)

    response = unit.post(
        f"/contacts/{own_contact}", data={"name": "李娜", "mobile": "13900000000", "email": "li@"}
    )

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    field = re.search(rf'<input id="c{own_contact}-email"[^>]*>', page)
    assert field and 'aria-invalid="true"' in field.group(0)
    assert f'aria-describedby="c{own_contact}-email-error"' in field.group(0)
    assert 'value="li@"' in field.group(0)  # what was typed stays
    error = re.search(rf'<div class="error" id="c{own_contact}-email-error">(.*?)</div>', page)
    assert error and "请输入有效的电子邮箱" in error.group(1)
    new_form = page.split('id="new-name"', 1)[1]
    assert 'aria-invalid="true"' not in new_form  # the add form is not blamed
    assert contact_state(own_contact) == ("李娜", "13900000000")
