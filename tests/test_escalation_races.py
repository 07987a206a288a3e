"""Escalation notices issued at the same moment: numbers stay sequential and unique, and a level
is issued once on a task. Real threads, each with its own session and connection, on committed
data (tests/race_kit.py's app: its own PostgreSQL schema, or its own SQLite file)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from taskhub.accounts import services as accounts
from taskhub.accounts.models import User
from taskhub.core.db import db, writing
from taskhub.plans.models import Item, Plan
from taskhub.supervision import services
from taskhub.supervision.models import Escalation
from taskhub.tracking.models import Assignment
from tests.race_kit import PLAN, race_app

CLIENTS = 6
TODAY = date(2022, 7, 15)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    workdir: Path = tmp_path_factory.mktemp("escalation-races")
    with race_app(os.environ.get("TASKHUB_TEST_DATABASE_URL"), workdir) as made:
        with made.app_context():
            accounts.create_user(username="race-office", password=None, role="office", unit=None)
            db.session.commit()
            db.session.remove()
        yield made


def _assignments(app: Flask, n: int) -> list[int]:
    with app.app_context():
        ids = list(
            db.session.scalars(
                select(Assignment.id)
                .join(Item, Item.id == Assignment.item_id)
                .join(Plan, Plan.id == Item.plan_id)
                .where(Plan.code == PLAN, Assignment.status != "completed")
                .order_by(Assignment.id.desc())
                .limit(n)
            )
        )
        db.session.remove()
    return ids


def _race(app: Flask, targets: list[tuple[int, str]]) -> list[Any]:
    """Each thread issues (assignment, level code) at once; returns numbers or error codes."""
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)

    def work(i: int, assignment_id: int, level: str) -> None:
        with app.app_context(), writing():
            try:
                office = db.session.scalars(
                    select(User).where(User.username == "race-office")
                ).one()
                assignment = db.session.get(Assignment, assignment_id)
                assert assignment is not None
                chosen = services.level_by_code(services.city_of(assignment), level)
                db.session.commit()  # the ladder, once, before the race proper
                barrier.wait(timeout=30)
                notice = services.issue(assignment, chosen, actor=office, today=TODAY)
                db.session.commit()
                results[i] = notice.number
            except services.EscalationRefused as exc:
                db.session.rollback()
                results[i] = exc.code
            except Exception as exc:  # reported in the results, never swallowed
                db.session.rollback()
                results[i] = repr(exc)
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=work, args=(i, aid, level))
        for i, (aid, level) in enumerate(targets)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_simultaneous_issues_get_sequential_unique_numbers(app: Flask) -> None:
    with app.app_context():
        services.ensure_levels(
            db.session.scalars(select(Plan.city_id).where(Plan.code == PLAN)).one()
        )
        db.session.commit()
        db.session.remove()
    targets = [(aid, "remind") for aid in _assignments(app, CLIENTS)]
    results = _race(app, targets)
    assert sorted(results) == sorted(f"督办〔2022〕{n}号" for n in range(1, CLIENTS + 1)), results


def test_a_level_issued_at_once_by_several_offices_is_issued_once(app: Flask) -> None:
    (aid,) = _assignments(app, 1)
    results = _race(app, [(aid, "interview")] * CLIENTS)
    issued = [r for r in results if r.startswith("督办〔")]
    assert len(issued) == 1, results
    assert sorted(r for r in results if r not in issued) == ["already_issued"] * (CLIENTS - 1)
    with app.app_context():
        levels = [
            e.level.code
            for e in db.session.scalars(select(Escalation).where(Escalation.assignment_id == aid))
        ]
        db.session.remove()
    assert levels.count("interview") == 1
