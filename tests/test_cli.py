"""The `taskhub` command line: a public contract for operators' scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from taskhub.core.db import db
from taskhub.models import AuditEvent, Contact, Item, Plan, Unit, User


@pytest.fixture
def cli(app, session):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    return invoke


def test_plan_list_json(cli):
    result = cli("plan", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["code"]: r for r in json.loads(result.stdout)}
    assert {c: r["items"] for c, r in rows.items()} == {
        "baotou-2022": 90,
        "hegang-2022": 35,
        "heihe-2023": 54,
        "shanwei-2021": 2,  # its two dated obligations (seeds/README.md)
        "shengzhou-2020": 77,
    }
    assert rows["hegang-2022"]["document_number"] == "鹤政发〔2022〕12号"
    assert rows["baotou-2022"]["points"] == 100


def test_plan_show_json_has_sections_items_and_units_by_role(cli):
    result = cli("plan", "show", "baotou-2022", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    areas = plan["sections"]
    assert [a["points"] for a in areas] == [25, 25, 20, 10, 10, 5, 5]
    first_sub = areas[0]["sections"][0]
    item1 = first_sub["items"][0]
    assert item1["number"] == "1"
    assert item1["deadline"] == "5月底取得明显成效并持续推进"
    assert [u["name"] for u in item1["units"]["lead_assessor"]] == ["市审批服务局"]

    def all_items(sections):
        for s in sections:
            yield from s["items"]
            yield from all_items(s["sections"])

    items = list(all_items(areas))
    assert len(items) == 90
    assert sum(i["points"] or 0 for i in items if 19 <= int(i["number"]) <= 38) == pytest.approx(12)


def test_plan_show_json_for_a_task_plan_names_groups(cli):
    plan = json.loads(cli("plan", "show", "hegang-2022", "--json").stdout)
    task1 = plan["sections"][0]["sections"][0]["items"][0]
    assert task1["units"]["lead"] == [
        {"name": "市营商环境局", "type": "unit", "id": task1["units"]["lead"][0]["id"]}
    ]
    groups = [
        u
        for s in plan["sections"]
        for s2 in s["sections"]
        for i in s2["items"]
        for u in i["units"]["responsible"]
        if u["type"] == "group"
    ]
    assert any(g["name"] == "各县(区)政府" for g in groups)


def test_unknown_plan_fails_with_a_hint(cli):
    result = cli("plan", "show", "nowhere")
    assert result.exit_code == 1
    assert "no plan 'nowhere'" in result.stderr and "baotou-2022" in result.stderr


def test_seed_load_reports_each_plan_and_unknown_codes_fail(cli):
    result = cli("seed", "load", "hegang-2022")
    assert result.exit_code == 0, result.output
    assert "hegang-2022: unchanged" in result.stdout
    result = cli("seed", "load", "nowhere-2020")
    assert result.exit_code == 1
    assert "nothing was loaded" in result.stderr and "nowhere-2020" in result.stderr


def test_user_create(cli):
    result = cli(
        "user", "create", "--username", "zhang", "--role", "unit", "--password", "a long password"
    )
    assert result.exit_code == 1 and "needs a unit" in result.stderr
    result = cli(
        "user",
        "create",
        "--username",
        "zhang",
        "--role",
        "unit",
        "--unit",
        "市财政局",
        "--password",
        "a long password",
    )
    assert result.exit_code == 1 and "--city" in result.stderr  # several cities have one
    result = cli(
        "user",
        "create",
        "--username",
        "zhang",
        "--role",
        "unit",
        "--unit",
        "市财政局",
        "--city",
        "hegang",
        "--password",
        "a long password",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User).where(User.username == "zhang")).one()
    assert user.unit.name == "市财政局" and user.unit.city.code == "hegang"
    assert user.check_password("a long password")


def test_demo_load_prints_passwords_once_and_is_idempotent(cli):
    first = cli("demo", "load")
    assert first.exit_code == 0, first.output
    assert "passwords are shown only this once" in first.stdout
    units_without_contact = db.session.scalar(
        select(func.count())
        .select_from(Unit)
        .where(~select(Contact.id).where(Contact.unit_id == Unit.id).exists())
    )
    assert units_without_contact == 0
    demo_emails = db.session.scalars(select(Contact.email).where(Contact.is_demo)).all()
    assert demo_emails and all(e.endswith("@example.org") for e in demo_emails)
    roles = set(db.session.scalars(select(User.role)))
    assert roles >= {"admin", "office", "assessor", "unit", "viewer"}
    kinds = set(
        db.session.scalars(
            select(Unit.kind).join(User, User.unit_id == Unit.id).where(User.role == "unit")
        )
    )
    assert kinds >= {"county", "township", "department", "enterprise"}
    contacts = db.session.scalar(select(func.count()).select_from(Contact))
    second = cli("demo", "load")
    assert second.exit_code == 0
    assert "shown only this once" not in second.stdout and "password unchanged" in second.stdout
    assert db.session.scalar(select(func.count()).select_from(Contact)) == contacts


def test_audit_verify_detects_edits_and_deletions(cli):
    cli("demo", "load")  # writes audit events
    ok = cli("audit", "verify")
    assert ok.exit_code == 0 and "audit trail intact" in ok.stdout
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert len(events) >= 3
    db.session.execute(
        update(AuditEvent).where(AuditEvent.id == events[1].id).values(action="user.deleted")
    )
    db.session.commit()
    edited = cli("audit", "verify")
    assert (
        edited.exit_code == 1 and f"event {events[1].id}: content does not match" in edited.stderr
    )
    db.session.execute(
        update(AuditEvent).where(AuditEvent.id == events[1].id).values(action=events[1].action)
    )
    db.session.delete(db.session.get(AuditEvent, events[1].id))
    db.session.commit()
    deleted = cli("audit", "verify")
    assert deleted.exit_code == 1 and f"event {events[2].id}: does not follow" in deleted.stderr


def test_console_script_on_a_fresh_sqlite_database(tmp_path: Path):
    """The installed `taskhub` script migrates, seeds and answers, as an operator runs it."""
    env = {
        **os.environ,
        "TASKHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "TASKHUB_INSTANCE_PATH": str(tmp_path),
    }
    taskhub = str(Path(sys.executable).parent / "taskhub")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [taskhub, *args], env=env, capture_output=True, text=True, timeout=120
        )

    early = run("plan", "list")
    assert early.returncode == 1 and "taskhub db upgrade" in early.stderr
    assert run("db", "upgrade").returncode == 0
    loaded = run("seed", "load", "hegang-2022")
    assert loaded.returncode == 0, loaded.stderr
    assert "[1/1] hegang-2022" in loaded.stderr  # progress goes to stderr
    rows = json.loads(run("plan", "list", "--json").stdout)
    assert [r["code"] for r in rows] == ["hegang-2022"]


def test_plan_show_json_lists_each_items_milestones(cli):
    plan = json.loads(cli("plan", "show", "baotou-2022", "--json").stdout)
    item1 = plan["sections"][0]["sections"][0]["items"][0]
    assert item1["unparsed_deadline"] is None
    kinds = [(m["kind"], m["due_on"]) for m in item1["milestones"]]
    # 5月底取得明显成效并持续推进: notable result by 05-31, then monthly checkpoints to December.
    assert kinds[0] == ("notable", "2022-05-31")
    assert [d for k, d in kinds[1:]] == [
        "2022-06-30",
        "2022-07-31",
        "2022-08-31",
        "2022-09-30",
        "2022-10-31",
        "2022-11-30",
        "2022-12-31",
    ]
    assert all(k == "checkpoint" for k, _ in kinds[1:])
    status = item1["milestones"][0]["status"]
    assert status["open"] == 36 and status["done"] == 0


def test_plan_show_json_names_unparsed_deadline_phrases(cli):
    from taskhub.tracking.schedule import apply_parsed_schedules

    item = db.session.scalars(
        select(Item).join(Plan).where(Plan.code == "baotou-2022", Item.code == "3")
    ).one()
    item.deadline_phrase = "尽快完成"
    apply_parsed_schedules(item.plan)
    db.session.commit()
    plan = json.loads(cli("plan", "show", "baotou-2022", "--json").stdout)
    items = [i for a in plan["sections"] for s in a["sections"] for i in s["items"]]
    item3 = next(i for i in items if i["code"] == "3")
    assert item3["unparsed_deadline"] == "尽快完成"
    assert item3["milestones"] == []
