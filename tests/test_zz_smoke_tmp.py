from sqlalchemy import select

from taskhub.core.db import db
from taskhub.models import Assignment, Item, Plan
from tests.conftest import unit_named


def test_pages(client, login_as):
    login_as("office")
    a = db.session.scalars(
        select(Assignment).join(Item).join(Plan).where(Plan.code == "baotou-2022")
    ).first()
    for url in [
        "/board",
        "/board?plan=baotou-2022&view=all",
        "/review",
        "/extensions",
        "/reminders/rules",
        "/outbox",
        "/notifications",
        "/calendar",
        f"/assignments/{a.id}",
        f"/items/{a.item_id}",
        "/plans/baotou-2022",
        "/plans/hegang-2022",
        "/my",
    ]:
        r = client.get(url)
        assert r.status_code in (200, 302), (url, r.get_data(as_text=True)[-3000:])


def test_unit_pages(client, login_as):
    u = unit_named("昆都仑区人民政府", "baotou")
    login_as("unit", u)
    for url in ["/my", "/my?view=overdue", "/my?view=due_soon", "/notifications"]:
        r = client.get(url)
        assert r.status_code == 200, (url, r.get_data(as_text=True)[-3000:])
