"""App-wide behaviour: every response tells how long the app took (Server-Timing)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient


def test_every_response_carries_the_apps_time(client: FlaskClient, login_as: Any) -> None:
    login_as("office")
    for url in ("/plans", "/healthz", "/no-such-page"):
        response = client.get(url)
        timing = response.headers.get("Server-Timing", "")
        assert re.fullmatch(r"app;dur=\d+\.\d", timing), (url, timing)


def test_no_two_routes_answer_the_same_url_and_method(app):
    """A second route on the same path and method would silently take over the first one's
    requests (a plan's close once shadowed a scoring period's close)."""
    seen: dict[tuple[str, str], str] = {}
    clashes = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            other = seen.setdefault((path, method), rule.endpoint)
            if other != rule.endpoint:
                clashes.append((method, path, other, rule.endpoint))
    assert not clashes
