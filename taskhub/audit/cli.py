"""`taskhub audit …`: verify the audit trail and sign checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from taskhub.cli import _require_schema, fail
from taskhub.core.db import db

# -- audit ----------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check against this checkpoint (a saved audit.checkpoint webhook body, a log line or "
    "log, a backup's manifest.json) instead of the last one in TASKHUB_AUDIT_CHECKPOINT_LOG.",
)
@with_appcontext
def audit_verify(checkpoint_file: Path | None) -> None:
    """Check the chain and the last checkpoint; exit 1 if events were edited or deleted."""
    from taskhub.audit import checkpoints
    from taskhub.audit.services import verify

    _require_schema()
    problems: list[Any] = []
    checkpoint = None
    try:
        if checkpoint_file is not None:
            checkpoint = checkpoints.read_file(checkpoint_file)
        else:
            checkpoint = checkpoints.latest()
        if checkpoint is not None:
            checkpoints.check_signature(checkpoint)
    except checkpoints.CheckpointError as exc:
        problems.append(f"checkpoint: {exc}")
        checkpoint = None
    count, chain_problems = verify(checkpoint)
    problems += [str(p) for p in chain_problems]
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        fail(f"audit trail is broken: {len(problems)} problem(s) in {count} events")
    if checkpoint is None:
        click.echo(
            f"audit trail intact: {count} events (no checkpoint yet, so deleted newest events "
            "would not show; `taskhub audit checkpoint` writes one)"
        )
        return
    click.echo(
        f"audit trail intact: {count} events; the checkpoint of {checkpoint.created_at} "
        f"({checkpoint.reason}, {checkpoint.count} events) is there"
    )


@audit.command("checkpoint")
@click.option(
    "--force",
    is_flag=True,
    help="Write it even though the chain does not follow the last checkpoint "
    "(after a database restored by hand); the log keeps the older one.",
)
@with_appcontext
def audit_checkpoint(force: bool) -> None:
    """Sign the chain's head into the checkpoint log and to audit.checkpoint webhooks."""
    from taskhub.audit import checkpoints

    _require_schema()
    try:
        written = checkpoints.write("command", force=force)
        db.session.commit()
    except checkpoints.ChainBroken as exc:
        db.session.rollback()
        fail(
            "the audit trail does not follow the last checkpoint; nothing was written:\n  "
            + "\n  ".join(str(p) for p in exc.problems)
            + "\n`taskhub audit verify` shows every problem; --force starts a new baseline"
        )
    assert written is not None
    click.echo(written.line(), nl=False)
