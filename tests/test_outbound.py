"""No way into the internal network (issue 12): robot URLs and webhook endpoints.

A unit user once set its contact's robot URL to ``http://127.0.0.1:…/internal-admin/…``; the
reminder job POSTed there and the start of the answer appeared on the office's outbox page.
Here: robot URLs go to the official robots only and endpoints never to internal addresses,
unless TASKHUB_WEBHOOK_ALLOW allows them; that is checked when saved (page, API, Excel import)
and again when sent (a stored address, a name that resolves inside); a redirect is never
followed; and no receiver's words reach a page, the API or the stored error.

The test configuration allows 127.0.0.1, where the test receivers listen; ``no_allow`` empties
the list, as in a default installation.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from taskhub.config import Config
from taskhub.core import outbound
from taskhub.core.db import db
from taskhub.reminders import services as reminders
from taskhub.reminders.channels import DeliveryError, send_hook, send_webhook
from taskhub.reminders.models import OutboxMessage
from taskhub.units.models import Contact
from taskhub.webhooks import services as webhooks
from taskhub.webhooks.models import WebhookEndpoint
from tests.conftest import login, make_user, unit_named
from tests.servers import HOST, WebhookServer
from tests.test_imports import contacts_file, error_rows, upload

KUNDULUN = "昆都仑区人民政府"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=abc123"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1"
#: What a receiver inside the network might answer; it must never be shown.
SECRET = "internal-admin-token-7f3a"


@pytest.fixture
def no_allow(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """TASKHUB_WEBHOOK_ALLOW unset, as in a default installation."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW", ())


def contacts_of(unit_name: str) -> int:
    unit = unit_named(unit_name, "baotou")
    return db.session.scalar(select(func.count()).where(Contact.unit_id == unit.id)) or 0


def queue_robot(url: str, key: str = "robot-1") -> OutboxMessage:
    """An outbox row for a robot as the reminder job queues it (so a URL saved before these
    rules, or put into the database by other means, is sent through the same path)."""
    message = OutboxMessage(
        channel="webhook", recipient=url, subject="督办提醒", body="请按时报送。", dedupe_key=key
    )
    db.session.add(message)
    db.session.commit()
    return message


def deliver(app: Flask) -> OutboxMessage:
    """Run the outbox sender once; the (only) row as it is afterwards."""
    reminders.deliver(app.config)
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage)).one()


# --- which addresses are internal ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("8.8.8.8", None),
        ("2400:3200::1", None),
    ],
)
def test_internal_addresses_are_recognised(address: str, kind: str | None) -> None:
    assert outbound.internal_kind(ipaddress.ip_address(address)) == kind


# --- contacts: checked when saved ---------------------------------------------------------------

INTERNAL_ROBOT = f"http://{HOST}:8080/internal-admin/users"


def test_a_robot_url_to_127_is_refused_on_the_page_without_the_allow_list(
    client: FlaskClient, login_as: Any, no_allow: None
) -> None:
    unit = unit_named(KUNDULUN, "baotou")
    login_as("unit", unit)
    before = contacts_of(KUNDULUN)
    response = client.post(
        f"/units/{unit.id}/contacts", data={"name": "张三", "webhook_url": INTERNAL_ROBOT}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page.split('id="new-webhook_url-error">')[1].split("</div>")[0]
    assert "请填写钉钉或企业微信群机器人地址" in error
    assert contacts_of(KUNDULUN) == before


def test_a_robot_url_to_127_is_refused_by_the_api_without_the_allow_list(
    api_as: Any, no_allow: None
) -> None:
    unit = unit_named(KUNDULUN, "baotou")
    api = api_as("unit", unit)
    answer = api.post(
        f"/api/v1/units/{unit.id}/contacts", json={"name": "张三", "webhook_url": INTERNAL_ROBOT}
    )
    assert answer.status_code == 422
    assert "webhook_url" in str(answer.json["errors"])
    assert "DingTalk" in str(answer.json["errors"])

    created = api.post(
        f"/api/v1/units/{unit.id}/contacts", json={"name": "李四", "mobile": "13800000001"}
    )
    assert created.status_code == 201
    url = f"/api/v1/contacts/{created.json['id']}"
    etag = api.get(url).headers["ETag"]
    changed = api.patch(url, json={"webhook_url": INTERNAL_ROBOT}, headers={"If-Match": etag})
    assert changed.status_code == 422
    assert db.session.get(Contact, created.json["id"]).webhook_url is None


def test_a_robot_url_to_127_is_refused_in_the_contacts_import(
    client: FlaskClient, login_as: Any, no_allow: None
) -> None:
    login_as("office")
    rows = [
        {"unit": KUNDULUN, "city": "包头市", "name": "张三", "webhook_url": DINGTALK},
        {"unit": KUNDULUN, "city": "包头市", "name": "李四", "webhook_url": INTERNAL_ROBOT},
    ]
    response = upload(client, "/imports/contacts", contacts_file(rows))
    assert response.status_code == 422
    [(sheet, row, column, problem)] = error_rows(response.get_data(as_text=True))
    assert (sheet, row, column) == ("联系人", "3", "机器人地址")
    assert INTERNAL_ROBOT in problem and "不是钉钉或企业微信群机器人地址" in problem


@pytest.mark.parametrize(
    "url",
    [
        INTERNAL_ROBOT,
        "http://oapi.dingtalk.com/robot/send?access_token=x",  # not https
        "https://oapi.dingtalk.com/gettoken?appkey=x",  # another API of the host
        "https://oapi.dingtalk.com:8443/robot/send?access_token=x",
        "https://oapi.dingtalk.com:99999/robot/send?access_token=x",
        "https://oapi.dingtalk.com.evil.example/robot/send?access_token=x",
        "https://169.254.169.254/robot/send",
    ],
)
def test_only_official_robot_addresses_are_accepted(url: str) -> None:
    with pytest.raises(outbound.AddressRefused):
        outbound.check_robot_url(url, ())


@pytest.mark.parametrize("url", [DINGTALK, WECOM, "https://OAPI.DingTalk.com./robot/send?a=1"])
def test_official_robot_addresses_are_accepted(url: str) -> None:
    outbound.check_robot_url(url, ())


def test_the_allow_list_opens_an_intranet_robot_relay(api_as: Any, app: Flask, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW", ("robot-relay.intranet",))
    unit = unit_named(KUNDULUN, "baotou")
    answer = api_as("unit", unit).post(
        f"/api/v1/units/{unit.id}/contacts",
        json={"name": "张三", "webhook_url": "http://robot-relay.intranet/robot/send?t=1"},
    )
    assert answer.status_code == 201


# --- webhook endpoints: checked when saved ------------------------------------------------------

INTERNAL_ENDPOINTS = [
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/hook",  # 127.0.0.1 in hex shorthand
    "http://0177.0.0.1/hook",  # octal
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://0.0.0.0:5000/hook",
    "http://224.0.0.1/hook",
    "http://[fe80::1]/hook",
    "http://localhost:5000/hook",
    "http://admin.localhost/hook",
]


@pytest.mark.parametrize("url", INTERNAL_ENDPOINTS)
def test_a_webhook_endpoint_to_an_internal_address_is_refused(
    session: Any, no_allow: None, url: str
) -> None:
    with pytest.raises(webhooks.InvalidEndpoint) as caught:
        webhooks.validate_url(url)
    assert (caught.value.code, caught.value.field) == ("internal_address", "url")
    assert "internal address" in caught.value.message


def test_internal_endpoints_are_refused_on_the_page_and_in_the_api(
    client: FlaskClient, api_as: Any, no_allow: None
) -> None:
    admin = make_user("admin", None, "outbound-admin")
    login(client, admin)
    response = client.post(
        "/admin/webhooks",
        data={"url": "http://169.254.169.254/latest/", "events": ["review.done"]},
    )
    assert response.status_code == 422
    error = response.get_data(as_text=True).split('id="new-url-error">')[1].split("</div>")[0]
    assert "该地址位于内部网络" in error and "TASKHUB_WEBHOOK_ALLOW" in error

    api = api_as("admin")
    for url in ("http://10.0.0.8/hook", "http://[::1]/hook", "http://2130706433/"):
        answer = api.post("/api/v1/webhooks/", json={"url": url, "events": ["review.done"]})
        assert answer.status_code == 422, url
        assert answer.json["code"] == "internal_address"
        assert list(answer.json["errors"]) == ["url"]
    created = api.post(
        "/api/v1/webhooks/", json={"url": "https://8.8.8.8/hook", "events": ["review.done"]}
    )
    assert created.status_code == 201
    etag = api.get(f"/api/v1/webhooks/{created.json['id']}").headers["ETag"]
    moved = api.patch(
        f"/api/v1/webhooks/{created.json['id']}",
        json={"url": "http://0x7f.1/"},
        headers={"If-Match": etag},
    )
    assert moved.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "https://dash.example.gov.cn/hook", "https://[2400:3200::1]/"]
)
def test_public_webhook_endpoints_are_accepted(session: Any, no_allow: None, url: str) -> None:
    assert webhooks.validate_url(url) == url


def test_the_allow_list_opens_an_internal_endpoint(
    app: Flask, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW", ("10.1.2.3", "dash.intranet"))
    assert webhooks.validate_url("http://10.1.2.3:8080/hook")
    assert webhooks.validate_url("http://dash.intranet/hook")
    with pytest.raises(webhooks.InvalidEndpoint):
        webhooks.validate_url("http://10.1.2.4/hook")


# --- checked again when sent --------------------------------------------------------------------


def test_a_stored_robot_url_to_127_is_not_posted_to(
    app: Flask, session: Any, webhook_server: WebhookServer, no_allow: None
) -> None:
    queue_robot(webhook_server.url("/internal-admin/users"))
    message = deliver(app)
    assert webhook_server.requests == []
    assert message.last_error is not None
    assert "not a DingTalk or WeCom robot address" in message.last_error


def test_a_stored_endpoint_whose_name_resolves_to_127_is_refused_at_send_time(
    app: Flask, session: Any, webhook_server: WebhookServer, no_allow: None
) -> None:
    admin = make_user("admin", None, "outbound-admin")
    # Put in directly: saving it is refused, but it may have been stored before the rule.
    endpoint = WebhookEndpoint(
        url=f"http://localhost:{webhook_server.port}/hook",
        events=["review.done"],
        secret="s",
        created_by_id=admin.id,
    )
    db.session.add(endpoint)
    db.session.flush()
    webhooks.send_test(endpoint, actor=admin)
    db.session.commit()
    message = deliver(app)
    assert webhook_server.requests == []
    assert message.last_error == (
        "event to localhost not sent: localhost (127.0.0.1) is an internal address (loopback); "
        "TaskHub sends only to public addresses unless TASKHUB_WEBHOOK_ALLOW allows it"
    )


def test_every_address_of_a_name_is_checked_when_sent(webhook_server: WebhookServer) -> None:
    """The name is resolved at send time (not the hosts table of the save check)."""
    with pytest.raises(outbound.AddressRefused, match=r"localhost \(127.0.0.1\) is an internal"):
        outbound.resolve_checked("localhost", webhook_server.port, ())
    # Allowed by address, a name that leads there is sent to (the checked address).
    assert outbound.resolve_checked("localhost", webhook_server.port, (HOST,))
    send_hook(f"http://localhost:{webhook_server.port}/h", "{}", {}, allow=(HOST,))
    assert [path for path, _ in webhook_server.requests] == ["/h"]


@pytest.mark.parametrize("send", ["robot", "event"])
def test_a_redirect_is_a_failure_and_not_followed(webhook_server: WebhookServer, send: str) -> None:
    webhook_server.fail_next(1, status=302, location=webhook_server.url("/elsewhere"))
    with pytest.raises(DeliveryError) as caught:
        if send == "robot":
            send_webhook(webhook_server.url("/robot"), "督办提醒", "正文", allow=(HOST,))
        else:
            send_hook(webhook_server.url("/robot"), '{"event":"x"}', {}, allow=(HOST,))
    assert str(caught.value).endswith("failed: HTTP 302 Found, a redirect (not followed)")
    assert [path for path, _ in webhook_server.requests] == ["/robot"]


# --- never a receiver's words -----------------------------------------------------------------

ANSWERS = [
    {"body": f"<html>{SECRET}</html>"},
    {"errcode": 40001, "errmsg": SECRET},
    {"status": 503, "reason": SECRET},
    {"status": 500, "reason": f"Error {SECRET}"},
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_a_robot_answer_never_reaches_the_outbox_page(
    app: Flask, client: FlaskClient, login_as: Any, webhook_server: WebhookServer, answer: Any
) -> None:
    webhook_server.fail_next(1, **answer)
    queue_robot(webhook_server.url("/robot/send?access_token=t"))
    message = deliver(app)
    assert len(webhook_server.requests) == 1
    assert message.last_error and SECRET not in message.last_error
    login_as("office")
    page = client.get("/outbox?status=pending").get_data(as_text=True)
    assert message.last_error in page.replace("&#39;", "'")
    assert SECRET not in page


def test_an_event_receivers_answer_never_reaches_the_api_or_the_page(
    app: Flask, client: FlaskClient, api_as: Any, webhook_server: WebhookServer
) -> None:
    admin = make_user("admin", None, "outbound-admin")
    endpoint, _secret = webhooks.create_endpoint(
        url=webhook_server.url("/hook"), events=["review.done"], actor=admin
    )
    webhooks.send_test(endpoint, actor=admin)
    db.session.commit()
    webhook_server.fail_next(1, status=500, reason=SECRET)
    message = deliver(app)
    assert message.last_error == "event to 127.0.0.1 failed: HTTP 500 Internal Server Error"
    answer = api_as("admin").get(f"/api/v1/webhooks/{endpoint.id}/deliveries/")
    assert answer.json[0]["last_error"] == message.last_error
    login(client, admin)
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert message.last_error in page and SECRET not in page


LEGACY_ERRORS = [
    (
        f"webhook to 127.0.0.1 failed: HTTP 200 answer is not JSON: '<html>{SECRET}</html>'",
        "webhook to 127.0.0.1 failed: the answer (HTTP 200) is not JSON",
    ),
    (
        f"webhook to 127.0.0.1 refused the message: errcode 40001 {SECRET}",
        "webhook to 127.0.0.1 refused the message: errcode 40001",
    ),
    (
        f"webhook to 127.0.0.1 refused the message: errcode {SECRET}",
        "webhook to 127.0.0.1 refused the message: the answer has no errcode",
    ),
    (
        f"event to 127.0.0.1 failed: HTTP 500 {SECRET}",
        "event to 127.0.0.1 failed: HTTP 500 Internal Server Error",
    ),
    ("webhook to 127.0.0.1 failed: Connection refused", None),
]


@pytest.mark.parametrize(("stored", "shown"), LEGACY_ERRORS)
def test_errors_stored_before_the_rule_no_longer_show_the_answer(
    client: FlaskClient, login_as: Any, stored: str, shown: str | None
) -> None:
    message = queue_robot("https://oapi.dingtalk.com/robot/send?access_token=t")
    message.status, message.last_error = "failed", stored
    db.session.commit()
    assert message.error_shown == (shown or stored)
    login_as("office")
    page = client.get("/outbox?status=failed").get_data(as_text=True).replace("&#39;", "'")
    assert (shown or stored) in page and SECRET not in page


def test_a_legacy_event_error_is_cut_in_the_api(app: Flask, api_as: Any) -> None:
    admin = make_user("admin", None, "outbound-admin")
    endpoint, _secret = webhooks.create_endpoint(
        url="https://8.8.8.8/hook", events=["review.done"], actor=admin
    )
    webhooks.send_test(endpoint, actor=admin)
    message = db.session.scalars(select(OutboxMessage)).one()
    message.status, message.last_error = "failed", f"event to 8.8.8.8 failed: HTTP 502 {SECRET}"
    db.session.commit()
    answer = api_as("admin").get(f"/api/v1/webhooks/{endpoint.id}/deliveries/")
    assert answer.json[0]["last_error"] == "event to 8.8.8.8 failed: HTTP 502 Bad Gateway"


# --- the setting ----------------------------------------------------------------------------------


def test_the_allow_list_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKHUB_WEBHOOK_ALLOW", " Dash.Intranet., 10.0.0.5 ,[::1],,")
    config = Config()
    assert config.WEBHOOK_ALLOW == ("dash.intranet", "10.0.0.5", "::1")
    assert ("TASKHUB_WEBHOOK_ALLOW", "dash.intranet,10.0.0.5,::1") in config.effective()
    assert not [p for p in config.validate() if p.variable == "TASKHUB_WEBHOOK_ALLOW"]

    monkeypatch.setenv("TASKHUB_WEBHOOK_ALLOW", "https://dash.intranet/, 10.0.0.0/8, ok.example")
    [problem] = [p for p in Config().validate() if p.variable == "TASKHUB_WEBHOOK_ALLOW"]
    assert "'https://dash.intranet/', '10.0.0.0/8'" in problem.message
    assert "host names or IP addresses only" in problem.message

    monkeypatch.delenv("TASKHUB_WEBHOOK_ALLOW")
    assert Config().WEBHOOK_ALLOW == ()
