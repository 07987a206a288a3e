"""`taskhub backup` and `taskhub restore`: an empty instance gets everything back, checked.

Each test instance has its own database: a SQLite file, or on PostgreSQL a sibling of the
suite's database (``<name>_bk_…``) created here and dropped afterwards. The backup is taken
while another connection holds an uncommitted write, as a running app would.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import stat
import struct
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from taskhub import config as settings
from taskhub import create_app
from taskhub.accounts import services as accounts
from taskhub.accounts.models import ApiToken, User
from taskhub.accounts.tokens import create_token, digest
from taskhub.audit import checkpoints
from taskhub.audit.models import AuditEvent
from taskhub.audit.services import verify
from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.core.storage import LocalStorage, storage_for
from taskhub.imports.services import uploads_root
from taskhub.ops.backup import FORMAT_VERSION, table_counts
from taskhub.plans.seeds import load_seeds
from taskhub.tracking.models import Assignment, Evidence
from taskhub.tracking.services import UploadedFile, submit_report
from tests.s3 import S3Server

PASSWORD = "correct horse battery"
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def _png() -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data)
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()
#: Bytes kept as a pending import upload (any bytes: the folder is copied as it is).
PENDING_IMPORT = b"PK\x03\x04 an uploaded workbook waiting for confirmation"


@dataclass
class Instance:
    app: Flask
    folder: Path

    def cli(self, *args: str, input: str | None = None) -> Any:
        return self.app.test_cli_runner().invoke(args=list(args), input=input)

    def counts(self) -> dict[str, int]:
        with self.app.app_context(), db.engine.connect() as conn:
            return table_counts(conn)

    def evidence_files(self) -> list[Path]:
        root = Path(self.app.config["EVIDENCE_PATH"])
        return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _base_url() -> str | None:
    url = os.environ.get("TASKHUB_TEST_DATABASE_URL")
    return settings.normalize_database_url(url) if url else None


@pytest.fixture(scope="module")
def new_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Instance]]:
    """new_instance("src") makes an empty instance folder and an empty database; settings
    given by name override the test configuration's (e.g. an object store for evidence)."""
    made: list[tuple[Instance, str | None]] = []
    base = _base_url()
    admin = None
    if base:
        admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")

    def make(name: str, **overrides: Any) -> Instance:
        folder = tmp_path_factory.mktemp(f"instance-{name}")
        database_name = None
        if base and admin is not None:
            database_name = f"{make_url(base).database}_bk_{name}"
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{database_name}"'))
            url = make_url(base).set(database=database_name).render_as_string(False)
        else:
            url = f"sqlite:///{folder / 'taskhub.db'}"
        config = settings.TestConfig()
        config.INSTANCE_PATH = str(folder)
        config.EVIDENCE_PATH = str(folder / "evidence")
        config.SQLALCHEMY_DATABASE_URI = url
        for key, value in overrides.items():
            setattr(config, key, value)
        instance = Instance(create_app(config, WTF_CSRF_ENABLED=False), folder)
        made.append((instance, database_name))
        return instance

    yield make
    for instance, database_name in made:
        with instance.app.app_context():
            db.session.remove()
            db.engine.dispose()
        if admin is not None and database_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)'))
    if admin is not None:
        admin.dispose()


def _migrate(instance: Instance) -> None:
    with instance.app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))


@dataclass
class Source:
    instance: Instance
    archive: Path
    #: Row counts when the backup was taken.
    counts: dict[str, int]
    #: Evidence digests and the bytes uploaded under them.
    uploaded: dict[str, bytes]
    token: str


@pytest.fixture(scope="module")
def source(
    new_instance: Callable[[str], Instance], tmp_path_factory: pytest.TempPathFactory
) -> Source:
    """A plan, a unit user with an API token, a report with two evidence files, a backup."""
    instance = new_instance("src")
    _migrate(instance)
    app = instance.app
    with app.app_context():
        load_seeds(PROJECT_ROOT / "seeds", ["hegang-2022"])
        assignment = db.session.scalars(select(Assignment).order_by(Assignment.id)).first()
        assert assignment is not None
        user = accounts.create_user(
            username="unit-staff", password=PASSWORD, role="unit", unit=assignment.unit
        )
        _, token = create_token(user, "dashboard", actor=user)
        report = submit_report(
            assignment,
            actor=user,
            progress="已完成系统部署。",
            percent=40,
            files=[UploadedFile("验收报告.pdf", PDF), UploadedFile("现场照片.png", PNG)],
            storage=storage_for(app.config),
            max_bytes=1024 * 1024,
        )
        db.session.commit()
        uploaded = {e.sha256: data for e, data in zip(report.evidence, (PDF, PNG), strict=True)}
        LocalStorage(uploads_root(app.instance_path)).put(PENDING_IMPORT)
        counts = instance.counts()
        # A write in progress elsewhere: neither blocks the backup nor ends up in it.
        with db.engine.connect() as writer:
            writer.execute(
                insert(User).values(
                    username="uncommitted", display_name="x", password_hash="x", role="viewer"
                )
            )
            archive = tmp_path_factory.mktemp("backups") / "taskhub.tar.gz"
            result = instance.cli("backup", "--output", str(archive))
            writer.rollback()
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(archive)
    assert "evidence: 2 files" in result.stderr
    return Source(instance, archive, counts, uploaded, token)


# -- the round trip -------------------------------------------------------------------------


def test_the_archive_holds_database_files_and_a_manifest(source: Source) -> None:
    with tarfile.open(source.archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert names[0] == ("database.pgdump" if _base_url() else "database.sqlite3")
    assert names[-1] == "manifest.json"
    assert sorted(n.split("/")[0] for n in names[1:-1]) == ["evidence", "evidence", "imports"]
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["database"]["tables"] == source.counts  # the uncommitted row is not there
    assert sorted(manifest["evidence"]["blobs"]) == sorted(source.uploaded)
    assert manifest["missing_evidence"] == []
    assert os.stat(source.archive).st_mode & 0o077 == 0  # password hashes inside: owner only


def test_an_empty_instance_gets_everything_back(
    source: Source, new_instance: Callable[[str], Instance]
) -> None:
    target = new_instance("dst")
    result = target.cli("restore", str(source.archive), "--yes")
    assert result.exit_code == 0, result.output
    assert "checksums match" in result.stderr
    assert "audit trail intact" in result.stdout

    # Every table has the rows it had; the audit trail has one more: the restore itself.
    restored = target.counts()
    assert restored == {**source.counts, "audit_events": source.counts["audit_events"] + 1}
    with target.app.app_context():
        events, problems = verify()
        assert (events, problems) == (source.counts["audit_events"] + 1, [])
        last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last is not None and last.action == "instance.restored"
        assert last.after is not None and last.after["archive"] == "taskhub.tar.gz"
        # The evidence bytes, byte for byte, where the rows say they are.
        store = storage_for(target.app.config)
        evidence = db.session.scalars(select(Evidence)).all()
        assert {e.sha256: store.path_of(e.sha256).read_bytes() for e in evidence} == source.uploaded
        assert db.session.scalar(select(User).where(User.username == "uncommitted")) is None
    pending = LocalStorage(uploads_root(target.app.instance_path))
    digest_of_pending = hashlib.sha256(PENDING_IMPORT).hexdigest()
    assert pending.path_of(digest_of_pending).read_bytes() == PENDING_IMPORT

    # And it serves: ready, the user signs in, the API token still works.
    client = target.app.test_client()
    assert client.get("/readyz").status_code == 200
    signed_in = client.post("/login", data={"username": "unit-staff", "password": PASSWORD})
    assert signed_in.status_code == 302
    with target.app.app_context():
        assert db.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == digest(source.token))
        )


def test_a_migrated_but_empty_database_counts_as_empty(
    source: Source, new_instance: Callable[[str], Instance]
) -> None:
    target = new_instance("migrated")
    _migrate(target)  # what an operator may well do first
    result = target.cli("restore", str(source.archive), "--yes")
    assert result.exit_code == 0, result.output
    assert target.counts()["items"] == source.counts["items"]


# -- refusals -------------------------------------------------------------------------------


def test_a_target_with_data_is_refused_unless_forced(
    source: Source, new_instance: Callable[[str], Instance]
) -> None:
    refused = source.instance.cli("restore", str(source.archive), "--yes")
    assert refused.exit_code == 1
    assert "the target is not empty; nothing was restored" in refused.stderr
    assert "holds data" in refused.stderr and "--force" in refused.stderr
    assert "evidence folder" in refused.stderr

    target = new_instance("busy")
    _migrate(target)
    with target.app.app_context():
        accounts.create_user(username="someone-else", password=PASSWORD, role="viewer")
        db.session.commit()
    assert target.cli("restore", str(source.archive), "--yes").exit_code == 1
    forced = target.cli("restore", str(source.archive), "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    assert "WARNING: --force" in forced.stderr and "DELETED" in forced.stderr
    with target.app.app_context():
        names = set(db.session.scalars(select(User.username)))
    assert names == {"unit-staff"}


def test_restore_asks_first(source: Source, new_instance: Callable[[str], Instance]) -> None:
    target = new_instance("ask")
    result = target.cli("restore", str(source.archive), input="n\n")
    assert result.exit_code == 1
    assert "Restore taskhub.tar.gz" in result.stderr and "Aborted" in result.stderr
    assert target.evidence_files() == []
    assert target.counts() == {}


def _rewrite(archive: Path, target: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Copy an archive, passing each member through ``change`` (None drops it)."""
    with tarfile.open(archive) as src, tarfile.open(target, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            new = change(member.name, data)
            if new is not None:
                member.size = len(new)
                dst.addfile(member, io.BytesIO(new))


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


TAMPERINGS: dict[str, tuple[Callable[[str, bytes], bytes | None], str]] = {
    "evidence altered": (
        lambda name, data: _flip_last_byte(data) if name.startswith("evidence/") else data,
        "does not match its checksum",
    ),
    "database altered": (
        lambda name, data: _flip_last_byte(data) if name.startswith("database.") else data,
        "does not match its checksum",
    ),
    "evidence removed": (
        lambda name, data: None if name.startswith("evidence/") else data,
        "lacks 2 file(s) its manifest lists",
    ),
    "manifest removed": (
        lambda name, data: None if name == "manifest.json" else data,
        "has no manifest.json",
    ),
    "unknown migration": (
        lambda name, data: (
            json.dumps(
                {**(m := json.loads(data)), "database": {**m["database"], "revisions": ["f" * 12]}}
            ).encode()
            if name == "manifest.json"
            else data
        ),
        "at migration ffffffffffff, which this TaskHub does not know",
    ),
    "newer format": (
        lambda name, data: (
            data.replace(b'"format_version": 1', b'"format_version": 99')
            if name == "manifest.json"
            else data
        ),
        "written by a newer TaskHub",
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_damaged_or_altered_archive_restores_nothing(
    source: Source, new_instance: Callable[[str], Instance], tmp_path: Path, tampering: str
) -> None:
    change, expected = TAMPERINGS[tampering]
    damaged = tmp_path / "damaged.tar.gz"
    _rewrite(source.archive, damaged, change)
    target = new_instance(tampering.replace(" ", "_"))
    result = target.cli("restore", str(damaged), "--yes")
    assert result.exit_code == 1
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert target.evidence_files() == []
    assert target.counts() == {}


def test_a_file_that_is_not_a_backup_is_refused(
    source: Source, new_instance: Callable[[str], Instance], tmp_path: Path
) -> None:
    target = new_instance("junk")
    junk = tmp_path / "notes.tar.gz"
    junk.write_bytes(b"these are not the files you are looking for")
    result = target.cli("restore", str(junk), "--yes")
    assert result.exit_code == 1
    assert "is not a readable TaskHub backup" in result.stderr
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(source.archive.read_bytes()[: source.archive.stat().st_size // 2])
    result = target.cli("restore", str(cut), "--yes")
    assert result.exit_code == 1
    assert "not a readable TaskHub backup" in result.stderr or "cut short" in result.stderr


def test_evidence_in_an_object_store_is_backed_up_and_restored_into_an_empty_bucket(
    source: Source,
    new_instance: Callable[..., Instance],
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    """A folder's backup restores into a bucket (moving to an object store), and a bucket's
    backup restores into another, empty bucket, byte for byte."""
    first = s3_server.new_bucket()
    moved = new_instance("to-s3", **first)
    result = moved.cli("restore", str(source.archive), "--yes")
    assert result.exit_code == 0, result.output
    assert f"evidence: 2 files restored into {first['EVIDENCE_URL']}" in result.stderr
    assert moved.evidence_files() == []  # nothing on disk
    keys = {f"evidence/{sha[:2]}/{sha[2:4]}/{sha}": data for sha, data in source.uploaded.items()}
    assert s3_server.objects(first) == keys

    archive = tmp_path / "from-s3.tar.gz"
    backup = moved.cli("backup", "--output", str(archive))
    assert backup.exit_code == 0, backup.output
    assert "evidence: 2 files" in backup.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        for sha, data in source.uploaded.items():
            member = tar.extractfile(f"evidence/{sha[:2]}/{sha[2:4]}/{sha}")
            assert member is not None and member.read() == data
    assert manifest["evidence_store"] == first["EVIDENCE_URL"]
    assert sorted(manifest["evidence"]["blobs"]) == sorted(source.uploaded)

    # A bucket that holds evidence is not a target; an empty one gets it all back.
    refused = moved.cli("restore", str(archive), "--yes")
    assert refused.exit_code == 1
    assert f"the evidence store {first['EVIDENCE_URL']} holds 2 file(s)" in refused.stderr
    second = s3_server.new_bucket()
    target = new_instance("s3-dst", **second)
    restored = target.cli("restore", str(archive), "--yes")
    assert restored.exit_code == 0, restored.output
    assert s3_server.objects(second) == keys
    with target.app.app_context():
        store = storage_for(target.app.config)
        for evidence in db.session.scalars(select(Evidence)):
            with store.open(evidence.sha256) as fh:
                assert fh.read() == source.uploaded[evidence.sha256]


def test_backup_refuses_to_overwrite(source: Source) -> None:
    result = source.instance.cli("backup", "--output", str(source.archive))
    assert result.exit_code == 1
    assert "already exists" in result.stderr


@pytest.mark.skipif(_base_url() is not None, reason="the SQLite file (PostgreSQL has no file)")
def test_the_restored_database_is_readable_by_the_owner_only(
    source: Source, new_instance: Callable[[str], Instance]
) -> None:
    previous = os.umask(0o022)  # the usual umask: new files would be world-readable
    try:
        target = new_instance("private")
        result = target.cli("restore", str(source.archive), "--yes")
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    files = [p for p in target.folder.iterdir() if p.name.startswith("taskhub.db")]
    assert {p.name for p in files} >= {"taskhub.db"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}


# -- the audit checkpoint -------------------------------------------------------------------


def test_the_backup_carries_a_signed_audit_checkpoint_also_kept_in_the_log(source: Source) -> None:
    with tarfile.open(source.archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    saved = manifest["audit_checkpoint"]
    assert saved["count"] == source.counts["audit_events"]  # the dumped snapshot's chain
    assert saved["reason"] == "backup"
    log = source.instance.folder / "audit-checkpoints.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert json.loads(log.read_text().splitlines()[-1]) == saved
    with source.instance.app.app_context():
        checkpoints.check_signature(checkpoints.from_dict(saved))


def _cut_audit_tail(name: str, data: bytes, folder: Path) -> bytes:
    """An attacker deletes the newest audit events from the dump and fixes the manifest's
    checksum and row counts to match (they are not secret)."""
    if name == "database.sqlite3":
        copy = folder / "cut.sqlite3"
        copy.write_bytes(data)
        conn = sqlite3.connect(copy, isolation_level=None)
        conn.execute("PRAGMA journal_mode = DELETE")  # the change in the file, not a -wal
        conn.execute("DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)")
        conn.close()
        data = copy.read_bytes()
        (folder / "dump").write_bytes(data)
        return data
    if name == "manifest.json":
        manifest = json.loads(data)
        dump = (folder / "dump").read_bytes()
        database = manifest["database"]
        database.update(sha256=hashlib.sha256(dump).hexdigest(), size=len(dump))
        database["tables"]["audit_events"] -= 1
        return json.dumps(manifest).encode()
    return data


@pytest.mark.skipif(_base_url() is not None, reason="edits a SQLite dump")
def test_restore_reports_a_backup_whose_newest_audit_events_were_cut(
    source: Source, new_instance: Callable[[str], Instance], tmp_path: Path
) -> None:
    cut = tmp_path / "cut.tar.gz"
    _rewrite(source.archive, cut, lambda name, data: _cut_audit_tail(name, data, tmp_path))
    target = new_instance("cut_tail")
    result = target.cli("restore", str(cut), "--yes")
    assert result.exit_code == 1
    assert "the restored audit trail does not verify" in result.stderr
    assert "the newest events were deleted (a cut tail)" in result.stderr
    assert not (target.folder / "audit-checkpoints.log").exists()  # no new baseline over it


def test_a_restore_starts_a_new_checkpoint_baseline(
    source: Source, new_instance: Callable[[str], Instance]
) -> None:
    target = new_instance("baseline")
    assert target.cli("restore", str(source.archive), "--yes").exit_code == 0
    [line] = (target.folder / "audit-checkpoints.log").read_text().splitlines()
    assert json.loads(line)["reason"] == "restore"
    assert json.loads(line)["count"] == source.counts["audit_events"] + 1  # and the restore
    verified = target.cli("audit", "verify")
    assert verified.exit_code == 0 and "(restore," in verified.stdout
