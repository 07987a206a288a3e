"""gunicorn settings for TaskHub: `gunicorn -c deploy/gunicorn.conf.py` (from the checkout).

Read from the same environment file as the app (see deploy/taskhub.env.example). Sync workers
behind nginx, which buffers slow clients; the scheduler runs in its own process
(deploy/taskhub-scheduler.service), never in a worker.

Reload (`systemctl reload taskhub-web`, i.e. SIGHUP) loads new code and new settings: the
master never imports the ``taskhub`` package (this file reads the environment itself and
formats the master's own log lines with a private copy of taskhub/core/logformat.py), so each
new worker imports the app afresh; and this file, which gunicorn runs again on every HUP,
reads TASKHUB_ENV_FILE again before the new workers start. See docs/deployment.md.
"""

import importlib.util
import logging.config
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The settings file the unit names (Environment=TASKHUB_ENV_FILE=…); unset: the environment only.
ENV_FILE = os.environ.get("TASKHUB_ENV_FILE", "").strip()
#: The names this file set from ENV_FILE last time (a name removed from it is unset on reload).
_APPLIED = "TASKHUB_ENV_FILE_APPLIED"


def read_env_file(path: str) -> dict[str, str]:
    """``NAME=value`` lines as systemd's EnvironmentFile= reads them (comments, quotes)."""
    values: dict[str, str] = {}
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace('\\"', '"').replace("\\\\", "\\")
        values[name] = value
    return values


def apply_env_file(path: str) -> None:
    """Make the environment say what the file says now (new workers inherit it)."""
    values = read_env_file(path)
    earlier = os.environ.get(_APPLIED)
    for name in (earlier.split(",") if earlier else []):
        if name and name not in values:
            os.environ.pop(name, None)
    os.environ.update(values)
    os.environ[_APPLIED] = ",".join(sorted(values))


if ENV_FILE:
    apply_env_file(ENV_FILE)


def _logformat() -> Any:
    """taskhub/core/logformat.py loaded under a private name: ``taskhub`` stays unimported."""
    spec = importlib.util.find_spec("taskhub")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the taskhub package is not installed in this environment")
    path = Path(next(iter(spec.submodule_search_locations))) / "core" / "logformat.py"
    module_spec = importlib.util.spec_from_file_location("_taskhub_gunicorn_logformat", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


wsgi_app = "wsgi:app"
bind = os.environ.get("TASKHUB_BIND", "127.0.0.1:8000")
# Each worker holds its own connection pool and ~100 MiB; 2 x cores + 1, at most 8 by default.
workers = int(os.environ.get("TASKHUB_WEB_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
worker_class = "sync"
# Each worker imports the app itself: a reload picks up new code, no shared DB connections.
preload_app = False
# Excel exports of a whole plan take tens of seconds on a busy machine; nginx waits longer.
timeout = int(os.environ.get("TASKHUB_WEB_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that slow leaks (fonts, workbooks) cannot build up.
max_requests = 2000
max_requests_jitter = 200
# The heartbeat file on tmpfs: a worker blocked on a slow disk is not mistaken for a hung one.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = "taskhub-web"
# systemd sends the signals (HUP reloads, TERM stops); no control socket in $HOME.
control_socket_disable = True

# The app writes one access line per request (with its request id); gunicorn's is off.
accesslog = None
errorlog = "-"
LOG_FORMAT = os.environ.get("TASKHUB_LOG_FORMAT", "text").strip().lower()
LOG_LEVEL = os.environ.get("TASKHUB_LOG_LEVEL", "INFO").strip().upper()
loglevel = LOG_LEVEL.lower()
logconfig_dict = _logformat().logging_config(LOG_FORMAT, LOG_LEVEL)


def _config_problems() -> str | None:
    """`taskhub config check` in a process of its own (the master imports no TaskHub code)."""
    check = subprocess.run(
        [sys.executable, "-c", "from taskhub.cli import main; main(['config', 'check'])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return check.stderr.strip() if check.returncode != 0 else None


def on_starting(server: Any) -> None:
    """Check the configuration once, in the master, before any worker starts."""
    problems = _config_problems()
    if problems:
        server.log.error("%s\n(`taskhub config check` shows every setting)", problems)
        sys.exit(1)


def on_reload(server: Any) -> None:
    """Say what a reload found; the unit's ExecReload= refuses a bad file before the HUP."""
    problems = _config_problems()
    if problems:
        server.log.error("after reload: %s", problems)
    server.log.info("reloaded: new workers start with the code and settings as they are now")


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker: the app's own log handler (request context), imported afresh."""
    from taskhub.core.logs import logging_config

    logging.config.dictConfig(logging_config(LOG_FORMAT, LOG_LEVEL))
