"""The same change to one versioned object from several clients at once: exactly one wins.

Every object with a version or an ETag is raced (tests/race_kit.py): six real threads, each
with its own HTTP client, session and connection, send the same change based on the same
read. Exactly one succeeds; every other client hears that someone else changed it first (409
stale, 412 for a stale If-Match, the page's message with what was typed kept); no answer is a
server error; the audit trail holds one change; and the object keeps the winner's change.

On PostgreSQL (TASKHUB_TEST_DATABASE_URL) the races run in a schema of their own, migrated
here and dropped at the end, so the suite's rolled-back ``session`` data is not involved; on
SQLite in a file of their own, where BEGIN IMMEDIATE makes writers queue.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.race_kit import RACES, Kit, Race, race_app, run_round

CLIENTS = 6


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    workdir: Path = tmp_path_factory.mktemp("races")
    with race_app(os.environ.get("TASKHUB_TEST_DATABASE_URL"), workdir) as app:
        yield Kit.build(app)


@pytest.mark.parametrize("race", RACES, ids=[r.name for r in RACES])
def test_exactly_one_of_simultaneous_changes_wins(kit: Kit, race: Race) -> None:
    outcome = run_round(kit, race, CLIENTS)
    assert outcome.problems(race) == [], outcome.statuses
