"""The escalation notice (督办通知单) as a reader sees it: LibreOffice converts the .docx to PDF;
one A4 page with the number, the unit and the answer date (once, in the SQLite pass)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from taskhub.config import PROJECT_ROOT
from taskhub.core.db import db
from taskhub.supervision import services
from tests.conftest import make_user
from tests.test_escalations import KDL, QS, only_open
from tests.test_reminders import assignment

SCREENSHOT = PROJECT_ROOT / "test-artifacts" / "screenshots" / "escalation-notice.png"


@pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")),
    reason="the LibreOffice conversion runs once, in the SQLite pass",
)
def test_libreoffice_prints_the_notice_on_one_page(session: Any, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: apt install libreoffice-writer-nogui")
    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.skip("poppler-utils (pdftotext, pdftoppm) is not installed")
    kdl = assignment("3", KDL)
    only_open(kdl, assignment("3", QS))
    office = make_user("office")
    level = services.level_by_code(kdl.item.plan.city_id, "supervise")
    notice = services.issue(kdl, level, actor=office, today=date(2022, 8, 1))
    db.session.commit()
    data = services.notice_docx(notice)
    assert data is not None
    source = tmp_path / "notice.docx"
    source.write_bytes(data)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / "notice.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert pages == 1
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    # pdftotext spaces digits apart from Chinese text: compare without spaces.
    compact = re.sub(r"\s+", "", text)
    assert notice.number in compact and "督办通知单" in compact
    assert f"{KDL}：" in compact and "请于2022年8月4日前" in compact and "—1—" in compact

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
         str(SCREENSHOT.with_suffix(""))],
        check=True,
    )  # fmt: skip
    assert SCREENSHOT.exists()
