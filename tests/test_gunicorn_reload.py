"""`systemctl reload taskhub-web` (SIGHUP to gunicorn) serves new code and new settings.

gunicorn runs from a copy of the tree with the shipped deploy/gunicorn.conf.py and an
environment file (TASKHUB_ENV_FILE, as the unit sets it), on loopback. Then the copy's
taskhub/app.py changes (a module the master used to hold, through taskhub/__init__.py and
gunicorn.conf.py's imports) and so does a setting in the file (the log format), the master gets
a HUP, and the new workers must answer with the new code and log with the new setting.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from taskhub.config import PROJECT_ROOT

#: gunicorn and the app in a process of their own: no database of the suite's involved.
ONCE = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
)

MARKER_BEFORE = "app;dur="
MARKER_AFTER = "reloaded;dur="


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _timing(url: str, request_id: str) -> str | None:
    """The Server-Timing header of a GET (None while nothing answers)."""
    request = urllib.request.Request(url, headers={"X-Request-ID": request_id})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.headers.get("Server-Timing", ""))
    except urllib.error.HTTPError as error:  # the 404 page: logged at INFO, unlike probes
        return str(error.headers.get("Server-Timing", ""))
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _wait_for(url: str, marker: str, request_id: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        timing = _timing(url, request_id)
        if timing is not None and timing.startswith(marker):
            return
        assert server.poll() is None, "gunicorn stopped"
        assert time.monotonic() < deadline, f"no answer with {marker!r} in 120 s (last: {timing})"
        time.sleep(0.3)


def _copy_tree(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("taskhub", "templates", "static", "migrations", "deploy"):
        shutil.copytree(PROJECT_ROOT / name, target / name, ignore=ignore)
    shutil.copy2(PROJECT_ROOT / "wsgi.py", target / "wsgi.py")
    return target


@ONCE
def test_reload_serves_new_code_and_new_settings(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path / "tree")
    port = _free_port()
    env_file = tmp_path / "taskhub.env"
    settings = {
        "TASKHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'reload.db'}",
        "TASKHUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "TASKHUB_EVIDENCE_PATH": str(tmp_path / "evidence"),
        "TASKHUB_SECRET_KEY": "reload-test-secret-key-not-for-production",
        "TASKHUB_BIND": f"127.0.0.1:{port}",
        "TASKHUB_WEB_WORKERS": "1",
        "TASKHUB_LOG_FORMAT": "text",
    }

    def write_settings() -> None:
        env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")

    write_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKHUB_", "FLASK_"))}
    # The copy comes first on sys.path: its `taskhub` is the one imported (as in /opt/taskhub).
    env.update(PYTHONPATH=str(tree), TASKHUB_ENV_FILE=str(env_file))
    log_path = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    url = f"http://127.0.0.1:{port}/no-such-page"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(gunicorn), "-c", str(tree / "deploy" / "gunicorn.conf.py")],
            cwd=tree,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(url, MARKER_BEFORE, "before-reload", server)
            app_py = tree / "taskhub" / "app.py"
            source = app_py.read_text(encoding="utf-8")
            assert f'"{MARKER_BEFORE}' in source
            app_py.write_text(source.replace(MARKER_BEFORE, MARKER_AFTER), encoding="utf-8")
            settings["TASKHUB_LOG_FORMAT"] = "json"
            write_settings()

            server.send_signal(signal.SIGHUP)  # what `systemctl reload` sends (ExecReload=)
            _wait_for(url, MARKER_AFTER, "after-reload", server)
            assert (_timing(url, "after-reload-2") or "").startswith(MARKER_AFTER)
        finally:
            server.terminate()
            server.wait(timeout=60)
    lines = log_path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    served = [r for r in records if r.get("request_id") == "after-reload-2"]
    assert served and served[0]["status"] == 404, lines[-20:]
    # Before the reload the lines were text, with the request id in brackets.
    assert any("[before-reload]" in line for line in lines), lines[:20]
