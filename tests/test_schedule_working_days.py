"""The office can set a milestone "within N working days", counted on China's calendar."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from taskhub.calendar.services import WorkingCalendar
from taskhub.core.db import db
from taskhub.core.timeutil import office_today
from taskhub.models import Item, ItemMilestone, Plan


def test_milestone_within_n_working_days(client, login_as):
    login_as("office")
    item = db.session.scalars(
        select(Item).join(Plan).where(Plan.code == "hegang-2022", Item.code == "5")
    ).one()
    response = client.post(
        f"/items/{item.id}/milestones", data={"kind": "complete", "working_days": "10"}
    )
    assert response.status_code == 302
    step = db.session.scalars(select(ItemMilestone).where(ItemMilestone.item_id == item.id)).one()
    today = office_today()
    calendar = WorkingCalendar.load(today, today + timedelta(days=80))
    assert step.due_on == calendar.add_working_days(today, 10)
    assert calendar.working_days_between(today, step.due_on) == 10
    assert step.due_on > today


def test_bad_working_days_are_refused_in_chinese(client, login_as):
    login_as("office")
    item = db.session.scalars(
        select(Item).join(Plan).where(Plan.code == "hegang-2022", Item.code == "6")
    ).one()
    client.post(f"/items/{item.id}/milestones", data={"working_days": "0"})
    page = client.get(f"/items/{item.id}").get_data(as_text=True)
    assert "工作日数须为 1 到 366 的整数" in page
    assert (
        db.session.scalars(select(ItemMilestone).where(ItemMilestone.item_id == item.id)).all()
        == []
    )
