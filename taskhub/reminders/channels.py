"""Delivery channels for reminders: email over SMTP and DingTalk / WeCom group robots, plus
signed JSON events for taskhub.webhooks.

Plain functions with the settings passed in, so the outbox sender, a CLI command and the tests
call them without a Flask request. Every failure is a :class:`DeliveryError` whose text says what
failed; it is stored on the outbox row and shown to the office, so it never contains a password
or a robot's access token.
"""

from __future__ import annotations

import email.policy
import http.client
import io
import json
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any
from urllib.parse import SplitResult, urlsplit

from taskhub.core import outbound

logger = logging.getLogger(__name__)

WEBHOOK_KINDS = ("dingtalk", "wecom")
#: Host of WeCom (企业微信) group robots; every other robot URL is taken for DingTalk.
WECOM_HOST = "qyapi.weixin.qq.com"
#: WeCom refuses markdown content over 4096 bytes (errcode 40058), so longer digests are cut.
WECOM_MARKDOWN_LIMIT = 4096
TRUNCATED_NOTE = "\n\n……（内容过长，已截断）"
#: SMTP over implicit TLS: STARTTLS cannot work on this port, the TLS handshake comes first.
SMTPS_PORT = 465
USER_AGENT = "TaskHub-Webhooks/1"
#: Plenty for a robot's answer; a wrong URL may return a whole web page.
_MAX_ANSWER_BYTES = 64 * 1024


class DeliveryError(Exception):
    """A message could not be delivered; the text names what failed and is safe to show."""


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server; built from the app configuration by :meth:`from_config`."""

    host: str
    port: int
    user: str | None
    #: Kept out of repr() so that logging the settings never shows it.
    password: str | None = field(repr=False)
    #: STARTTLS, or implicit TLS when the port is 465.
    use_tls: bool
    #: The From header: an address, optionally with a display name ("任务平台 <a@b.cn>").
    mail_from: str
    #: Seconds per network operation (connect, each reply), not for the whole message.
    timeout: float = 15.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        """Read SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_TLS and MAIL_FROM."""
        return cls(
            host=str(config.get("SMTP_HOST") or "127.0.0.1"),
            port=int(config.get("SMTP_PORT") or 25),
            user=config.get("SMTP_USER") or None,
            password=config.get("SMTP_PASSWORD") or None,
            use_tls=_as_bool(config.get("SMTP_TLS", False)),
            mail_from=str(config.get("MAIL_FROM") or "taskhub@localhost"),
        )


def send_email(
    settings: SmtpSettings, to: str, subject: str, text: str, html: str | None = None
) -> None:
    """Send one UTF-8 message to one recipient; raise DeliveryError naming the failed step."""
    with SmtpSession(settings) as session:
        session.send(to, subject, text, html)


class SmtpSession:
    """Several messages over one connection to the mail server (connect, TLS and login once).

    ``send`` raises DeliveryError for a message the server did not accept, and the session goes
    on with the next one:

    - a refused sender, recipient or message (an SMTP error reply) leaves the connection usable;
    - a connection that drops is opened again once per session. The message it dropped under
      is sent again on the new connection only if the drop came before its content was sent:
      after that the server may have accepted it, and a second copy would be a duplicate;
    - a server that cannot be reached (or refuses TLS or the login) fails the session's further
      messages at once with the same error, instead of waiting out a timeout for each.

    With ``eight_bit`` a plain-text message goes as UTF-8 bytes (``Content-Transfer-Encoding:
    8bit``, ``BODY=8BITMIME``): a quarter smaller than base64 for Chinese text, and far cheaper
    to build (see _eight_bit_message). Servers that do not offer 8BITMIME, non-ASCII addresses,
    HTML parts and lines too long for SMTP get the base64 message of send_email.
    """

    def __init__(self, settings: SmtpSettings, *, eight_bit: bool = False) -> None:
        self.settings = settings
        self.eight_bit = eight_bit
        self.sender = parseaddr(settings.mail_from)[1] or settings.mail_from
        #: How many connections the session has opened (the tests and logs read it).
        self.connections = 0
        self._smtp: smtplib.SMTP | None = None
        self._reconnected = False
        self._unreachable: tuple[str, BaseException] | None = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Say goodbye; a failed goodbye is ignored (the messages have been accepted)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        """Send one message to one recipient; DeliveryError names the step that failed."""
        address = parseaddr(to)[1]
        if "@" not in address:
            raise DeliveryError(f"email not sent: {to!r} is not an email address")
        ascii_addresses = (address + self.sender).isascii()
        eight_bit = self.eight_bit and html is None and ascii_addresses and _fits_8bit(text)
        content: bytes | EmailMessage
        try:
            if eight_bit:
                content = _eight_bit_message(self.settings, to, subject, text)
            else:
                content = _build_message(self.settings, to, subject, text, html)
        except ValueError as exc:  # a line break in a header: refuse rather than inject headers
            raise DeliveryError(f"email to {address} not sent: {exc}")
        while True:
            smtp = self._connection(address)
            if isinstance(content, bytes) and not smtp.has_extn("8bitmime"):
                content = _build_message(self.settings, to, subject, text, html)
            try:
                self._transmit(smtp, content, address)
            except _REFUSED as exc:  # an answer about this message: the connection goes on
                if getattr(exc, "smtp_code", None) == _CLOSING:
                    self._drop()
                raise _smtp_error(self.settings, address, "SMTP server refused the message", exc)
            except _ContentSent as exc:
                self._drop()
                raise _smtp_error(self.settings, address, "connection lost", exc.cause)
            except (smtplib.SMTPException, OSError) as exc:  # dropped before the content
                self._drop()
                if self._reconnected:
                    raise _smtp_error(self.settings, address, "connection lost", exc)
                self._reconnected = True
                logger.info("SMTP connection lost before the message to %s: reconnecting", address)
                continue
            logger.debug("email sent to %s", address)
            return

    def _connection(self, address: str) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        if self._unreachable is not None:
            raise _smtp_error(self.settings, address, *self._unreachable)
        settings = self.settings
        try:
            smtp = _connect(settings)
        except (smtplib.SMTPException, OSError) as exc:
            where = f"{settings.host}:{settings.port}"
            self._unreachable = (f"cannot connect to SMTP server {where}", exc)
            raise _smtp_error(settings, address, *self._unreachable)
        self.connections += 1
        step = "STARTTLS failed"
        try:
            if settings.use_tls and settings.port != SMTPS_PORT:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                step = f"SMTP login as {settings.user} failed"
                smtp.login(settings.user, settings.password or "")
            step = "SMTP server refused the message"
            smtp.ehlo_or_helo_if_needed()
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()
            self._unreachable = (step, exc)
            raise _smtp_error(settings, address, step, exc)
        self._smtp = smtp
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _transmit(self, smtp: smtplib.SMTP, content: bytes | EmailMessage, address: str) -> None:
        """MAIL, RCPT and DATA for one message: what smtplib's send_message does, in steps, so
        that a failure after the content went out raises _ContentSent. ``content``: a message,
        or the bytes of an 8-bit one."""
        if isinstance(content, bytes):
            options, data = ["BODY=8BITMIME"], content
        else:
            options, policy = [], content.policy
            if not (self.sender + address).isascii():  # an internationalised address
                if not smtp.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError(
                        "One or more source or delivery addresses require internationalized "
                        "email support, but the server does not advertise the required "
                        "SMTPUTF8 capability"
                    )
                options = ["SMTPUTF8", "BODY=8BITMIME"]
                policy = email.policy.SMTPUTF8  # UTF-8 headers, as smtplib's send_message does
            with io.BytesIO() as buffer:
                BytesGenerator(buffer, policy=policy).flatten(content, linesep="\r\n")
                data = buffer.getvalue()
        code, reply = smtp.mail(self.sender, options)
        if code == _CLOSING:  # the server hangs up: nothing was sent, a new connection may
            raise smtplib.SMTPServerDisconnected(f"{code} {_text(reply)}")
        if code != 250:
            _reset(smtp)
            raise smtplib.SMTPSenderRefused(code, reply, self.sender)
        code, reply = smtp.rcpt(address)
        if code == _CLOSING:
            raise smtplib.SMTPServerDisconnected(f"{code} {_text(reply)}")
        if code not in (250, 251):
            _reset(smtp)
            raise smtplib.SMTPRecipientsRefused({address: (code, reply)})
        # From here on the server may have the message: it is never sent again from here.
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError:  # DATA itself refused (not 354): no content went out
            _reset(smtp)
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise _ContentSent(exc) from exc
        if code != 250:
            if code != _CLOSING:
                _reset(smtp)
            raise smtplib.SMTPDataError(code, reply)


#: The reply of a server that is closing the connection (e.g. too many messages on it).
_CLOSING = 421
#: Answers about one message; the connection stays usable (unless the code is 421).
_REFUSED = (
    smtplib.SMTPSenderRefused,
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)


class _ContentSent(Exception):
    """The connection failed once a message's content had gone out: it may have arrived."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _reset(smtp: smtplib.SMTP) -> None:
    """RSET after a refusal, so the next message starts clean; a closed connection shows
    itself at the next message."""
    try:
        smtp.rset()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _fits_8bit(text: str) -> bool:
    """SMTP lines are at most 998 bytes; longer ones need an encoding that wraps them."""
    return all(len(line.encode("utf-8")) <= 998 for line in text.splitlines())


def webhook_kind(url: str) -> str:
    """Which robot a URL belongs to: "wecom" for qyapi.weixin.qq.com, else "dingtalk"."""
    host = (urlsplit(url).hostname or "").lower()
    return "wecom" if host == WECOM_HOST or host.endswith("." + WECOM_HOST) else "dingtalk"


def webhook_payload(kind: str, title: str, markdown: str) -> dict[str, Any]:
    """The JSON body of a markdown message for a DingTalk or WeCom group robot."""
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
    if kind == "wecom":
        # WeCom has no title field: the markdown is expected to start with its own heading.
        content = _truncate_utf8(markdown, WECOM_MARKDOWN_LIMIT)
        return {"msgtype": "markdown", "markdown": {"content": content}}
    raise ValueError(f"unknown webhook kind {kind!r}; choose one of {', '.join(WEBHOOK_KINDS)}")


def send_webhook(
    url: str,
    title: str,
    markdown: str,
    *,
    kind: str | None = None,
    timeout: float = 10.0,
    allow: Iterable[str] = (),
) -> None:
    """POST a markdown message to a robot; raise DeliveryError unless it answers errcode 0.

    Only an official robot address or a host in ``allow`` (TASKHUB_WEBHOOK_ALLOW) is posted
    to, at a checked address (taskhub.core.outbound). The error names the status code and
    the robot's errcode, never the rest of its answer."""
    parts = _split(url, "webhook")
    # Name the host only: the query string holds the robot's access token or key.
    where = f"webhook to {parts.hostname}"
    try:
        outbound.check_robot_url(url, allow)
    except outbound.AddressRefused as exc:
        raise DeliveryError(f"{where} not sent: {exc}")
    payload = webhook_payload(kind or webhook_kind(url), title, markdown)
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    answer = _post(where, url, data, headers, allow=allow, timeout=timeout)
    try:
        result = json.loads(answer.body.decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        raise DeliveryError(f"{where} failed: the answer (HTTP {answer.status}) is not JSON")
    errcode = result.get("errcode") if isinstance(result, dict) else None
    if errcode == 0 and not isinstance(errcode, bool):
        logger.debug("webhook message sent to %s", parts.hostname)
        return
    # Only the number: errmsg is the receiver's text, and a receiver may be anything.
    if isinstance(errcode, int) and not isinstance(errcode, bool):
        raise DeliveryError(f"{where} refused the message: errcode {errcode}")
    raise DeliveryError(f"{where} refused the message: the answer has no errcode")


def send_hook(
    url: str,
    body: str,
    headers: Mapping[str, str],
    *,
    timeout: float = 10.0,
    allow: Iterable[str] = (),
) -> None:
    """POST a signed JSON event (taskhub.webhooks); DeliveryError unless the answer is 2xx.

    Internal addresses are refused unless ``allow`` lists them (taskhub.core.outbound)."""
    parts = _split(url, "event")
    # Name the host only: the receiver's URL may carry its own token.
    where = f"event to {parts.hostname}"
    try:
        outbound.check_endpoint_url(url, allow)
    except outbound.AddressRefused as exc:
        raise DeliveryError(f"{where} not sent: {exc}")
    _post(
        where,
        url,
        body.encode("utf-8"),
        {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **headers},
        allow=allow,
        timeout=timeout,
    )
    logger.debug("event sent to %s", parts.hostname)


def _split(url: str, what: str) -> SplitResult:
    """The parts of an http(s) URL with a host; DeliveryError otherwise."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise DeliveryError(f"{what} not sent: the address is not an http(s) URL")
    return parts


def _post(
    where: str,
    url: str,
    data: bytes,
    headers: Mapping[str, str],
    *,
    allow: Iterable[str],
    timeout: float,
) -> outbound.Answer:
    """outbound.post with every failure a DeliveryError; anything but 2xx fails (a redirect
    too: it is never followed). Errors show the status code, never the receiver's words."""
    try:
        answer = outbound.post(
            url, data, headers, allow=allow, timeout=timeout, max_answer=_MAX_ANSWER_BYTES
        )
    except outbound.AddressRefused as exc:
        raise DeliveryError(f"{where} not sent: {exc}")
    except socket.gaierror:
        raise DeliveryError(f"{where} failed: the host name does not resolve")
    except http.client.HTTPException as exc:  # its text may quote the receiver's answer
        raise DeliveryError(f"{where} failed: {_http_problem(exc)}")
    except OSError as exc:
        raise DeliveryError(f"{where} failed: {_reason(exc, timeout)}")
    except ValueError:  # http.client.InvalidURL, e.g. a port that is not a number
        raise DeliveryError(f"{where} not sent: invalid URL")
    if not 200 <= answer.status < 300:
        raise DeliveryError(f"{where} failed: {outbound.status_text(answer.status)}")
    return answer


def _http_problem(exc: http.client.HTTPException) -> str:
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the receiver closed the connection without an answer"
    if isinstance(exc, http.client.BadStatusLine | http.client.LineTooLong):
        return "the answer is not HTTP"
    return f"invalid answer ({type(exc).__name__})"


#: Stored errors written before issue 12 may end with the receiver's own words.
_LEGACY_NOT_JSON = re.compile(r" failed: HTTP (\d{3}) answer is not JSON: .*", re.DOTALL)
_LEGACY_ERRCODE = re.compile(r" refused the message: errcode (.*)", re.DOTALL)
_LEGACY_STATUS = re.compile(r" failed: HTTP (\d{3})\b.*", re.DOTALL)


def public_error(text: str | None) -> str | None:
    """A stored delivery error as it may be shown: errors from before issue 12 could carry the
    receiver's reason phrase, the start of its answer or its errmsg; those are cut off (errors
    written now never have them, and come out unchanged)."""
    if not text:
        return text
    if match := _LEGACY_NOT_JSON.search(text):
        return f"{text[: match.start()]} failed: the answer (HTTP {match[1]}) is not JSON"
    if match := _LEGACY_ERRCODE.search(text):
        number = re.match(r"-?\d+\b", match[1])
        kept = f": errcode {number[0]}" if number else ": the answer has no errcode"
        return f"{text[: match.start()]} refused the message{kept}"
    if match := _LEGACY_STATUS.search(text):
        return f"{text[: match.start()]} failed: {outbound.status_text(int(match[1]))}"
    return text


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _build_message(
    settings: SmtpSettings, to: str, subject: str, text: str, html: str | None
) -> EmailMessage:
    message = EmailMessage()  # the default policy encodes non-ASCII headers (RFC 2047)
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    # The sender's domain, not socket.getfqdn(), which can wait seconds on DNS.
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: tells mail servers not to answer reminders with out-of-office replies.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)  # str content is sent as UTF-8 (base64 for Chinese text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _eight_bit_message(settings: SmtpSettings, to: str, subject: str, text: str) -> bytes:
    """The plain-text message of _build_message as 8-bit UTF-8 bytes, ready for DATA.

    The same headers, written here: the email package's header classes take ten times as
    long (0.7 ms a message), which a run of a hundred digests notices. Non-ASCII words in
    the subject and display names are RFC 2047 encoded words; addresses must be ASCII.
    """
    for value in (subject, to, settings.mail_from):
        if "\r" in value or "\n" in value:  # the email package's own words for it
            raise ValueError("header values may not contain linefeed or carriage return")
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    head = "\r\n".join(
        [
            "Subject: " + Header(subject, "utf-8").encode(linesep="\r\n"),
            "From: " + formataddr(parseaddr(settings.mail_from), "utf-8"),
            "To: " + formataddr(parseaddr(to), "utf-8"),
            "Date: " + format_datetime(datetime.now(UTC)),
            "Message-ID: " + make_msgid(domain=domain),
            "Auto-Submitted: auto-generated",
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: 8bit",
        ]
    )
    # As set_content(text, cte="8bit") writes the text, with SMTP's CRLF line ends.
    body = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    return (head + "\r\n\r\n").encode("ascii") + body


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.use_tls and settings.port == SMTPS_PORT:
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _smtp_error(
    settings: SmtpSettings, address: str, step: str, exc: BaseException
) -> DeliveryError:
    message = f"email to {address} failed: {step}: {_reason(exc, settings.timeout)}"
    if settings.password:  # servers should never echo it, but this text is shown to people
        message = message.replace(settings.password, "***")
    return DeliveryError(message)


def _reason(exc: BaseException | str, timeout: float | None = None) -> str:
    """A short human reason for a network or SMTP failure."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt} refused: {code} {_text(reply)}"
            for rcpt, (code, reply) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError) and timeout is not None:
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _truncate_utf8(text: str, limit: int) -> str:
    """Cut text to at most limit UTF-8 bytes, on a character boundary, saying that it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(TRUNCATED_NOTE.encode("utf-8"))
    return data[:room].decode("utf-8", "ignore") + TRUNCATED_NOTE
