"""The first run: the living demo, where each role lands, and the empty installation's checklist."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from taskhub.accounts.models import User
from taskhub.audit.models import AuditEvent
from taskhub.config import Config
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.core.timeutil import office_today
from taskhub.dashboard.services import due_soon_until
from taskhub.demo.services import load_living_demo
from taskhub.models import Assignment, Item, Plan
from taskhub.plans.models import PlanStatus
from taskhub.scoring import services as scoring
from taskhub.scoring.models import ItemScore
from taskhub.tracking.models import (
    Evidence,
    ExtensionRequest,
    Milestone,
    MilestoneStatus,
    ProgressReport,
)
from tests.conftest import PASSWORD, login, make_user, unit_named

#: The frozen office day of these tests: a Tuesday in the second half of the year.
TODAY = date(2026, 9, 15)
CODE = "demo-2026"
DEMO_ASSESSOR_UNIT = "市政务服务和数据管理局"


def load(app: Any, today: date = TODAY) -> Any:
    result = load_living_demo(
        today, storage=storage_for(app.config), max_bytes=app.config["MAX_UPLOAD_BYTES"]
    )
    db.session.commit()
    return result


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch) -> None:
    """The demo creates twenty accounts: hash their passwords cheaply here (scrypt takes a
    third of a second each; the hashing itself is tested in test_auth)."""
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(
        "taskhub.accounts.models.generate_password_hash",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"),
    )


@pytest.fixture
def demo(app, session, monkeypatch) -> Plan:
    """The living demo as of TODAY, and the pages' "today" frozen to it."""
    for module in ("taskhub.dashboard.views", "taskhub.tracking.views", "taskhub.ledger.views"):
        monkeypatch.setattr(f"{module}.office_today", lambda: TODAY)
    load(app)
    return db.session.scalars(select(Plan).where(Plan.code == CODE)).one()


def demo_assignments(plan: Plan) -> list[Assignment]:
    return list(db.session.scalars(select(Assignment).join(Item).where(Item.plan_id == plan.id)))


# -- the living demo ------------------------------------------------------------------------------


def test_demo_plan_follows_today_with_a_realistic_mix(demo):
    plan = demo
    assert (plan.year, plan.status, plan.city.name) == (2026, PlanStatus.PUBLISHED.value, "示范市")
    assignments = demo_assignments(plan)
    statuses = {a.status for a in assignments}
    assert statuses >= {"new", "acknowledged", "in_progress", "submitted", "returned", "completed"}
    assert sum(a.status == "returned" for a in assignments) == 1
    overdue = [a for a in assignments if a.is_overdue and a.status != "completed"]
    # Some overdue, most not.
    assert 0 < len(overdue) < len(assignments) // 3
    # Every overdue one really has an open step before today; the at-risk ones are due soon.
    for a in overdue:
        assert any(m.status == "open" and m.effective_due_on < TODAY for m in a.milestones)
    soon = due_soon_until(TODAY)
    at_risk = [
        a
        for a in assignments
        if not a.is_overdue
        and a.next_due_on is not None
        and TODAY <= a.next_due_on <= soon
        and a.status != "completed"
    ]
    assert at_risk
    on_track = [
        a
        for a in assignments
        if not a.is_overdue and a.next_due_on is not None and a.next_due_on > soon
    ]
    assert len(on_track) > len(overdue)
    # Step dates follow today, not the plan's January.
    dues = {m.due_on for a in assignments for m in a.milestones}
    assert min(dues) >= TODAY - timedelta(days=60) and max(dues) <= TODAY + timedelta(days=90)
    # An extension pending, accepted reports with their evidence, scores for the current period.
    pending = db.session.scalar(
        select(func.count())
        .select_from(ExtensionRequest)
        .join(Milestone)
        .join(Assignment)
        .join(Item)
        .where(Item.plan_id == plan.id, ExtensionRequest.status == "pending")
    )
    assert pending == 1
    accepted_final = db.session.scalars(
        select(ProgressReport)
        .join(Assignment)
        .join(Item)
        .where(
            Item.plan_id == plan.id,
            ProgressReport.status == "accepted",
            ProgressReport.percent == 100,
        )
    ).all()
    assert accepted_final
    for report in accepted_final:
        assert "佐证材料" in report.progress
        assert db.session.scalar(select(Evidence.id).where(Evidence.report_id == report.id))
    scores = db.session.scalar(
        select(func.count())
        .select_from(ItemScore)
        .where(ItemScore.item_id.in_([i.id for i in plan.items]))
    )
    assert scores > 0
    # Accepted on time before today: the step is done and not late.
    done = [m for a in assignments for m in a.milestones if m.status == MilestoneStatus.DONE.value]
    assert any(not m.is_late for m in done) and any(m.is_late for m in done)


def test_demo_rankings_are_not_all_equal(demo):
    rows, _ = scoring.results(demo, "2026-H2")
    totals = {r.total for r in rows}
    assert len(totals) > 5
    assert sorted(r.rank for r in rows if r.rank)[-1] > 5  # not everyone first


def test_demo_audit_trail_shows_who_did_what(demo):
    actions = dict(
        db.session.execute(
            select(AuditEvent.action, func.count()).group_by(AuditEvent.action)
        ).all()
    )
    for action in (
        "milestone.added",
        "assignment.acknowledged",
        "report.submitted",
        "report.accepted",
        "report.returned",
        "extension.requested",
        "score.item_set",
        "demo.plan_loaded",
    ):
        assert actions.get(action), action
    # Reports are submitted by the units' own staff, reviews by the office or the assessor.
    submitter = db.session.scalars(
        select(User)
        .join(AuditEvent, AuditEvent.actor_id == User.id)
        .where(AuditEvent.action == "report.submitted")
        .limit(1)
    ).one()
    assert submitter.role == "unit" and submitter.username.startswith("demo-")
    reviewers = set(
        db.session.scalars(
            select(User.username)
            .join(AuditEvent, AuditEvent.actor_id == User.id)
            .where(AuditEvent.action == "report.accepted")
        )
    )
    assert reviewers == {"demo-office", "demo-assessor"}


def test_demo_load_again_changes_nothing_even_days_later(demo, app):
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    plans = db.session.scalar(select(func.count()).select_from(Plan))
    again = load(app, TODAY + timedelta(days=3))
    assert again.status == "unchanged"
    assert all(login.password is None for login in again.logins)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
    assert db.session.scalar(select(func.count()).select_from(Plan)) == plans


def test_demo_load_command_prints_the_plan_and_the_demo_logins(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    year = office_today().year  # the office's year (Asia/Shanghai), not the machine's
    assert f"demo plan demo-{year}: loaded" in first.stdout
    assert "demo-office" in first.stdout and "demo-assessor" in first.stdout
    assert "[东城区人民政府]" in first.stdout
    assert "demo: [" in first.stderr  # progress on stderr
    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0
    assert f"demo plan demo-{year}: already there, nothing changed" in second.stdout
    assert "shown only this once" not in second.stdout


# -- where each role lands ------------------------------------------------------------------------


def demo_unit(name: str) -> Any:
    return unit_named(name, "demo")


def test_each_role_lands_on_its_own_page(demo, client):
    for role, unit, landing in (
        ("unit", "东城区人民政府", "/my"),
        ("office", None, f"/plans/{CODE}/dashboard"),
        ("admin", None, f"/plans/{CODE}/dashboard"),
        ("assessor", DEMO_ASSESSOR_UNIT, "/to-score"),
        ("viewer", None, "/overview"),
    ):
        user = make_user(role, demo_unit(unit) if unit else None)
        response = client.post("/login", data={"username": user.username, "password": PASSWORD})
        assert response.status_code == 302
        assert response.headers["Location"] == landing, role
        home = client.get("/")
        assert home.status_code == 302 and home.headers["Location"] == landing, role
        assert client.get(landing).status_code == 200, role
        client.post("/logout")


def test_login_follows_a_safe_next_only(client, session):
    user = make_user("office")
    landing = "/plans/heihe-2023/dashboard"
    for target, expected in (
        ("/ledger", "/ledger"),
        ("//evil.example.org/x", landing),
        ("/\\evil.example.org", landing),
        ("https://evil.example.org/", landing),
    ):
        response = client.post(
            f"/login?next={target}", data={"username": user.username, "password": PASSWORD}
        )
        assert response.headers["Location"] == expected, target
        client.post("/logout")


def test_anonymous_home_goes_to_the_sign_in_page(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_newest_active_plan_is_the_default(client, login_as):
    login_as("office")
    # The shipped plans are 2020–2023: the newest is heihe-2023, not shengzhou-2020.
    assert client.get("/").headers["Location"] == "/plans/heihe-2023/dashboard"
    page = client.get("/dashboard").get_data(as_text=True)
    heihe = db.session.scalars(select(Plan).where(Plan.code == "heihe-2023")).one()
    assert f"<h1>工作看板 · {heihe.title}</h1>" in page
    # A closed plan is no longer the default, even when newer.
    db.session.execute(update(Plan).where(Plan.code == "heihe-2023").values(status="closed"))
    db.session.commit()
    # Two plans of 2022: the one added last.
    assert client.get("/").headers["Location"] == "/plans/hegang-2022/dashboard"
    timeline = client.get("/timeline").get_data(as_text=True)
    assert 'value="hegang-2022" selected' in timeline


# -- the assessor's 待评分 and the leader's overview ------------------------------------------


def test_assessor_sees_what_their_unit_has_to_score(demo, client):
    unit = demo_unit(DEMO_ASSESSOR_UNIT)
    login(client, make_user("assessor", unit))
    page = client.get("/to-score").get_data(as_text=True)
    assert "待评分" in page and "考核期 2026年下半年" in page
    scored = set(
        db.session.scalars(
            select(ItemScore.assignment_id).where(ItemScore.scorer_key == f"unit:{unit.id}")
        )
    )
    led = demo_assignments(demo)
    unscored = [
        a
        for a in led
        if a.id not in scored
        and any(iu.role == "lead_assessor" and iu.unit_id == unit.id for iu in a.item.units)
    ]
    assert scored and unscored
    for a in unscored:
        assert f'href="/assignments/{a.id}#score"' in page
    for aid in scored:
        assert f'href="/assignments/{aid}#score"' not in page
    # Items assessed by another unit (市政府办公室 leads item 3's assessment) are not listed.
    other = next(a for a in led if a.item.number == "3")
    assert f'href="/assignments/{other.id}#score"' not in page
    # The link opens the task page at its score form.
    assert 'id="score"' in client.get(f"/assignments/{unscored[0].id}").get_data(as_text=True)


def test_viewer_overview_shows_every_active_plan(demo, client, login_as):
    login_as("viewer")
    page = client.get("/overview").get_data(as_text=True)
    assert page.index(demo.title) < page.index("包头市数字政府建设考评指标")  # newest first
    assert f'href="/plans/{CODE}/dashboard"' in page
    assignments = demo_assignments(demo)
    done = sum(a.status == "completed" for a in assignments)
    assert f"已完成（{len(assignments)} 项任务中已完成 {done} 项）" in page
    assert "2026年下半年 排名" in page and "前列" in page and "末位" in page
    assert "红" in page and "黄" in page and "绿" in page


# -- the empty installation's checklist -----------------------------------------------------------


def setup_states(page: str) -> list[str]:
    return [part.split("</span>")[0] for part in page.split('class="setup-state">')[1:]]


def test_setup_checklist_reads_the_database(client, login_as, app, monkeypatch):
    login_as("admin")
    db.session.execute(update(Plan).values(status=PlanStatus.DRAFT.value))
    db.session.commit()
    page = client.get("/setup").get_data(as_text=True)
    # City, units and a plan exist; no other user yet; nothing published.
    assert setup_states(page) == ["已完成", "已完成", "未完成", "已完成", "未完成"]
    for href in ('href="/cities/new"', 'href="/imports#units"', 'href="/imports#users"'):
        assert href in page
    assert 'href="/imports#plan"' in page and 'href="/plans/new"' in page
    first_draft = db.session.scalar(select(Plan.code).order_by(Plan.id).limit(1))
    assert f'href="/plans/{first_draft}"' in page
    # Started empty and not finished: the admin lands on the checklist.
    monkeypatch.setitem(app.config, "SEEDS", "none")
    assert client.get("/").headers["Location"] == "/setup"
    make_user("viewer")
    db.session.execute(update(Plan).where(Plan.code == "hegang-2022").values(status="published"))
    db.session.commit()
    page = client.get("/setup").get_data(as_text=True)
    assert setup_states(page) == ["已完成"] * 5
    assert "各步骤均已完成" in page
    assert client.get("/").headers["Location"] == "/plans/hegang-2022/dashboard"


def test_seeds_setting_is_all_or_none(monkeypatch):
    assert Config().SEEDS == "all"
    monkeypatch.setenv("TASKHUB_SEEDS", "NONE")
    assert Config().SEEDS == "none"
    monkeypatch.setenv("TASKHUB_SEEDS", "some")
    problems = [str(p) for p in Config().validate()]
    assert "TASKHUB_SEEDS: 'some' is not all or none" in problems


def test_seeds_none_loads_nothing_but_the_admin(app, session, monkeypatch):
    monkeypatch.setitem(app.config, "SEEDS", "none")
    runner = app.test_cli_runner()
    plans = db.session.scalar(select(func.count()).select_from(Plan))
    seeded = runner.invoke(args=["seed", "load"])
    assert seeded.exit_code == 0 and "TASKHUB_SEEDS=none" in seeded.stdout
    demo = runner.invoke(args=["demo", "load"])
    assert demo.exit_code == 0, demo.output
    assert "TASKHUB_SEEDS=none" in demo.stdout
    assert db.session.scalar(select(func.count()).select_from(Plan)) == plans
    assert set(db.session.scalars(select(User.username))) == {"admin"}


def test_demo_fills_the_bulletin_and_the_deadline_board(demo, client, login_as):
    login_as("office")
    bulletin = client.get(f"/plans/{CODE}/bulletin?period=2026-H2")
    assert bulletin.status_code == 200
    text = bulletin.get_data(as_text=True)
    overdue_unit = next(a for a in demo_assignments(demo) if a.is_overdue).unit.name
    assert overdue_unit in text and "市卫生健康委员会" in text
    board = client.get(f"/board?plan={CODE}&view=overdue").get_data(as_text=True)
    overdue = [a for a in demo_assignments(demo) if a.is_overdue and a.status != "completed"]
    for a in overdue[:3]:
        assert f"/assignments/{a.id}" in board
