"""The audit chain is keyed and checkpointed outside the database: a cut tail, or an edit
with the later digests recomputed, no longer verifies as intact."""

from __future__ import annotations

import json
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select

from taskhub.audit import checkpoints
from taskhub.audit import services as audit
from taskhub.audit.models import AuditEvent
from taskhub.config import Config
from taskhub.core.db import db, now_utc
from taskhub.jobs.registry import get_job
from taskhub.jobs.services import run_job
from taskhub.reminders import services as outbox
from taskhub.webhooks import services as webhooks
from tests.conftest import make_user
from tests.servers import WebhookServer


@pytest.fixture
def cli(app: Flask, session: Any) -> Any:
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def record_events(n: int) -> list[AuditEvent]:
    events = [
        audit.record("test.changed", "thing", i, actor_id=None, after={"n": i}) for i in range(n)
    ]
    db.session.commit()
    return events


def log_lines(app: Flask) -> list[dict[str, Any]]:
    path = Path(app.config["AUDIT_CHECKPOINT_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()]


def newest(n: int) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(n)))


def cut_tail(n: int) -> None:
    ids = [e.id for e in newest(n)]
    db.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
    db.session.commit()


def recompute_from(event_id: int, digest: Any, *, until: int | None = None) -> None:
    """What an attacker with database access does after an edit: rewrite every later digest
    (up to event ``until``) with ``digest`` so the links hold."""
    previous = db.session.scalar(
        select(AuditEvent.digest).where(AuditEvent.id < event_id).order_by(AuditEvent.id.desc())
    )
    query = select(AuditEvent).where(AuditEvent.id >= event_id).order_by(AuditEvent.id)
    if until is not None:
        query = query.where(AuditEvent.id <= until)
    for event in db.session.scalars(query):
        event.prev_digest = previous
        event.digest = digest(event)
        previous = event.digest
    db.session.commit()


def first_id() -> int:
    first = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id).limit(1))
    assert first is not None
    return first


# --- a cut tail ----------------------------------------------------------------------------------


def test_deleting_the_newest_events_is_reported_against_the_last_checkpoint(
    app: Flask, cli: Any
) -> None:
    record_events(4)
    written = cli("audit", "checkpoint")
    assert written.exit_code == 0, written.output
    assert json.loads(written.stdout)["count"] == audit.chain_head().count
    assert cli("audit", "verify").exit_code == 0

    cut_tail(2)
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "the newest events were deleted (a cut tail)" in result.stderr
    assert "audit trail is broken" in result.stderr


def test_a_checkpoint_is_not_written_over_a_cut_tail(app: Flask, cli: Any) -> None:
    record_events(3)
    assert cli("audit", "checkpoint").exit_code == 0
    cut_tail(1)
    refused = cli("audit", "checkpoint")
    assert refused.exit_code == 1
    assert "does not follow the last checkpoint; nothing was written" in refused.stderr
    with pytest.raises(checkpoints.ChainBroken):
        run_job(get_job("audit_checkpoint"), date.today())  # type: ignore[arg-type]
    assert len(log_lines(app)) == 1  # the evidence stays the last line
    # The operator explains it (say, a database restored by hand) and starts a new baseline.
    assert cli("audit", "checkpoint", "--force").exit_code == 0
    assert cli("audit", "verify").exit_code == 0


# --- an edit with the later digests recomputed -----------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(audit.legacy_digest, id="the-old-public-sha256-rule"),
        pytest.param(lambda e: audit.event_digest(e, "a guessed key"), id="a-guessed-key"),
    ],
)
def test_an_edit_with_recomputed_digests_is_detected_without_a_checkpoint(
    app: Flask, session: Any, rule: Any
) -> None:
    events = record_events(4)
    assert audit.verify() == (audit.chain_head().count, [])
    target = events[1]
    target.after = {"n": 999}
    db.session.commit()
    recompute_from(target.id, rule)
    _, problems = audit.verify()
    assert problems
    assert problems[0].event_id == target.id


def test_a_whole_chain_recomputed_without_the_key_is_caught_by_the_checkpoint(
    app: Flask, session: Any
) -> None:
    record_events(3)
    checkpoint = checkpoints.write("command")
    db.session.commit()
    recompute_from(first_id(), audit.legacy_digest)  # every event, the old way: links hold
    _, problems = audit.verify(checkpoints.latest())
    assert checkpoint is not None
    assert [str(p) for p in problems] == [
        f"the checkpoint of {checkpoint.created_at} (command) recorded {checkpoint.count} "
        f"events ending with event {checkpoint.head_id} and digest {checkpoint.head}, which "
        "the chain here does not hold: events were deleted or the chain was rewritten"
    ]


def test_events_digested_before_the_key_still_verify_and_the_first_keyed_one_covers_them(
    app: Flask, session: Any
) -> None:
    """Chains written before issue 12 (plain SHA-256) are kept: the first keyed event covers
    the last old digest; rewriting that event too, the old way, takes a checkpoint to see."""
    old = record_events(3)
    recompute_from(first_id(), audit.legacy_digest)  # the chain an older TaskHub wrote
    assert audit.verify()[1] == []
    [keyed] = record_events(1)  # the first event under the key
    assert keyed.digest.startswith("hmac-sha256:") and audit.verify()[1] == []

    old[1].after = {"n": 999}
    db.session.commit()
    recompute_from(old[1].id, audit.legacy_digest, until=old[2].id)
    problems = audit.verify()[1]
    assert [(p.event_id, p.problem[:16]) for p in problems] == [(keyed.id, "does not follow ")]

    checkpoint = checkpoints.sign(audit.chain_head(), "command")
    recompute_from(old[1].id, audit.legacy_digest)  # the keyed event too: links hold again
    assert audit.verify()[1] == []  # without a checkpoint this rewrite does not show
    assert "the chain was rewritten" in str(audit.verify(checkpoint)[1][0])


# --- where checkpoints go ------------------------------------------------------------------------


def test_the_checkpoint_log_holds_signed_json_lines_for_the_owner_only(
    app: Flask, cli: Any
) -> None:
    record_events(2)
    assert cli("audit", "checkpoint").exit_code == 0
    record_events(1)
    job = get_job("audit_checkpoint")
    assert job is not None
    assert run_job(job, date.today()) == {"written": True, "events": audit.chain_head().count}
    assert run_job(job, date.today()) == {"written": False}  # nothing new: no new line
    path = Path(app.config["AUDIT_CHECKPOINT_LOG"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = log_lines(app)
    assert [line["reason"] for line in lines] == ["command", "scheduled"]
    assert lines[1]["count"] == lines[0]["count"] + 1
    for line in lines:
        checkpoints.check_signature(checkpoints.from_dict(line))
    forged = {**lines[1], "count": lines[1]["count"] - 1}
    with pytest.raises(checkpoints.CheckpointError, match="altered or forged"):
        checkpoints.check_signature(checkpoints.from_dict(forged))


def test_a_checkpoint_saved_elsewhere_can_be_checked_against(
    app: Flask, cli: Any, tmp_path: Path
) -> None:
    record_events(3)
    saved = tmp_path / "checkpoint.json"
    saved.write_text(cli("audit", "checkpoint").stdout)
    Path(app.config["AUDIT_CHECKPOINT_LOG"]).unlink()  # someone removed the log as well
    cut_tail(1)
    assert cli("audit", "verify").exit_code == 0  # no checkpoint left here: not detectable
    result = cli("audit", "verify", "--checkpoint", str(saved))
    assert result.exit_code == 1 and "a cut tail" in result.stderr


def test_a_checkpoint_under_another_audit_key_is_named_as_such(
    app: Flask, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_events(1)
    checkpoint = checkpoints.write("command")
    assert checkpoint is not None
    monkeypatch.setitem(app.config, "AUDIT_KEY", "another key " * 4)
    with pytest.raises(checkpoints.CheckpointError, match="signed with another audit key"):
        checkpoints.check_signature(checkpoint)


def test_subscribed_webhooks_receive_each_checkpoint(
    app: Flask, cli: Any, webhook_server: WebhookServer
) -> None:
    admin = make_user("admin", None, "audit-admin")
    webhooks.create_endpoint(
        url=webhook_server.url("/hooks"), events=["audit.checkpoint"], actor=admin
    )
    db.session.commit()
    written = json.loads(cli("audit", "checkpoint").stdout)
    outbox.deliver(app.config, now=now_utc())
    [(path, body)] = webhook_server.requests
    assert path == "/hooks"
    assert body == {"event": "audit.checkpoint", **written}
    assert checkpoints.from_dict(body) == checkpoints.from_dict(written)


def test_the_audit_key_is_configurable_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKHUB_AUDIT_KEY", "short")
    problems = [str(p) for p in Config().validate()]
    assert any(p.startswith("TASKHUB_AUDIT_KEY: is 5 characters long") for p in problems)
    monkeypatch.delenv("TASKHUB_AUDIT_KEY")
    monkeypatch.setenv("TASKHUB_SECRET_KEY", "s" * 40)
    config = Config()
    shown = dict(config.effective())
    assert shown["TASKHUB_AUDIT_KEY"] == "unset: derived from the secret key"
    config.finalize()
    assert config.AUDIT_KEY and config.AUDIT_KEY != config.SECRET_KEY
