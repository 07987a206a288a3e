"""Evidence in an S3-compatible object store, through the app: reports store their files in the
bucket, downloads are streamed with the usual checks and headers (or redirected to a short-lived
signed URL), `evidence gc` collects orphans there, and an unreachable store answers 503 in
Chinese, keeping what was typed. Against moto's S3 server on 127.0.0.1 (tests/s3.py).
"""

from __future__ import annotations

import io
import re
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from taskhub.cli import main
from taskhub.config import Config
from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.evidence.services import SAFE_AGE, collect_garbage
from taskhub.tracking import services
from taskhub.tracking.models import Assignment, Evidence, ProgressReport
from tests import test_tracking_pages
from tests.conftest import Browser, make_user, unit_named
from tests.s3 import ONCE, S3Server
from tests.test_tracking_pages import (
    KUNDULUN,
    PDF,
    QINGSHAN,
    assignment_id,
    form_version,
    report_form,
    visible,
)

browser = test_tracking_pages.browser  # the fixture: a signed-in user of a role

API = "/api/v1"
STORE_DOWN = "文件存储暂时无法访问，请稍后重试。"


@pytest.fixture
def in_bucket(
    app: Flask, s3_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The app keeps evidence in a new bucket (and nothing in its evidence folder)."""
    for key, value in s3_config.items():
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(tmp_path / "unused-folder"))
    return s3_config


def submit(unit: Browser, aid: int, name: str = "验收报告.pdf", data: bytes = PDF) -> str:
    url = f"/assignments/{aid}"
    form = report_form(form_version(unit.page(url)), evidence=(io.BytesIO(data), name))
    return unit.submit(f"{url}/reports", data=form)


def evidence_of(aid: int) -> Evidence:
    db.session.expire_all()
    report = db.session.scalars(
        select(ProgressReport).where(ProgressReport.assignment_id == aid)
    ).one()
    (evidence,) = report.evidence
    return evidence


def test_a_report_keeps_its_file_in_the_bucket_and_it_downloads_as_from_disk(
    browser: Callable[..., Browser],
    in_bucket: dict[str, Any],
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    unit, office, other = browser("unit", KUNDULUN), browser("office"), browser("unit", QINGSHAN)
    aid = assignment_id("3")
    unit.submit(f"/assignments/{aid}/acknowledge")
    assert "报送已提交，等待审核。" in visible(submit(unit, aid))
    evidence = evidence_of(aid)
    sha = evidence.sha256
    assert s3_server.objects(in_bucket) == {f"evidence/{sha[:2]}/{sha[2:4]}/{sha}": PDF}
    assert not (tmp_path / "unused-folder").exists()

    # Streamed through the app, with the file backend's headers.
    for viewer in (unit, office):
        response = viewer.get(f"/evidence/{evidence.id}")
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "private, max-age=300"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("inline")
        assert f"filename*=UTF-8''{quote('验收报告.pdf')}" in disposition
        assert response.get_data() == PDF
        response.close()
    # Another unit's staff are refused before the store is asked.
    assert other.get(f"/evidence/{evidence.id}").status_code == 403


@pytest.fixture
def reported(
    browser: Callable[..., Browser], in_bucket: dict[str, Any]
) -> tuple[Browser, Evidence]:
    """A unit's staff member who reported with 会议纪要.pdf (kept in the bucket), and its row."""
    unit = browser("unit", KUNDULUN)
    aid = assignment_id("3")
    unit.submit(f"/assignments/{aid}/acknowledge")
    submit(unit, aid, name="会议纪要.pdf")
    return unit, evidence_of(aid).id


def test_signed_url_downloads_redirect_after_the_permission_check(
    app: Flask,
    browser: Callable[..., Browser],
    in_bucket: dict[str, Any],
    reported: tuple[Browser, int],
    monkeypatch: pytest.MonkeyPatch,
    api_as: Any,
) -> None:
    (unit, evidence_id), other = reported, browser("unit", QINGSHAN)
    monkeypatch.setitem(app.config, "S3_DOWNLOADS", "signed")
    monkeypatch.setitem(app.config, "S3_SIGNED_URL_SECONDS", 30)

    assert other.get(f"/evidence/{evidence_id}").status_code == 403
    response = unit.get(f"/evidence/{evidence_id}?download=1")
    assert response.status_code == 303
    assert response.headers["Cache-Control"] == "no-store"
    target = response.headers["Location"]
    assert target.startswith(in_bucket["S3_ENDPOINT"] + "/")
    assert parse_qs(urlsplit(target).query)["X-Amz-Expires"] == ["30"]
    with urllib.request.urlopen(target, timeout=10) as fetched:  # what the browser does
        assert fetched.read() == PDF
        assert fetched.headers["Content-Type"] == "application/pdf"
        disposition = fetched.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert f"filename*=UTF-8''{quote('会议纪要.pdf')}" in disposition

    # The API redirects the same way (a token of another unit is refused first).
    own_api = api_as("unit", unit_named(KUNDULUN, "baotou"))
    moved = own_api.get(f"{API}/evidence/{evidence_id}")
    assert moved.status_code == 303 and moved.headers["Location"].startswith(
        in_bucket["S3_ENDPOINT"]
    )
    assert api_as("unit", unit_named(QINGSHAN, "baotou")).get(
        f"{API}/evidence/{evidence_id}"
    ).status_code in (403, 404)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_store_answers_503_in_chinese_and_keeps_the_typed_text(
    app: Flask, reported: tuple[Browser, int], monkeypatch: pytest.MonkeyPatch, api_as: Any
) -> None:
    unit, evidence_id = reported
    other_aid = assignment_id("4")
    form = report_form(form_version(unit.page(f"/assignments/{other_aid}")))
    # The store goes away (its address now answers nothing), tried once per request.
    monkeypatch.setitem(app.config, "S3_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setitem(app.config, "S3_MAX_ATTEMPTS", 1)
    reports_before = db.session.scalar(select(func.count()).select_from(ProgressReport))

    page = unit.client.post(
        f"/assignments/{other_aid}/reports",
        data={**form, "evidence": (io.BytesIO(PDF + b"% new\n"), "新材料.pdf")},
    )
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    text = visible(page.get_data(as_text=True))
    assert STORE_DOWN in text and "文件存储暂时无法访问" in text
    assert "完成热线平台升级招标。" in page.get_data(as_text=True)  # the typed text is kept
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ProgressReport)) == reports_before

    download = unit.get(f"/evidence/{evidence_id}")
    assert download.status_code == 503 and STORE_DOWN in visible(download.get_data(as_text=True))
    api = api_as("unit", unit_named(KUNDULUN, "baotou")).get(f"{API}/evidence/{evidence_id}")
    assert api.status_code == 503
    assert api.json["code"] == "storage_unavailable"

    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["storage"] == "object store unreachable"


def test_evidence_gc_removes_orphans_from_the_bucket(
    app: Flask, session: Any, in_bucket: dict[str, Any], s3_server: S3Server
) -> None:
    store = storage_for(app.config)
    user = make_user("unit", unit_named(KUNDULUN, "baotou"), "unit-gc")
    report = services.submit_report(
        db.session.get(Assignment, assignment_id("3")),
        actor=user,
        progress="已有材料",
        percent=10,
        files=[services.UploadedFile("共用.pdf", PDF + b"% referenced\n")],
        storage=store,
        max_bytes=1024 * 1024,
    )
    db.session.commit()
    referenced = report.evidence[0].sha256
    orphan = store.put(PDF + b"% a killed worker's\n")
    time.sleep(1.1)  # object stores keep whole seconds: the next one is younger
    young = store.put(PDF + b"% a transaction may still commit it\n")
    young_at = store.mtime(young)
    assert young_at is not None
    # As seen a day later, just before the young one is a day old.
    later = young_at + SAFE_AGE.total_seconds() - 0.5

    dry = collect_garbage(store, None, dry_run=True, now=later)
    assert [(r.kind, r.path) for r in dry.removals] == [
        ("blob", f"{in_bucket['EVIDENCE_URL']}/{orphan[:2]}/{orphan[2:4]}/{orphan}")
    ]
    assert store.exists(orphan)

    real = collect_garbage(store, None, dry_run=False, now=later)
    assert real.summary()["blobs"] == 1 and real.kept_recent == 1
    assert not store.exists(orphan)
    assert store.exists(referenced) and store.exists(young)
    assert len(s3_server.objects(in_bucket)) == 2


# -- configuration ------------------------------------------------------------------------------


@ONCE
def test_object_store_settings_are_checked_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "TASKHUB_INSTANCE_PATH": str(tmp_path),
        "TASKHUB_EVIDENCE_URL": "s3://Evidence_Bucket/prod",
        "TASKHUB_S3_ENDPOINT": "minio.example.gov.cn:9000",
        "TASKHUB_S3_ACCESS_KEY": "taskhub",
        "TASKHUB_S3_ADDRESSING": "dns",
        "TASKHUB_S3_DOWNLOADS": "proxy",
        "TASKHUB_S3_SIGNED_URL_SECONDS": "86400",
    }.items():
        monkeypatch.setenv(name, value)
    problems = {p.variable: p.message for p in Config().validate()}
    assert "'Evidence_Bucket' is not a bucket name" in problems["TASKHUB_EVIDENCE_URL"]
    assert "not an http:// or https:// address" in problems["TASKHUB_S3_ENDPOINT"]
    assert "or neither" in problems["TASKHUB_S3_SECRET_KEY"]
    assert "'dns' is not path or virtual" in problems["TASKHUB_S3_ADDRESSING"]
    assert "'proxy' is not stream or signed" in problems["TASKHUB_S3_DOWNLOADS"]
    assert "out of range" in problems["TASKHUB_S3_SIGNED_URL_SECONDS"]


@ONCE
def test_config_check_shows_the_object_store_with_its_secret_hidden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    secret = "s3-Secret-Key-0123456789"
    for name in ("TASKHUB_DATABASE_URL", "TASKHUB_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "TASKHUB_INSTANCE_PATH": str(tmp_path),
        # Not used with an object store, so not checked either.
        "TASKHUB_EVIDENCE_PATH": str(blocker / "evidence"),
        "TASKHUB_EVIDENCE_URL": "s3://taskhub-evidence/prod/",
        "TASKHUB_S3_ENDPOINT": "https://oss.example.gov.cn",
        "TASKHUB_S3_ACCESS_KEY": "taskhub",
        "TASKHUB_S3_SECRET_KEY": secret,
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^TASKHUB_EVIDENCE_URL +s3://taskhub-evidence/prod/$", result.stdout, re.M)
    assert re.search(r"^TASKHUB_S3_SECRET_KEY +set \(hidden\)$", result.stdout, re.M)
    assert re.search(r"^TASKHUB_S3_DOWNLOADS +stream$", result.stdout, re.M)
    assert secret not in result.output
