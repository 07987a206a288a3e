"""The shipped deployment files work as the guide installs them: Debian's nginx runs
deploy/nginx.conf (with deploy/nginx-taskhub-http.conf at http level) in front of gunicorn, and
`systemd-analyze verify` accepts the systemd units.

nginx runs in the foreground on loopback high ports, with a self-signed certificate made here;
only ports and paths are replaced in the shipped files. CI installs nginx (.ci/run).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from taskhub.config import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
HOST = "taskhub.example.gov.cn"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

# No database involved beyond a migrated SQLite one: runs once, on the SQLite pass.
pytestmark = [
    pytest.mark.skipif(
        bool(os.environ.get("TASKHUB_TEST_DATABASE_URL")), reason="no database involved; runs once"
    ),
]
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt install nginx; .ci/run does)"
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def site_for_test(http_port: int, https_port: int, upstream: int, certs: Path, logs: Path) -> str:
    """deploy/nginx.conf with loopback ports and this machine's paths; nothing else changed."""
    site = (DEPLOY / "nginx.conf").read_text()
    replacements = [
        (r"listen \[::\]:\d+[^;]*;\n", ""),  # the container may have no IPv6
        (r"listen 80\b", f"listen 127.0.0.1:{http_port}"),
        (r"listen 443\b", f"listen 127.0.0.1:{https_port}"),
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream};"),
        (r"/etc/ssl/taskhub/", f"{certs}/"),
        (r"/opt/taskhub/static/", f"{PROJECT_ROOT / 'static'}/"),
        (r"/var/log/nginx/", f"{logs}/"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site)
        assert count, f"deploy/nginx.conf no longer has {pattern!r}"
    return site


def main_conf(prefix: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf does: http{} including conf.d, then the site."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read tmp_path
    return f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    access_log off;
    include {prefix}/conf.d/*.conf;
    include {prefix}/sites-enabled/*;
}}
"""


def make_certificate(folder: Path) -> None:
    folder.mkdir()
    made = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
            "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr


def install_and_check(prefix: Path, site: str) -> Path:
    """Lay out the nginx files under ``prefix`` as Debian's nginx reads them (the certificate
    in prefix/certs), run `nginx -t` and return the main configuration file."""
    assert NGINX is not None
    for folder in ("conf.d", "sites-enabled"):
        (prefix / folder).mkdir(parents=True)
    make_certificate(prefix / "certs")
    shutil.copy2(DEPLOY / "nginx-taskhub-http.conf", prefix / "conf.d" / "taskhub.conf")
    (prefix / "sites-enabled" / "taskhub").write_text(site)
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix))
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr
    return conf


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class Site:
    http_port: int
    https_port: int
    certs: Path
    logs: Path
    gunicorn: subprocess.Popen[bytes]

    def tls(self, sni: str = HOST) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=str(self.certs / "fullchain.pem"))
        raw = socket.create_connection(("127.0.0.1", self.https_port), timeout=10)
        return context.wrap_socket(raw, server_hostname=sni)

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        host: str = HOST,
        method: str = "GET",
    ) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.https_port, timeout=30)
        conn.sock = self.tls()
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            return Answer(response.status, response.headers, response.read().decode())
        finally:
            conn.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Quick shutdown (SIGINT: no draining); on a loaded machine a worker may still be busy, so
    after 10 s its whole process group is killed: nothing outlives the test."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


@pytest.fixture
def site(app: Flask, tmp_path: Path) -> Iterator[Site]:
    """gunicorn with deploy/gunicorn.conf.py behind nginx with the shipped site."""
    assert NGINX is not None
    upstream, http_port, https_port = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "TASKHUB_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "TASKHUB_INSTANCE_PATH": app.instance_path,
        "TASKHUB_EVIDENCE_PATH": app.config["EVIDENCE_PATH"],
        "TASKHUB_BIND": f"127.0.0.1:{upstream}",
        "TASKHUB_WEB_WORKERS": "1",
        "TASKHUB_PROXY_COUNT": "1",
    }
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    site = site_for_test(http_port, https_port, upstream, prefix / "certs", prefix / "logs")
    conf = install_and_check(prefix, site)
    gunicorn_log = tmp_path / "gunicorn.log"
    with gunicorn_log.open("w") as log_file:
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "-c",
                str(DEPLOY / "gunicorn.conf.py"),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # its own process group: stop() can end master and workers
        )
    nginx_log = prefix / "nginx.out"
    with nginx_log.open("w") as log_file:
        nginx = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf)],
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    try:
        _wait_for(upstream, gunicorn, gunicorn_log)
        _wait_for(https_port, nginx, nginx_log)
        yield Site(http_port, https_port, prefix / "certs", prefix / "logs", gunicorn)
    finally:
        for process in (nginx, gunicorn):
            stop(process)


@needs_nginx
def test_the_site_as_shipped_passes_nginx_t(tmp_path: Path) -> None:
    """Ports 80 and 443 on every address, IPv6 included, as the operator installs it: only the
    certificate and log paths differ (`nginx -t` binds no port)."""
    prefix = tmp_path / "nginx"
    site = (DEPLOY / "nginx.conf").read_text().replace("/etc/ssl/taskhub/", f"{prefix / 'certs'}/")
    install_and_check(prefix, site.replace("/var/log/nginx/", f"{prefix}/"))


def assert_security_headers(answer: Answer) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get_all(name) == [value], (name, answer.headers)
    assert answer.headers.get_all("Content-Security-Policy") is not None
    assert len(answer.headers.get_all("Content-Security-Policy") or []) == 1
    assert answer.headers.get_all("Strict-Transport-Security") is not None


@needs_nginx
def test_the_shipped_nginx_site_in_front_of_gunicorn(site: Site) -> None:
    # A page from the app through nginx: its own headers, none of them twice.
    page = site.get("/login")
    assert page.status == 200 and "<title>登录" in page.body
    assert_security_headers(page)
    assert "script-src" in (page.headers["Content-Security-Policy"] or "")  # the app's CSP
    assert re.fullmatch(r"[0-9a-f]{32}", page.headers["X-Request-ID"] or "")
    assert len(page.headers.get_all("X-Request-ID") or []) == 1

    # An id from a load balancer in front is kept, end to end; a malformed one is replaced.
    kept = site.get("/login", {"X-Request-ID": "lb-7f3a.42"})
    assert kept.headers.get_all("X-Request-ID") == ["lb-7f3a.42"]
    replaced = site.get("/login", {"X-Request-ID": "bad id<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"] or "")
    access_log = (site.logs / "taskhub.access.log").read_text()
    assert "rid=lb-7f3a.42" in access_log

    # Static files: kept by the browser but revalidated, an unchanged one costs a 304.
    css = site.get("/static/css/taskhub.css")
    assert css.status == 200
    assert css.headers["Cache-Control"] == "no-cache"
    assert css.headers["ETag"] and css.headers["Last-Modified"]
    assert_security_headers(css)
    again = site.get("/static/css/taskhub.css", {"If-None-Match": css.headers["ETag"] or ""})
    assert (again.status, again.body) == (304, "")

    # Probes answer but leave no access line.
    assert site.get("/readyz").status == 200
    assert site.get("/healthz").status == 200
    assert "/readyz" not in (site.logs / "taskhub.access.log").read_text()
    assert "/healthz" not in (site.logs / "taskhub.access.log").read_text()

    # nginx's own 413: Chinese, with the security headers and the request id.
    too_big = site.get(
        "/login",
        {"Content-Length": str(200 * 1024 * 1024), "X-Request-ID": "lb-413"},
        method="POST",
    )
    assert too_big.status == 413
    assert "上传的文件太大" in too_big.body and '<html lang="zh-CN">' in too_big.body
    assert "charset=utf-8" in (too_big.headers["Content-Type"] or "")
    assert_security_headers(too_big)
    assert too_big.headers["X-Request-ID"] == "lb-413"

    # The app down: nginx's 502, Chinese, with the same headers.
    stop(site.gunicorn)
    down = site.get("/login")
    assert down.status == 502
    assert "系统暂时无法访问" in down.body
    assert_security_headers(down)
    assert re.fullmatch(r"[0-9a-f]{32}", down.headers["X-Request-ID"] or "")
    assert site.get("/static/errors/errors.css").status == 200  # its style, app or not
    assert site.get("/_errors/502.html").status == 404  # internal: not a page of its own


@needs_nginx
def test_an_unknown_host_gets_no_answer(site: Site) -> None:
    # Plain HTTP: the site's own name is redirected to https, anything else is dropped.
    conn = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
    conn.request("GET", "/", headers={"Host": HOST})
    redirect = conn.getresponse()
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"https://{HOST}/"
    conn.close()
    for host in ("attacker.example", "127.0.0.1"):
        conn = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
        conn.request("GET", "/login", headers={"Host": host})
        with pytest.raises(http.client.RemoteDisconnected):
            conn.getresponse()
        conn.close()
    # TLS: another name is refused at the handshake; no certificate is shown.
    with pytest.raises(ssl.SSLError):
        site.tls(sni="attacker.example")
    # The right name in the handshake but another Host header: dropped too.
    with pytest.raises(http.client.RemoteDisconnected):
        site.get("/login", host="attacker.example")


# -- systemd units ------------------------------------------------------------------------


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def units_for_test(folder: Path) -> list[Path]:
    """The shipped units with /opt/taskhub pointed at this checkout (its .venv exists)."""
    folder.mkdir()
    units = []
    for unit in sorted(DEPLOY.glob("taskhub*.service")) + sorted(DEPLOY.glob("taskhub*.timer")):
        text = unit.read_text().replace(
            "/opt/taskhub/.venv/bin/", f"{Path(sys.executable).parent}/"
        )
        text = text.replace("/opt/taskhub", str(PROJECT_ROOT))
        (folder / unit.name).write_text(text)
        units.append(folder / unit.name)
    return units


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    units = units_for_test(tmp_path / "units")
    assert {u.name for u in units} == {
        "taskhub-web.service",
        "taskhub-scheduler.service",
        "taskhub-backup.service",
        "taskhub-backup.timer",
        "taskhub-backup-check.service",
        "taskhub-backup-check.timer",
        "taskhub-alert@.service",
    }
    # Template units are verified as an instance.
    targets = [str(u) if "@." not in u.name else f"{u}".replace("@.", "@backup.") for u in units]
    for unit in units:
        if "@." in unit.name:
            shutil.copy2(unit, tmp_path / "units" / unit.name.replace("@.", "@backup."))
    verified = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *targets],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )
    if verified.returncode != 0 and "Failed to initialize manager" in verified.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {verified.stderr.strip()[:300]}")
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr
