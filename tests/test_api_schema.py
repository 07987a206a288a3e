"""Property test of the whole JSON API against its own OpenAPI document (schemathesis).

What ``schemathesis run --checks all`` does, in-process (WSGI) and bounded: the operations come
from /api/v1/openapi.json, so endpoints added later are covered without touching this file.
With an admin's token every operation goes through the document's examples, the coverage cases
(boundaries, missing required headers, unsupported methods) and generated valid and invalid
input; with a unit's token through generated valid input. Every check applies: no server
error; only statuses, content types, headers and bodies the document declares; valid input
accepted and invalid input refused; a 405 with its Allow header; auth enforced. CONFIG says
where TaskHub's answers differ from the checks' defaults, and why.

The document and the answers do not depend on the database, so the full run happens on SQLite
only; on PostgreSQL generated input checks for server errors alone (what PostgreSQL refuses
differs: NUL characters, integers past 32 bits).

Everything it writes happens inside the rolled-back ``session`` fixture; evidence files and
Hypothesis's caches go to a temporary directory, it keeps no example database and it fetches
nothing. About two minutes on SQLite, under one on PostgreSQL.

(schemathesis's own pytest loader, ``from_fixture``, does not run on pytest 9.2: it sets
``Function._nodeid``, which pytest no longer has. Each operation is therefore built into a
Hypothesis test with schemathesis's own builder here, which also lets one run report every
failing operation at once.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS as ALL_CHECKS
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)

from taskhub.accounts.tokens import create_token
from taskhub.core.db import db
from tests.conftest import make_user, unit_named

#: Generated examples an operation (fuzzing phase), for each token. The coverage phase adds
#: its own explicit cases (boundaries, missing headers, unsupported methods) on top.
MAX_EXAMPLES = 5

#: Every check schemathesis has (``--checks all``); most register when first loaded.
load_all_checks()
CHECKS = ALL_CHECKS.get_all()
assert len(CHECKS) >= 14, [check.__name__ for check in CHECKS]

#: The phases of ``schemathesis run`` that fit one request at a time: the document's examples,
#: the coverage cases and generated input. (Its stateful phase chains operations through links,
#: which the document does not declare.)
ALL_PHASES = [HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING]
FUZZING = [HypothesisTestMode.FUZZING]

#: Where TaskHub's answers differ from schemathesis's defaults, and why; nothing is switched off.
CONFIG = """
[generation]
# List filters ignore query parameters they do not know (a client's cache-buster, a filter of a
# newer version), as documented: an unknown parameter is not invalid input.
allow-extra-parameters = false

[checks.positive_data_acceptance]
# + 412: a well-formed If-Match that is not the object's current ETag is refused because of the
# stored state (as 409 is), which no schema can describe.
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]

[checks.missing_required_header]
# + 428 Precondition Required: the answer RFC 6585 gives a change sent without If-Match.
expected-statuses = ["400", "401", "403", "406", "415", "422", "428"]

# + 422 where a rule depends on what is stored or configured, which no schema can say:
# a robot address or webhook endpoint depends on TASKHUB_WEBHOOK_ALLOW (and DNS); a changed
# contact must stay reachable with its stored fields; an extension must move the stored due
# date later; an assignment takes one report awaiting review at a time, a report one review
# (alone or in a bulk acceptance); a score must stay within its item's points for a unit
# assigned to that item. And a rejected extension needs a reason: a rule across two fields that
# the document states in words.
[[operations]]
include-name = [
    # A cadence's day must fit its kind (1-31 monthly, 0-6 weekly; inherit only for a section),
    # and 报送率 is read at most a year ahead: rules across fields, and on today's date.
    "PATCH /api/v1/plans/{code}/cadence",
    "GET /api/v1/plans/{code}/reporting-rates",
    "POST /api/v1/units/{unit_id}/contacts",
    "PATCH /api/v1/contacts/{contact_id}",
    "POST /api/v1/webhooks/",
    "PATCH /api/v1/webhooks/{webhook_id}",
    "POST /api/v1/milestones/{milestone_id}/extensions",
    "POST /api/v1/extensions/{extension_id}/decision",
    "POST /api/v1/assignments/{assignment_id}/reports",
    "POST /api/v1/reports/{report_id}/review",
    "POST /api/v1/reviews/bulk",
    "PUT /api/v1/plans/{code}/scores/items",
    "PUT /api/v1/plans/{code}/scores/components",
    # A group's city, name (unique among the city's names) and members (units of its city).
    "POST /api/v1/groups/",
    "PATCH /api/v1/groups/{group_id}",
    "PUT /api/v1/groups/{group_id}/members",
    # A plan draft's city must exist and its file be readable as a document (by content); a
    # correction names items and sections the stored draft has; confirming runs the plan
    # importer on the stored draft (unknown unit names, budgets).
    "POST /api/v1/plan-drafts/",
    "PATCH /api/v1/plan-drafts/{draft_id}",
    "POST /api/v1/plan-drafts/{draft_id}/confirm",
    # An escalation level is one of the stored ladder of the task's city, issued once on a task
    # that is not completed; a notice is answered while issued, closed or withdrawn (with a
    # note) while not yet ended.
    "POST /api/v1/escalations/",
    "POST /api/v1/escalations/{escalation_id}/answer",
    "POST /api/v1/escalations/{escalation_id}/close",
    "PATCH /api/v1/cities/{city_id}/escalation-levels/{code}",
    # A leader must be one of the unit's (or item's) city: stored data decides.
    "PUT /api/v1/units/{unit_id}/leader",
    # A leader's name is unique in the city, and the linked account must exist.
    "POST /api/v1/cities/{city_id}/leaders",
    "PATCH /api/v1/cities/{city_id}/leaders/{leader_id}",
    "PUT /api/v1/items/{item_id}/leader",  # a name of spaces only
    # A task is sent back once at a time and not when completed; a decision is taken once, a
    # hand-over names a unit of the task's city that does not have it, a rejection a note.
    "POST /api/v1/assignments/{assignment_id}/handover-requests",
    "POST /api/v1/handover-requests/{request_id}/decide",
    # Only a completed (销号) task is reopened, with a reason that is not only spaces.
    "POST /api/v1/assignments/{assignment_id}/reopen",
    # A sub-task names a unit of the task's city or a department of the task's own unit, on a
    # task not completed; its report waits while another awaits review; a review decides once
    # (a return with a reason); a sub-task is closed once, with a reason that is not only
    # spaces; a co-handling part needs the task's reporting round open.
    "POST /api/v1/assignments/{assignment_id}/subtasks",
    "POST /api/v1/subtasks/{subtask_id}/reports",
    "POST /api/v1/subtask-reports/{report_id}/review",
    "POST /api/v1/subtasks/{subtask_id}/close",
    "POST /api/v1/assignments/{assignment_id}/co-reports",
    # A leader's instruction names an active leader of the item's city and a report of the
    # item, its day not ahead of today and before its answer date; it is answered once.
    "POST /api/v1/items/{item_id}/instructions",
    "POST /api/v1/instruction-targets/{target_id}/answer",
]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "401", "403", "404", "409", "412", "422", "429",
]

# + 400: a list's keyset cursor is valid only as the server signed it for the same filters and
# sort (its secret key decides), which no pattern can say.
[[operations]]
include-name = ["GET /api/v1/assignments/"]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "412", "429",
]
"""

BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # keep no example database
    derandomize=True,  # the same examples for the same code: a CI failure replays locally
    phases=[Phase.explicit, Phase.generate],  # report the example found, don't shrink it
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api_schema(
    request: pytest.FixtureRequest,
    app: Flask,
    session: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The API's own OpenAPI document, loaded from the app; requests go to the app in-process."""
    monkeypatch.setitem(app.config, "EVIDENCE_PATH", str(tmp_path / "evidence"))
    # Hypothesis caches what it learns (constants of our code, Unicode tables) under its home.
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    request.addfinalizer(lambda: set_hypothesis_home_dir(None))
    # A crash answers 500 as in production (and schemathesis reports the request that caused
    # it) instead of reaching the test as the app's exception.
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    config = SchemathesisConfig.from_str(CONFIG)
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


def _token(role: str) -> str:
    unit = unit_named("昆都仑区人民政府", "baotou") if role == "unit" else None
    user = make_user(role, unit, username=f"schemathesis-{role}")
    _, token = create_token(user, "schemathesis", actor=user)
    db.session.commit()
    return token


def _failures(
    api_schema: Any,
    headers: dict[str, str],
    modes: list[str],
    phases: list[HypothesisTestMode],
    checks: list[Any],
) -> list[str]:
    """Run every operation through ``phases`` with input of ``modes`` (positive, negative);
    what went wrong, by operation."""
    failures = []
    failing: list[schemathesis.Case] = []  # the example that failed, to show its request
    operations = list(api_schema.get_all_operations())
    assert len(operations) > 10, "the document lists the API's operations"
    api_schema.config.generation.update(modes=[GenerationMode(m) for m in modes])
    config = HypothesisTestConfig(project=api_schema.config, modes=phases, settings=BOUNDED)
    for result in operations:
        if not isinstance(result, Ok):
            failures.append(f"invalid OpenAPI definition: {result.err()}")
            continue
        operation = result.ok()
        failing.clear()

        def call(case: schemathesis.Case) -> None:
            try:
                # The token as the run's own headers (``schemathesis run -H``): the checks
                # then know it is the real one, and probe without it and with a wrong one.
                case.call_and_validate(headers=headers, checks=checks)
            except BaseException:
                # Requests share the test's session, which a crash leaves as it was: on
                # PostgreSQL a failed statement would abort every later request's
                # transaction and hide the first error behind it.
                db.session.rollback()
                failing.append(case)
                raise

        try:
            create_test(operation=operation, test_func=call, config=config)()
        except Unsatisfiable:
            continue  # nothing about this operation's input can be made invalid
        except (Exception, BaseExceptionGroup) as error:  # schemathesis's FailureGroup
            request = failing[-1].as_curl_command() if failing else "?"
            failures.append(f"{operation.label}: {request}\n{error}"[:3000])
    return failures


@pytest.mark.parametrize(
    ("role", "modes", "phases"),
    [
        ("admin", ["positive", "negative"], ALL_PHASES),
        # Invalid input is refused the same whoever sends it; a unit's token is about what it
        # may see and change, so it gets generated valid input only (and the run stays short).
        ("unit", ["positive"], FUZZING),
    ],
    ids=["admin", "unit"],
)
def test_the_api_keeps_to_its_openapi_document(
    api_schema: Any, role: str, modes: list[str], phases: list[HypothesisTestMode]
) -> None:
    checks = CHECKS
    if db.engine.dialect.name == "postgresql":
        if role != "admin":
            pytest.skip("run on SQLite: the document does not depend on the database")
        checks, phases = [not_a_server_error], FUZZING
    token = {"Authorization": f"Bearer {_token(role)}"}
    failures = _failures(api_schema, token, modes, phases, checks)
    assert not failures, "\n\n".join(failures)


# --- what the review found, one by one -------------------------------------------------------


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    return dict(client.get("/api/v1/openapi.json").json)


def test_x_pagination_is_documented_as_the_json_text_it_is(
    api_as: Any, document: dict[str, Any]
) -> None:
    header = document["paths"]["/api/v1/units/"]["get"]["responses"]["200"]["headers"]
    assert header["X-Pagination"]["schema"]["type"] == "string"
    sent = api_as("office").get("/api/v1/units/?page_size=2").headers["X-Pagination"]
    assert json.loads(sent)["page"] == 1 and json.loads(sent)["total"] > 2


def test_a_405_says_which_methods_the_resource_has(api_as: Any) -> None:
    answer = api_as("office").put("/api/v1/units/", json={})
    assert answer.status_code == 405
    assert answer.json["code"] == "method_not_allowed"
    assert {m.strip() for m in answer.headers["Allow"].split(",")} >= {"GET"}


def test_if_match_and_its_answers_are_declared_where_it_is_required(
    api_as: Any, document: dict[str, Any]
) -> None:
    needing = [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method != "parameters"
        and {"$ref": "#/components/parameters/IF_MATCH"} in operation.get("parameters", [])
    ]
    assert len(needing) >= 4  # contacts and webhooks: PATCH and DELETE
    for path, method, operation in needing:
        assert {"412", "428"} <= set(operation["responses"]), (method, path)
    if_match = document["components"]["parameters"]["IF_MATCH"]
    assert if_match["required"] is True and if_match["schema"]["pattern"]

    api = api_as("office")
    unit = unit_named("昆都仑区人民政府", "baotou")
    contact = api.post(f"/api/v1/units/{unit.id}/contacts", json={"name": "王芳", "mobile": "110"})
    url = f"/api/v1/contacts/{contact.json['id']}"
    assert api.patch(url, json={"name": "王芳芳"}).status_code == 428
    assert api.patch(url, json={"name": "王"}, headers={"If-Match": '"x"'}).status_code == 412
    etag = api.get(url).headers["ETag"]
    assert re.fullmatch(if_match["schema"]["pattern"], etag)
    assert api.patch(url, json={"name": "王"}, headers={"If-Match": etag}).status_code == 200


def test_a_malformed_period_code_is_a_declared_422(api_as: Any, document: dict[str, Any]) -> None:
    paths = [p for p in document["paths"] if "{period}" in p]
    assert len(paths) >= 6
    for path in paths:
        item = document["paths"][path]
        [period] = [p for p in item["parameters"] if p["name"] == "period"]
        assert not re.fullmatch(period["schema"]["pattern"], "2022-13")
        assert re.fullmatch(period["schema"]["pattern"], "2022-H1")
        for method in set(item) - {"parameters"}:
            assert "422" in item[method]["responses"], (method, path)
    answer = api_as("office").get("/api/v1/plans/baotou-2022/periods/2022-13")
    assert answer.status_code == 422 and answer.json["code"] == "validation_failed"
