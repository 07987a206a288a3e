"""Real servers on 127.0.0.1 for delivery tests: SMTP (aiosmtpd), a robot webhook, a silent port.

Each fixture binds port 0, so the kernel picks a free port and parallel runs never collide.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
SMTP_USER = "taskhub"
SMTP_PASSWORD = "s3cret-pass"

# aiosmtpd logs every connection at INFO from its own thread, after a test has ended too, where
# no capture holds it (pytest-xdist workers print it into the run's output).
logging.getLogger("mail.log").setLevel(logging.WARNING)


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    #: The bytes as sent over the wire, to check the encoding itself.
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])  # the default policy decodes RFC 2047 words

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        return cast(EmailMessage, part).get_content() if part is not None else ""

    @property
    def html(self) -> str | None:
        part = self.message.get_body(("html",))
        return cast(EmailMessage, part).get_content() if part is not None else None


class _Collector:
    """aiosmtpd handler that keeps every message and accepts one user's login."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else (content or "").encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(
            ReceivedMail(envelope.mail_from or "", list(envelope.rcpt_tos), message, raw)
        )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if (user, password) == (SMTP_USER, SMTP_PASSWORD):
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


class _AnyPortController(Controller):
    """A Controller on port 0: the listening socket tells the real port, so no race for one."""

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        async def create() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: _Collector
    user: str = SMTP_USER
    password: str = SMTP_PASSWORD

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    @property
    def logins(self) -> list[str]:
        return self.handler.logins

    def clear(self) -> None:
        self.handler.messages.clear()
        self.handler.logins.clear()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server; AUTH (user/password above) is offered without TLS, as on a LAN relay."""
    handler = _Collector()
    controller = _AnyPortController(
        handler,
        hostname=HOST,
        server_hostname="smtp.test",  # skips socket.getfqdn(), which can wait on DNS
        authenticator=handler.authenticate,
        auth_require_tls=False,
    )
    try:
        controller.start()
    except BaseException:
        if not controller.loop.is_closed():  # the loop thread has ended without closing it
            controller.loop.close()
        raise
    try:
        yield SmtpServer(HOST, controller.port, handler)
    finally:
        controller.stop()  # the loop thread closes the server and the loop before ending


# --- Robot webhook ------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    #: The status line's reason phrase (None: the standard one).
    reason: str | None = None
    #: A Location header (for a redirect).
    location: str | None = None


OK_REPLY = _Reply(200, b'{"errcode":0,"errmsg":"ok"}')


@dataclass
class WebhookServer:
    """Collects POSTed JSON like a DingTalk/WeCom robot and answers errcode 0 unless told."""

    port: int
    #: (path with query string, decoded JSON or None if the body was not UTF-8 JSON), every POST.
    requests: list[tuple[str, Any]] = field(default_factory=list)
    _failures: list[_Reply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/robot") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        errcode: int | None = None,
        errmsg: str = "robot refused the message",
        body: str | None = None,
        reason: str | None = None,
        location: str | None = None,
    ) -> None:
        """Fail the next n requests: HTTP status (500 by default), a 200 with errcode, or a
        200 with a raw (e.g. HTML) body; ``reason`` replaces the status line's phrase and
        ``location`` adds a Location header."""
        if errcode is not None:
            answer = json.dumps({"errcode": errcode, "errmsg": errmsg}, ensure_ascii=False)
            reply = _Reply(status or 200, answer.encode())
        elif body is not None:
            reply = _Reply(status or 200, body.encode("utf-8"), "text/html; charset=utf-8")
        else:
            reply = _Reply(status or 500, b"Internal Server Error", "text/plain")
        reply.reason, reply.location = reason, location
        with self._lock:
            self._failures.extend([reply] * n)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def _receive(self, path: str, body: bytes) -> _Reply:
        try:
            data: Any = json.loads(body.decode("utf-8"))
        except ValueError:
            data = None
        with self._lock:
            self.requests.append((path, data))
            return self._failures.pop(0) if self._failures else OK_REPLY


class _RobotHandler(BaseHTTPRequestHandler):
    server: _RobotHTTPServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.robot._receive(self.path, body)
        self.send_response(reply.status, reply.reason)
        if reply.location is not None:
            self.send_header("Location", reply.location)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    #: A followed redirect would come back as a GET: recorded like a POST (with no JSON).
    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


class _RobotHTTPServer(ThreadingHTTPServer):
    robot: WebhookServer


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    """A real HTTP server in a thread, answering like a group robot."""
    httpd = _RobotHTTPServer((HOST, 0), _RobotHandler)
    httpd.robot = WebhookServer(port=httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd.robot
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --- Failure helpers ----------------------------------------------------------------------------


@dataclass
class SilentServer:
    """Accepts TCP connections (the kernel does) but never reads or answers."""

    host: str
    port: int

    def url(self, path: str = "/robot") -> str:
        return f"http://{self.host}:{self.port}{path}"


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A listening socket nobody accept()s: clients connect, send, then wait for their timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen(8)
        yield SilentServer(HOST, sock.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (just released by the kernel), so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
