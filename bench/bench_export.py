"""Time the streamed ledger export (/ledger.xlsx) end to end on the province-scale workload.

    .venv/bin/python bench/generate.py     --db sqlite:///bench/.data/bench.db   # once
    .venv/bin/python bench/bench_export.py --db sqlite:///bench/.data/bench.db [--rounds 5]

Each round signs in as the generated office user and GETs the export through the real app
(Flask test client, unbuffered), reading the whole streamed body: 100,000 rows (the big plan)
and about 10,000 (the area nearest that size). The same-run baseline writes as many rows of
plain values (18 columns, similar text) with the export's own writer and no database, so the
ratio says what the database, the filters and the per-batch report and milestone reads cost;
``--openpyxl`` also times openpyxl's write-only mode on the same rows (the writer the export
used before; slow).

Memory: during every timed request a thread samples the process's resident set
(/proc/self/statm, every 20 ms); the figure is its peak minus the RSS before the request (flat:
the 100,000-row growth close to the 10,000-row one; the largest over the rounds is reported).
``resource.getrusage`` gives the process's peak RSS over the whole run as well.

Progress goes to stderr; a table and one JSON line go to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DB, PLAN_CODE, database_url, log, make_app
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from taskhub.core.db import db
from taskhub.core.xlsx_stream import stream_table
from taskhub.ledger.exports import LEDGER_COLUMNS
from taskhub.plans.models import Item, Plan
from taskhub.tracking.models import Assignment

PASSWORD = "bench-only"  # generate.py gives every generated user this password
COLUMNS = 18


def sign_in(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"username": "bench-office", "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    response = client.post("/login", data=data)
    if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
        raise SystemExit("could not sign in as bench-office: run generate.py first")


def fetch(client: FlaskClient, url: str) -> tuple[float, int, bytes]:
    """Seconds to receive the whole streamed body, its size, and its first bytes."""
    started = time.perf_counter()
    response = client.get(url, buffered=False)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    size, head = 0, b""
    for piece in response.iter_encoded():
        if not head:
            head = piece[:4]
        size += len(piece)
    response.close()
    return time.perf_counter() - started, size, head


def baseline(rows: int, writer: str = "stream") -> float:
    """The same number of rows of plain values (18 columns, similar text), no database:
    written by the export's own writer (``stream``, what the database and the filters add is
    the difference) or by openpyxl's write-only mode (``openpyxl``, the writer it replaced).
    Seconds."""
    text = "推进政务服务“跨域通办”，完善线上线下融合的服务体系" * 2
    day = date(2022, 6, 30)
    rest = [
        *("基准省方案", "1.2", "重点任务", text, "一、政务服务", "某某区人民政府", "牵头单位"),
        *("推进中", "红 · 已超期", 0.4, day, day, 12, "节点", text, "资金未到位", "下月验收"),
    ]
    started = time.perf_counter()
    if writer == "stream":
        for _ in stream_table(
            "任务台账", LEDGER_COLUMNS, ([n, *rest] for n in range(rows)), notes_title="导出说明"
        ):
            pass
        return time.perf_counter() - started
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("任务台账")
    ws.append([f"列{i}" for i in range(COLUMNS)])
    for n in range(rows):
        ws.append([n, *rest])
    with tempfile.TemporaryFile() as out:
        wb.save(out)
    return time.perf_counter() - started


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def rss_growth(run: Callable[[], Any]) -> int:
    """Peak resident set during ``run`` minus the resident set before it (bytes)."""
    before = rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run()
    finally:
        done.set()
        sampler.join()
    return max(peak[0], rss_bytes()) - before


def ten_thousand(client: FlaskClient) -> tuple[str, int]:
    """The big plan's area whose row count is nearest 10,000 (its ledger URL and count)."""
    page = client.get(f"/ledger?plan={PLAN_CODE}").get_data(as_text=True)
    areas = re.findall(r'<option value="(\d+)"', page[page.index('id="f-area"') :])
    best: tuple[int, str, int] | None = None
    for area in areas[:20]:
        url = f"/ledger?plan={PLAN_CODE}&area={area}"
        found = re.search(r'data-total="(\d+)"', client.get(url).get_data(as_text=True))
        total = int(found.group(1)) if found else 0
        if best is None or abs(total - 10_000) < best[0]:
            best = (abs(total - 10_000), url.replace("/ledger?", "/ledger.xlsx?"), total)
        if total == 10_000:
            break
    if best is None:
        raise SystemExit("the big plan has no areas")
    return best[1], best[2]


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(times), 2),
        "min": round(min(times), 2),
        "max": round(max(times), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", help="the ~10,000-row export URL (default: found by area)")
    parser.add_argument("--check", action="store_true", help="open the workbook and count rows")
    parser.add_argument(
        "--openpyxl", action="store_true", help="also time openpyxl writing the rows (slow)"
    )
    args = parser.parse_args(argv)
    url = database_url(args.db)
    app = make_app(url)
    big = f"/ledger.xlsx?plan={PLAN_CODE}"
    with app.app_context():
        plan = select(Item.id).join(Plan).where(Plan.code == PLAN_CODE)
        n_big = db.session.scalar(select(func.count()).where(Assignment.item_id.in_(plan))) or 0
        db.session.remove()
    client = app.test_client()
    sign_in(client)
    if args.small:
        small, n_small = args.small, 0
    else:
        small, n_small = ten_thousand(client)
    log(f"workload: {n_big:,} rows (big), {n_small:,} rows (small: {small})")
    rss_start = maxrss_mb()
    log("warm-up: one small export")
    fetch(client, small)
    results: dict[str, list[float]] = {
        "export_100k": [],
        "export_10k": [],
        "baseline_100k": [],
        **({"openpyxl_100k": []} if args.openpyxl else {}),
    }
    sizes: dict[str, int] = {}
    growth: dict[str, int] = {"export_100k": 0, "export_10k": 0}
    # CPU seconds too: on a shared machine the wall time mostly measures the other processes.
    cpu_times: dict[str, list[float]] = {key: [] for key in results}
    for n in range(1, args.rounds + 1):
        for key, target in (("export_100k", big), ("export_10k", small)):
            got: list[Any] = []
            cpu = time.process_time()
            grew = rss_growth(lambda target=target, got=got: got.append(fetch(client, target)))
            cpu_times[key].append(time.process_time() - cpu)
            seconds, size, head = got[0]
            assert head == b"PK\x03\x04", "not a zip (xlsx)"
            results[key].append(seconds)
            sizes[key] = size
            growth[key] = max(growth[key], grew)
            log(
                f"round {n}/{args.rounds}: {key} {seconds:.2f} s ({size / 1e6:.1f} MB), "
                f"RSS +{grew / 1e6:.1f} MB"
            )
        for key, writer in (("baseline_100k", "stream"), ("openpyxl_100k", "openpyxl")):
            if key not in results:
                continue
            cpu = time.process_time()
            seconds = baseline(n_big, writer)
            cpu_times[key].append(time.process_time() - cpu)
            results[key].append(seconds)
            log(f"round {n}/{args.rounds}: {key} ({writer} writer, no DB) {seconds:.2f} s")
    peak_small, peak_big = growth["export_10k"], growth["export_100k"]
    if args.check:
        log("check: reading the big workbook back")
        body = client.get(big).data
        with tempfile.NamedTemporaryFile(suffix=".xlsx") as f:
            f.write(body)
            f.flush()
            ws = load_workbook(f.name, read_only=True)["任务台账"]
            rows = sum(1 for _ in ws.iter_rows(min_row=2, values_only=True))
        assert rows == n_big, (rows, n_big)
        log(f"check: {rows:,} data rows")
    figures = {
        "db": url.get_backend_name(),
        "rows": {"big": n_big, "small": n_small},
        "rounds": args.rounds,
        "seconds": {k: summary(v) for k, v in results.items()},
        "cpu_seconds": {k: summary(v) for k, v in cpu_times.items()},
        "cpu_ratio_medians": round(
            statistics.median(cpu_times["export_100k"])
            / statistics.median(cpu_times["baseline_100k"]),
            2,
        ),
        "ratio_medians": round(
            statistics.median(results["export_100k"]) / statistics.median(results["baseline_100k"]),
            2,
        ),
        "bytes": sizes,
        "rss_growth_mb": {
            "10k": round(peak_small / 1e6, 1),
            "100k": round(peak_big / 1e6, 1),
        },
        "maxrss_mb": {
            "start": round(rss_start, 1),
            "end": round(maxrss_mb(), 1),
        },
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    print(f"{'':28} {'median s':>9} {'min s':>7} {'max s':>7}")
    for key, value in figures["seconds"].items():
        print(f"{key:28} {value['median']:>9} {value['min']:>7} {value['max']:>7}")
    for key, value in figures["cpu_seconds"].items():
        print(f"{key + ' (CPU)':28} {value['median']:>9} {value['min']:>7} {value['max']:>7}")
    print(f"ratio export/baseline (medians): {figures['ratio_medians']}")
    print(f"ratio export/baseline (CPU medians): {figures['cpu_ratio_medians']}")
    print(f"RSS growth during one request: {figures['rss_growth_mb']} MB")
    print(f"peak RSS: {figures['maxrss_mb']} MB")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
