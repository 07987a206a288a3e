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
