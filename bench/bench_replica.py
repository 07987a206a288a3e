"""What reading the heavy pages from a streaming replica costs a request (issue 17).

    .venv/bin/python bench/bench_replica.py [--rounds 5] [--requests 20]

Starts the throw-away primary and its ``pg_basebackup -R`` standby of tests/test_replica.py
(PostgreSQL 15 binaries, run as the ``postgres`` OS user; needs root), migrates the Baotou
plan into the primary and signs one office user in. Then, interleaved in every round, the
ledger's first page and the plan's dashboard are requested in process (Flask's test client)

- ``primary``: the replica configured but marked down, so the page reads the primary and
  pays nothing for the replica (the same as ``TASKHUB_DATABASE_REPLICA_URL`` unset: one
  comparison);
- ``replica``: the replica checked (one status query on it) and read.

Reports, per page and mode, the median of each round's median in ms with the lowest and
highest round, and the status query's own time. Both servers run on this machine, so the
figures are the cost of the routing, not the relief a replica on another machine gives the
primary's CPU. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from sqlalchemy import text  # noqa: E402

from taskhub.core import replica as replica_module  # noqa: E402
from tests.race_kit import PASSWORD, PLAN, Kit, race_app  # noqa: E402
from tests.test_replica import streaming_pair  # noqa: E402

PAGES = {"ledger": f"/ledger?plan={PLAN}", "dashboard": f"/plans/{PLAN}/dashboard"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=PROJECT
    ).stdout.strip()
    with streaming_pair() as pair, tempfile.TemporaryDirectory() as work:
        os.environ["TASKHUB_DATABASE_REPLICA_URL"] = pair.standby.url
        os.environ["TASKHUB_REPLICA_MAX_LAG_SECONDS"] = "600"
        with race_app(pair.primary.url, Path(work)) as app:
            kit = Kit.build(app)
            client = app.test_client()
            login = client.post(
                "/login", data={"username": kit.office.username, "password": PASSWORD}
            )
            assert login.status_code == 302
            pair.replayed()
            replica = app.extensions["taskhub_replica"]
            for path in PAGES.values():  # warm both paths (caches, prepared statements)
                for down in (0.0, float("inf")):
                    replica.down_until = down
                    for _ in range(3):
                        assert client.get(path).status_code == 200
            rounds: dict[str, list[float]] = {
                f"{p}/{m}": [] for p in PAGES for m in ("primary", "replica")
            }
            for n in range(args.rounds):
                times: dict[str, list[float]] = {key: [] for key in rounds}
                for _ in range(args.requests):
                    for page, path in PAGES.items():
                        for mode, down in (("primary", float("inf")), ("replica", 0.0)):
                            replica.down_until = down
                            start = time.perf_counter()
                            response = client.get(path)
                            times[f"{page}/{mode}"].append((time.perf_counter() - start) * 1000)
                            assert response.status_code == 200
                for key, values in times.items():
                    rounds[key].append(statistics.median(values))
                print(f"round {n + 1}/{args.rounds}", file=sys.stderr)
            assert replica.reason == "", replica.reason
            checks = []
            with replica.engine.connect() as conn:
                for _ in range(200):
                    start = time.perf_counter()
                    conn.execute(replica_module._STATUS, {"lsn": "0/0"}).one()
                    checks.append((time.perf_counter() - start) * 1000)
                conn.execute(text("SELECT 1"))
    load = os.getloadavg()
    result = {
        "commit": commit,
        "load": [round(x, 2) for x in load],
        "rounds": args.rounds,
        "requests": args.requests,
        "status_query_ms": round(statistics.median(checks), 3),
        "pages": {
            key: {
                "median_ms": round(statistics.median(values), 2),
                "lowest_round_ms": round(min(values), 2),
                "highest_round_ms": round(max(values), 2),
            }
            for key, values in rounds.items()
        },
    }
    print(f"{'page / mode':24} {'median ms':>10} {'lowest':>8} {'highest':>8}")
    for key, figures in result["pages"].items():
        print(
            f"{key:24} {figures['median_ms']:>10.2f} {figures['lowest_round_ms']:>8.2f}"
            f" {figures['highest_round_ms']:>8.2f}"
        )
    print(f"status query on the replica: {result['status_query_ms']} ms (median of 200)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
