"""Race benchmark: many rounds of the same change sent by several clients at once, for every
object that has a version or an ETag (issue 12: nothing lost, never a 500).

    .venv/bin/python bench/races.py --db URL [--rounds 20] [--clients 8] [--race NAME ...]

Each round of each race (tests/race_kit.py: reports, acknowledgements, reviews, extension
requests and decisions, contacts, webhooks, item and component scores, period closes, the
report form) prepares a fresh object, lets every client read its version or ETag, then
releases ``--clients`` real threads together, each with its own HTTP client, session and
database connection. It counts server errors (5xx, or a client that hung) and lost updates
(an acknowledged change the object does not keep: a second winner, or a winner overwritten),
and the rounds that broke any other rule (not exactly one winner, a loser not told why, not
exactly one change in the audit trail).

PostgreSQL: the races run in a new schema of the database given (created, migrated and
dropped by this script; nothing else in that database is touched). SQLite: a new file under
bench/.data/. Progress goes to stderr; stdout gets a table and one JSON line. Exits 1 when
any server error or lost update was seen.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # the other scripts' helpers; the race kit

from common import DATA_DIR, log  # noqa: E402

from tests.race_kit import RACES, Kit, race_app, run_round  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="a PostgreSQL URL, or 'sqlite'")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--race", action="append", help="only these races (repeatable)")
    args = parser.parse_args()
    races = [r for r in RACES if not args.race or r.name in args.race]
    url = args.db if args.db.startswith("postgresql") else None
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=DATA_DIR) as workdir, race_app(url, Path(workdir)) as app:
        kit = Kit.build(app)
        logging.getLogger("taskhub.access").setLevel(logging.WARNING)  # 5xx lines only
        for race in races:
            errors = lost = broken = 0
            took = time.perf_counter()
            for n in range(args.rounds):
                outcome = run_round(kit, race, args.clients)
                problems = outcome.problems(race)
                errors += outcome.server_errors
                lost += outcome.lost_updates(race)
                if problems:
                    broken += 1
                    log(f"{race.name} round {n + 1}: {problems}")
            seconds = time.perf_counter() - took
            log(f"{race.name}: {args.rounds} rounds, {errors} server errors, {lost} lost")
            results.append(
                {
                    "race": race.name,
                    "rounds": args.rounds,
                    "requests": args.rounds * args.clients,
                    "server_errors": errors,
                    "lost_updates": lost,
                    "broken_rounds": broken,
                    "seconds": round(seconds, 1),
                }
            )
    total = time.perf_counter() - started
    print(f"{'race':<24}{'rounds':>7}{'requests':>9}{'5xx':>5}{'lost':>6}{'broken':>8}{'s':>7}")
    for r in results:
        print(
            f"{r['race']:<24}{r['rounds']:>7}{r['requests']:>9}{r['server_errors']:>5}"
            f"{r['lost_updates']:>6}{r['broken_rounds']:>8}{r['seconds']:>7}"
        )
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({platform.machine()}, Python {platform.python_version()})",
        "database": "postgresql" if url else "sqlite",
        "clients": args.clients,
        "rounds": args.rounds,
        "server_errors": sum(r["server_errors"] for r in results),
        "lost_updates": sum(r["lost_updates"] for r in results),
        "broken_rounds": sum(r["broken_rounds"] for r in results),
        "seconds": round(total, 1),
        "races": results,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if summary["server_errors"] or summary["lost_updates"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
