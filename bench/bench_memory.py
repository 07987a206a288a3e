"""Issue 17: resident memory (VmRSS) of each gunicorn worker, before and after it exports Excel.

    .venv/bin/python bench/bench_memory.py [--db URL] [--workers 2] [--rounds 3]
        [--baseline PATH]

Serves a fresh copy of the API ledger (bench/generate_api.py) with ``gunicorn --workers N
wsgi:app`` on 127.0.0.1, as bench/bench_api.py does, and reads each worker's VmRSS at three
points of one round:

``started``  the workers have imported the app and answered one request each (``/healthz``);
``api``      after the JSON API's reads (the 100-item list and a unit's list, 20 each per
             worker, from as many threads as workers, twice over);
``excel``    after each worker has answered ``GET /api/v1/plans/<plan>/bulletins/<period>.xlsx``
             (the bulletin as Excel: openpyxl, lxml and PIL loaded, a workbook built) a few times.

``--baseline PATH`` also serves a checkout of the code before the change (e.g. ``git archive
<commit> | tar -x -C PATH``) in the same run, taking turns round by round; its workers import
that checkout's wsgi.py and taskhub package. Prints the figures (median, lowest and highest
worker over the rounds) and one JSON line. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_common import (
    DEFAULT_API_DB,
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
#: An indicator plan of the ledger and a period it is scored for.
BULLETIN = "/api/v1/plans/bench-api-baotou-2026/bulletins/{period}.xlsx"
POINTS = ("started", "api", "excel")


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

    threads = [threading.Thread(target=client) for _ in range(server.workers * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"unexpected answers: {sorted(set(failures))}")


def workers_rss(server: Gunicorn) -> list[float]:
    return sorted(round(rss_mib(pid), 1) for pid in server.worker_pids())


def one_round(url: Any, data: dict[str, Any], project: Path, workers: int, period: str) -> dict:
    office = next(t["token"] for t in data["tokens"] if t["role"] == "office")
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
            from_threads(server, [(BULLETIN.format(period=period), office)], 3)
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
    parser.add_argument("--period", default="2026-H1", help="the bulletin's period")
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
                rounds[name].append(one_round(url, data, tree, args.workers, args.period))
                log(f"  {rounds[name][-1]}")
    finally:
        drop_copy(url)
    info["load_average_after"] = machine()["load_average"]
    results = {name: summary(r) for name, r in rounds.items()}
    print(f"VmRSS per worker, MiB: {args.workers} workers × {args.rounds} rounds")
    print(f"{'':8}" + "".join(f"{p:>26}" for p in (*POINTS, "master")))
    for name, points in results.items():
        cells = "".join(
            f"{f'{v["median"]} ({v["lowest"]}–{v["highest"]})':>26}" for v in points.values()
        )
        print(f"{name:8}{cells}")
    print(json.dumps({"machine": info, "rounds": rounds, "results": results}))


if __name__ == "__main__":
    main()
