"""A web worker loads Excel, Word, image and password-strength libraries only when it uses them
(issue 17: resident memory per gunicorn worker at most 120 MiB; openpyxl with lxml and PIL,
zxcvbn and python-docx are some 40 MiB of it). Each check runs in a fresh interpreter, since
this test process has imported them all long ago. bench/bench_api.py measures the memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskhub.config import PROJECT_ROOT

#: No database involved beyond a fresh SQLite file: runs once.
ONCE = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
)

#: Loaded only by the code that needs them (boto3 only with an object store configured).
HEAVY = ("openpyxl", "zxcvbn", "docx", "PIL", "lxml", "boto3", "botocore")


def _modules_after(code: str, tmp_path: Path) -> dict[str, list[str]]:
    """Run ``code`` (after ``import wsgi``) in a fresh interpreter; ``code`` records the heavy
    modules loaded at each step with ``seen(step)``. Returns them by step."""
    program = (
        "import json, sys\n"
        f"HEAVY = {HEAVY!r}\n"
        "steps = {}\n"
        "def seen(step):\n"
        "    steps[step] = sorted(m for m in HEAVY if m in sys.modules)\n"
        "import wsgi\n"
        "seen('import')\n"
        f"{code}\n"
        "print(json.dumps(steps))\n"
    )
    # No object store, whatever the environment of the test run says.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKHUB_", "AWS_"))}
    env.update(
        TASKHUB_INSTANCE_PATH=str(tmp_path),
        TASKHUB_DATABASE_URL=f"sqlite:///{tmp_path / 'lazy.db'}",
        TASKHUB_EVIDENCE_PATH=str(tmp_path / "evidence"),
        TASKHUB_SECRET_KEY="lazy-imports-test-secret-key-not-for-production",
        PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    steps: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return steps


@ONCE
def test_importing_the_app_loads_no_heavy_library(tmp_path: Path) -> None:
    """``import wsgi`` (what each gunicorn worker does) and a page that needs none of them."""
    steps = _modules_after(
        "from wsgi import app\n"
        "with app.test_client() as client:\n"
        "    assert client.get('/login').status_code == 200\n"
        "    assert client.get('/healthz').status_code == 200\n"
        "seen('pages')\n",
        tmp_path,
    )
    assert steps["import"] == []
    assert steps["pages"] == []


@ONCE
def test_each_library_is_loaded_by_the_code_that_uses_it(tmp_path: Path) -> None:
    """The check above would pass vacuously if the names were wrong: the same interpreter
    loads them once an Excel workbook is built, a password is checked, a Word file asked for."""
    steps = _modules_after(
        "from wsgi import app\n"
        "from taskhub.reports.services import docx_available\n"
        "assert docx_available()\n"
        "seen('docx_available')\n"
        "from taskhub.core.xlsx import Column, add_table, new_workbook, workbook_bytes\n"
        "wb = new_workbook()\n"
        "add_table(wb, 'sheet', [Column('a')], [['=1+2']])\n"
        "assert workbook_bytes(wb)[:2] == b'PK'\n"
        "seen('excel')\n"
        "from taskhub.accounts.passwords import WeakPassword, check_password\n"
        "try:\n"
        "    check_password('password123', username='zhang')\n"
        "except WeakPassword as exc:\n"
        "    assert exc.code == 'too_guessable', exc.code\n"
        "seen('password')\n"
        "import taskhub.reports.word\n"
        "seen('word')\n",
        tmp_path,
    )
    assert steps["import"] == []
    assert steps["docx_available"] == []
    assert {"openpyxl", "lxml", "PIL"} <= set(steps["excel"])
    assert "zxcvbn" not in steps["excel"]
    assert "zxcvbn" in steps["password"]
    assert "docx" in steps["word"]
    assert "boto3" not in steps["word"]
