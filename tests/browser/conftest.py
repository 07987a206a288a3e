"""Fixtures for real-browser tests: a live TaskHub server and Debian's chromium via Playwright.

The live server always runs on its own SQLite file in a temporary directory, whatever
TASKHUB_TEST_DATABASE_URL says: the browser's requests arrive on server threads and must see
committed data, so the rolled-back ``session`` fixture cannot serve them, and the shared
PostgreSQL database is reset by the main ``app`` fixture, which would pull it from under us.

Playwright never downloads a browser here: it drives /usr/bin/chromium (``apt install
chromium``); without it the tests are skipped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from taskhub import create_app
from taskhub.accounts.services import create_user
from taskhub.config import PROJECT_ROOT, TestConfig
from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.plans.seeds import load_seeds
from taskhub.tracking.models import Assignment
from tests.conftest import PASSWORD, unit_named

# The page's own assertions wait as long as its actions (context.set_default_timeout): on a
# loaded two-core CI machine a page can take more than expect()'s default 5 s.
expect.set_options(timeout=10_000)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Screenshots for a person to look at (git-ignored).
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"

OWN_UNIT = "昆都仑区人民政府"
OTHER_UNIT = "青山区人民政府"
#: Baotou item 1 (5月底取得明显成效并持续推进): several milestones, early on the /my list.
ITEM_CODE = "1"
#: Hegang users of the supervision journey: (username, display name, unit).
HEGANG_USERS = (
    ("hg-lead", "营商环境局填报员", "市营商环境局"),
    ("hg-co", "向阳区填报员", "向阳区人民政府"),
    ("hg-sub", "大数据中心填报员", "市大数据中心"),
)


@dataclass(frozen=True)
class LiveSite:
    """A running server and what the journey needs to know about its data."""

    url: str
    unit_username: str
    office_username: str
    password: str
    #: The unit user's assignment of ITEM_CODE and another unit's assignment of the same item.
    own_assignment_id: int
    other_assignment_id: int
    item_label: str
    #: The plan item (Baotou item ITEM_CODE).
    item_id: int
    #: A user of OTHER_UNIT.
    other_username: str = "bt-other"


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _build_app(tmp: Path) -> Flask:
    config = TestConfig()
    config.INSTANCE_PATH = str(tmp)
    # Always SQLite: see the module docstring.
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp / 'browser.db'}"
    config.EVIDENCE_PATH = str(tmp / "evidence")
    return create_app(config, WTF_CSRF_ENABLED=True)


def _assignment_of(unit: str) -> Assignment:
    owner = unit_named(unit, "baotou")
    return db.session.scalars(
        select(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Plan, Plan.id == Item.plan_id)
        .where(Plan.code == "baotou-2022", Item.code == ITEM_CODE, Assignment.unit_id == owner.id)
    ).one()


@pytest.fixture(scope="session")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """A migrated, seeded app with a unit user and an office user, served on 127.0.0.1."""
    app = _build_app(tmp_path_factory.mktemp("browser"))
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_seeds(PROJECT_ROOT / "seeds")
        db.session.commit()
        create_user(
            username="bt-unit",
            password=PASSWORD,
            role="unit",
            display_name="昆都仑区填报员",
            unit=unit_named(OWN_UNIT, "baotou"),
        )
        create_user(username="bt-office", password=PASSWORD, role="office", display_name="督办室")
        # Another unit's user: handles a sub-task (分解任务) of the unit's task.
        create_user(
            username="bt-other",
            password=PASSWORD,
            role="unit",
            display_name="青山区填报员",
            unit=unit_named(OTHER_UNIT, "baotou"),
        )
        # The supervision journey (test_supervision_journey.py) on Hegang item 2: the lead unit,
        # a co-handling unit, and a unit that handles a sub-task.
        for username, display_name, unit_name in HEGANG_USERS:
            create_user(
                username=username,
                password=PASSWORD,
                role="unit",
                display_name=display_name,
                unit=unit_named(unit_name, "hegang"),
            )
        db.session.commit()
        own, other = _assignment_of(OWN_UNIT), _assignment_of(OTHER_UNIT)
        site_data = (own.id, other.id, own.item.label, own.item_id)
        db.session.remove()
    with serve(app) as url:
        yield LiveSite(
            url=url,
            unit_username="bt-unit",
            office_username="bt-office",
            password=PASSWORD,
            own_assignment_id=site_data[0],
            other_assignment_id=site_data[1],
            item_label=site_data[2],
            item_id=site_data[3],
        )


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 in a thread; yields its base URL."""
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run once per CI build: the live server is SQLite whatever the database, so the
    PostgreSQL pass (TASKHUB_TEST_DATABASE_URL set) would repeat exactly the same tests."""
    if not os.environ.get("TASKHUB_TEST_DATABASE_URL"):
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="browser tests run once, in the SQLite pass")
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (apt install chromium); browser tests skipped")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Debian chromium; Playwright's own browser builds are never downloaded."""
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Any]:
    """new_context() opens a fresh browser profile (one person); all are closed after the test.

    Any 5xx answer the browser received fails the test, even if the page looked plausible; so
    does a script error or anything the Content-Security-Policy blocked (a chart or a form
    handler that silently stopped working).
    """
    opened: list[BrowserContext] = []
    server_errors: list[str] = []
    script_errors: list[str] = []

    def _watch(response: Response) -> None:
        if response.status >= 500:
            server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def _console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            script_errors.append(message.text)

    def _page(page: Page) -> None:
        page.on("console", _console)
        page.on("pageerror", lambda error: script_errors.append(f"{page.url}: {error}"))

    def _open() -> BrowserContext:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        context.on("response", _watch)
        context.on("page", _page)
        opened.append(context)
        return context

    yield _open
    for context in opened:
        context.close()
    assert not server_errors, f"the server answered with errors: {server_errors}"
    assert not script_errors, f"scripts failed or were blocked: {script_errors}"


@pytest.fixture(scope="session")
def screenshot() -> Any:
    """screenshot(page, "name") saves a full-page PNG under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _save(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _save
