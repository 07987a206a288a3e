"""Time how long the `taskhub` command takes to start (issue 17: ≤ 0.5 s each).

    .venv/bin/python bench/bench_cli.py [--rounds 9] [--db URL]

Measured, each in a fresh process, wall time from spawn to exit, and its CPU time (user +
system; on a busy machine the wall time grows with the load, the CPU time much less):

- ``taskhub --help`` (lists every command; imports no domain package),
- ``taskhub jobs list`` (the jobs and their last runs, plain SQL through the driver),
- ``taskhub plan list --json`` (every plan with its counts, likewise);

and, in the same rounds, three baselines: ``python -c pass`` (the interpreter alone),
``python -c "import flask"`` (the floor of any Flask command) and ``python -c "import flask,
sqlalchemy"`` (the floor of a Flask command that reads with SQLAlchemy Core). All run
interleaved, round after round, so that a busy machine slows them alike. Without ``--db`` the
database is a temporary SQLite file, migrated and loaded with the shipped seed plans first
(not timed).

Also printed for each command: whether SQLAlchemy, its ORM, flask_smorest, flask_babel,
openpyxl, docx and alembic were imported (``-X importtime`` in a separate, untimed run).

Progress goes to stderr; a table and one JSON line go to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON = sys.executable
TASKHUB = str(BIN / "taskhub")

#: name → argv; the baselines first.
CASES: dict[str, list[str]] = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "python -c 'import flask'": [PYTHON, "-c", "import flask"],
    "python -c 'import flask, sqlalchemy'": [PYTHON, "-c", "import flask, sqlalchemy"],
    "taskhub --help": [TASKHUB, "--help"],
    "taskhub jobs list": [TASKHUB, "jobs", "list"],
    "taskhub plan list --json": [TASKHUB, "plan", "list", "--json"],
}
#: `taskhub ARGS` of the checkout on PYTHONPATH (--before), as its console script runs it.
BEFORE = "import sys; sys.argv[0] = 'taskhub'; from taskhub.cli import main; sys.exit(main())"
BEFORE_DIR = ""
#: Modules a quick start should not need; reported per command.
HEAVY = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "flask_smorest",
    "flask_babel",
    "alembic",
    "openpyxl",
    "docx",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv``."""
    cwd = None
    if argv[1:2] == ["-c"] and argv[2] == BEFORE:
        # `-c` puts the working directory first on sys.path: run from the other checkout.
        env, cwd = {**env, "PYTHONPATH": BEFORE_DIR}, BEFORE_DIR
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode()}")
    return elapsed, _children_cpu() - cpu


def imported(argv: list[str], env: dict[str, str]) -> list[str]:
    """The HEAVY modules that ``argv`` imports (one untimed run with -X importtime)."""
    # The taskhub script is a Python file: run it under the same interpreter with the flag.
    command = [PYTHON, "-X", "importtime", *(argv[1:] if argv[0] == PYTHON else argv)]
    cwd = None
    if argv[1:2] == ["-c"] and argv[2] == BEFORE:
        env, cwd = {**env, "PYTHONPATH": BEFORE_DIR}, BEFORE_DIR
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    return [m for m in HEAVY if m in names]


def prepare(env: dict[str, str]) -> None:
    """Migrate the database and load the seed plans (not timed)."""
    for argv in ([TASKHUB, "db", "upgrade"], [TASKHUB, "seed", "load"]):
        log(" ".join(argv[1:]))
        subprocess.run(argv, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--db", help="Database URL (default: a temporary SQLite, seeded)")
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="Also time the three commands of another checkout (e.g. a worktree of the commit "
        "before), imported from DIR ahead of this one, in the same rounds",
    )
    args = parser.parse_args()
    if args.before:
        global BEFORE_DIR
        BEFORE_DIR = str(Path(args.before).resolve())
        for name, argv in [(n, a) for n, a in CASES.items() if n.startswith("taskhub")]:
            CASES[f"before: {name}"] = [PYTHON, "-c", BEFORE, *argv[1:]]

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        env = dict(os.environ)
        env.setdefault("TASKHUB_INSTANCE_PATH", tmp)
        env["TASKHUB_EVIDENCE_PATH"] = str(Path(tmp) / "evidence")
        env["TASKHUB_SECRET_KEY"] = "bench-only-secret-key-not-for-production-use"
        if args.db:
            env["TASKHUB_DATABASE_URL"] = args.db
        else:
            env["TASKHUB_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'cli.db'}"
            prepare(env)
        for argv in CASES.values():  # warm the file cache and the .pyc files
            run(argv, env)
        times: dict[str, list[float]] = {name: [] for name in CASES}
        cpu: dict[str, list[float]] = {name: [] for name in CASES}
        for round_number in range(1, args.rounds + 1):
            for name, argv in CASES.items():
                wall, used = run(argv, env)
                times[name].append(wall)
                cpu[name].append(used)
            log(f"round {round_number}/{args.rounds}")
        modules = {name: imported(argv, env) for name, argv in CASES.items()}

    results = {}
    print(f"{'command':<38} {'median':>8} {'min':>7} {'max':>7} {'CPU':>7}  heavy modules imported")
    for name, samples in times.items():
        median = statistics.median(samples)
        results[name] = {
            "median_s": round(median, 3),
            "min_s": round(min(samples), 3),
            "max_s": round(max(samples), 3),
            "samples_s": [round(s, 3) for s in samples],
            "cpu_median_s": round(statistics.median(cpu[name]), 3),
            "imports": modules[name],
        }
        print(
            f"{name:<38} {median:>7.3f}s {min(samples):>6.3f}s {max(samples):>6.3f}s "
            f"{statistics.median(cpu[name]):>6.3f}s  "
            f"{', '.join(modules[name]) or '-'}"
        )
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "database": "given" if args.db else "sqlite (temporary, seeded)",
                "python": platform.python_version(),
                "load": os.getloadavg()[0],
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
