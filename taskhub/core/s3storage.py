"""Evidence in an S3-compatible object store: MinIO, the government clouds' object services,
AWS S3. Chosen by ``TASKHUB_EVIDENCE_URL=s3://bucket/prefix`` (see docs/deployment.md,
"Evidence in an object store").

boto3 is an optional dependency (``pip install 'taskhub[s3]'``), imported only when an object
store is configured. Objects are laid out as below a local folder (``prefix/ab/cd/<sha256>``)
and written with one PUT, which S3 publishes atomically: no half-written object is ever
visible, so there are no partial files to collect.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO, cast
from urllib.parse import quote, urlsplit

from taskhub.core.storage import (
    StorageFull,
    StorageUnavailable,
    Stored,
    blob_key,
    check_sha256,
    is_blob_key,
)

logger = logging.getLogger(__name__)

#: Bucket names S3 and its look-alikes accept (3–63 lowercase letters, digits, dots, hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
ADDRESSING_STYLES = ("path", "virtual")
DOWNLOAD_MODES = ("stream", "signed")
#: Error codes that mean "this object is not there" (HEAD answers a bare 404).
_ABSENT = frozenset({"404", "NoSuchKey", "NotFound"})
#: Error codes with which stores say they are full (MinIO, quota-limited buckets).
_FULL = frozenset({"XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded"})
#: Seconds to connect; a store that does not answer makes the request fail fast (503).
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60


def parse_evidence_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError("is not an s3:// URL (for example s3://taskhub-evidence/prod)")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"{bucket!r} is not a bucket name (3-63 lowercase letters, digits, dots, hyphens)"
        )
    if parts.query or parts.fragment:
        raise ValueError("takes no ?query or #fragment")
    prefix = parts.path.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ValueError(f"the prefix {prefix!r} has an empty, . or .. part")
    return bucket, prefix


@dataclass(frozen=True)
class S3Settings:
    """Where the store is and how to sign in to it (hashable: one client per settings)."""

    bucket: str
    prefix: str
    endpoint: str | None
    access_key: str | None
    secret_key: str | None
    region: str
    addressing: str
    #: Tries per request (``S3_MAX_ATTEMPTS``, not an environment variable: the tests of an
    #: unreachable store try once).
    attempts: int = 3

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Settings:
        bucket, prefix = parse_evidence_url(str(config["EVIDENCE_URL"]))
        return cls(
            bucket=bucket,
            prefix=prefix,
            endpoint=config.get("S3_ENDPOINT") or None,
            access_key=config.get("S3_ACCESS_KEY") or None,
            secret_key=config.get("S3_SECRET_KEY") or None,
            region=config.get("S3_REGION") or "us-east-1",
            addressing=config.get("S3_ADDRESSING") or "path",
            attempts=int(config.get("S3_MAX_ATTEMPTS") or 3),
        )


_clients: dict[S3Settings, Any] = {}
_clients_lock = threading.Lock()
_session: Any = None
_session_lock = threading.Lock()


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client for the settings (clients are thread-safe and reused)."""
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        region_name=settings.region,
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": settings.attempts, "mode": "standard"},
        # Many S3-compatible stores refuse the CRC checksums boto3 adds by default since 1.36;
        # every PUT carries Content-MD5 instead, which all of them check.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    global _session
    with _session_lock:
        # One session for every client: a session loads the service's model (slow) once.
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            "s3",
            endpoint_url=settings.endpoint,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            region_name=settings.region,
            config=config,
        )


def s3_storage_for(config: Mapping[str, Any]) -> S3Storage:
    """The configured object store, its client made once per process."""
    settings = S3Settings.from_config(config)
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            client = _clients[settings] = make_client(settings)
    return S3Storage(settings, client)


class S3Storage:
    """Blobs as objects ``prefix/ab/cd/abcd…`` in one bucket."""

    def __init__(self, settings: S3Settings, client: Any) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.client = client

    @property
    def location(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, sha256: str) -> str:
        key = blob_key(sha256)  # validated: only a 64-hex name can become a key
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, operation: Callable[..., Any], **kwargs: Any) -> Any:
        """Run one request; absent objects raise FileNotFoundError, outages StorageUnavailable."""
        with self._errors(kwargs.get("Key")):
            return operation(Bucket=self.bucket, **kwargs)

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _ABSENT:
                raise FileNotFoundError(f"no stored blob {key}") from exc
            if code in _FULL:
                raise StorageFull() from exc
            logger.warning("object store %s: %s %s", self.location, code, error.get("Message", ""))
            raise StorageUnavailable(f"{self.location}: {code}") from exc
        except BotoCoreError as exc:
            logger.warning("object store %s unreachable: %s", self.location, exc)
            raise StorageUnavailable(f"{self.location}: {exc}") from exc

    def _head(self, sha256: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self._call(self.client.head_object, Key=self._key(sha256)))
        except FileNotFoundError:
            return None

    def put(self, data: bytes) -> str:
        """Store ``data`` in one atomic PUT; an existing object is only touched, not rewritten."""
        sha256 = hashlib.sha256(data).hexdigest()
        key = self._key(sha256)
        if self._head(sha256) is not None:
            self._touch(key)
            return sha256
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._call(
            self.client.put_object,
            Key=key,
            Body=data,
            ContentMD5=md5,
            ContentType="application/octet-stream",
        )
        return sha256

    def _touch(self, key: str) -> None:
        """A fresh LastModified keeps `taskhub evidence gc` away from a reused object while the
        row referring to it is not committed yet (a copy onto itself, inside the store)."""
        # On failure, as a failed utime on disk: the collector's locks still protect the blob.
        with suppress(StorageUnavailable, FileNotFoundError):
            self._call(
                self.client.copy_object,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": key},
                MetadataDirective="REPLACE",
                Metadata={"reused-at": str(int(time.time()))},
                ContentType="application/octet-stream",
            )

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the object's bytes (FileNotFoundError when absent)."""
        answer = self._call(self.client.get_object, Key=self._key(sha256))
        return cast(BinaryIO, answer["Body"])

    def exists(self, sha256: str) -> bool:
        """Whether the object is stored."""
        return self._head(sha256) is not None

    def path_of(self, sha256: str) -> None:
        """Objects have no local path."""
        check_sha256(sha256)
        return None

    def delete(self, sha256: str) -> int:
        """Remove the object; the bytes freed (0 when it was absent)."""
        head = self._head(sha256)
        if head is None:
            return 0
        self._call(self.client.delete_object, Key=self._key(sha256))
        return int(head.get("ContentLength", 0))

    def mtime(self, sha256: str) -> float | None:
        """The object's LastModified (put() refreshes it on reuse)."""
        head = self._head(sha256)
        return None if head is None else float(head["LastModified"].timestamp())

    def scan(self) -> Iterator[Stored]:
        """Every blob below the prefix (other objects are left alone)."""
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        with self._errors():
            for page in pages:
                for item in page.get("Contents", []):
                    relative = item["Key"][len(start) :]
                    if is_blob_key(relative):
                        yield Stored(
                            "blob",
                            relative.rsplit("/", 1)[1],
                            f"s3://{self.bucket}/{item['Key']}",
                            int(item["Size"]),
                            float(item["LastModified"].timestamp()),
                        )

    def remove_partial(self, entry: Stored) -> None:
        """Object stores have no partial objects (a PUT is published whole or not at all)."""

    def check(self) -> None:
        """Raise StorageUnavailable unless the bucket answers (for /readyz)."""
        self._call(self.client.head_bucket)

    def signed_url(
        self, sha256: str, *, filename: str, content_type: str, inline: bool, seconds: int
    ) -> str:
        """A pre-signed GET of the object for ``seconds``, served under ``filename``."""
        params = {
            "Bucket": self.bucket,
            "Key": self._key(sha256),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": content_disposition(filename, inline=inline),
            "ResponseCacheControl": "private, no-store",
        }
        return cast(
            str,
            self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds),
        )


def content_disposition(filename: str, *, inline: bool) -> str:
    """``attachment; filename="…"; filename*=UTF-8''…`` as werkzeug's send_file writes it."""
    kind = "inline" if inline else "attachment"
    simple = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    simple = simple.replace("\\", "").replace('"', "") or "download"
    if simple == filename:
        return f'{kind}; filename="{simple}"'
    return f"{kind}; filename=\"{simple}\"; filename*=UTF-8''{quote(filename, safe='')}"
