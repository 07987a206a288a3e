"""Reporting cadence (定期报送): windows, 未按时报送, 报送率, reminders, pages, API, audit.

The Baotou plan's assignments are made to exist since 2022-01-01 so that 2022's real working
calendar applies: 01-31..02-06 Spring Festival, 04-30..05-04 Labour Day, 10-01..07 National Day
with 10-08/09 worked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from taskhub.audit.models import AuditEvent
from taskhub.cadence import services
from taskhub.cadence.models import ReportingCadence
from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment, AssignmentStatus, ProgressReport
from tests.conftest import make_user, unit_named

OFFICE_TZ = ZoneInfo("Asia/Shanghai")
KDL = "昆都仑区人民政府"
QS = "青山区人民政府"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """An office-local wall time as the UTC instant the database stores."""
    return datetime.combine(day, time(hour, minute), OFFICE_TZ).astimezone(UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def baotou() -> Plan:
    return db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()


def assignment(number: str, unit_name: str) -> Assignment:
    unit = unit_named(unit_name, "baotou")
    return db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == baotou().id, Item.number == number, Assignment.unit_id == unit.id)
    ).one()


def cadence(**fields: Any) -> ReportingCadence:
    """An unsaved cadence for the window arithmetic."""
    values = {"kind": "monthly", "day": 25, "is_shifted_to_working_day": False}
    return ReportingCadence(**{**values, **fields})


def spans(found: list[services.Window]) -> list[tuple[str, str]]:
    return [(w.starts_on.isoformat(), w.due_on.isoformat()) for w in found]


def report(a: Assignment, when: datetime) -> None:
    author = db.session.scalars(select(Assignment).where(Assignment.id == a.id)).one()
    user = make_user("unit", author.unit, username=f"reporter-{a.id}-{when.timestamp():.0f}")
    db.session.add(
        ProgressReport(
            assignment_id=a.id,
            author_id=user.id,
            progress="按月报送",
            percent=10,
            submitted_at=when,
        )
    )
    db.session.commit()


@pytest.fixture
def plan(session: Any) -> Plan:
    """Baotou, its assignments existing since 2022-01-01, with a monthly cadence by the 25th."""
    the_plan = baotou()
    db.session.execute(
        update(Assignment)
        .where(Assignment.item_id.in_(select(Item.id).where(Item.plan_id == the_plan.id)))
        .values(created_at=at(d("2022-01-01")))
        .execution_options(synchronize_session=False)
    )
    office = make_user("office", username="cadence-office")
    services.set_cadence(
        the_plan,
        actor_id=office.id,
        kind="monthly",
        day=25,
        starts_on=d("2022-05-01"),
        is_shifted_to_working_day=False,
    )
    db.session.commit()
    db.session.expire_all()
    return the_plan


# --- windows -------------------------------------------------------------------------------------


def test_monthly_windows_clamp_to_the_month_end(session: Any) -> None:
    found = services.windows(cadence(day=31, starts_on=d("2022-01-01")), d("2022-04-15"))
    assert spans(found) == [
        ("2022-01-01", "2022-01-31"),
        ("2022-02-01", "2022-02-28"),
        ("2022-03-01", "2022-03-31"),
        ("2022-04-01", "2022-04-30"),
    ]
    leap = services.windows(cadence(day=30, starts_on=d("2024-01-10")), d("2024-03-01"))
    assert spans(leap) == [
        ("2024-01-10", "2024-01-30"),
        ("2024-01-31", "2024-02-29"),
        ("2024-03-01", "2024-03-30"),
    ]


def test_a_due_day_on_a_holiday_moves_to_the_next_working_day(session: Any) -> None:
    shifted = cadence(day=31, starts_on=d("2022-01-01"), is_shifted_to_working_day=True)
    # 01-31 is Spring Festival (to 02-06), 04-30 Labour Day (to 05-04).
    assert spans(services.windows(shifted, d("2022-04-15"))) == [
        ("2022-01-01", "2022-02-07"),
        ("2022-02-08", "2022-02-28"),
        ("2022-03-01", "2022-03-31"),
        ("2022-04-01", "2022-05-05"),
    ]


def test_weekly_windows_and_national_day(session: Any) -> None:
    fridays = cadence(
        kind="weekly", day=4, starts_on=d("2022-09-26"), is_shifted_to_working_day=True
    )
    # Friday 10-07 is a holiday: due on Saturday 10-08, a make-up working day.
    assert spans(services.windows(fridays, d("2022-10-15"))) == [
        ("2022-09-26", "2022-09-30"),
        ("2022-10-01", "2022-10-08"),
        ("2022-10-09", "2022-10-14"),
        ("2022-10-15", "2022-10-21"),
    ]
    plain = cadence(kind="weekly", day=4, starts_on=d("2022-09-26"))
    assert [w.due_on for w in services.windows(plain, d("2022-10-08"))][1] == d("2022-10-07")


def test_no_cadence_has_no_windows(session: Any) -> None:
    assert (
        services.windows(cadence(kind="none", day=None, starts_on=d("2022-01-01")), d("2022-12-31"))
        == []
    )


# --- 未按时报送 and 报送率 ---------------------------------------------------------------------


def test_a_missing_report_is_flagged_after_the_window_closes_not_before(plan: Plan) -> None:
    kdl, qs = assignment("3", KDL), assignment("3", QS)
    report(kdl, at(d("2022-05-20")))
    # On the due day the window is still open: nobody is flagged.
    assert services.missing_for([kdl.id, qs.id], d("2022-05-25")) == {}
    flagged = services.missing_for([kdl.id, qs.id], d("2022-05-26"))
    assert list(flagged) == [qs.id]
    assert flagged[qs.id].due_on == d("2022-05-25")


def test_a_report_late_on_the_due_day_counts_in_office_time(plan: Plan) -> None:
    qs = assignment("3", QS)
    report(qs, at(d("2022-05-25"), 23, 30))  # 15:30 UTC: still the 25th in the office
    assert services.missing_for([qs.id], d("2022-05-26")) == {}
    [fact] = [f for f in services.facts(d("2022-05-26"), assignment_ids=[qs.id]) if f.is_closed]
    assert fact.is_reported


def test_a_late_report_clears_the_tag_but_counts_as_missed(plan: Plan) -> None:
    qs = assignment("3", QS)
    assert qs.id in services.missing_for([qs.id], d("2022-05-27"))
    report(qs, at(d("2022-05-27")))
    assert services.missing_for([qs.id], d("2022-05-28")) == {}
    rates = {r.unit_name: r for r in services.unit_rates([plan.id], d("2022-05-28"))}
    assert rates[QS].due >= 1
    assert rates[QS].reported == 0


def test_completed_and_not_applicable_tasks_are_not_flagged(plan: Plan) -> None:
    kdl, qs = assignment("3", KDL), assignment("3", QS)
    kdl.status = AssignmentStatus.COMPLETED.value
    kdl.completed_at = at(d("2022-05-10"))
    qs.is_not_applicable = True
    db.session.commit()
    assert services.missing_for([kdl.id, qs.id], d("2022-07-01")) == {}


def test_reporting_rate_per_unit_on_the_plan(plan: Plan) -> None:
    kdl_ids = set(
        db.session.scalars(
            select(Assignment.id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Item.plan_id == plan.id, Assignment.unit_id == unit_named(KDL, "baotou").id)
        )
    )
    # 昆都仑区 reports every task in May, and none in June; 青山区 reports nothing.
    for a in db.session.scalars(select(Assignment).where(Assignment.id.in_(kdl_ids))):
        report(a, at(d("2022-05-10")))
    rates = {r.unit_name: r for r in services.unit_rates([plan.id], d("2022-06-26"))}
    kdl, qs = rates[KDL], rates[QS]
    assert (kdl.due, kdl.reported, kdl.missing) == (2 * len(kdl_ids), len(kdl_ids), len(kdl_ids))
    assert kdl.rate == 50
    assert qs.reported == 0 and qs.rate == 0 and qs.missing == qs.due // 2


def test_a_section_can_override_the_plan_cadence(plan: Plan) -> None:
    qs = assignment("3", QS)
    section = qs.item.section
    assert section is not None
    top = section
    while top.parent is not None:
        top = top.parent
    office = make_user("office", username="cadence-office-2")
    services.set_cadence(plan, actor_id=office.id, section=top, kind="none")
    db.session.commit()
    assert services.missing_for([qs.id], d("2022-07-01")) == {}
    services.clear_section_cadence(plan, top, actor_id=office.id)
    db.session.commit()
    assert qs.id in services.missing_for([qs.id], d("2022-07-01"))


def test_changing_the_cadence_is_audited(plan: Plan) -> None:
    office = make_user("office", username="cadence-office-3")
    services.set_cadence(plan, actor_id=office.id, kind="weekly", day=4)
    db.session.commit()
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "plan.cadence_set", AuditEvent.actor_id == office.id)
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert event.before is not None and event.before["kind"] == "monthly"
    assert event.after is not None and event.after["kind"] == "weekly"


# --- pages ---------------------------------------------------------------------------------------


def flag_qs(plan: Plan, monkeypatch: pytest.MonkeyPatch) -> Assignment:
    """Make today 2022-06-01: 青山区's item 3 has no report for the window due 05-25."""
    from taskhub.cadence import views

    monkeypatch.setattr(views, "office_today", lambda: d("2022-06-01"))
    return assignment("3", QS)


def test_the_assignment_page_and_my_tasks_show_the_tag_in_chinese(
    client: Any, login_as: Any, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    qs = flag_qs(plan, monkeypatch)
    login_as("unit", unit_named(QS, "baotou"))
    page = client.get(f"/assignments/{qs.id}").get_data(as_text=True)
    assert "未按时报送" in page
    assert "2022年05月25日" in page or "2022年5月25日" in page
    mine = client.get("/my?view=all").get_data(as_text=True)
    assert "未按时报送" in mine
    other = assignment("3", KDL)
    report(other, at(d("2022-05-20")))
    login_as("office")
    assert "未按时报送" not in client.get(f"/assignments/{other.id}").get_data(as_text=True)


def test_the_office_sets_the_cadence_on_the_reporting_page(
    client: Any, login_as: Any, plan: Plan
) -> None:
    office = login_as("office")
    page = client.get("/plans/baotou-2022/reporting").get_data(as_text=True)
    assert "报送周期" in page and "每月25日前报送" in page and "各单位报送率" in page
    response = client.post(
        "/plans/baotou-2022/reporting",
        data={
            "kind": "weekly",
            "weekday": "4",
            "starts_on": "2022-06-01",
            "shift": "1",
            "remind_days_before": "2",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = services.plan_cadence(plan)
    assert saved is not None
    assert (saved.kind, saved.day, saved.starts_on, saved.remind_days_before) == (
        "weekly",
        4,
        d("2022-06-01"),
        2,
    )
    assert db.session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.action == "plan.cadence_set", AuditEvent.actor_id == office.id
        )
    )
    shown = client.get("/plans/baotou-2022/reporting").get_data(as_text=True)
    assert "每周星期五前报送" in shown
    bad = client.post("/plans/baotou-2022/reporting", data={"kind": "monthly", "day": "40"})
    assert bad.status_code == 422
    assert "请选择每月报送日" in bad.get_data(as_text=True)


def test_the_reporting_page_lists_the_rate_per_unit(
    client: Any, login_as: Any, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag_qs(plan, monkeypatch)
    login_as("viewer")
    page = client.get("/plans/baotou-2022/reporting").get_data(as_text=True)
    assert QS in page and "0.0%" in page


# --- API -----------------------------------------------------------------------------------------


def test_api_reads_and_patches_the_cadence(api_as: Any, plan: Plan) -> None:
    office = api_as("office")
    got = office.get("/api/v1/plans/baotou-2022/cadence")
    assert got.status_code == 200
    assert got.json["cadence"] == {
        "kind": "monthly",
        "day": 25,
        "starts_on": "2022-05-01",
        "is_shifted_to_working_day": False,
        "remind_days_before": 3,
    }
    changed = office.patch("/api/v1/plans/baotou-2022/cadence", json={"day": 31})
    assert changed.status_code == 200, changed.json
    assert changed.json["cadence"]["day"] == 31 and changed.json["cadence"]["kind"] == "monthly"
    path = assignment("3", QS).item.section.path  # type: ignore[union-attr]
    section = office.patch(
        "/api/v1/plans/baotou-2022/cadence", json={"section": path, "kind": "none"}
    )
    assert section.status_code == 200
    assert [s["section"] for s in section.json["sections"]] == [path]
    cleared = office.patch(
        "/api/v1/plans/baotou-2022/cadence", json={"section": path, "kind": "inherit"}
    )
    assert cleared.json["sections"] == []
    bad = office.patch("/api/v1/plans/baotou-2022/cadence", json={"kind": "weekly", "day": 9})
    assert bad.status_code == 422
    assert office.patch("/api/v1/plans/nope/cadence", json={"day": 1}).status_code == 404


def test_api_reporting_rates(api_as: Any, plan: Plan) -> None:
    report(assignment("3", KDL), at(d("2022-05-20")))
    api = api_as("viewer")
    got = api.get("/api/v1/plans/baotou-2022/reporting-rates?as_of=2022-05-26")
    assert got.status_code == 200
    rates = {u["unit_name"]: u for u in got.json["units"]}
    assert rates[QS]["rate"] == "0.0" and rates[QS]["reported"] == 0
    assert rates[KDL]["reported"] == 1


ROLES = ["anonymous", "admin", "office", "viewer", "unit", "assessor"]
ACCESS = {
    ("GET", "/plans/baotou-2022/reporting"): [302, 200, 200, 200, 200, 200],
    ("POST", "/plans/baotou-2022/reporting"): [302, 302, 302, 403, 403, 403],
    ("GET", "/api/v1/plans/baotou-2022/cadence"): [401, 200, 200, 200, 200, 200],
    ("PATCH", "/api/v1/plans/baotou-2022/cadence"): [401, 200, 200, 403, 403, 403],
    ("GET", "/api/v1/plans/baotou-2022/reporting-rates"): [401, 200, 200, 200, 200, 200],
}


@pytest.mark.parametrize("route", list(ACCESS), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(
    client: Any, login_as: Any, api_as: Any, plan: Plan, route: tuple[str, str], role: str
) -> None:
    method, url = route
    expected = ACCESS[route][ROLES.index(role)]
    unit = unit_named(KDL, "baotou") if role in ("unit", "assessor") else None
    if url.startswith("/api/"):
        body = {"kind": "monthly", "day": 20}
        if role == "anonymous":
            response = client.open(url, method=method, json=body)
        else:
            api = api_as(role, unit)
            response = api._call(method, url, json=body)
    else:
        if role != "anonymous":
            login_as(role, unit)
        form = {"kind": "monthly", "day": "20"} if method == "POST" else None
        response = client.open(url, method=method, data=form)
    assert response.status_code == expected, f"{role} {method} {url}"
    if expected in (401, 403) and method != "GET":
        db.session.expire_all()
        assert services.as_dict(services.plan_cadence(plan))["day"] == 25  # unchanged


# --- reminders -----------------------------------------------------------------------------------


def test_report_due_and_missed_reminders_go_once_per_window(
    app: Any, plan: Plan, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskhub.cadence import reminders as cadence_reminders
    from taskhub.jobs.registry import get_job
    from taskhub.jobs.services import run_job
    from taskhub.reminders import services as reminder_services
    from taskhub.reminders.models import OutboxMessage
    from taskhub.tracking.models import Milestone
    from taskhub.units.models import Contact

    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    monkeypatch.setitem(app.config, "BASE_URL", "https://duban.example.gov.cn")
    # Milestone reminders are not what this test is about: every milestone is done.
    db.session.execute(update(Milestone).values(status="done", completed_on=d("2022-01-10")))
    qs = unit_named(QS, "baotou")
    db.session.add(Contact(unit_id=qs.id, name="李四", email="lisi@qs.example.gov.cn"))
    db.session.commit()
    qs_tasks = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id, Assignment.unit_id == qs.id)
    )
    job = get_job("reminders")
    assert job is not None

    def run(day: str) -> dict[str, Any]:
        now = lambda: at(d(day))  # noqa: E731
        monkeypatch.setattr(reminder_services, "now_utc", now)
        monkeypatch.setattr(cadence_reminders, "now_utc", now)
        return run_job(job, d(day))

    def mails() -> list[Any]:
        return [m for m in smtp_server.messages if "lisi@qs.example.gov.cn" in m.rcpt_tos]

    assert run("2022-05-19")["cadence_queued"] == 0  # four working days before the 25th
    # Friday 05-20 is three working days before Wednesday 05-25: "report due".
    assert run("2022-05-20")["cadence_queued"] == 1
    assert run("2022-05-20")["cadence_queued"] == 0  # the same day again
    assert run("2022-05-23")["cadence_queued"] == 0  # a later day of the same window
    [due] = mails()
    assert "定期报送提醒" in due.subject and "05月25日" in due.subject
    assert f"{qs_tasks}项任务" in due.subject
    assert "https://duban.example.gov.cn/assignments/" in due.text
    # Nothing came by the 25th: after it, "report missed", once.
    assert run("2022-05-25")["cadence_queued"] == 0
    assert run("2022-05-26")["cadence_queued"] == 1
    assert run("2022-05-27")["cadence_queued"] == 0
    assert [m.subject for m in mails()][1].startswith("【未按时报送】")
    assert len(mails()) == 2
    keys = db.session.scalars(
        select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like("cadence:%"))
    ).all()
    assert sorted(keys) == [
        "cadence:baotou-2022:2022-05-25:due:email:lisi@qs.example.gov.cn",
        "cadence:baotou-2022:2022-05-25:missed:email:lisi@qs.example.gov.cn",
    ]


# --- bulletin ------------------------------------------------------------------------------------


def test_the_bulletin_carries_the_reporting_rate_per_unit(plan: Plan) -> None:
    from taskhub.reports import services as bulletins

    kdl_units = unit_named(KDL, "baotou").id
    for a in db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .where(Item.plan_id == plan.id, Assignment.unit_id == kdl_units)
    ):
        report(a, at(d("2022-05-10")))
    b = bulletins.build_bulletin(plan, "2022-H1", today=d("2022-06-01"))
    rows = {r.unit: r for r in b.rows}
    assert rows[KDL].reporting_rate == 100
    assert rows[QS].reporting_rate == 0
    assert "按周期报送进展情况（报送率）" in b.reporting_rate_line
    assert f"{KDL}100.0%" in b.reporting_rate_line
    assert "未按时报送任务" in b.reporting_rate_line


def test_a_whole_plan_is_read_in_a_fixed_number_of_queries(plan: Plan) -> None:
    from sqlalchemy import event

    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        # A weekly section override as well: still the same few statements.
        office = make_user("office", username="cadence-office-4")
        top = assignment("3", QS).item.section
        assert top is not None
        services.set_cadence(plan, actor_id=office.id, section=top, kind="weekly", day=4)
        db.session.flush()
        statements.clear()
        rates = services.unit_rates([plan.id], d("2022-12-31"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sum(r.due for r in rates) > 100
    # The cadences, the sections, the calendar's overrides, the one facts query, unit names.
    assert len(statements) <= 6, statements


def test_a_closed_plan_owes_no_reports(plan: Plan) -> None:
    qs = assignment("3", QS)
    assert qs.id in services.missing_for([qs.id], d("2022-06-01"))
    plan.status = "closed"
    db.session.commit()
    assert services.missing_for([qs.id], d("2022-06-01")) == {}
    assert services.unit_rates([plan.id], d("2022-06-01")) == []


def test_a_long_cadence_digest_lists_twenty_and_counts_the_rest(session: Any) -> None:
    from taskhub.cadence import reminders as cadence_reminders
    from taskhub.reminders.services import DIGEST_ENTRIES

    tasks = {
        n: cadence_reminders._Task(n, 1, "baotou-2022", "考评", f"{n:02d}", f"任务{n}", "青山区")
        for n in range(1, DIGEST_ENTRIES + 5)
    }
    digest = {
        "display": "李四",
        "plan": tasks[1],
        "tasks": {n: (t, None) for n, t in tasks.items()},
    }
    row = cadence_reminders._row(
        1, d("2022-06-30"), "due", "email", "l@qs.cn", digest, "https://x.cn"
    )
    assert (
        row["subject"] == f"【定期报送提醒】考评：{DIGEST_ENTRIES + 4}项任务请于06月30日前报送进展"
    )
    numbered = [line for line in row["body"].splitlines() if line[:1].isdigit()]
    assert [line.rsplit("/", 1)[1] for line in numbered] == [
        str(n) for n in range(1, DIGEST_ENTRIES + 1)
    ]
    assert "另有4项未列出，请登录平台查看全部：https://x.cn/my?view=open" in row["body"]
