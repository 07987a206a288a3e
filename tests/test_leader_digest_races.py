"""Two schedulers deciding the leaders' weekly digests at the same moment queue each digest once.
Real threads, each with its own session and connection, on committed data (tests/race_kit.py's
app: its own PostgreSQL schema, or its own SQLite file)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from taskhub.core.db import db, writing
from taskhub.leaders import digest, services
from taskhub.reminders.models import OutboxMessage
from taskhub.units.models import City
from tests.race_kit import race_app

CLIENTS = 4
MONDAY = date(2022, 7, 4)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    workdir: Path = tmp_path_factory.mktemp("digest-races")
    with race_app(os.environ.get("TASKHUB_TEST_DATABASE_URL"), workdir) as made:
        with made.app_context():
            city = db.session.scalars(select(City).where(City.code == "baotou")).one()
            for n in range(3):
                services.create_leader(
                    city,
                    {"name": f"副市长{n}", "email": f"leader{n}@bt.gov.cn",
                     "webhook_url": f"https://oapi.dingtalk.com/robot/send?access_token={n}"},
                    actor=None,
                )  # fmt: skip
            digest.set_setting(
                city, {"weekday": 0, "send_at": "09:00", "channels": ["email", "webhook"]},
                actor=None,
            )  # fmt: skip
            db.session.commit()
            db.session.remove()
        yield made


def test_schedulers_racing_queue_each_digest_once(app: Flask) -> None:
    barrier = threading.Barrier(CLIENTS)
    results: list[Any] = [None] * CLIENTS

    def work(i: int) -> None:
        with app.app_context(), writing():
            try:
                barrier.wait(timeout=30)
                results[i] = digest.queue_digests(MONDAY, time(9, 0), base_url="https://x")
                db.session.commit()
            except Exception as exc:  # reported in the results, never swallowed
                db.session.rollback()
                results[i] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, dict) for r in results), results
    assert sum(r["queued"] for r in results) == 6, results
    with app.app_context():
        keys = list(
            db.session.scalars(
                select(OutboxMessage.dedupe_key).where(
                    OutboxMessage.dedupe_key.like("leader-digest:%")
                )
            )
        )
        db.session.remove()
    assert len(keys) == len(set(keys)) == 6
