"""What `systemctl reload taskhub-web` and `systemctl restart taskhub-web` cost the clients.

    .venv/bin/python bench/bench_reload.py [--rounds 3] [--workers 2]

gunicorn runs with the shipped deploy/gunicorn.conf.py on loopback (an environment file as the
unit gives it, a temporary SQLite database). One client asks for /healthz back to back (10 s
timeout each) for the whole run. Each round:

- reload: SIGHUP to the master (what ExecReload= sends after the check); counted: failed
  requests and the slowest answer until the new workers serve;
- restart: SIGTERM, wait for the master to exit, start gunicorn again (what `systemctl restart`
  does, less systemd's own few milliseconds and ExecStartPre's `taskhub config check`, timed
  apart); counted: failed requests and the gap from the last answer before to the first after.

Every loop is bounded (a round gives up after 120 s). Progress goes to stderr; a table and one
JSON line go to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LIMIT_S = 120.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Client(threading.Thread):
    """GET url back to back; records (start, end, ok) of every request."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, float, bool]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as answer:
                    ok = answer.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                ok = False
            ended = time.perf_counter()
            self.samples.append((started, ended, ok))
            if not ok:
                time.sleep(0.01)  # a refused connection returns at once

    def since(self, moment: float) -> list[tuple[float, float, bool]]:
        return [s for s in list(self.samples) if s[0] >= moment]


def start(env: dict[str, str], log_file: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        port = free_port()
        env_file = Path(tmp) / "taskhub.env"
        env_file.write_text(
            f"TASKHUB_DATABASE_URL=sqlite:///{tmp}/reload.db\n"
            f"TASKHUB_INSTANCE_PATH={tmp}/instance\n"
            f"TASKHUB_EVIDENCE_PATH={tmp}/evidence\n"
            "TASKHUB_SECRET_KEY=bench-only-secret-key-not-for-production-use\n"
            f"TASKHUB_BIND=127.0.0.1:{port}\n"
            f"TASKHUB_WEB_WORKERS={args.workers}\n"
            "TASKHUB_LOG_LEVEL=WARNING\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKHUB_")}
        env["TASKHUB_ENV_FILE"] = str(env_file)
        # ExecStartPre's check, timed apart (restart runs it before gunicorn starts).
        check_env = {
            **env,
            **dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line),
        }
        checks = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            subprocess.run(
                [str(BIN / "taskhub"), "config", "check"], env=check_env, capture_output=True
            )
            checks.append(time.perf_counter() - started)

        log_file = (Path(tmp) / "gunicorn.log").open("wb")
        server = start(env, log_file)
        client = Client(f"http://127.0.0.1:{port}/healthz")
        client.start()
        wait_until(lambda: any(ok for _, _, ok in client.samples), "the first answer")
        reloads: list[dict[str, Any]] = []
        restarts: list[dict[str, Any]] = []
        for round_number in range(1, args.rounds + 1):
            time.sleep(2)
            # -- reload
            moment = time.perf_counter()
            server.send_signal(signal.SIGHUP)
            time.sleep(8)  # new workers boot (about 2-4 s each on a busy machine)
            window = client.since(moment)
            reloads.append(
                {
                    "requests": len(window),
                    "failed": sum(not ok for _, _, ok in window),
                    "slowest_ms": round(max(e - s for s, e, _ in window) * 1000, 1),
                }
            )
            # -- restart
            time.sleep(2)
            moment = time.perf_counter()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=LIMIT_S)
            server = start(env, log_file)

            def answered_again(moment: float = moment) -> bool:
                window = client.since(moment)
                failed = [i for i, (_, _, ok) in enumerate(window) if not ok]
                return bool(failed) and any(ok for _, _, ok in window[failed[0] :])

            wait_until(answered_again, "answers after the restart")
            window = client.since(moment)
            first_failed = next(i for i, (_, _, ok) in enumerate(window) if not ok)
            last_ok_end = window[first_failed - 1][1] if first_failed else moment
            first_ok_after = next(e for s, e, ok in window[first_failed:] if ok)
            restarts.append(
                {
                    "failed": sum(not ok for _, _, ok in window),
                    "gap_s": round(first_ok_after - last_ok_end, 2),
                }
            )
            log(f"round {round_number}/{args.rounds}: {reloads[-1]} {restarts[-1]}")
        client.stop.set()
        client.join(timeout=15)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=LIMIT_S)
        log_file.close()

    gaps = [r["gap_s"] for r in restarts]
    print(f"{'':<10} {'failed requests':>16} {'median':>8} {'min':>6} {'max':>6}")
    print(
        f"{'reload':<10} {sum(r['failed'] for r in reloads):>16} "
        f"{statistics.median(r['slowest_ms'] for r in reloads):>6.0f}ms (slowest answer)"
    )
    print(
        f"{'restart':<10} {sum(r['failed'] for r in restarts):>16} "
        f"{statistics.median(gaps):>7.2f}s {min(gaps):>5.2f}s {max(gaps):>5.2f}s (no answer)"
    )
    print(f"config check (ExecStartPre): median {statistics.median(checks):.2f}s")
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "workers": args.workers,
                "load": os.getloadavg()[0],
                "reloads": reloads,
                "restarts": restarts,
                "config_check_s": [round(c, 2) for c in checks],
            }
        )
    )


if __name__ == "__main__":
    main()
