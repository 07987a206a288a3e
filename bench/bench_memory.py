"""Issue 17: resident memory (VmRSS) of each gunicorn worker, before and after it exports Excel.

    .venv/bin/python bench/bench_memory.py [--db URL] [--workers 2] [--rounds 3]
        [--baseline PATH]

Serves a fresh copy of the API ledger (bench/generate_api.py) with ``gunicorn --workers N
wsgi:app`` on 127.0.0.1, as bench/bench_api.py does, and reads each worker's VmRSS at three
points of one round:

``started``  the workers have imported the app and answered one request each (``/healthz``);
``api``      after the JSON API's reads (the 100-item list and a unit's list, 20 each per
             worker, from as many threads as workers, twice over);
``web``      after office users signed in on the web page (``POST /login``) and opened the
             import page (``GET /imports``) 3 times each, from as many threads as workers, twice
             over (pages, not Excel: what the next point adds is Excel's);
``excel``    after the same users downloaded the plan import template,
             ``GET /imports/plan/template.xlsx`` (a workbook built with openpyxl, which loads
             lxml and PIL too), 3 times each. (The API's only Excel downloads, the bulletins,
             need a scored plan, which the API ledger does not have; the ledger's own export is
             streamed without openpyxl.)

``--baseline PATH`` also serves a checkout of the code before the change (e.g. ``git archive
<commit> | tar -x -C PATH``) in the same run, taking turns round by round; its workers import
that checkout's wsgi.py and taskhub package. Prints the figures (median, lowest and highest
worker over the rounds) and one JSON line. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import re
import statistics
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_common import (
    DEFAULT_API_DB,
    PASSWORD,
    PROJECT,
    Gunicorn,
    Http,
    api_database_url,
    drop_copy,
    load_ledger,
    machine,
    rss_mib,
    working_copy,
)
from common import log

LIST_100 = "/api/v1/assignments/?open=true&page_size=100"
UNIT_OPEN = "/api/v1/assignments/?open=true"
#: An Excel download built with openpyxl (the plan import template) for the office.
TEMPLATE = "/imports/plan/template.xlsx"
POINTS = ("started", "api", "web", "excel")


def from_threads(server: Gunicorn, paths: list[tuple[str, str]], each: int) -> None:
    """Every (path, token) ``each`` times from as many threads as workers, twice over (sync
    workers: concurrent clients spread the requests over all of them)."""
    failures: list[str] = []

    def client() -> None:
        for path, token in paths:
            http = Http(server.port, token=token)
            for _ in range(each):
                reply = http.get(path)
                if reply.status != 200:
                    failures.append(f"{path}: {reply.status}")
            http.close()

    run_clients([threading.Thread(target=client) for _ in range(server.workers * 2)], failures)


def run_clients(threads: list[threading.Thread], failures: list[str]) -> None:
    """Start the client threads, wait for them all, and stop on any unexpected answer."""
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"unexpected answers: {sorted(set(failures))}")


def signed_in(server: Gunicorn, username: str) -> urllib.request.OpenerDirector:
    """A web client (cookies) signed in as ``username`` through the sign-in form."""
    base = f"http://127.0.0.1:{server.port}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(f"{base}/login", timeout=60).read().decode()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None, "no CSRF token on the sign-in page"
    form = {"csrf_token": match[1], "username": username, "password": PASSWORD}
    opener.open(f"{base}/login", urllib.parse.urlencode(form).encode(), timeout=60).read()
    return opener


def web_requests(
    server: Gunicorn, clients: list[urllib.request.OpenerDirector], path: str, each: int
) -> None:
    """Each signed-in client gets ``path`` ``each`` times (in threads of their own)."""
    base = f"http://127.0.0.1:{server.port}"
    failures: list[str] = []

    def client(opener: urllib.request.OpenerDirector) -> None:
        for _ in range(each):
            with opener.open(f"{base}{path}", timeout=120) as reply:
                body = reply.read()
                wanted = not path.endswith(".xlsx") or body[:2] == b"PK"
                if reply.status != 200 or reply.url != f"{base}{path}" or not wanted:
                    failures.append(f"{path}: {reply.status} {reply.url}")

    run_clients([threading.Thread(target=client, args=(opener,)) for opener in clients], failures)


def workers_rss(server: Gunicorn) -> list[float]:
    return sorted(round(rss_mib(pid), 1) for pid in server.worker_pids())


def one_round(url: Any, data: dict[str, Any], project: Path, workers: int) -> dict:
    offices = [t for t in data["tokens"] if t["role"] == "office"]
    office = offices[0]["token"]
    unit = next(t["token"] for t in data["tokens"] if t["role"] == "unit")
    figures: dict[str, list[float]] = {}
    log_path = Path("/dev/null")
    with log_path.open("w") as server_log:
        server = Gunicorn(url, workers, output=server_log, project=project)
        try:
            server.warm_up("/healthz", office, requests_per_worker=1)
            figures["started"] = workers_rss(server)
            from_threads(server, [(LIST_100, office), (UNIT_OPEN, unit)], 20)
            figures["api"] = workers_rss(server)
            clients = [signed_in(server, t["username"]) for t in offices[: workers * 2]]
            web_requests(server, clients, "/imports", 3)
            figures["web"] = workers_rss(server)
            web_requests(server, clients, TEMPLATE, 3)
            figures["excel"] = workers_rss(server)
            figures["master"] = [round(rss_mib(server.process.pid), 1)]
        finally:
            server.stop()
    return figures


def summary(rounds: list[dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    out = {}
    for point in (*POINTS, "master"):
        values = [v for r in rounds for v in r[point]]
        out[point] = {
            "median": round(statistics.median(values), 1),
            "lowest": min(values),
            "highest": max(values),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_API_DB, help=f"default {DEFAULT_API_DB}")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code before")
    args = parser.parse_args()

    base = api_database_url(args.db)
    data = load_ledger(base)
    trees = {"after": PROJECT}
    if args.baseline:
        trees = {"before": args.baseline.resolve(), **trees}
    info = machine(base)
    url = working_copy(base, "memory")
    rounds: dict[str, list[dict[str, list[float]]]] = {name: [] for name in trees}
    try:
        for n in range(args.rounds):
            for name, tree in trees.items():
                log(f"round {n + 1}/{args.rounds}: {name} ({tree})")
                rounds[name].append(one_round(url, data, tree, args.workers))
                log(f"  {rounds[name][-1]}")
    finally:
        drop_copy(url)
    info["load_average_after"] = machine()["load_average"]
    results = {name: summary(r) for name, r in rounds.items()}
    print(f"VmRSS per worker, MiB: {args.workers} workers × {args.rounds} rounds")
    print(f"{'':8}" + "".join(f"{p:>26}" for p in (*POINTS, "master")))
    for name, points in results.items():
        texts = [f"{v['median']} ({v['lowest']}–{v['highest']})" for v in points.values()]
        cells = "".join(f"{text:>26}" for text in texts)
        print(f"{name:8}{cells}")
    print(json.dumps({"machine": info, "rounds": rounds, "results": results}))


if __name__ == "__main__":
    main()
