"""`taskhub` starts quickly (issue 17): `--help` lists every command without importing a domain
package, and `jobs list` / `plan list` read with SQLAlchemy Core, with no app and no ORM.
Behaviour, not time: bench/bench_cli.py measures the time.

The command names, flags and help texts are a public contract: every help page recorded in
tests/fixtures/cli_help.json (before the command list became lazy) must read the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from flask import Flask

from taskhub.cli import APP, COMMANDS, load_command, main
from taskhub.config import PROJECT_ROOT

HELP_PAGES = Path(__file__).parent / "fixtures" / "cli_help.json"

#: No database involved (or only read): runs once, on SQLite.
ONCE = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
)

#: What a quick start must not import (the web app's machinery, Excel and Word, migrations).
HEAVY = ("flask_smorest", "flask_migrate", "alembic", "openpyxl", "docx")


def help_pages() -> dict[str, str]:
    """Every command's `--help` page, by command path ("" for `taskhub` itself)."""
    runner = CliRunner()
    pages: dict[str, str] = {}

    def walk(path: list[str], command: click.Command, ctx: click.Context) -> None:
        result = runner.invoke(main, [*path, "--help"], terminal_width=100, prog_name="taskhub")
        assert result.exit_code == 0, (path, result.output)
        pages[" ".join(path)] = result.output
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, [*path, name]
                if not sub.hidden:
                    walk([*path, name], sub, click.Context(sub, info_name=name, parent=ctx))

    with main.make_context("taskhub", [], resilient_parsing=True) as ctx:
        walk([], main, ctx)
    return pages


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _command_env(app: Flask) -> dict[str, str]:
    return {
        "TASKHUB_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "TASKHUB_INSTANCE_PATH": app.instance_path,
        "TASKHUB_EVIDENCE_PATH": app.config["EVIDENCE_PATH"],
        "TASKHUB_SECRET_KEY": "cli-start-test-secret-key-not-for-production",
    }


def _modules_after(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[str, set[str]]:
    """Run `taskhub ARGS` in a fresh interpreter: its output and the modules it imported."""
    record = tmp_path / "modules.json"
    write = f"open({str(record)!r}, 'w').write(json.dumps(list(sys.modules)))"
    code = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: {write})\n"
        "from taskhub.cli import main\n"
        f"main({args!r}, prog_name='taskhub')\n"
    )
    result = _run(code, env)
    assert result.returncode == 0, result.stderr
    return result.stdout, set(json.loads(record.read_text()))


@ONCE
def test_every_help_page_reads_as_before(tmp_path: Path) -> None:
    """Run in a fresh interpreter: `db` and `openapi` load a whole app of their own."""
    code = (
        "import json, sys\n"
        "from tests.test_cli_start import help_pages\n"
        "json.dump(help_pages(), sys.stdout)\n"
    )
    result = _run(
        code,
        {
            "TASKHUB_INSTANCE_PATH": str(tmp_path),
            "TASKHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'help.db'}",
        },
    )
    assert result.returncode == 0, result.stderr
    pages = json.loads(result.stdout)
    before = json.loads(HELP_PAGES.read_text(encoding="utf-8"))
    missing = sorted(set(before) - set(pages))
    assert not missing, f"commands no longer listed: {missing}"
    changed = [path for path in before if pages[path] != before[path]]
    assert not changed, f"help pages changed: {changed}\n{pages[changed[0]]}"


def test_the_static_command_list_says_what_each_command_says(app: Flask) -> None:
    """`taskhub --help` answers from COMMANDS: each line must be the command's own help."""
    for name, entry in COMMANDS.items():
        command = app.cli.commands[name] if entry.target == APP else load_command(name)
        placeholder = click.Command(name, help=entry.help)
        for limit in (40, 74, 94, 200):
            assert placeholder.get_short_help_str(limit) == command.get_short_help_str(limit), name
    # Every command the app carries is in the list (else `taskhub --help` would not show it).
    assert set(app.cli.commands) <= set(COMMANDS) | set(main.commands)


@ONCE
def test_help_imports_no_domain_package_and_no_sqlalchemy(tmp_path: Path) -> None:
    output, modules = _modules_after(["--help"], {}, tmp_path)
    assert "plan       Inspect loaded plans; publish, copy and close them." in output
    for name in ("sqlalchemy", "flask_sqlalchemy", "marshmallow", "taskhub.app", *HEAVY):
        assert name not in modules, name
    domains = {m for m in modules if m.startswith("taskhub.") and m != "taskhub.cli"}
    assert not domains, domains


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["jobs", "list"], "reminders      hour=9 minute=0"),
        (["plan", "list", "--json"], '"code": "baotou-2022"'),
    ],
)
def test_listing_commands_build_no_app_and_import_no_orm(
    app: Flask, tmp_path: Path, args: list[str], expected: str
) -> None:
    """They read with SQLAlchemy Core (tests/test_cli_listings.py checks their output)."""
    output, modules = _modules_after(args, _command_env(app), tmp_path)
    assert expected in output
    unwanted = (*HEAVY, "flask_wtf", "sqlalchemy.orm", "flask_sqlalchemy", "taskhub.app")
    assert [name for name in unwanted if name in modules] == []
    assert not [m for m in modules if m == "taskhub.models" or m.endswith(".models")]


def test_package_import_loads_nothing_else() -> None:
    """The gunicorn master and `taskhub --help` import the package: it must stay empty."""
    result = _run(
        "import sys, taskhub; print(sorted(m for m in sys.modules if 'taskhub' in m))", {}
    )
    assert result.returncode == 0, result.stderr
    assert [m for m in json.loads(result.stdout.replace("'", '"')) if "finder" not in m] == [
        "taskhub"
    ]
