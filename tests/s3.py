"""A real S3-protocol server on 127.0.0.1 for the object-store tests: moto's standalone server
(an open-source S3 implementation from PyPI) in a process of its own, not a stub of the client.

``s3_server`` starts it once per session on a port the kernel picks; ``s3_config`` gives each
test an empty bucket of its own and the settings that point TaskHub at it; ``any_storage`` runs a
storage test on both backends (the object-store run only in the SQLite pass when it needs no
database: see ONCE).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from taskhub.core.s3storage import S3Settings, make_client
from taskhub.core.storage import LocalStorage, Storage, storage_for
from tests.test_packaging import ONCE

#: The server prints its port, then serves until its standard input closes (so it never
#: outlives the test run, even one that was killed).
_SERVE = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""
ACCESS_KEY, SECRET_KEY = "taskhub-test", "taskhub-test-secret-key"
_buckets = itertools.count(1)


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[str]
    _client: Any = None

    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.settings("unused"))
        return self._client

    def settings(self, bucket: str, prefix: str = "") -> S3Settings:
        return S3Settings(
            bucket, prefix, self.endpoint, ACCESS_KEY, SECRET_KEY, "us-east-1", "path"
        )

    def new_bucket(self, prefix: str = "evidence") -> dict[str, Any]:
        """An empty bucket; the app settings that store evidence in it, under ``prefix``."""
        bucket = f"taskhub-{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=bucket)
        return {
            "EVIDENCE_URL": f"s3://{bucket}/{prefix}",
            "S3_ENDPOINT": self.endpoint,
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
            "S3_REGION": "us-east-1",
            "S3_ADDRESSING": "path",
            "S3_DOWNLOADS": "stream",
            "S3_SIGNED_URL_SECONDS": 60,
        }

    def objects(self, config: dict[str, Any]) -> dict[str, bytes]:
        """Every object of the bucket in ``config``: key → bytes."""
        bucket = config["EVIDENCE_URL"].split("/")[2]
        client = self.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                found[item["Key"]] = body.read()
        return found


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stdin is not None
    port = process.stdout.readline().strip()
    assert port.isdigit(), f"the S3 server did not start (exit {process.poll()})"
    try:
        yield S3Server(f"http://127.0.0.1:{port}", process)
    finally:
        process.stdin.close()
        process.stdout.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def s3_config(s3_server: S3Server) -> dict[str, Any]:
    """Settings that keep evidence in a new, empty bucket of the test server."""
    return s3_server.new_bucket()


#: The two backends; the object store's run needs no database, so it runs in one pass only.
BACKENDS = ["file", pytest.param("s3", marks=ONCE)]


def make_storage(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if kind == "file":
        return LocalStorage(tmp_path / "evidence")
    server: S3Server = request.getfixturevalue("s3_server")
    return storage_for(server.new_bucket())


@pytest.fixture(params=BACKENDS)
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """The file backend, then the object store (each empty)."""
    return make_storage(request.param, request, tmp_path)
