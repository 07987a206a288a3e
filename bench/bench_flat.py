"""Flat with data (issue 17): the same requests on a city's ledger and on a national one.

    .venv/bin/python bench/bench_flat.py --city URL [--national URL] [--rounds 7 --requests 40]

Both ledgers come from ``generate_api.py`` (the national one with ``--scale national``: the
city copied 100 times inside the database, 1,000,000 assignments). Nothing is written, so the
benchmark reads the generated databases themselves (no working copy). Without ``--national``
only the city is measured, against its floors (SQLite: the issue-6 floors' database).

One gunicorn (``--workers 1``) serves each database; the script sends each kind of request to
the city and to the nation in turn, one client, so both see the same machine at the same
moment. Each round times ``--requests`` requests of each kind on each side; a kind's figure is
the median of the round medians, with the spread (lowest and highest round median).

The kinds:

- ``list_first``: ``GET /api/v1/assignments/?open=true&page_size=100`` (the office's token);
- ``list_deep``: the same list at 90% of its depth, by cursor (keyset);
- ``list_deep_offset``: the same depth by page number (OFFSET), for comparison (fewer samples);
- ``list_filtered``: one plan's open assignments, ``?plan=…&open=true&page_size=100``;
- ``unit_open``: a unit's open assignments with its own token (50 a page);
- ``ledger_count`` and ``ledger_page``: the ledger page's count (as the first viewer after a
  change computes it, uncached) and its first page of rows, in this process (the page's two
  costly parts; the template is the same at any scale);
- ``ledger_deep``: the ledger page at 90% of its depth by the page's cursor (下一页 from
  there: ``Ledger.at``), in this process; ``ledger_deep_unit`` / ``_percent`` / ``_due`` the
  same sorted by unit, progress and next due date; ``ledger_deep_offset``: the same depth by
  page number (OFFSET, ``Ledger.page``), for comparison (``--offset-requests`` a round);
- ``list_first_app`` / ``unit_open_app``: the app's own time of ``list_first`` /
  ``unit_open`` (``Server-Timing: app``), without gunicorn, the connection and the client;
- ``floor``: the floor of ``list_first``: the same 100 rows fetched by one plain SQL
  statement (psycopg or sqlite3, one connection kept open) and encoded to the same JSON bytes
  (``json.dumps`` as Flask writes it: sorted keys, compact, UTF-8), in this process;
  ``floor_deep`` likewise for ``list_deep``, ``floor_unit`` for ``unit_open`` (the same
  unit's 50 rows, the units in the same turn). Before timing, each floor's bytes are checked
  against the served body: they must be equal.

After the rounds, ``--cpu-requests`` of ``list_first`` and ``unit_open`` give the gunicorn
worker's CPU time per request (``/proc``), and as many floors this thread's CPU time: figures
that the rest of the machine's load hardly changes (the database server's CPU is in neither).

Prints one JSON document (figures, ratios national/city, the machine) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from api_common import (
    DATA_DIR,
    Gunicorn,
    Http,
    api_database_url,
    cpu_ticks,
    load_ledger,
    machine,
    make_api_app,
)
from common import log
from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.ledger import services as ledger_services
from taskhub.tracking.api.assignments import _KEYSET, _as_dict
from taskhub.tracking.models import Assignment

LIST_FIRST = "/api/v1/assignments/?open=true&page_size=100"
UNIT_OPEN = "/api/v1/assignments/?open=true"
FILTER_PLAN = "bench-api-hegang-2026"
#: The ledger page's sorts measured 90% deep by cursor (``ledger_deep``: the default order).
LEDGER_DEEP_SORTS = ("item", "unit", "percent", "due")

#: The rows of LIST_FIRST (or of the page after an id; or UNIT_OPEN's, with a unit) as one
#: plain statement: PostgreSQL, the next milestone by LATERAL.
FLOOR_SQL = """
SELECT a.id, a.item_id, i.code, i.text, p.code, a.unit_id, u.name, a.role, a.status, a.percent,
       a.is_overdue, a.is_not_applicable, a.next_due_on, a.acknowledged_at, a.completed_at,
       a.updated_at, a.version, m.id, m.kind, m.title, m.due_on, m.extended_to
FROM (SELECT id FROM assignments WHERE status <> 'completed' AND id > %(after)s {unit}
      ORDER BY id LIMIT %(limit)s) AS page
JOIN assignments a ON a.id = page.id
JOIN items i ON i.id = a.item_id
JOIN plans p ON p.id = i.plan_id
JOIN units u ON u.id = a.unit_id
LEFT JOIN LATERAL (
    SELECT id, kind, title, due_on, extended_to FROM milestones
    WHERE assignment_id = a.id AND status = 'open'
      AND coalesce(extended_to, due_on) = a.next_due_on
    ORDER BY due_on, id LIMIT 1) AS m ON true
ORDER BY a.id
"""
#: The same on SQLite (no LATERAL: the next milestone's id by a correlated subquery).
FLOOR_SQL_SQLITE = """
SELECT a.id, a.item_id, i.code, i.text, p.code, a.unit_id, u.name, a.role, a.status, a.percent,
       a.is_overdue, a.is_not_applicable, a.next_due_on, a.acknowledged_at, a.completed_at,
       a.updated_at, a.version, m.id, m.kind, m.title, m.due_on, m.extended_to
FROM (SELECT id, (SELECT id FROM milestones
                  WHERE assignment_id = x.id AND status = 'open'
                    AND coalesce(extended_to, due_on) = x.next_due_on
                  ORDER BY due_on, id LIMIT 1) AS next_id
      FROM assignments x WHERE status <> 'completed' AND id > :after {unit}
      ORDER BY id LIMIT :limit) AS page
JOIN assignments a ON a.id = page.id
JOIN items i ON i.id = a.item_id
JOIN plans p ON p.id = i.plan_id
JOIN units u ON u.id = a.unit_id
LEFT JOIN milestones m ON m.id = page.next_id
ORDER BY a.id
"""


def _sqlite_time(value: str | None) -> str | None:
    """A timestamp as SQLite holds it (UTC, no zone) in the API's ISO form."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A floor row from SQLite ready for JSON: flags as booleans, timestamps in ISO form
    (dates are ISO text already)."""
    r = list(row)
    r[10], r[11] = bool(r[10]), bool(r[11])
    r[13], r[14], r[15] = _sqlite_time(r[13]), _sqlite_time(r[14]), _sqlite_time(r[15])
    return tuple(r)


#: Where a floor row has its dates and times (as in the served list's rows).
_TIMES = (12, 13, 14, 15, 20, 21)


def _pg_row(row: tuple[Any, ...]) -> list[Any]:
    """A floor row from PostgreSQL ready for JSON: its dates and times as ISO text, as the
    served list writes them (the byte check before timing holds the two to the same text)."""
    r = list(row)
    for i in _TIMES:
        if r[i] is not None:
            r[i] = r[i].isoformat()
    return r


def encode(rows: list[dict[str, Any]]) -> bytes:
    """JSON bytes as the app's responses write them (Flask: sorted keys, compact, UTF-8)."""
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"{text}\n".encode()


class Side:
    """One ledger: its server, tokens, a deep cursor, its floor connection and ledger service."""

    def __init__(self, name: str, raw_url: str, log_dir: Path) -> None:
        self.name = name
        self.url = api_database_url(raw_url)
        data = load_ledger(self.url)
        tokens = data["tokens"]
        self.office = next(t["token"] for t in tokens if t["role"] == "office")
        self.units = {}
        for t in tokens:
            if t["role"] == "unit":
                self.units.setdefault(t["unit_id"], t["token"])
        self.as_of = date.fromisoformat(data["as_of"])
        self.app = make_api_app(self.url)
        with self.app.app_context():
            ids = select(Assignment.id).where(Assignment.status != "completed")
            n = db.session.scalar(select(func.count()).select_from(ids.subquery())) or 0
            deep = n * 9 // 10 // 100 * 100
            self.deep_after = db.session.scalar(ids.order_by(Assignment.id).offset(deep).limit(1))
            self.deep_page = deep // 100 + 1
            with self.app.test_request_context():
                cursor = _KEYSET.encode(
                    {"open": True, "sort": "id"}, self.deep_after, self.deep_after
                )
            self.open_total = n
            db.session.remove()
        self.deep = f"{LIST_FIRST}&cursor={cursor}"
        self.deep_offset = f"{LIST_FIRST}&page={self.deep_page}"
        self.filtered = f"/api/v1/assignments/?plan={FILTER_PLAN}&open=true&page_size=100"
        self.log = (log_dir / f"bench_flat.{name}.gunicorn.log").open("w")
        self.server = Gunicorn(self.url, 1, output=self.log)
        self.server.warm_up(LIST_FIRST, self.office, requests_per_worker=5)
        self.http = Http(self.server.port, token=self.office)
        self.sqlite = self.url.get_backend_name() == "sqlite"
        self.floor_conn: Any
        if self.sqlite:
            self.floor_conn = sqlite3.connect(self.url.database or "")
            self.floor_sql = FLOOR_SQL_SQLITE
        else:
            self.floor_conn = psycopg.connect(
                self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            )
            self.floor_sql = FLOOR_SQL
        self.floor_all = self.floor_sql.format(unit="")
        self.floor_one_unit = self.floor_sql.format(
            unit="AND unit_id = :unit" if self.sqlite else "AND unit_id = %(unit)s"
        )
        self.unit_ids = sorted(self.units)
        self.turn = 0
        self.floor_turn = 0
        self.app_ms = 0.0
        self.check_floors()

    def get(self, path: str, token: str | None = None) -> float:
        reply = self.http.get(path, token=token)
        self.app_ms = reply.server_ms or 0.0
        assert reply.status == 200 and reply.json(), (self.name, path, reply.status, reply.body)
        return reply.client_ms

    def unit_open(self) -> float:
        unit = self.unit_ids[self.turn % len(self.unit_ids)]
        self.turn += 1
        return self.get(UNIT_OPEN, self.units[unit])

    def floor_body(self, after: int = 0, unit: int | None = None) -> bytes:
        """One plain statement and the same JSON bytes as the served list."""
        if unit is None:
            cursor = self.floor_conn.execute(self.floor_all, {"after": after, "limit": 100})
        else:
            cursor = self.floor_conn.execute(
                self.floor_one_unit, {"after": after, "limit": 50, "unit": unit}
            )
        rows = cursor.fetchall()
        if self.sqlite:
            return encode([_as_dict(_sqlite_row(row)) for row in rows])
        return encode([_as_dict(_pg_row(row)) for row in rows])

    def floor(self, after: int = 0) -> float:
        started = time.perf_counter()
        body = self.floor_body(after)
        elapsed = (time.perf_counter() - started) * 1000
        assert body.count(b'"item":') == 100
        return elapsed

    def floor_unit(self) -> float:
        unit = self.unit_ids[self.floor_turn % len(self.unit_ids)]
        self.floor_turn += 1
        started = time.perf_counter()
        body = self.floor_body(unit=unit)
        elapsed = (time.perf_counter() - started) * 1000
        assert body.count(b'"item":') == 50
        return elapsed

    def check_floors(self) -> None:
        """The floors write the very bytes the server sends (first page, deep page, a unit)."""
        unit = self.unit_ids[0]
        for path, token, body in (
            (LIST_FIRST, None, self.floor_body()),
            (self.deep, None, self.floor_body(self.deep_after)),
            (UNIT_OPEN, self.units[unit], self.floor_body(unit=unit)),
        ):
            reply = self.http.get(path, token=token)
            assert reply.status == 200, (self.name, path, reply.status)
            assert reply.body == body, f"{self.name}: the floor of {path} differs from its answer"

    def cpu(self, requests: int) -> dict[str, float]:
        """CPU milliseconds per request, which the rest of the machine's load hardly stretches:
        the gunicorn worker's (from /proc) for ``list_first`` and ``unit_open``, and this
        thread's for each floor (neither counts the database server's own CPU)."""
        worker = self.server.worker_pids()[0]
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {}
        for kind, run in (
            ("list_first", lambda: self.get(LIST_FIRST)),
            ("unit_open", self.unit_open),
        ):
            before = cpu_ticks(worker)
            for _ in range(requests):
                run()
            out[kind] = (cpu_ticks(worker) - before) * tick_ms / requests
        for kind, floor in (("floor", self.floor), ("floor_unit", self.floor_unit)):
            started = time.thread_time()
            for _ in range(requests):
                floor()
            out[kind] = (time.thread_time() - started) * 1000 / requests
        return out

    def ledger(self) -> tuple[float, float]:
        with self.app.test_request_context():
            office = db.session.scalar(
                select(ledger_services.User).where(ledger_services.User.role == "office").limit(1)
            )
            started = time.perf_counter()
            ledger = ledger_services.Ledger(
                ledger_services.LedgerFilters(), viewer=office, today=self.as_of
            )
            total, _ = ledger._total()
            counted = time.perf_counter()
            rows = ledger.page(1)
            done = time.perf_counter()
            assert total and len(rows) == ledger_services.PAGE_SIZE
            db.session.remove()
        return (counted - started) * 1000, (done - counted) * 1000

    def ledger_places(self) -> None:
        """The cursors 90% deep into the ledger's default order and its indexed sorts."""
        self.ledger_cursors: dict[str, Any] = {}
        with self.app.test_request_context():
            self.office_user = db.session.scalar(
                select(ledger_services.User).where(ledger_services.User.role == "office").limit(1)
            )
            for sort in LEDGER_DEEP_SORTS:
                ledger = self._ledger(sort)
                total = db.session.scalar(select(func.count(Assignment.id))) or 0
                self.ledger_deep_page = total * 9 // 10 // ledger_services.PAGE_SIZE
                query = ledger._ordered(ledger._places())
                offset = self.ledger_deep_page * ledger_services.PAGE_SIZE - 1
                row = db.session.execute(query.offset(offset).limit(1)).one()
                self.ledger_cursors[sort] = ledger._cursor(row)
            db.session.remove()

    def _ledger(self, sort: str) -> Any:
        filters = ledger_services.LedgerFilters(sort=sort)
        return ledger_services.Ledger(filters, viewer=self.office_user, today=self.as_of)

    def ledger_deep(self, sort: str = "item", *, offset: bool = False) -> float:
        """The page after the 90% cursor (or the same page by number), rows included."""
        with self.app.test_request_context():
            started = time.perf_counter()
            ledger = self._ledger(sort)
            if offset:
                rows = ledger.page(self.ledger_deep_page + 1)
            else:
                rows = ledger.at(self.ledger_cursors[sort]).rows
            elapsed = (time.perf_counter() - started) * 1000
            assert len(rows) == ledger_services.PAGE_SIZE
            db.session.remove()
        return elapsed

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        self.floor_conn.close()
        self.log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", required=True, help="the city's ledger (generate_api.py)")
    parser.add_argument("--national", help="generate_api.py --scale national (optional)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=40, help="per kind, side and round")
    parser.add_argument("--ledger-requests", type=int, default=5, help="ledger timings a round")
    parser.add_argument("--offset-requests", type=int, default=3, help="deep OFFSET a round")
    parser.add_argument(
        "--cpu-requests", type=int, default=300, help="requests of each kind for CPU per request"
    )
    args = parser.parse_args(argv)
    info = machine()
    log("starting one gunicorn worker per ledger")
    sides = [Side("city", args.city, DATA_DIR)]
    if args.national:
        sides.append(Side("national", args.national, DATA_DIR))
    kinds: dict[str, Callable[[Side], float]] = {
        "list_first": lambda s: s.get(LIST_FIRST),
        "list_deep": lambda s: s.get(s.deep),
        "list_filtered": lambda s: s.get(s.filtered),
        "unit_open": Side.unit_open,
        "floor": lambda s: s.floor(),
        "floor_deep": lambda s: s.floor(s.deep_after),
        "floor_unit": Side.floor_unit,
    }
    extra = ["list_first_app", "unit_open_app", "list_deep_offset", "ledger_count", "ledger_page"]
    medians: dict[str, dict[str, list[float]]] = {
        k: {s.name: [] for s in sides}
        for k in [*kinds, *extra]
        + [f"ledger_deep{'' if s == 'item' else '_' + s}" for s in LEDGER_DEEP_SORTS]
        + ["ledger_deep_offset"]
    }
    try:
        for s in sides:  # warm every path once
            s.ledger_places()
            for run in kinds.values():
                run(s)
            s.ledger()
            for sort in LEDGER_DEEP_SORTS:
                s.ledger_deep(sort)
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}")
            samples: dict[str, dict[str, list[float]]] = {
                k: {s.name: [] for s in sides} for k in medians
            }
            for _ in range(args.requests):
                for kind, run in kinds.items():
                    for s in sides:  # city, nation, city, nation…
                        samples[kind][s.name].append(run(s))
                        if kind in ("list_first", "unit_open"):  # the app's own share
                            samples[f"{kind}_app"][s.name].append(s.app_ms)
            for _ in range(args.offset_requests):
                for s in sides:
                    samples["list_deep_offset"][s.name].append(s.get(s.deep_offset))
            for _ in range(args.ledger_requests):
                for s in sides:
                    count_ms, page_ms = s.ledger()
                    samples["ledger_count"][s.name].append(count_ms)
                    samples["ledger_page"][s.name].append(page_ms)
                for sort in LEDGER_DEEP_SORTS:
                    for s in sides:
                        kind = f"ledger_deep{'' if sort == 'item' else '_' + sort}"
                        samples[kind][s.name].append(s.ledger_deep(sort))
            for _ in range(args.offset_requests):
                for s in sides:
                    samples["ledger_deep_offset"][s.name].append(s.ledger_deep(offset=True))
            for kind, by_side in samples.items():
                for name, values in by_side.items():
                    medians[kind][name].append(statistics.median(values))
        log("CPU per request")
        cpu = {s.name: {k: round(v, 2) for k, v in s.cpu(args.cpu_requests).items()} for s in sides}
    finally:
        for s in sides:
            s.close()
    for by_kind in cpu.values():
        by_kind["list_first_over_floor"] = round(by_kind["list_first"] / by_kind["floor"], 2)
        by_kind["unit_open_over_floor"] = round(by_kind["unit_open"] / by_kind["floor_unit"], 2)
    figures: dict[str, Any] = {}
    for kind, by_side in medians.items():
        entry: dict[str, Any] = {}
        for name, values in by_side.items():
            entry[name] = {
                "median_ms": round(statistics.median(values), 2),
                "spread_ms": [round(min(values), 2), round(max(values), 2)],
            }
        if "national" in entry:
            entry["national_over_city"] = round(
                entry["national"]["median_ms"] / entry["city"]["median_ms"], 2
            )
        figures[kind] = entry
    for served, floor in (
        ("list_first", "floor"),
        ("list_deep", "floor_deep"),
        ("unit_open", "floor_unit"),
        ("list_first_app", "floor"),
        ("unit_open_app", "floor_unit"),
    ):
        for s in sides:
            figures[served][f"{s.name}_over_floor"] = round(
                figures[served][s.name]["median_ms"] / figures[floor][s.name]["median_ms"], 2
            )
    info["load_average_after"] = machine()["load_average"]
    result = {
        "machine": info,
        "databases": {s.name: s.url.get_backend_name() for s in sides},
        "rounds": args.rounds,
        "requests": args.requests,
        "open_assignments": {s.name: s.open_total for s in sides},
        "deep_page": {s.name: s.deep_page for s in sides},
        "figures": figures,
        "cpu_ms_per_request": cpu,
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
