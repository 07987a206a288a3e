"""An intranet with no internet: `make offline-bundle` makes one archive, and `make install
OFFLINE=…` in a clean checkout installs from it with the package index unreachable, at the
versions pinned in constraints.txt.

Building the bundle and installing take about a minute together: runs once, on SQLite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from taskhub.config import PROJECT_ROOT
from tests.test_packaging import clean_checkout

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
)


def pinned() -> dict[str, str]:
    """constraints.txt as {normalized name: version}."""
    found = {}
    for line in (PROJECT_ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return found


def test_constraints_pin_every_dependency_exactly() -> None:
    pins = pinned()
    for name in ("flask", "sqlalchemy", "psycopg", "gunicorn", "pytest", "playwright"):
        assert name in pins, name
    assert "taskhub" not in pins  # the app itself is installed from the checkout
    text = (PROJECT_ROOT / "constraints.txt").read_text()
    assert all(
        "==" in line for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def make(*args: str, cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    done = subprocess.run(
        ["make", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_offline_bundle_installs_with_the_index_unreachable(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    bundle = tmp_path / "taskhub-offline.tar.gz"
    # Built from this checkout with the virtualenv the tests run in (the index is reachable).
    built = make(
        "offline-bundle",
        f"VENV={venv}",
        f"BUNDLE={bundle}",
        f"BUNDLE_WORK={tmp_path / 'work'}",
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
    )
    assert f"{bundle}: " in built
    with tarfile.open(bundle) as archive:
        names = archive.getnames()
    wheels = {Path(n).name for n in names if n.endswith(".whl")}
    assert all(n.startswith("taskhub-offline-") for n in names)
    assert any(w.startswith("taskhub-") for w in wheels)  # the app itself
    assert any(w.startswith("setuptools-") for w in wheels)  # builds the checkout's install
    pins = pinned()
    for name in ("flask", "sqlalchemy", "gunicorn", "psycopg_binary"):
        assert any(w.lower().startswith(f"{name}-{pins[name.replace('_', '-')]}-") for w in wheels)
    assert not any(w.startswith("pytest-") for w in wheels)  # runtime only by default

    # A clean checkout on a machine whose pip can reach nothing: no configured index, mirror
    # or wheel folder; the default index is a closed port.
    checkout = clean_checkout(tmp_path / "checkout")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TASKHUB_", "VIRTUAL"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL="http://127.0.0.1:9/",
        PIP_DEFAULT_TIMEOUT="5",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_COMPILE="1",  # no .pyc for ~50 packages: a third of the install's time
    )
    make(
        "install",
        "translations",
        f"OFFLINE={bundle}",
        f"PYTHON={sys.executable}",
        cwd=checkout,
        env=env,
    )

    python = checkout / ".venv" / "bin" / "python"
    versions = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    installed = dict(line.split("==") for line in versions.split() if "==" in line)
    for name in ("Flask", "SQLAlchemy", "gunicorn", "psycopg"):
        assert installed[name] == pins[name.lower()], name
    answered = subprocess.run(
        [checkout / ".venv" / "bin" / "taskhub", "--help"],
        cwd=checkout,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert answered.returncode == 0, answered.stderr
    assert "backup" in answered.stdout
    assert list((checkout / "taskhub" / "translations").rglob("messages.mo"))
