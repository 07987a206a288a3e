"""Outgoing HTTP requests to addresses that users typed, kept out of the internal network.

TaskHub POSTs from inside an office's network to two kinds of address that people enter: a
contact's chat-robot URL (any unit user) and a webhook endpoint (admins). Without rules, either
is a way to make the server call its own neighbours (SSRF). The rules:

- a robot URL is an official DingTalk or WeCom robot address (OFFICIAL_ROBOTS), or on a host
  the operator allows in ``TASKHUB_WEBHOOK_ALLOW``;
- a webhook endpoint may be anywhere except a loopback, private, link-local, multicast,
  unspecified or reserved address (IPv4 or IPv6, IPv4-mapped included, in any spelling such
  as ``2130706433`` or ``0x7f.1``), or a name that resolves to one, unless allowed the same way.

Addresses are checked when they are saved, to explain a refusal next to the field, and again
when a message is sent: the name is resolved, every address it has is checked and the
connection goes to a checked address (Host header and TLS server name stay the name's), so a
DNS answer that changes in between gains nothing. :func:`post` never follows a redirect, and
callers never put the answer's body into an error that people see.

An allow-list entry is a host name (that name is trusted, whatever it resolves to) or an IP
address (that address is trusted, whichever name leads to it).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context

#: The official group-robot hosts and the path messages are posted to.
OFFICIAL_ROBOTS = {
    "oapi.dingtalk.com": "/robot/send",  # https://oapi.dingtalk.com/robot/send?access_token=…
    "qyapi.weixin.qq.com": "/cgi-bin/webhook/send",  # …/cgi-bin/webhook/send?key=…
}
#: Names that mean this machine without asking DNS (RFC 6761 and common /etc/hosts entries).
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
#: NAT64's well-known prefix: the last 32 bits are an IPv4 address the gateway reaches.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddrInfo = tuple[Any, ...]


class AddressRefused(ValueError):
    """An address TaskHub will not send to; ``code`` names the rule, the text says why (it
    names the host, never the query string, which holds a robot's token)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- the allow list -------------------------------------------------------------------------


def normalize_host(host: str) -> str:
    """Lower case, no trailing dot or IPv6 brackets; an IP address in its standard spelling."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            return host.encode("idna").decode("ascii")  # 政府.cn → xn--mxtq1m.cn
        except UnicodeError:
            return host
    return host


def parse_allow(raw: str | None) -> tuple[tuple[str, ...], list[str]]:
    """TASKHUB_WEBHOOK_ALLOW as (normalized hosts, entries that are not a host or address)."""
    hosts: list[str] = []
    bad: list[str] = []
    for entry in (raw or "").split(","):
        if not entry.strip():
            continue
        host = normalize_host(entry)
        if _is_ip(host) or _is_host_name(host):
            hosts.append(host)
        else:
            bad.append(entry.strip())
    return tuple(dict.fromkeys(hosts)), bad


def allowed_hosts() -> tuple[str, ...]:
    """The operator's allow list (the app's WEBHOOK_ALLOW); none outside an app."""
    if not has_app_context():
        return ()
    return tuple(current_app.config.get("WEBHOOK_ALLOW") or ())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_host_name(host: str) -> bool:
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(
        0 < len(label) <= 63
        and label.replace("-", "").replace("_", "").isalnum()
        and label.isascii()
        and not label.startswith("-")
        for label in labels
    )


# --- which addresses are internal -----------------------------------------------------------


def internal_kind(ip: IPAddress) -> str | None:
    """Why an address is inside the network ("loopback", "private", …), or None if public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return internal_kind(embedded)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:  # not is_global: also 100.64.0.0/10 (carrier NAT)
        return "private"
    return None


def _address(sockaddr: Sequence[Any]) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # without an IPv6 zone


def _check_address(host: str, ip: IPAddress, allow: Iterable[str]) -> None:
    kind = internal_kind(ip)
    if kind is None:
        return
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if str(ip) in allow or (mapped is not None and str(mapped) in allow):
        return
    shown = host if host == str(ip) else f"{host} ({ip})"
    raise AddressRefused(
        "internal_address",
        f"{shown} is an internal address ({kind}); "
        "TaskHub sends only to public addresses unless TASKHUB_WEBHOOK_ALLOW allows it",
    )


def _numeric_addresses(host: str) -> list[IPAddress]:
    """The addresses a host written as an IP address stands for, in any spelling the system
    accepts (2130706433, 0x7f.1, 0177.0.0.1, ::ffff:127.0.0.1); [] for a name."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return []
    return [_address(info[4]) for info in infos]


# --- checks when an address is saved --------------------------------------------------------


def _host_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise AddressRefused("url_host", "the URL has no host name")
    return normalize_host(host)


def check_robot_url(url: str, allow: Iterable[str]) -> None:
    """A chat-robot URL: an official DingTalk or WeCom robot address over https, or any URL
    on an allowed host (an intranet relay, say). AddressRefused otherwise."""
    allow = tuple(allow)
    host = _host_of(url)
    if host in allow:
        return
    parts = urlsplit(url)
    path = OFFICIAL_ROBOTS.get(host)
    if path is None or parts.scheme.lower() != "https" or parts.path != path:
        raise AddressRefused(
            "robot_url",
            f"{host} is not a DingTalk or WeCom robot address "
            "(https://oapi.dingtalk.com/robot/send?access_token=… or "
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)",
        )
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = -1
    if port not in (None, 443):
        raise AddressRefused("robot_url", f"{host} robots are reached on port 443 only")


def check_endpoint_url(url: str, allow: Iterable[str]) -> None:
    """A webhook endpoint: not written as an internal address or a local name. (Other names
    are checked when a message is sent: what they resolve to can change.)"""
    allow = tuple(allow)
    host = _host_of(url)
    if host in allow:
        return
    for ip in _local_addresses(host) or _numeric_addresses(host):
        _check_address(host, ip, allow)


def _local_addresses(host: str) -> list[IPAddress]:
    """What a name for this machine stands for (the hosts file answers, not DNS); [] for
    other names."""
    if host not in _LOCAL_NAMES and not host.endswith(".localhost"):
        return []
    loopback: list[IPAddress] = [ipaddress.IPv4Address("127.0.0.1")]
    if host not in _LOCAL_NAMES:
        return loopback  # RFC 6761: every *.localhost name is loopback
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return loopback
    return [_address(info[4]) for info in infos] or loopback


# --- checks and connection when a message is sent -------------------------------------------


def resolve_checked(host: str, port: int, allow: Iterable[str]) -> list[AddrInfo]:
    """Resolve ``host`` and check every address it has (an allowed name is not checked); the
    addresses to connect to. AddressRefused, or OSError when the name does not resolve."""
    allow = tuple(allow)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    if normalize_host(host) not in allow:
        for info in infos:
            _check_address(normalize_host(host), _address(info[4]), allow)
    return infos


def _connect_first(infos: Sequence[AddrInfo], timeout: float) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers."""
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error or OSError("the host has no address")


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to already checked addresses: http.client would resolve the name again (and may
    get another answer). Host header and TLS server name stay the URL's host."""

    def __init__(
        self,
        host: str,
        port: int,
        infos: Sequence[AddrInfo],
        timeout: float,
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._infos = infos
        self._tls = tls

    def connect(self) -> None:
        sock = _connect_first(self._infos, self.timeout or 10.0)
        if self._tls is not None:
            try:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: its status and the first bytes of its body (for the caller to
    read a robot's errcode; never to be shown)."""

    status: int
    body: bytes


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow: Iterable[str],
    timeout: float,
    max_answer: int,
) -> Answer:
    """POST to ``url`` after resolve_checked; a redirect is an answer like any other, never
    followed. Raises AddressRefused, OSError (ssl errors included), http.client.HTTPException,
    or ValueError for a URL http.client refuses."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    port = parts.port or (443 if scheme == "https" else 80)
    infos = resolve_checked(parts.hostname, port, allow)
    tls = ssl.create_default_context() if scheme == "https" else None
    connection = _PinnedConnection(parts.hostname, port, infos, timeout, tls)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        return Answer(response.status, response.read(max_answer))
    finally:
        connection.close()


def status_text(status: int) -> str:
    """ "HTTP 404 Not Found": the standard phrase, never the receiver's own words."""
    try:
        text = f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        text = f"HTTP {status}"
    if 300 <= status < 400:
        text += ", a redirect (not followed)"
    return text
