"""What the API benchmark, the load test and the fault tests share.

The ledger's database and its side file (tokens, as-of date), a throw-away working copy of the
database for each run (writes never change the generated ledger), gunicorn with its worker
pids, an HTTP client on loopback, nearest-rank percentiles, an SMTP sink on 127.0.0.1, and a
description of the machine and the code timed.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import os
import platform
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DIR, DATA_DIR, database_url
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from taskhub import create_app
from taskhub.config import Config

PROJECT = BENCH_DIR.parent
DEFAULT_API_DB = f"sqlite:///{DATA_DIR / 'api.db'}"
#: Every PostgreSQL database these scripts create or drop starts with this.
PG_PREFIX = "taskhub_bench_api"
#: The synthetic city of the API ledger and the password of all its users.
CITY_CODE = "bench-api"
PASSWORD = "bench-only"
#: The app refuses secret keys under 32 characters; this one is for benchmarks only.
SECRET_KEY = "bench-only-secret-key-not-for-production-use"


# -- the ledger's database ------------------------------------------------------------------


def api_database_url(raw: str) -> URL:
    """Like common.database_url, but PostgreSQL databases must be ``taskhub_bench_api…``."""
    url = database_url(raw)
    if url.get_backend_name() == "postgresql" and not (url.database or "").startswith(PG_PREFIX):
        raise SystemExit(
            f"--db: PostgreSQL database {url.database!r} is not the API benchmark's: its name "
            f"must start with {PG_PREFIX!r} (e.g. {PG_PREFIX})"
        )
    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
        raise SystemExit("--db: give an SQLite file, e.g. sqlite:///bench/.data/api.db")
    return url


def db_name(url: URL) -> str:
    """The database's short name: the SQLite file's stem or the PostgreSQL database."""
    if url.get_backend_name() == "sqlite":
        return Path(url.database or "").stem
    return url.database or ""


def ledger_path(url: URL) -> Path:
    """The side file of a generated ledger: plain tokens, as-of date, counts."""
    return DATA_DIR / f"{db_name(url)}.ledger.json"


def load_ledger(url: URL) -> dict[str, Any]:
    path = ledger_path(url)
    if not path.exists():
        raise SystemExit(
            f"no {path}: run bench/generate_api.py --db "
            f"{url.render_as_string(hide_password=True)} first"
        )
    require_current_schema(url)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def require_current_schema(url: URL) -> None:
    """Refuse a ledger migrated before the newest migration: the app would fail on it."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(PROJECT / "migrations"))
    heads = set(script.get_heads())
    engine = create_engine(url)
    with engine.connect() as conn:
        found = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    engine.dispose()
    if found != heads:
        raise SystemExit(
            f"the ledger's schema is at {sorted(found)}, the code's at {sorted(heads)}: run "
            f"bench/generate_api.py --db {url.render_as_string(hide_password=True)} again"
        )


def admin_engine(url: URL) -> Any:
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def quoted(engine: Any, name: str) -> str:
    return str(engine.dialect.identifier_preparer.quote(name))


def working_copy(url: URL, suffix: str) -> URL:
    """A fresh copy of the ledger's database for one run (SQLite backup or a PG template)."""
    if url.get_backend_name() == "sqlite":
        source = Path(url.database or "")
        target = source.with_name(f"{source.stem}.{suffix}.db")
        drop_copy(url.set(database=str(target)))
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)  # consistent, WAL included
        dst.close()
        return url.set(database=str(target))
    name = f"{url.database}_{suffix}"
    assert name.startswith(PG_PREFIX)
    admin = admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {quoted(admin, name)} WITH (FORCE)"))
        conn.execute(
            text(
                f"CREATE DATABASE {quoted(admin, name)} "
                f"TEMPLATE {quoted(admin, url.database or '')}"
            )
        )
    admin.dispose()
    return url.set(database=name)


def drop_copy(url: URL) -> None:
    """Remove a working copy made by :func:`working_copy` (never the ledger itself)."""
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        return
    name = url.database or ""
    assert name.startswith(PG_PREFIX)  # never a database these scripts did not make
    admin = admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {quoted(admin, name)} WITH (FORCE)"))
    admin.dispose()


def make_api_app(url: URL) -> Flask:
    """The real app against ``url``, with nothing written under instance/."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.INSTANCE_PATH = str(DATA_DIR)
    config.EVIDENCE_PATH = str(DATA_DIR / "evidence")
    config.SECRET_KEY = SECRET_KEY
    config.SQLALCHEMY_DATABASE_URI = url.render_as_string(hide_password=False)
    return create_app(config)


def app_env(url: URL, **extra: str) -> dict[str, str]:
    """Environment for a gunicorn or `taskhub` process against ``url``."""
    env = dict(os.environ)
    env.update(
        TASKHUB_DATABASE_URL=url.render_as_string(hide_password=False),
        TASKHUB_SECRET_KEY=SECRET_KEY,
        TASKHUB_INSTANCE_PATH=str(DATA_DIR),
        TASKHUB_EVIDENCE_PATH=str(DATA_DIR / "evidence"),
        **extra,
    )
    return env


# -- gunicorn -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; fields follow the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) / 1024


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Gunicorn:
    """``gunicorn --workers N wsgi:app`` on 127.0.0.1 against a database."""

    def __init__(
        self,
        url: URL,
        workers: int,
        *,
        timeout: int = 60,
        env: Mapping[str, str] | None = None,
        output: IO[str] | None = None,
        project: Path = PROJECT,
    ) -> None:
        """``project``: the checkout whose wsgi.py and taskhub package the workers import
        (another one, e.g. a baseline's, is put first on PYTHONPATH too)."""
        self.port = free_port()
        self.workers = workers
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                str(timeout),
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=project,
            # JSON log lines, as docs/deployment.md recommends for production; one access line each.
            env=app_env(
                url,
                **{"TASKHUB_LOG_FORMAT": "json", **(env or {})},
                **({} if project == PROJECT else {"PYTHONPATH": str(project)}),
            ),
            stdout=output,
            stderr=output,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("gunicorn exited at start")
            if len(self.worker_pids()) == workers and self._listening():
                return
            time.sleep(0.2)
        self.stop()
        raise SystemExit("gunicorn did not start within 60 s")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def warm_up(self, path: str, token: str, *, requests_per_worker: int = 10) -> None:
        """Wait until the app answers (workers import it after the fork), then send a few
        requests from as many threads as there are workers, so each has loaded its code."""
        deadline = time.monotonic() + 180
        http = Http(self.port, token=token)
        while True:
            try:
                if http.get(path).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"gunicorn did not answer {path} within 180 s")
            time.sleep(0.5)
        http.close()

        def hammer() -> None:
            client = Http(self.port, token=token)
            for _ in range(requests_per_worker):
                client.get(path)
            client.close()

        threads = [threading.Thread(target=hammer) for _ in range(self.workers * 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)

    def wait_for_workers(self, timeout: float = 60) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == self.workers:
                return pids
            time.sleep(0.2)
        raise SystemExit(f"gunicorn has not got {self.workers} workers after {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- HTTP on loopback -----------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Request sent to last byte read, as the client sees it.
    client_ms: float
    #: The app's own time (``Server-Timing: app;dur=…``), or None when absent.
    server_ms: float | None

    def json(self) -> Any:
        return json.loads(self.body)


_TIMING = re.compile(r"app;dur=([\d.]+)")


class Http:
    """One HTTP/1.1 connection, reused while the server keeps it open (gunicorn's sync
    workers close it after each response; http.client then reconnects on the next request)."""

    def __init__(self, port: int, *, token: str | None = None, timeout: float = 60) -> None:
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> Reply:
        sent = {"Accept": "application/json", **(headers or {})}
        bearer = token or self.token
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=sent)
            response = self.conn.getresponse()
            payload = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # a fresh connection next time
            raise
        elapsed = (time.perf_counter() - started) * 1000
        if response.will_close:
            self.conn.close()
        found = dict(response.headers.items())
        timing = _TIMING.search(found.get("Server-Timing", ""))
        return Reply(
            response.status,
            found,
            payload,
            elapsed,
            float(timing.group(1)) if timing else None,
        )

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post_json(self, path: str, data: Any, **kwargs: Any) -> Reply:
        body = json.dumps(data, ensure_ascii=False).encode()
        return self.request(
            "POST", path, body=body, headers={"Content-Type": "application/json"}, **kwargs
        )

    def close(self) -> None:
        self.conn.close()


# -- figures --------------------------------------------------------------------------------


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def percentiles(samples: list[float]) -> dict[str, float]:
    """Median, p95 and p99 (nearest rank), min and max, in the samples' unit."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 2),
        "p95": round(nearest_rank(ordered, 0.95), 2),
        "p99": round(nearest_rank(ordered, 0.99), 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }


def machine(url: URL | None = None) -> dict[str, Any]:
    """The machine, the versions and the code timed, for the JSON line."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            check=False,
        )

    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "commit": git("rev-parse", "--short", "HEAD").stdout.strip(),
        "taskhub_changed": git("diff", "--quiet", "HEAD", "--", "taskhub").returncode == 1,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if url is not None and url.get_backend_name() == "postgresql":
        engine = create_engine(url)
        with engine.connect() as conn:
            info["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
        engine.dispose()
    return info


# -- an SMTP sink ---------------------------------------------------------------------------


class SmtpSink:
    """A real SMTP server on 127.0.0.1 (bench/smtp_sink.py, aiosmtpd) in its own process, so
    it never shares a GIL with the sender being timed; what it accepted is read from its log.

    ``rcpt_delay`` makes it answer each RCPT TO that many seconds late: a slow mail server,
    so that a delivery run lasts long enough to be interrupted before a message is accepted.
    """

    def __init__(self, rcpt_delay: float = 0.0, *, name: str = "smtp") -> None:
        self.port = free_port()
        self.rcpt_delay = rcpt_delay
        self.out = DATA_DIR / f"{name}.{os.getpid()}.{self.port}.jsonl"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> SmtpSink:
        self.out.unlink(missing_ok=True)
        self.out.touch()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(BENCH_DIR / "smtp_sink.py"),
                "--port",
                str(self.port),
                "--out",
                str(self.out),
                "--rcpt-delay",
                str(self.rcpt_delay),
            ]
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("the SMTP sink exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the SMTP sink did not start within 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.out.unlink(missing_ok=True)

    def events(self) -> list[dict[str, Any]]:
        lines = self.out.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def messages(self) -> list[dict[str, Any]]:
        """The messages accepted (the server answered 250 to their data)."""
        return [e for e in self.events() if e["event"] == "data"]

    def in_flight(self) -> bool:
        """Whether a message is under way: its RCPT TO came, its data not yet."""
        events = self.events()
        return sum(e["event"] == "rcpt" for e in events) > sum(e["event"] == "data" for e in events)

    def count(self) -> int:
        return len(self.messages())

    def cpu_s(self) -> float:
        """The sink process's CPU time so far, in seconds."""
        assert self.process is not None
        return cpu_ticks(self.process.pid) / os.sysconf("SC_CLK_TCK")

    def recipients(self) -> list[str]:
        return [r for m in self.messages() for r in m["to"]]


def log_json(data: Any) -> None:
    """One JSON line on stdout (the results), dates and decimals as strings."""
    print(json.dumps(data, ensure_ascii=False, default=str), flush=True)
