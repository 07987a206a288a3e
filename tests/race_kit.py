"""Races: the same change to one versioned object from several clients at the same moment.

Used by tests/test_races.py (one round of each race) and bench/races.py (many rounds). Every
client is a real thread with its own HTTP client, so each request gets its own app context,
database session and connection, as requests in gunicorn's workers do. The data they race on
is committed, in a database nobody else uses: :func:`race_app` migrates a new schema of a
PostgreSQL database (dropped afterwards) or a new SQLite file.

Each :class:`Race` prepares a fresh object (committed), lets every client read what a client
would have read (a version, an ETag), then releases them together through a barrier. A round
passes when exactly one client wins, every other one gets the answer that says "changed by
someone else" (409, or 412 for a stale If-Match, or the page's message), no answer is a 5xx,
the audit trail holds exactly one change, and the object holds the winner's change.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from taskhub import config as settings
from taskhub import create_app
from taskhub.accounts import services as accounts
from taskhub.accounts.models import User
from taskhub.accounts.tokens import create_token
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.plans.models import Item, Plan
from taskhub.plans.seeds import load_seeds
from taskhub.tracking import services as tracking
from taskhub.tracking.models import Assignment, AssignmentStatus, Milestone, MilestoneStatus
from taskhub.units import admin
from taskhub.units import services as units
from taskhub.units.models import City, Contact, Unit, UnitGroup
from taskhub.webhooks import services as webhooks
from taskhub.webhooks.models import WebhookEndpoint

PLAN = "baotou-2022"
PERIOD = "2022-H1"
PASSWORD = "correct horse battery"
API = "/api/v1"
#: How long a round may take before it counts as hung (a lock never released).
ROUND_TIMEOUT = 60.0


# -- a database of its own ----------------------------------------------------------------------


def _config(url: str, instance: Path) -> settings.TestConfig:
    config = settings.TestConfig()
    config.SQLALCHEMY_DATABASE_URI = url
    config.INSTANCE_PATH = str(instance)
    config.EVIDENCE_PATH = str(instance / "evidence")
    return config


@contextmanager
def race_app(database_url: str | None, workdir: Path) -> Iterator[Flask]:
    """A migrated app with the Baotou plan, on data nobody else touches.

    PostgreSQL (``database_url``): a new schema of that database, first on every connection's
    search_path, dropped at the end (the suite's own tables in ``public`` are never touched).
    Otherwise a new SQLite file (WAL) in ``workdir``.
    """
    schema = None
    if database_url and make_url(database_url).get_backend_name() == "postgresql":
        schema = f"races_{secrets.token_hex(4)}"
        admin = create_engine(database_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        config = _config(database_url, workdir)
        config.SQLALCHEMY_ENGINE_OPTIONS["connect_args"] = {"options": f"-csearch_path={schema}"}
    else:
        config = _config(f"sqlite:///{workdir / 'races.db'}", workdir)
    # Enough connections for every client at once; a failure answers 500 as in production
    # instead of raising in the client's thread.
    config.SQLALCHEMY_ENGINE_OPTIONS.update(pool_size=12, max_overflow=8)
    if schema is None:
        config.SQLALCHEMY_ENGINE_OPTIONS.pop("pool_size")
        config.SQLALCHEMY_ENGINE_OPTIONS.pop("max_overflow")
    app = create_app(config, WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)
    try:
        with app.app_context():
            upgrade(directory=str(settings.PROJECT_ROOT / "migrations"))
            load_seeds(settings.PROJECT_ROOT / "seeds", codes=[PLAN])
            db.session.commit()
            db.session.remove()
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


# -- who races ------------------------------------------------------------------------------------


@dataclass
class Actor:
    username: str
    user_id: int
    token: str


@dataclass
class Kit:
    """The app and the people who race in it; hands out a fresh object to each round."""

    app: Flask
    office: Actor
    admin: Actor
    #: Assignments no round has taken yet (the next is at the end).
    unused: list[int] | None = None
    #: Rounds of the component score race so far (each scores another unit or component).
    component_rounds: int = 0
    #: Page clients signed in as the office, reused from round to round.
    signed_in: list[FlaskClient] = field(default_factory=list)
    #: Names handed out so far (cities, units, groups).
    named: int = 0

    @classmethod
    def build(cls, app: Flask) -> Kit:
        with app.app_context():
            actors = []
            for role in ("office", "admin"):
                user = accounts.create_user(
                    username=f"race-{role}", password=PASSWORD, role=role, display_name=role
                )
                _, plain = create_token(user, "races", actor=user)
                actors.append(Actor(user.username, user.id, plain))
            db.session.commit()
            db.session.remove()
        return cls(app, *actors)

    def user(self, actor: Actor) -> User:
        found = db.session.get(User, actor.user_id)
        assert found is not None
        return found

    def fresh_assignment(self) -> Assignment:
        """An assignment no round has used: new, with an open milestone (listed once)."""
        if self.unused is None:
            self.unused = list(
                db.session.scalars(
                    select(Assignment.id)
                    .join(Item, Item.id == Assignment.item_id)
                    .join(Plan, Plan.id == Item.plan_id)
                    .where(
                        Plan.code == PLAN,
                        Assignment.status == AssignmentStatus.NEW.value,
                        Assignment.next_due_on.is_not(None),  # an open milestone
                    )
                    .order_by(Assignment.id.desc())
                )
            )
        found = db.session.get(Assignment, self.unused.pop())
        assert found is not None
        return found

    def audit_mark(self) -> int:
        return db.session.scalar(select(func.max(AuditEvent.id))) or 0

    def changes_since(self, mark: int, actions: tuple[str, ...]) -> list[AuditEvent]:
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.action.in_(actions))
            )
        )


# -- one answer, one round ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    json: Any


def _answer(response: Any) -> Answer:
    return Answer(
        response.status_code, response.get_data(as_text=True), response.get_json(silent=True)
    )


@dataclass
class Round:
    """A prepared race: ``send(client, n)`` is client n's request; ``check()`` reads the
    object afterwards and returns what its final state says about each winner."""

    send: Callable[[FlaskClient, int], Answer]
    #: What the clients read before the race (shown in failures).
    read: Any = None
    #: Runs once the object is committed: reads what every client then sends (ETag, version).
    after_commit: Callable[[], None] | None = None
    #: Signs a page client in before the race (None: API clients, tokens are enough).
    login: Callable[[FlaskClient], None] | None = None
    #: The object as it ended up; compared with the winner's change.
    final: Callable[[], Any] = lambda: None


@dataclass(frozen=True)
class Race:
    """One kind of change raced on one kind of object."""

    name: str
    #: The answers of the one winner and of the losers.
    won: frozenset[int]
    lost: frozenset[int]
    #: The audit actions one change writes (exactly one of them must appear).
    actions: tuple[str, ...]
    prepare: Callable[[Kit], Round]
    #: Is a loser's answer the one that says why (beyond its status)?
    says_why: Callable[[Answer], bool] = lambda a: True
    #: The value client n tries to set, if the final state must hold the winner's.
    wanted: Callable[[int], Any] | None = None


@dataclass
class Outcome:
    race: str
    answers: list[Answer]
    changes: int
    final: Any
    expected_final: Any
    hung: bool = False

    @property
    def statuses(self) -> list[int]:
        return sorted(a.status for a in self.answers)

    @property
    def server_errors(self) -> int:
        return sum(1 for a in self.answers if a.status >= 500) + (1 if self.hung else 0)

    def winners(self, race: Race) -> int:
        return sum(1 for a in self.answers if a.status in race.won)

    def lost_updates(self, race: Race) -> int:
        """Acknowledged changes the object does not keep: every winner past the first, and
        the winner's change itself when another overwrote it."""
        winners = self.winners(race)
        lost = max(0, winners - 1)
        if race.wanted is not None and winners >= 1 and self.final != self.expected_final:
            lost += 1
        return lost

    def problems(self, race: Race) -> list[str]:
        found = []
        if self.hung:
            found.append("a client did not finish in time")
        if self.server_errors:
            errors = [a.body[:300] for a in self.answers if a.status >= 500]
            found.append(f"server errors: {errors}")
        if self.winners(race) != 1:
            found.append(f"{self.winners(race)} winners")
        others = [a for a in self.answers if a.status not in race.won]
        wrong = [(a.status, a.body[:200]) for a in others if a.status not in race.lost]
        if wrong:
            found.append(f"unexpected answers: {wrong}")
        unexplained = [
            a.body[:200] for a in others if a.status in race.lost and not race.says_why(a)
        ]
        if unexplained:
            found.append(f"losers not told why: {unexplained}")
        if self.changes != 1:
            found.append(f"{self.changes} changes in the audit trail")
        if self.lost_updates(race):
            found.append(
                f"lost update: {self.final!r} kept, the winner set {self.expected_final!r}"
            )
        return found


def run_round(kit: Kit, race: Race, clients: int) -> Outcome:
    """Prepare a fresh object, then send ``clients`` requests at it at once (real threads)."""
    with kit.app.app_context():
        prepared = race.prepare(kit)
        db.session.commit()
        db.session.remove()
    if prepared.after_commit is not None:
        prepared.after_commit()
    with kit.app.app_context():
        mark = kit.audit_mark()
        db.session.remove()
    if prepared.login is not None:
        # Signed in once and kept: a sign-in hashes a password, far slower than the race.
        while len(kit.signed_in) < clients:
            kit.signed_in.append(kit.app.test_client())
            prepared.login(kit.signed_in[-1])
        http = kit.signed_in[:clients]
    else:
        http = [kit.app.test_client() for _ in range(clients)]
    answers: list[Answer | None] = [None] * clients
    barrier = threading.Barrier(clients, timeout=ROUND_TIMEOUT)

    def client(n: int) -> None:
        try:
            barrier.wait()
            answers[n] = prepared.send(http[n], n)
        except Exception as error:  # reported as the client's answer
            answers[n] = Answer(599, f"client raised {error!r}", None)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(ROUND_TIMEOUT)
    hung = any(thread.is_alive() for thread in threads)
    done = [a for a in answers if a is not None]
    with kit.app.app_context():
        changes = len(kit.changes_since(mark, race.actions))
        final = prepared.final()
        db.session.remove()
    expected = None
    if race.wanted is not None:
        winner = next((n for n, a in enumerate(answers) if a and a.status in race.won), None)
        expected = race.wanted(winner) if winner is not None else None
    return Outcome(race.name, done, changes, final, expected, hung)


# -- the races ----------------------------------------------------------------------------------


def _api(client: FlaskClient, actor: Actor, method: str, url: str, **kwargs: Any) -> Answer:
    headers = {"Authorization": f"Bearer {actor.token}", **kwargs.pop("headers", {})}
    return _answer(client.open(f"{API}{url}", method=method, headers=headers, **kwargs))


def _read(kit: Kit, actor: Actor, url: str) -> Any:
    """What a client reads before it changes something: the JSON of a GET."""
    answer = _api(kit.app.test_client(), actor, "GET", url)
    assert answer.status == 200, answer.body
    return answer.json


def _etag(kit: Kit, actor: Actor, url: str) -> str:
    response = kit.app.test_client().get(
        f"{API}{url}", headers={"Authorization": f"Bearer {actor.token}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.headers["ETag"])


def _stale(answer: Answer) -> bool:
    return isinstance(answer.json, dict) and answer.json.get("code") in (
        "stale",
        "precondition_failed",
    )


def _told(code: str) -> Callable[[Answer], bool]:
    """A loser's answer is stale, or names the state the winner left (``code``)."""
    return lambda a: _stale(a) or (isinstance(a.json, dict) and a.json.get("code") == code)


def _report(kit: Kit, *, versioned: bool = True) -> Round:
    assignment = kit.fresh_assignment()
    aid, version = assignment.id, assignment.version
    sent = {"version": version} if versioned else {}
    return Round(
        read=version,
        send=lambda c, n: _api(
            c,
            kit.office,
            "POST",
            f"/assignments/{aid}/reports",
            json={"progress": f"进展 {n}", "percent": 10 + n, **sent},
        ),
        final=lambda: db.session.get(Assignment, aid).percent,  # type: ignore[union-attr]
    )


def _acknowledge(kit: Kit) -> Round:
    assignment = kit.fresh_assignment()
    aid, version = assignment.id, assignment.version
    return Round(
        read=version,
        send=lambda c, n: _api(
            c, kit.office, "POST", f"/assignments/{aid}/acknowledge", json={"version": version}
        ),
    )


def _submitted_report(kit: Kit) -> tuple[int, int]:
    from taskhub.core.storage import storage_for

    assignment = kit.fresh_assignment()
    report = tracking.submit_report(
        assignment,
        actor=kit.user(kit.office),
        progress="待审核的进展",
        percent=50,
        storage=storage_for(kit.app.config),
        max_bytes=1024,
    )
    db.session.flush()
    return report.id, assignment.version


def _review(kit: Kit, *, versioned: bool = True) -> Round:
    report_id, version = _submitted_report(kit)
    sent = {"version": version} if versioned else {}
    return Round(
        read=version,
        send=lambda c, n: _api(
            c,
            kit.office,
            "POST",
            f"/reports/{report_id}/review",
            json={
                "decision": "return" if n % 2 else "accept",
                "reason": f"理由 {n}",
                **sent,
            },
        ),
    )


def _open_milestone(kit: Kit) -> tuple[Assignment, Milestone]:
    assignment = kit.fresh_assignment()
    milestone = next(m for m in assignment.milestones if m.status == MilestoneStatus.OPEN.value)
    return assignment, milestone


def _extension_request(kit: Kit) -> Round:
    assignment, milestone = _open_milestone(kit)
    mid, version, due = milestone.id, assignment.version, milestone.effective_due_on
    return Round(
        read=version,
        send=lambda c, n: _api(
            c,
            kit.office,
            "POST",
            f"/milestones/{mid}/extensions",
            json={
                "reason": f"原因 {n}",
                "requested_due_on": (due + timedelta(days=10 + n)).isoformat(),
                "version": version,
            },
        ),
    )


def _extension_decision(kit: Kit) -> Round:
    _, milestone = _open_milestone(kit)
    ext = tracking.request_extension(
        milestone,
        actor=kit.user(kit.office),
        reason="需要延期",
        requested_due_on=milestone.effective_due_on + timedelta(days=20),
    )
    db.session.flush()
    ext_id = ext.id
    return Round(
        read=ext_id,
        send=lambda c, n: _api(
            c,
            kit.office,
            "POST",
            f"/extensions/{ext_id}/decision",
            json={"decision": "reject" if n % 2 else "approve", "reason": f"决定 {n}"},
        ),
    )


def _a_unit(kit: Kit) -> Unit:
    plan = db.session.scalars(select(Plan).where(Plan.code == PLAN)).one()
    return db.session.scalars(
        select(Unit).where(Unit.city_id == plan.city_id).order_by(Unit.id)
    ).first()  # type: ignore[return-value]


def _contact(kit: Kit, *, delete: bool = False) -> Round:
    contact = units.add_contact(
        _a_unit(kit),
        {"name": "联系人", "position": "科员", "mobile": "13800000001"},
        actor=kit.user(kit.office),
    )
    db.session.flush()
    cid = contact.id
    read: dict[str, str] = {}

    def after_commit() -> None:
        read["etag"] = _etag(kit, kit.office, f"/contacts/{cid}")

    def send(c: FlaskClient, n: int) -> Answer:
        headers = {"If-Match": read["etag"]}
        if delete:
            return _api(c, kit.office, "DELETE", f"/contacts/{cid}", headers=headers)
        body = {"position": f"职务 {n}"}
        return _api(c, kit.office, "PATCH", f"/contacts/{cid}", json=body, headers=headers)

    def final() -> Any:
        found = db.session.get(Contact, cid)
        return found.position if found is not None else None

    return Round(read=read, after_commit=after_commit, send=send, final=final)


def _webhook(kit: Kit) -> Round:
    endpoint, _ = webhooks.create_endpoint(
        url="https://93.184.216.34/taskhub-race",
        events=["report.submitted"],
        description="起始",
        actor=kit.user(kit.admin),
    )
    db.session.flush()
    wid = endpoint.id
    read: dict[str, str] = {}

    def after_commit() -> None:
        read["etag"] = _etag(kit, kit.admin, f"/webhooks/{wid}")

    return Round(
        read=read,
        after_commit=after_commit,
        send=lambda c, n: _api(
            c,
            kit.admin,
            "PATCH",
            f"/webhooks/{wid}",
            json={"description": f"说明 {n}"},
            headers={"If-Match": read["etag"]},
        ),
        final=lambda: db.session.get(WebhookEndpoint, wid).description,  # type: ignore[union-attr]
    )


def _versioned_put(
    kit: Kit, url: str, listed: str, body: Callable[[int], dict[str, Any]], *, first: bool = True
) -> Round:
    """A score set once (``first``: else none yet, version 0), then raced: every client sends
    the version it read."""
    read: dict[str, int] = {"version": 0}

    def after_commit() -> None:
        if first:
            answer = _api(kit.app.test_client(), kit.office, "PUT", url, json=body(-1))
            assert answer.status == 200, answer.body
            read["version"] = _read(kit, kit.office, listed)[0]["version"]

    return Round(
        read=read,
        after_commit=after_commit,
        send=lambda c, n: _api(
            c, kit.office, "PUT", url, json={**body(n), "version": read["version"]}
        ),
    )


def _item_score(kit: Kit, *, first: bool = True) -> Round:
    aid = kit.fresh_assignment().id
    return _versioned_put(
        kit,
        f"/plans/{PLAN}/scores/items",
        f"/plans/{PLAN}/scores/items?period={PERIOD}&assignment={aid}",
        lambda n: {"period": PERIOD, "assignment_id": aid, "value": "0.5", "reason": f"评分 {n}"},
        first=first,
    )


def _component_score(kit: Kit) -> Round:
    kit.component_rounds += 1
    rounds = kit.component_rounds
    unit_ids = _scored_units(kit)
    unit_id = unit_ids[rounds % len(unit_ids)]
    component = ("field", "survey", "third_party")[(rounds // len(unit_ids)) % 3]
    return _versioned_put(
        kit,
        f"/plans/{PLAN}/scores/components",
        f"/plans/{PLAN}/scores/components?period={PERIOD}&unit={unit_id}&component={component}",
        lambda n: {
            "period": PERIOD,
            "unit_id": unit_id,
            "component": component,
            "value": str(50 + n),
            "reason": f"核查 {rounds}-{n}",
        },
    )


def _scored_units(kit: Kit) -> list[int]:
    from taskhub.scoring.services import scored_units

    plan = db.session.scalars(select(Plan).where(Plan.code == PLAN)).one()
    return sorted(scored_units(plan))


def _close_period(kit: Kit) -> Round:
    read: dict[str, int] = {}

    def after_commit() -> None:
        period = _read(kit, kit.office, f"/plans/{PLAN}/periods/{PERIOD}")
        read["revision"] = max(period.get("revisions") or [], default=0)

    return Round(
        read=read,
        after_commit=after_commit,
        send=lambda c, n: _api(
            c,
            kit.office,
            "POST",
            f"/plans/{PLAN}/periods/{PERIOD}/close",
            json={"revision": read["revision"], "reason": f"更正 {n}"},
        ),
    )


def _unique(kit: Kit) -> str:
    """A name no round used before (cities, units and groups need unique names)."""
    kit.named += 1
    return f"{kit.named}-{secrets.token_hex(3)}"


def _baotou() -> City:
    plan = db.session.scalars(select(Plan).where(Plan.code == PLAN)).one()
    city = db.session.get(City, plan.city_id)
    assert city is not None
    return city


def _if_match_patch(
    kit: Kit, url: str, body: Callable[[int], dict[str, Any]], *, method: str = "PATCH"
) -> tuple[dict[str, str], Callable[[], None], Callable[[FlaskClient, int], Answer]]:
    """Every client sends the ETag read once the object was committed (If-Match)."""
    read: dict[str, str] = {}

    def after_commit() -> None:
        read["etag"] = _etag(kit, kit.office, url)

    def send(c: FlaskClient, n: int) -> Answer:
        headers = {"If-Match": read["etag"]}
        return _api(c, kit.office, method, url, json=body(n), headers=headers)

    return read, after_commit, send


def _city(kit: Kit) -> Round:
    code = f"race-{_unique(kit)}"
    admin.create_city({"code": code, "name": f"竞争市 {code}"}, actor=kit.user(kit.office))
    read, after_commit, send = _if_match_patch(
        kit, f"/cities/{code}", lambda n: {"province": f"省 {n}"}
    )
    return Round(
        read=read,
        after_commit=after_commit,
        send=send,
        final=lambda: db.session.scalars(select(City).where(City.code == code)).one().province,
    )


def _unit(kit: Kit) -> Round:
    name = f"竞争单位 {_unique(kit)}"
    uid = admin.create_unit(
        _baotou(), {"name": name, "kind": "department"}, actor=kit.user(kit.office)
    ).id
    read, after_commit, send = _if_match_patch(
        kit, f"/units/{uid}", lambda n: {"name": f"{name} 改 {n}"}
    )
    return Round(
        read=read,
        after_commit=after_commit,
        send=send,
        final=lambda: db.session.get(Unit, uid).name,  # type: ignore[union-attr]
    )


def _group(kit: Kit, *, members: bool = False) -> Round:
    """A list group of two units; the clients rename it, or (``members``) each replaces its
    members with two other units: the same size, so only the member list itself changes."""
    city = _baotou()
    unit_ids = list(
        db.session.scalars(
            select(Unit.id)
            .where(Unit.city_id == city.id, Unit.retired_on.is_(None))
            .order_by(Unit.id)
            .limit(40)
        )
    )
    group = units.create_group(
        city, f"竞争分组 {_unique(kit)}", members=unit_ids[:2], actor=kit.user(kit.office)
    )
    db.session.flush()
    gid = group.id

    # Client n's members: two units no other client picks (up to 18 clients).
    def picked(n: int) -> list[int]:
        return sorted(unit_ids[2 + 2 * n : 4 + 2 * n])

    if not members:
        read, after_commit, send = _if_match_patch(
            kit, f"/groups/{gid}", lambda n: {"source": f"来源 {n}"}
        )
        return Round(
            read=read,
            after_commit=after_commit,
            send=send,
            final=lambda: db.session.get(UnitGroup, gid).source,  # type: ignore[union-attr]
        )
    # The ETag read is the group's (GET /groups/ID); the PUT of its members checks it.
    read, after_commit, _ = _if_match_patch(kit, f"/groups/{gid}", lambda n: {})

    def put_members(c: FlaskClient, n: int) -> Answer:
        headers = {"If-Match": read["etag"]}
        url = f"/groups/{gid}/members"
        return _api(c, kit.office, "PUT", url, json={"members": picked(n)}, headers=headers)

    return Round(
        read=read,
        after_commit=after_commit,
        send=put_members,
        final=lambda: sorted(db.session.scalars(units.member_ids_of(gid))),
    )


#: A small plan document pasted into a draft (the units are Baotou's).
_DRAFT_TEXT = (
    "包头市数字政府建设2024年工作要点\n"
    "一、政务服务\n"
    "1. 推进政务服务事项标准化，2024年6月底前完成。（牵头单位：市审批服务局）\n"
    "2. 建设城市数据底座，年底前完成。（牵头单位：市公安局）\n"
)


def _draft(kit: Kit) -> int:
    from taskhub.documents import drafts

    draft = drafts.create(
        city=_baotou(), actor=kit.user(kit.office), name="", text=_DRAFT_TEXT, year=2024
    )
    db.session.flush()
    return draft.id


def _draft_title(draft_id: int) -> Any:
    from taskhub.documents.models import PlanDraft

    found = db.session.get(PlanDraft, draft_id)
    return found.data.get("title") if found is not None else None


def _plan_draft(kit: Kit) -> Round:
    draft_id = _draft(kit)
    read, after_commit, send = _if_match_patch(
        kit, f"/plan-drafts/{draft_id}", lambda n: {"head": {"title": f"{_DRAFT_TITLE} {n}"}}
    )
    return Round(
        read=read, after_commit=after_commit, send=send, final=lambda: _draft_title(draft_id)
    )


_DRAFT_TITLE = "竞争的标题"


def _office_login(kit: Kit) -> Callable[[FlaskClient], None]:
    def login(client: FlaskClient) -> None:
        response = client.post(
            "/login", data={"username": kit.office.username, "password": PASSWORD}
        )
        assert response.status_code == 302, response.status_code

    return login


def _plan_draft_page(kit: Kit) -> Round:
    from taskhub.documents.models import PlanDraft

    draft_id = _draft(kit)
    version = db.session.get(PlanDraft, draft_id).version  # type: ignore[union-attr]
    return Round(
        read=version,
        login=_office_login(kit),
        send=lambda c, n: _answer(
            c.post(
                f"/plan-drafts/{draft_id}",
                data={"version": str(version), "head-title": f"{_DRAFT_TITLE} {n}"},
            )
        ),
        final=lambda: _draft_title(draft_id),
    )


def _draft_page_says_why(answer: Answer) -> bool:
    return "他人修改了这份草稿" in answer.body


def _plan_draft_confirm(kit: Kit) -> Round:
    draft_id = _draft(kit)
    code = f"race-draft-{_unique(kit)}"
    from taskhub.documents import drafts
    from taskhub.documents.models import PlanDraft

    draft = db.session.get(PlanDraft, draft_id)
    assert draft is not None
    drafts.update(
        draft, {"head": {"code": code}}, actor=kit.user(kit.office), version=draft.version
    )
    return Round(
        read=draft_id,
        send=lambda c, n: _api(c, kit.office, "POST", f"/plan-drafts/{draft_id}/confirm", json={}),
        final=lambda: db.session.scalar(select(func.count()).where(Plan.code == code)),
    )


def _doc_number(kit: Kit) -> Round:
    """The period's 文号, each client its own, all sent with the ETag read before."""
    tag = _unique(kit)
    url = f"/plans/{PLAN}/periods/{PERIOD}"
    read, after_commit, send = _if_match_patch(
        kit, url, lambda n: {"doc_number": f"包府发〔{tag}〕{n}号"}
    )
    return Round(read=read, after_commit=after_commit, send=send)


_CHANGED_BY_OTHERS = "已被他人修改"
#: What a page client types as its progress (with its number); the page keeps it on a refusal.
_TYPED = "页面填写的进展"


def _page_report(kit: Kit) -> Round:
    assignment = kit.fresh_assignment()
    aid, version = assignment.id, assignment.version

    def login(client: FlaskClient) -> None:
        response = client.post(
            "/login", data={"username": kit.office.username, "password": PASSWORD}
        )
        assert response.status_code == 302, response.status_code

    return Round(
        read=version,
        login=login,
        send=lambda c, n: _answer(
            c.post(
                f"/assignments/{aid}/reports",
                data={
                    "progress": f"{_TYPED} {n}",
                    "percent": str(10 + n),
                    "version": version,
                },
            )
        ),
        final=lambda: db.session.get(Assignment, aid).percent,  # type: ignore[union-attr]
    )


def _page_says_why(answer: Answer) -> bool:
    """The page names the conflict and still holds what this client typed."""
    return _CHANGED_BY_OTHERS in answer.body and re.search(_TYPED + r" \d", answer.body) is not None


STALE = frozenset({409})
RACES = (
    Race(
        "report",
        frozenset({201}),
        STALE,
        ("report.submitted",),
        _report,
        _stale,
        wanted=lambda n: 10 + n,
    ),
    # Without a version a loser learns a report is already awaiting review.
    Race(
        "report, no version",
        frozenset({201}),
        frozenset({422}),
        ("report.submitted",),
        lambda kit: _report(kit, versioned=False),
        _told("pending"),
    ),
    Race(
        "acknowledge", frozenset({200}), STALE, ("assignment.acknowledged",), _acknowledge, _stale
    ),
    Race(
        "review", frozenset({200}), STALE, ("report.accepted", "report.returned"), _review, _stale
    ),
    Race(
        "review, no version",
        frozenset({200}),
        frozenset({422}),
        ("report.accepted", "report.returned"),
        lambda kit: _review(kit, versioned=False),
        _told("already_reviewed"),
    ),
    Race(
        "extension request",
        frozenset({201}),
        # Asking changes no version: a loser learns a request is already pending.
        frozenset({409, 422}),
        ("extension.requested",),
        _extension_request,
        _told("extension_pending"),
    ),
    # The decision carries no version: a loser learns the request was already decided.
    Race(
        "extension decision",
        frozenset({200}),
        frozenset({409, 422}),
        ("extension.approved", "extension.rejected"),
        _extension_decision,
        _told("already_decided"),
    ),
    Race(
        "contact",
        frozenset({200}),
        frozenset({412}),
        ("contact.updated",),
        _contact,
        _stale,
        wanted=lambda n: f"职务 {n}",
    ),
    # A loser of a delete finds the contact changed (412) or already gone (404).
    Race(
        "contact delete",
        frozenset({204}),
        frozenset({404, 412}),
        ("contact.deleted",),
        lambda kit: _contact(kit, delete=True),
        lambda a: a.status == 404 or _stale(a),
    ),
    Race(
        "webhook",
        frozenset({200}),
        frozenset({412}),
        ("webhook.updated",),
        _webhook,
        _stale,
        wanted=lambda n: f"说明 {n}",
    ),
    Race("item score", frozenset({200}), STALE, ("score.item_set",), _item_score, _stale),
    # None entered yet: the clients insert the same new row.
    Race(
        "item score, first entry",
        frozenset({200}),
        STALE,
        ("score.item_set",),
        lambda kit: _item_score(kit, first=False),
        _stale,
    ),
    Race(
        "component score",
        frozenset({200}),
        STALE,
        ("score.component_set",),
        _component_score,
        _stale,
    ),
    Race(
        "period close",
        frozenset({201}),
        STALE,
        ("period.closed", "period.revised"),
        _close_period,
        _stale,
    ),
    Race(
        "report page",
        frozenset({302}),
        frozenset({200}),
        ("report.submitted",),
        _page_report,
        _page_says_why,
        wanted=lambda n: 10 + n,
    ),
    Race(
        "city",
        frozenset({200}),
        frozenset({412}),
        ("city.updated",),
        _city,
        _stale,
        wanted=lambda n: f"省 {n}",
    ),
    Race("unit", frozenset({200}), frozenset({412}), ("unit.updated",), _unit, _stale),
    Race(
        "group",
        frozenset({200}),
        frozenset({412}),
        ("group.updated",),
        _group,
        _stale,
        wanted=lambda n: f"来源 {n}",
    ),
    # Every client's list has the group's size: only the member list tells the ETags apart.
    Race(
        "group members",
        frozenset({200}),
        frozenset({412}),
        ("group.updated",),
        lambda kit: _group(kit, members=True),
        _stale,
    ),
    Race(
        "plan draft",
        frozenset({200}),
        frozenset({412}),
        ("plan_draft.updated",),
        _plan_draft,
        _stale,
        wanted=lambda n: f"{_DRAFT_TITLE} {n}",
    ),
    Race(
        "plan draft page",
        frozenset({302}),
        frozenset({409}),
        ("plan_draft.updated",),
        _plan_draft_page,
        _draft_page_says_why,
        wanted=lambda n: f"{_DRAFT_TITLE} {n}",
    ),
    # 412 for a stale If-Match; 409 when the period's row was created by the same requests
    # at the same moment (its first use: one insert wins, the others collide).
    Race(
        "period doc number",
        frozenset({200}),
        frozenset({409, 412}),
        ("period.doc_number",),
        _doc_number,
        _stale,
    ),
    # The draft becomes one plan; a loser learns it was already confirmed.
    Race(
        "plan draft confirm",
        frozenset({201}),
        frozenset({409}),
        ("plan_draft.confirmed",),
        _plan_draft_confirm,
        _told("closed"),
    ),
)
