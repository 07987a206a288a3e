"""gunicorn settings for TaskHub: `gunicorn -c deploy/gunicorn.conf.py` (from the checkout).

Read from the same environment file as the app (see deploy/taskhub.env.example). Sync workers
behind nginx, which buffers slow clients; the scheduler runs in its own process
(deploy/taskhub-scheduler.service), never in a worker.
"""

import multiprocessing
import os
import sys
from typing import Any

from taskhub.config import Config, ConfigError
from taskhub.core.logs import logging_config

wsgi_app = "wsgi:app"
bind = os.environ.get("TASKHUB_BIND", "127.0.0.1:8000")
# Each worker holds its own connection pool and ~100 MiB; 2 x cores + 1, at most 8 by default.
workers = int(os.environ.get("TASKHUB_WEB_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
worker_class = "sync"
# Each worker imports the app itself: a restart picks up new code, no shared DB connections.
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
loglevel = os.environ.get("TASKHUB_LOG_LEVEL", "INFO").lower()
logconfig_dict = logging_config(
    os.environ.get("TASKHUB_LOG_FORMAT", "text").strip().lower(),
    os.environ.get("TASKHUB_LOG_LEVEL", "INFO").strip().upper(),
)


def on_starting(server: Any) -> None:
    """Check the configuration once, in the master, before any worker starts."""
    try:
        Config().finalize()
    except ConfigError as exc:
        server.log.error("%s\n(`taskhub config check` shows every setting)", exc)
        sys.exit(1)
