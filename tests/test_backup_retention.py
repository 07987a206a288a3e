"""Keeping backups in check: `taskhub backup --keep` prunes, `taskhub backup --check` says when
the newest one is too old, /readyz reports its age, and `taskhub alert` tells the operator
when a unit (the nightly backup) failed."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from taskhub.ops import retention
from tests.servers import SmtpServer, closed_port


def fake_archive(folder: Path, made_at: datetime) -> Path:
    """A file named as a complete backup made at ``made_at`` (its contents do not matter)."""
    path = folder / f"taskhub-backup-{made_at.strftime('%Y%m%d-%H%M%S')}.tar.gz"
    path.write_bytes(b"not read")
    return path


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_keep_prunes_all_but_the_newest_and_leaves_other_files(
    app: Flask, session: Any, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    old = [fake_archive(tmp_path, now - timedelta(days=days)) for days in (3, 2, 1)]
    encrypted = tmp_path / (old[0].name + ".age")  # an encrypted copy: not ours to delete
    encrypted.write_bytes(b"age")
    crashed = tmp_path / (old[1].name + ".part")  # left by a crash two days ago
    crashed.write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 86400
    os.utime(crashed, (two_days_ago, two_days_ago))
    running = tmp_path / "taskhub-backup-29991231-000000.tar.gz.part"  # another backup, now
    running.write_bytes(b"partial")

    result = cli(app, "backup", "--output", str(tmp_path), "--keep", "2")

    assert result.exit_code == 0, result.output
    made = Path(result.stdout.strip())
    assert made.parent == tmp_path and made.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [made.name, old[2].name, encrypted.name, running.name]
    )
    assert f"removed {old[0]} (--keep 2)" in result.stderr
    assert f"removed {crashed}" in result.stderr


def test_keep_is_at_least_one(app: Flask, tmp_path: Path) -> None:
    result = cli(app, "backup", "--output", str(tmp_path), "--keep", "0")
    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError):
        retention.prune(tmp_path, 0)


def test_check_fails_when_the_newest_backup_is_too_old(app: Flask, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    fake_archive(tmp_path, now - timedelta(hours=50))
    newest = fake_archive(tmp_path, now - timedelta(hours=30))
    (tmp_path / "taskhub-backup-29991231-000000.tar.gz.part").write_bytes(b"")  # not good yet

    stale = cli(app, "backup", "--check", "--output", str(tmp_path))
    assert stale.exit_code == 1
    assert "error: the last good backup is 30.0 hours old (more than 26)" in stale.stderr
    assert newest.name in stale.stderr

    fresh = cli(app, "backup", "--check", "--output", str(tmp_path), "--max-age", "48")
    assert fresh.exit_code == 0, fresh.output
    assert f"last good backup 30.0 hours ago: {newest}" in fresh.stdout


def test_check_fails_without_any_backup_and_reads_the_configured_folder(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    none = cli(app, "backup", "--check", "--output", str(tmp_path))
    assert none.exit_code == 1
    assert f"no backup in {tmp_path}" in none.stderr

    missing = cli(app, "backup", "--check", "--output", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "no backup folder" in missing.stderr

    unset = cli(app, "backup", "--check")
    assert unset.exit_code == 1 and "TASKHUB_BACKUP_PATH" in unset.stderr

    monkeypatch.setitem(app.config, "BACKUP_PATH", str(tmp_path))
    monkeypatch.setitem(app.config, "BACKUP_MAX_AGE_HOURS", 2)
    fake_archive(tmp_path, datetime.now(UTC) - timedelta(hours=1))
    assert cli(app, "backup", "--check").exit_code == 0
    fake_archive(tmp_path, datetime.now(UTC) + timedelta(hours=-3, minutes=-5))  # older
    assert cli(app, "backup", "--check").exit_code == 0  # the newest counts


def test_readyz_reports_the_backup_age_without_failing_on_it(
    app: Flask, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "backup" not in client.get("/readyz").get_json()  # no folder configured
    monkeypatch.setitem(app.config, "BACKUP_PATH", str(tmp_path))
    none = client.get("/readyz")
    assert none.status_code == 200
    assert none.get_json()["backup"] == {
        "status": "none",
        "last": None,
        "age_hours": None,
        "max_age_hours": 26,
    }
    made_at = (datetime.now(UTC) - timedelta(hours=30)).replace(microsecond=0)
    fake_archive(tmp_path, made_at)
    old = client.get("/readyz")
    assert old.status_code == 200 and old.get_json()["status"] == "ready"
    backup = old.get_json()["backup"]
    assert backup["status"] == "too old"
    assert backup["last"] == made_at.isoformat()
    assert 29.9 <= backup["age_hours"] <= 30.1
    fake_archive(tmp_path, datetime.now(UTC) - timedelta(minutes=30))
    assert client.get("/readyz").get_json()["backup"]["status"] == "ok"


def test_alert_mails_the_operator_in_chinese(
    app: Flask, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": smtp_server.port,
        "SMTP_USER": smtp_server.user,
        "SMTP_PASSWORD": smtp_server.password,
        "SMTP_TLS": False,
        "ALERT_MAIL": ["ops@example.gov.cn", "duty@example.gov.cn"],
    }.items():
        monkeypatch.setitem(app.config, key, value)
    result = cli(app, "alert", "taskhub-backup.service")
    assert result.exit_code == 0, result.output
    assert "mailed to ops@example.gov.cn, duty@example.gov.cn" in result.stdout
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "duty@example.gov.cn",
        "ops@example.gov.cn",
    ]
    mail = smtp_server.messages[0]
    assert "taskhub-backup.service 运行失败" in mail.subject
    assert mail.subject.startswith("【任务督办平台】")
    assert "journalctl -u taskhub-backup.service" in mail.text
    assert "最近的日志" in mail.text


def test_alert_without_addresses_is_journal_only_and_refuses_odd_names(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "ALERT_MAIL", [])
    quiet = cli(app, "alert", "taskhub-backup.service")
    assert quiet.exit_code == 0 and "journal only" in quiet.stdout
    odd = cli(app, "alert", "x; rm -rf /")
    assert odd.exit_code == 1 and "is not a systemd unit name" in odd.stderr
    # A mail server that cannot be reached: the alert unit fails too, saying why.
    monkeypatch.setitem(app.config, "ALERT_MAIL", ["ops@example.gov.cn"])
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", closed_port())
    unreachable = cli(app, "alert", "taskhub-backup.service")
    assert unreachable.exit_code == 1
    assert "the alert mail was not delivered: ops@example.gov.cn" in unreachable.stderr
