"""Property test of the whole JSON API against its own OpenAPI document (schemathesis).

The operations come from /api/v1/openapi.json, so endpoints added later are covered without
touching this file. Each runs in-process (WSGI) with an admin's token and with a unit's token,
on valid and on invalid input, and must never answer with a server error, nor with a status,
content type, header or body its document does not declare.

Everything it writes happens inside the rolled-back ``session`` fixture; evidence files and
Hypothesis's caches go to a temporary directory, and it keeps no example database. A few examples an
operation keep it well under two minutes on SQLite and on PostgreSQL.

(schemathesis's own pytest loader, ``from_fixture``, does not run on pytest 9.2: it sets
``Function._nodeid``, which pytest no longer has. Each operation's strategy is therefore run
with Hypothesis here, which also lets one run report every failing operation at once.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from taskhub.accounts.tokens import create_token
from taskhub.core.db import db
from tests.conftest import make_user, unit_named

#: Examples an operation, for each token and for valid and invalid input.
MAX_EXAMPLES = 5

#: Not response_headers_conformance: flask-smorest documents the X-Pagination header as an
#: object schema while it carries JSON text, so every paged list would "fail" it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

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
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def _token(role: str) -> str:
    unit = unit_named("昆都仑区人民政府", "baotou") if role == "unit" else None
    user = make_user(role, unit, username=f"schemathesis-{role}")
    _, token = create_token(user, "schemathesis", actor=user)
    db.session.commit()
    return token


def _failures(
    api_schema: Any, headers: dict[str, str], modes: list[schemathesis.GenerationMode]
) -> list[str]:
    """Run every operation on generated input of ``modes``; what went wrong, by operation."""
    failures = []
    failing: list[schemathesis.Case] = []  # the example that failed, to show its request
    operations = list(api_schema.get_all_operations())
    assert len(operations) > 10, "the document lists the API's operations"
    for result in operations:
        if not isinstance(result, Ok):
            failures.append(f"invalid OpenAPI definition: {result.err()}")
            continue
        operation = result.ok()
        for mode in modes:
            strategy = operation.as_strategy(generation_mode=mode, headers=headers)
            failing.clear()

            @BOUNDED
            @given(case=strategy)
            def call(case: schemathesis.Case) -> None:
                try:
                    case.call_and_validate(checks=CHECKS)
                except BaseException:
                    # Requests share the test's session, which a crash leaves as it was: on
                    # PostgreSQL a failed statement would abort every later request's
                    # transaction and hide the first error behind it.
                    db.session.rollback()
                    failing.append(case)
                    raise

            try:
                call()
            except Unsatisfiable:
                continue  # nothing about this operation's input can be made invalid
            except (Exception, BaseExceptionGroup) as error:  # schemathesis's FailureGroup
                request = failing[-1].as_curl_command() if failing else "?"
                failures.append(
                    f"{operation.label} ({mode.value} input): {request}\n{error}"[:3000]
                )
    return failures


VALID = schemathesis.GenerationMode.POSITIVE
INVALID = schemathesis.GenerationMode.NEGATIVE


@pytest.mark.parametrize(
    ("role", "modes"),
    [
        ("admin", [VALID, INVALID]),
        # Invalid input is refused the same whoever sends it; a unit's token is about what it
        # may see and change, so it gets valid input only (and the run stays short).
        ("unit", [VALID]),
    ],
    ids=["admin", "unit"],
)
def test_the_api_keeps_to_its_openapi_document(
    api_schema: Any, role: str, modes: list[schemathesis.GenerationMode]
) -> None:
    failures = _failures(api_schema, {"Authorization": f"Bearer {_token(role)}"}, modes)
    assert not failures, "\n\n".join(failures)
