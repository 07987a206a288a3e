"""Chinese pages read as Chinese: no English words, no data keys, no raw period codes.

Every page a GET route answers is rendered in zh with the seeds and the living demo loaded (so
lists, scores, reports and extensions are not empty), as each role, and its visible text (and
the attributes people read: tooltips, placeholders, the labels of stacked table cells) is
searched for ASCII words, snake_case keys and period codes (2022-H1, 2022-06). Refusal pages
(400, 403, 404) are read too; every plan's own pages are visited.

What may stay ASCII (docs/development.md): a short allow-list (``ALLOWED``: product and format
names such as Excel, API, PDF); upper-case acronyms (AI, APP); words the plan documents use in
their own text; data that identifies something on purpose (user names, e-mail and web
addresses, file names, plan codes such as ``baotou-2022``); and literals in ``<code>``,
``<kbd>``, ``<samp>``, ``<pre>`` or under ``translate="no"`` (maintainers' notes).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import Flask, url_for
from sqlalchemy import select

from taskhub.core.db import db
from taskhub.core.storage import storage_for
from taskhub.models import Assignment, Item, Plan, User
from tests.conftest import Browser, make_user, unit_named

#: The crawl checks the words of the templates, the same on either database.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")),
    reason="the words on the pages are the same on both databases: runs once, in the SQLite pass",
)

TODAY = date(2026, 9, 15)

#: ASCII words a Chinese page may show: product and format names, and units of measure.
ALLOWED = {
    "TaskHub",
    "API",
    "Excel",
    "Word",
    "PDF",
    "CSV",
    "ZIP",
    "PNG",
    "JPG",
    "JPEG",
    "URL",
    "HTTP",
    "HTTPS",
    "JSON",
    "Token",
    "ID",
    "KB",
    "MB",
    "GB",
    "UTC",
    "IP",
    "SMTP",
    "HMAC",
    "SHA",
    "WeCom",
    "DingTalk",
    "xlsx",
    "docx",
    "pdf",
    "Bearer",
    "English",  # the language switch
    "Office",  # Office 文档 (the file types evidence may be)
}
#: Tokens that are data, not words: addresses, file names, dotted or hyphenated codes.
DATA_TOKEN = re.compile(
    r"""
    https?://\S*                                  # web addresses
    | [\w.+-]+@[\w-]+(\.[\w-]+)+                  # e-mail addresses
    | [\w\u4e00-\u9fff-]+\.(xlsx|xls|docx|doc|pdf|png|jpe?g|csv|txt|zip|ofd|wps|json)\b
    | (?<![\w.])\.(xlsx|xls|docx|doc|pdf|png|jpe?g|csv|txt|md|html?|zip|ofd|wps|json)\b
    | \b[a-z]+(-[a-z0-9]+)*-\d{4}\b              # plan codes: baotou-2022, demo-2026
    | \b[A-Za-z0-9_-]{32,}\b                      # tokens and digests
    """,
    re.VERBOSE | re.IGNORECASE,
)
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
PERIOD_CODE = re.compile(r"(?<![\d-])\d{4}-(H[12]|0[1-9]|1[0-2])(?![\d-])")
#: A date or time written the machine's way (2026-12-07, 2026-12-07 04:58): pages write
#: 2026年12月7日 04:58 (``cn_date`` / ``cn_datetime``).
ISO_DATE = re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?![\d-])")
#: Attributes whose text people read (tooltips, placeholders, the labels of stacked cells).
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-label")

#: GET routes not crawled, and why.
SKIPPED = {
    "static": "files",
    "set_language": "switches the language",
    "ops.healthz": "machine answer (JSON)",
    "ops.readyz": "machine answer (JSON)",
    "tracking.evidence": "the uploaded file itself",
    "accounts.invitation": "needs an invitation token (tests/test_invitations.py)",
    "accounts.login": "crawled signed out below",
}


def visible_text(html: str) -> list[str]:
    """The text a person reads on the page: text nodes and READ_ATTRIBUTES."""
    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup(["script", "style", "template", "noscript"]):
        hidden.decompose()
    # Literals on purpose: codes people type or copy (<code>, <kbd>, <samp>, <pre>) and
    # maintainers' notes marked translate="no" (HTML's own "not to be translated").
    for literal in soup(["code", "kbd", "samp", "pre"]) + soup(attrs={"translate": "no"}):
        literal.decompose()
    texts = [s for s in soup.stripped_strings]
    for tag in soup.find_all(True):
        for name in READ_ATTRIBUTES:
            value = tag.get(name)
            if isinstance(value, str) and value.strip():
                texts.append(value)
        if tag.name == "input" and tag.get("type") in ("submit", "button"):
            texts.append(str(tag.get("value") or ""))
    return texts


def english_in(
    texts: Iterable[str], data: set[str], document_words: frozenset[str] = frozenset()
) -> list[str]:
    """ASCII words, identifiers and raw period codes in the texts (with their context).

    ``data``: tokens shown as data (user names); ``document_words``: ASCII words the plan
    documents use in their own text (App in 应用程序(App、小程序))."""
    found = []
    for text in texts:
        cleaned = DATA_TOKEN.sub(" ", text)
        for token in sorted(data, key=len, reverse=True):
            if token in cleaned:
                cleaned = cleaned.replace(token, " ")
        for match in WORD.finditer(cleaned):
            word = match.group()
            if word in ALLOWED or word in document_words or word.isupper():
                continue  # acronyms in the documents' own text (AI, APP, 5G) and list letters
            found.append(f"{word!r} in {text.strip()[:80]!r}")
        for match in PERIOD_CODE.finditer(cleaned):
            found.append(f"period code {match.group()!r} in {text.strip()[:80]!r}")
        for match in ISO_DATE.finditer(cleaned):
            found.append(f"ISO date {match.group()!r} in {text.strip()[:80]!r}")
    return found


# -- the data behind the pages ------------------------------------------------------------------


@pytest.fixture
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    from werkzeug.security import generate_password_hash

    monkeypatch.setattr(
        "taskhub.accounts.models.generate_password_hash",
        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"),
    )


@pytest.fixture
def world(app: Flask, session: Any, quick_hashes: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The seeds, the living demo as of TODAY and some Baotou scores for 2022-H1."""
    from taskhub.demo.services import load_living_demo
    from taskhub.scoring import services as scoring

    for module in ("taskhub.dashboard.views", "taskhub.tracking.views", "taskhub.ledger.views"):
        monkeypatch.setattr(f"{module}.office_today", lambda: TODAY)
    load_living_demo(
        TODAY, storage=storage_for(app.config), max_bytes=app.config["MAX_UPLOAD_BYTES"]
    )
    baotou = db.session.scalars(select(Plan).where(Plan.code == "baotou-2022")).one()
    office = make_user("office", username="crawl-office")
    for name, value in (("昆都仑区人民政府", "80"), ("青山区人民政府", "90")):
        unit = unit_named(name, "baotou")
        scoring.score_component(
            baotou, unit.id, "2022-H1", "field", Decimal(value), actor=office, reason="实地调研"
        )
    db.session.commit()
    return baotou


def _sample_values(plan_code: str, unit_user: User) -> dict[str, Any]:
    """A value for each URL argument: objects the seeds and the demo have."""
    from taskhub.models import Unit, UnitGroup
    from taskhub.webhooks.models import WebhookEndpoint

    demo = db.session.scalars(select(Plan).where(Plan.code == plan_code)).one()
    assignment = db.session.scalars(
        select(Assignment)
        .join(Item)
        .where(Item.plan_id == demo.id, Assignment.unit_id == unit_user.unit_id)
        .order_by(Assignment.id)
    ).first()
    assert assignment is not None
    group = db.session.scalars(select(UnitGroup).order_by(UnitGroup.id)).first()
    endpoint = db.session.scalars(select(WebhookEndpoint)).first()
    unit = db.session.get(Unit, unit_user.unit_id)
    assert unit is not None and group is not None
    # A draft read from a pasted plan, with a section, points, a deadline and an unknown unit.
    from taskhub.documents import drafts

    draft = drafts.create(
        city=unit.city,
        actor=None,
        name="粘贴的文本",
        text="包头市2024年数字政府建设工作要点\n一、提升政务服务水平（20分）\n"
        "1.推进政务服务事项全程网办，2024年10月底前网办率达到90%以上。"
        "（牵头单位：市发改委；责任单位：各旗县区人民政府、市数据资源中心）\n",
    )
    # An escalation notice (督办单) with an answer, so the task, unit and list pages show one.
    from taskhub.supervision import services as escalations

    office = make_user("office", username="crawl-escalation-office")
    notice = escalations.issue(
        assignment,
        escalations.level_by_code(unit.city_id, "urge"),
        actor=office,
        today=TODAY,
        required_action="请于三个工作日内反馈整改方案。",
    )
    escalations.answer(notice, actor=unit_user, text="已制定整改方案。", today=TODAY)
    # A 分管领导 of the unit, so the leader's page lists tasks and its week's summary.
    from taskhub.leaders import services as leaders

    leader = leaders.create_leader(
        unit.city, {"name": "张副市长", "title": "副市长", "portfolio": "数字政府"}, actor=None
    )
    leaders.set_unit_leader(unit, leader.id, actor=None)
    # A sub-task (分解任务) with a report awaiting review, so the task shows its roll-up.
    from taskhub.supervision import subtasks

    subtask = subtasks.create(
        assignment, actor=office, text="完成数据归集", unit_id=None, department="信息化科",
        milestones=[("完成", TODAY)], target="归集率90%以上",
    )  # fmt: skip
    subtasks.submit_report(subtask, actor=unit_user, progress="已完成归集", percent=60)
    db.session.commit()
    return {
        "draft_id": draft.id,
        "code": plan_code,
        "assignment_id": assignment.id,
        "item_id": assignment.item_id,
        "unit_id": unit.id,
        "user_id": unit_user.id,
        "group_id": group.id,
        "endpoint_id": endpoint.id if endpoint else None,
        "city": unit.city.code,
        "baotou_unit_id": unit_named("昆都仑区人民政府", "baotou").id,
        "leader_id": leader.id,
        "subtask_id": subtask.id,
    }


#: Pages worth seeing with arguments (periods, plans) besides their plain address.
EXTRA = [
    "/plans/baotou-2022",
    "/plans/baotou-2022/scores?period=2022-H1",
    "/plans/baotou-2022/scores?period=2022",
    "/plans/baotou-2022/bulletin?period=2022-H1",
    "/plans/baotou-2022/dashboard",
    "/plans/hegang-2022/scores?period=2022-06",
    "/plans/hegang-2022",
    "/ledger?plan=baotou-2022",
    "/overview",
    "/dashboard",
    "/plans/baotou-2022/bulletin?period=2022-05",  # a period the plan does not score
    "/plans/baotou-2022/bulletin?period=last-half",  # not a period
]


def page_urls(app: Flask, values: dict[str, Any]) -> Iterator[str]:
    """Every GET route's address with the sample values, then EXTRA."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or ()) or rule.rule.startswith("/api/"):
            continue
        if rule.endpoint in SKIPPED or any(
            v is None for k, v in values.items() if k in rule.arguments
        ):
            continue
        if rule.rule.endswith((".xlsx", ".docx")):
            continue  # files: the exports test reads them
        missing = rule.arguments - values.keys()
        assert not missing, f"{rule.rule}: give the crawl a value for {missing}"
        args = {k: values[k] for k in rule.arguments}
        if rule.rule.startswith("/cities/<code>"):
            args["code"] = values["city"]
        with app.test_request_context():
            yield url_for(rule.endpoint, **args)
    yield from EXTRA
    # Every plan's own pages: plans without a scheme, monthly and yearly schemes.
    for code in db.session.scalars(select(Plan.code).order_by(Plan.code)):
        for endpoint in ("plans.show", "dashboard.plan", "scoring.rankings", "reports.bulletin"):
            with app.test_request_context():
                yield url_for(endpoint, code=code)
    yield f"/plans/baotou-2022/scores/{values['baotou_unit_id']}?period=2022-H1"


def crawl(
    app: Flask, username: str, values: dict[str, Any], data: set[str], words: frozenset[str]
) -> dict[str, list[str]]:
    """The English found on each page ``username`` may open (URL → findings)."""
    user = db.session.scalars(select(User).where(User.username == username)).one()
    person = Browser(app, user)
    person.get("/lang/zh")
    problems: dict[str, list[str]] = {}
    for url in page_urls(app, values):
        response = person.get(url)
        if response.status_code in (301, 302, 303) or response.mimetype != "text/html":
            continue  # not a page (a redirect, a file)
        # Refusals (400, 403, 404) are pages people read too: they are checked as well.
        found = english_in(visible_text(response.get_data(as_text=True)), data, words)
        if found:
            problems[url] = found
    return problems


def test_every_page_reads_as_chinese_for_every_role(app: Flask, world: Plan) -> None:
    from taskhub.demo.services import plan_code_for

    unit_user = make_user("unit", unit_named("东城区人民政府", "demo"), username="crawl-unit")
    make_user("admin", username="crawl-admin")
    make_user("assessor", unit_named("市政务服务和数据管理局", "demo"), "crawl-assessor")
    values = _sample_values(plan_code_for(TODAY), unit_user)
    data = {u for u in db.session.scalars(select(User.username)) if u}
    texts = db.session.scalars(select(Item.text))
    words = frozenset(w for text in texts for w in WORD.findall(text or ""))
    report: dict[str, list[str]] = {}
    for role in ("admin", "office", "unit", "assessor"):
        for url, found in crawl(app, f"crawl-{role}", values, data, words).items():
            report.setdefault(f"{role} {url}", []).extend(found)
    signed_out = app.test_client().get("/login").get_data(as_text=True)
    if found := english_in(visible_text(signed_out), data):
        report["signed out /login"] = found
    lines = [f"{page}: {'; '.join(dict.fromkeys(found))}" for page, found in sorted(report.items())]
    assert not lines, "English or raw keys on Chinese pages:\n" + "\n".join(lines)


def test_the_scanner_finds_keys_english_and_period_codes() -> None:
    texts = visible_text(
        '<h1>排名 · 2022-H1</h1><th title="third_party">x</th><p>联系 a@b.org 下载 任务.xlsx</p>'
        '<td data-label="Change">1</td><a href="/plans/baotou-2022">baotou-2022 API</a>'
    )
    found = english_in(texts, set())
    assert any("2022-H1" in f for f in found)
    assert any("third_party" in f for f in found)
    assert any("'Change'" in f for f in found)
    assert any("'x'" in f for f in found)
    assert not any("org" in f or "xlsx" in f or "baotou" in f or "API" in f for f in found)


def test_the_webhook_secret_page_reads_as_chinese(client, login_as) -> None:
    """A page only a form answers (the new secret, shown once) is checked the same way."""
    from taskhub.webhooks.models import WEBHOOK_EVENTS

    admin = login_as("admin")
    client.get("/lang/zh")
    response = client.post(
        "/admin/webhooks",
        data={"url": "https://hooks.example.org/taskhub", "events": list(WEBHOOK_EVENTS)[:1]},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<code>X-TaskHub-Signature</code>" in page  # the header, as a literal
    assert not english_in(visible_text(page), {admin.username})
