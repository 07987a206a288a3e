"""Reminder delivery against real servers: SMTP (aiosmtpd) and a DingTalk/WeCom-like robot."""

# The server fixtures are imported by name until conftest.py imports them; pytest then injects
# them as arguments, which ruff reads as redefinitions.

from __future__ import annotations

import dataclasses

import pytest

from taskhub.config import Config
from taskhub.reminders.channels import (
    TRUNCATED_NOTE,
    WECOM_MARKDOWN_LIMIT,
    DeliveryError,
    SmtpSettings,
    send_email,
    send_webhook,
    webhook_kind,
    webhook_payload,
)
from tests.servers import HOST, closed_port

SUBJECT = "【督办提醒】“一网通办”建设任务将于6月30日到期"
BODY = (
    "您好：\n\n贵单位牵头的“一网通办”任务将于 2024-06-30 到期，请及时上报进展。\n\n—— 任务督办平台"
)


def settings_for(host: str, port: int, **changes: object) -> SmtpSettings:
    settings = SmtpSettings(
        host=host,
        port=port,
        user=None,
        password=None,
        use_tls=False,
        mail_from="任务督办平台 <taskhub@example.gov.cn>",
        timeout=5.0,
    )
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


# --- Email --------------------------------------------------------------------------------------


def test_chinese_email_arrives_and_decodes(smtp_server):
    settings = settings_for(smtp_server.host, smtp_server.port)
    send_email(settings, "张三 <zhangsan@example.gov.cn>", SUBJECT, BODY, html=f"<p>{BODY}</p>")

    [mail] = smtp_server.messages
    assert mail.mail_from == "taskhub@example.gov.cn"
    assert mail.rcpt_tos == ["zhangsan@example.gov.cn"]
    assert mail.subject == SUBJECT
    assert mail.text.strip() == BODY
    assert mail.html is not None and BODY in mail.html
    assert mail.message["From"].addresses[0].display_name == "任务督办平台"
    assert mail.message["To"].addresses[0].display_name == "张三"
    assert mail.message["Message-ID"].endswith("@example.gov.cn>")
    assert mail.message["Date"].datetime is not None
    assert mail.message["Auto-Submitted"] == "auto-generated"
    # Encoded for any server: no SMTPUTF8 or 8BITMIME needed.
    assert mail.raw.isascii()


def test_plain_text_email_is_a_single_utf8_part(smtp_server):
    send_email(settings_for(smtp_server.host, smtp_server.port), "li@example.cn", SUBJECT, BODY)

    [mail] = smtp_server.messages
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content_charset() == "utf-8"
    assert mail.html is None


def test_login_when_a_user_is_configured(smtp_server):
    settings = settings_for(
        smtp_server.host, smtp_server.port, user=smtp_server.user, password=smtp_server.password
    )
    send_email(settings, "li@example.cn", SUBJECT, BODY)
    assert smtp_server.logins == [smtp_server.user]
    assert len(smtp_server.messages) == 1


def test_a_refused_login_names_the_user_but_never_the_password(smtp_server):
    settings = settings_for(
        smtp_server.host, smtp_server.port, user=smtp_server.user, password="wrong-password"
    )
    with pytest.raises(DeliveryError) as caught:
        send_email(settings, "li@example.cn", SUBJECT, BODY)
    message = str(caught.value)
    assert f"SMTP login as {smtp_server.user} failed: 535" in message
    assert "wrong-password" not in message
    assert "wrong-password" not in repr(settings)
    assert smtp_server.messages == []


def test_a_closed_port_is_a_clear_delivery_error():
    port = closed_port()
    with pytest.raises(DeliveryError) as caught:
        send_email(settings_for("127.0.0.1", port), "li@example.cn", SUBJECT, BODY)
    assert str(caught.value) == (
        f"email to li@example.cn failed: cannot connect to SMTP server 127.0.0.1:{port}: "
        "Connection refused"
    )


def test_a_server_that_never_greets_times_out(silent_server):
    settings = settings_for(silent_server.host, silent_server.port, timeout=0.3)
    with pytest.raises(DeliveryError, match=r"cannot connect to SMTP server .*timed out"):
        send_email(settings, "li@example.cn", SUBJECT, BODY)


def test_tls_required_but_not_offered_fails_instead_of_sending_in_clear(smtp_server):
    settings = settings_for(smtp_server.host, smtp_server.port, use_tls=True)
    with pytest.raises(DeliveryError, match="STARTTLS failed"):
        send_email(settings, "li@example.cn", SUBJECT, BODY)
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("to", "subject", "expected"),
    [
        ("not-an-address", SUBJECT, "is not an email address"),
        ("li@example.cn", "提醒\r\nBcc: spy@example.com", "may not contain linefeed"),
        ("li@example.cn\nBcc: spy@example.com", SUBJECT, "may not contain linefeed"),
    ],
)
def test_bad_addresses_and_header_injection_are_refused(smtp_server, to, subject, expected):
    with pytest.raises(DeliveryError, match=expected):
        send_email(settings_for(smtp_server.host, smtp_server.port), to, subject, BODY)
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {
                "SMTP_HOST": "smtp.exmail.qq.com",
                "SMTP_PORT": 465,
                "SMTP_USER": "duban@example.gov.cn",
                "SMTP_PASSWORD": "pw",
                "SMTP_TLS": True,
                "MAIL_FROM": "督办 <duban@example.gov.cn>",
            },
            SmtpSettings(
                "smtp.exmail.qq.com",
                465,
                "duban@example.gov.cn",
                "pw",
                True,
                "督办 <duban@example.gov.cn>",
            ),
        ),
        (  # empty values mean "not set"; strings as they come from a hand-written config
            {"SMTP_HOST": "mail.local", "SMTP_PORT": "587", "SMTP_USER": "", "SMTP_TLS": "yes"},
            SmtpSettings("mail.local", 587, None, None, True, "taskhub@localhost"),
        ),
        ({}, SmtpSettings("127.0.0.1", 25, None, None, False, "taskhub@localhost")),
    ],
)
def test_settings_from_config(config, expected):
    assert SmtpSettings.from_config(config) == expected


def test_settings_from_the_environment_config(monkeypatch):
    for name, value in {
        "TASKHUB_SMTP_HOST": "smtp.example.gov.cn",
        "TASKHUB_SMTP_PORT": "587",
        "TASKHUB_SMTP_USER": "duban",
        "TASKHUB_SMTP_PASSWORD": "pw",
        "TASKHUB_SMTP_TLS": "true",
        "TASKHUB_MAIL_FROM": "督办 <duban@example.gov.cn>",
    }.items():
        monkeypatch.setenv(name, value)
    # Config is what the app factory loads into app.config, key for key.
    settings = SmtpSettings.from_config(vars(Config()))
    assert settings == SmtpSettings(
        "smtp.example.gov.cn", 587, "duban", "pw", True, "督办 <duban@example.gov.cn>"
    )


# --- Robot webhooks -----------------------------------------------------------------------------

#: The test receivers listen on 127.0.0.1, which the allow list (TASKHUB_WEBHOOK_ALLOW) opens.
LOCAL = (HOST,)
MARKDOWN = "### 督办提醒\n> 任务：**一网通办**\n> 到期：2024-06-30\n\n[查看详情](https://taskhub.example/a/1)"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "wecom"),
        ("https://QYAPI.weixin.qq.com/cgi-bin/webhook/send?key=abc", "wecom"),
        ("https://oapi.dingtalk.com/robot/send?access_token=abc", "dingtalk"),
        ("https://qyapi.weixin.qq.com.evil.example/send", "dingtalk"),
        ("http://127.0.0.1:8080/robot", "dingtalk"),
    ],
)
def test_webhook_kind_by_host(url, kind):
    assert webhook_kind(url) == kind


@pytest.mark.parametrize(
    ("path", "kind", "expected"),
    [
        (  # kind from the URL host: anything but WeCom's host is DingTalk
            "/robot/send?access_token=tok",
            None,
            {"msgtype": "markdown", "markdown": {"title": "督办提醒", "text": MARKDOWN}},
        ),
        (
            "/robot/send?access_token=tok",
            "dingtalk",
            {"msgtype": "markdown", "markdown": {"title": "督办提醒", "text": MARKDOWN}},
        ),
        (  # a WeCom robot behind an intranet relay: the kind is given explicitly
            "/cgi-bin/webhook/send?key=k",
            "wecom",
            {"msgtype": "markdown", "markdown": {"content": MARKDOWN}},
        ),
    ],
)
def test_webhook_payload_arrives_as_json(webhook_server, path, kind, expected):
    send_webhook(webhook_server.url(path), "督办提醒", MARKDOWN, kind=kind, allow=LOCAL)
    assert webhook_server.requests == [(path, expected)]


def test_wecom_markdown_is_cut_to_the_robot_limit():
    long_text = "督办" * 3000  # 18,000 bytes in UTF-8
    content = webhook_payload("wecom", "t", long_text)["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MARKDOWN_LIMIT
    assert content.endswith(TRUNCATED_NOTE)
    assert webhook_payload("wecom", "t", MARKDOWN)["markdown"]["content"] == MARKDOWN


def test_unknown_webhook_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown webhook kind 'slack'"):
        webhook_payload("slack", "t", MARKDOWN)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"status": 500}, "webhook to 127.0.0.1 failed: HTTP 500 Internal Server Error"),
        ({"status": 404}, "webhook to 127.0.0.1 failed: HTTP 404 Not Found"),
        # The status code and errcode only: the rest of an answer is the receiver's text.
        ({"errcode": 310000}, "webhook to 127.0.0.1 refused the message: errcode 310000"),
        (
            {"body": "<html>登录</html>"},
            "webhook to 127.0.0.1 failed: the answer (HTTP 200) is not JSON",
        ),
    ],
)
def test_webhook_failures_are_delivery_errors_without_the_token(webhook_server, failure, expected):
    webhook_server.fail_next(1, **failure)
    url = webhook_server.url("/robot/send?access_token=secret-token")
    with pytest.raises(DeliveryError) as caught:
        send_webhook(url, "督办提醒", MARKDOWN, allow=LOCAL)
    assert str(caught.value) == expected
    assert "secret-token" not in str(caught.value)
    assert len(webhook_server.requests) == 1


def test_webhook_succeeds_again_after_the_failures(webhook_server):
    webhook_server.fail_next(2, errcode=130101)
    outcomes = []
    for _ in range(3):
        try:
            send_webhook(webhook_server.url(), "督办提醒", MARKDOWN, allow=LOCAL)
            outcomes.append("sent")
        except DeliveryError:
            outcomes.append("failed")
    assert outcomes == ["failed", "failed", "sent"]


def test_webhook_to_a_server_that_never_answers_times_out(silent_server):
    with pytest.raises(
        DeliveryError, match=r"^webhook to 127.0.0.1 failed: no answer within 0.3 s$"
    ):
        send_webhook(silent_server.url(), "督办提醒", MARKDOWN, timeout=0.3, allow=LOCAL)


def test_webhook_to_a_closed_port_is_refused():
    url = f"http://127.0.0.1:{closed_port()}/robot"
    with pytest.raises(DeliveryError, match="Connection refused"):
        send_webhook(url, "督办提醒", MARKDOWN, allow=LOCAL)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/robot",
        "oapi.dingtalk.com/robot/send",
        "http://[::1/robot",  # urlsplit raises: a stored URL like it must not stop the job
    ],
)
def test_webhook_only_posts_to_http_urls(url):
    with pytest.raises(DeliveryError, match="not an http"):
        send_webhook(url, "督办提醒", MARKDOWN)
