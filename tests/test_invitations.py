"""Invitations: an admin creates a user without a password, the user opens the one-time link,
sets their own password and lands on their page. Checked over HTTP and in the database; the
e-mail goes through a real SMTP server (aiosmtpd on 127.0.0.1, tests/servers.py)."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from taskhub.accounts import invitations, people
from taskhub.accounts import services as accounts
from taskhub.accounts.models import Invitation, User
from taskhub.audit.models import AuditEvent
from taskhub.core.db import db, now_utc
from taskhub.units.models import Contact
from tests.conftest import unit_named

STRONG = "violet harbour lantern 42"
LINK = re.compile(r"http://[^\s\"<]+/invite/([A-Za-z0-9_-]{43})")


def visible(page: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture
def no_mail(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "SMTP_HOST", "")


@pytest.fixture
def mail(app: Any, smtp_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    monkeypatch.setitem(app.config, "SMTP_USER", None)
    monkeypatch.setitem(app.config, "MAIL_FROM", "督办室 <duban@example.gov.cn>")
    return smtp_server


def invite(client: FlaskClient, **fields: str) -> tuple[Any, str]:
    """Invite a user through the users page; the response and the link's secret."""
    data = {
        "username": "wangfang",
        "display_name": "王芳",
        "role": "unit",
        "unit": "市财政局（鹤岗市）",
    }
    data.update(fields)
    response = client.post("/users/invite", data=data)
    assert response.status_code == 200, visible(response.get_data(as_text=True))
    found = LINK.search(response.get_data(as_text=True))
    assert found, "the new link is on the page"
    return response, found.group(1)


def user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.username == username)).one()


def actions(target: User) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "user", AuditEvent.object_id == str(target.id))
            .order_by(AuditEvent.id)
        )
    )


def test_an_invited_user_sets_a_password_once_and_lands_on_my_tasks(app, client, login_as, no_mail):
    login_as("admin")
    response, secret = invite(client)
    assert response.headers["Cache-Control"] == "no-store"
    invited = user("wangfang")
    assert not invited.has_password
    assert accounts.authenticate("wangfang", STRONG) is None
    # Only the digest is stored: the secret is nowhere in the database.
    stored = db.session.scalars(select(Invitation).where(Invitation.user_id == invited.id)).one()
    assert stored.token_hash == invitations.digest(secret) and secret not in stored.token_hash
    assert len(secret) >= 22  # at least 128 bits, url-safe base64

    client.post("/logout")
    page = client.get(f"/invite/{secret}")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    text = visible(page.get_data(as_text=True))
    assert "王芳" in text and "市财政局" in text and "wangfang" in text

    done = client.post(f"/invite/{secret}", data={"password": STRONG, "confirm_password": STRONG})
    assert done.status_code == 302 and done.headers["Location"].endswith("/my")
    assert client.get("/my").status_code == 200  # signed in as the new user
    invited = user("wangfang")
    assert invited.has_password and invited.check_password(STRONG)
    assert accounts.authenticate("wangfang", STRONG) is not None
    assert actions(invited)[:2] == ["user.created", "invitation.created"]
    assert "invitation.used" in actions(invited)

    # The link works once: a second use is refused with a clear page and nothing changes.
    client.post("/logout")
    again = client.get(f"/invite/{secret}")
    assert again.status_code == 410
    assert "督办室" in visible(again.get_data(as_text=True))
    reuse = client.post(
        f"/invite/{secret}",
        data={"password": "another quiet meadow 7", "confirm_password": "another quiet meadow 7"},
    )
    assert reuse.status_code == 410
    assert user("wangfang").check_password(STRONG)


def test_unknown_and_expired_links_are_refused_in_chinese(client, login_as, no_mail, app):
    login_as("admin")
    _response, secret = invite(client)
    client.post("/logout")
    unknown = client.get("/invite/" + "x" * 43)
    assert unknown.status_code == 404
    assert "请联系督办室重新发送邀请链接" in visible(unknown.get_data(as_text=True))
    stored = db.session.scalars(select(Invitation)).all()[-1]
    stored.expires_at = now_utc() - timedelta(minutes=1)
    db.session.commit()
    expired = client.get(f"/invite/{secret}")
    assert expired.status_code == 410
    text = visible(expired.get_data(as_text=True))
    assert "该链接已使用、已过期或已被新链接替代" in text and "请联系督办室" in text
    refused = client.post(
        f"/invite/{secret}", data={"password": STRONG, "confirm_password": STRONG}
    )
    assert refused.status_code == 410
    assert not user("wangfang").has_password


def test_a_new_link_revokes_the_old_one_and_is_shown_only_once(client, login_as, no_mail):
    login_as("admin")
    _response, first = invite(client)
    invited = user("wangfang")
    page = client.get(f"/users/{invited.id}")
    text = page.get_data(as_text=True)
    # The user's page says when the invitation went out, never the link itself.
    assert first not in text and not LINK.search(text)
    assert "邀请已于" in visible(text) and "重新发送邀请" in visible(text)
    second_page = client.post(f"/users/{invited.id}/invite")
    assert second_page.status_code == 200
    second = LINK.search(second_page.get_data(as_text=True)).group(1)
    assert second != first
    assert first not in client.get(f"/users/{invited.id}").get_data(as_text=True)
    assert second not in client.get(f"/users/{invited.id}").get_data(as_text=True)
    assert second not in client.get("/users").get_data(as_text=True)
    rows = db.session.scalars(
        select(Invitation).where(Invitation.user_id == invited.id).order_by(Invitation.id)
    ).all()
    assert rows[0].revoked_at is not None and rows[1].revoked_at is None
    assert "invitation.revoked" in actions(invited)
    client.post("/logout")
    assert client.get(f"/invite/{first}").status_code == 410
    assert client.get(f"/invite/{second}").status_code == 200


def test_the_password_rule_applies_and_a_refusal_keeps_the_link(client, login_as, no_mail):
    login_as("admin")
    _response, secret = invite(client)
    client.post("/logout")
    weak = client.post(
        f"/invite/{secret}", data={"password": "password123", "confirm_password": "password123"}
    )
    assert weak.status_code == 422
    assert "此密码太容易被猜中" in visible(weak.get_data(as_text=True))
    like_name = client.post(
        f"/invite/{secret}",
        data={"password": "wangfang-12", "confirm_password": "wangfang-12"},
    )
    assert like_name.status_code == 422
    assert "密码不能是用户名" in visible(like_name.get_data(as_text=True))
    differ = client.post(
        f"/invite/{secret}", data={"password": STRONG, "confirm_password": STRONG + "x"}
    )
    assert differ.status_code == 422
    assert "两次输入的新密码不一致" in visible(differ.get_data(as_text=True))
    assert not user("wangfang").has_password
    ok = client.post(f"/invite/{secret}", data={"password": STRONG, "confirm_password": STRONG})
    assert ok.status_code == 302


def test_a_user_with_a_password_is_not_invited(client, login_as, no_mail):
    login_as("admin")
    existing = accounts.create_user(
        username="has-pass", password=STRONG, role="viewer", display_name="有密码"
    )
    db.session.commit()
    response = client.post(f"/users/{existing.id}/invite")
    assert response.status_code == 422
    assert (
        db.session.scalars(select(Invitation).where(Invitation.user_id == existing.id)).all() == []
    )


def test_the_invitation_is_emailed_through_smtp_and_audited(client, login_as, mail):
    login_as("admin")
    response, secret = invite(client, email="wangfang@example.org")
    assert "wangfang@example.org" in visible(response.get_data(as_text=True))
    [received] = mail.messages
    assert received.rcpt_tos == ["wangfang@example.org"]
    assert "设置" in received.subject
    assert f"/invite/{secret}" in received.text
    assert "王芳" in received.text and "wangfang" in received.text
    invited = user("wangfang")
    stored = db.session.scalars(select(Invitation).where(Invitation.user_id == invited.id)).one()
    assert stored.emailed_at is not None
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "invitation.sent")
    ).one()
    assert event.object_id == str(invited.id) and event.after["email"] == "wangfang@example.org"
    # The secret is not in the audit trail either.
    assert secret not in str(event.after)


def test_a_refused_email_is_recorded_and_the_admin_still_gets_the_link(
    client, login_as, app, monkeypatch
):
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", _closed_port())
    login_as("admin")
    response, _secret = invite(client, email="wangfang@example.org")
    assert "邮件未能发送" in visible(response.get_data(as_text=True))
    assert db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "invitation.email_failed")
    ).one()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_admin_links_and_unlinks_a_contact_on_the_user_page(client, login_as, no_mail):
    login_as("admin")
    unit = unit_named("市财政局", "hegang")
    contact = Contact(unit_id=unit.id, name="王芳", mobile="13904680001")
    db.session.add(contact)
    db.session.commit()
    invite(client)
    invited = user("wangfang")
    page = visible(client.get(f"/users/{invited.id}").get_data(as_text=True))
    assert "王芳" in page
    linked = client.post(f"/users/{invited.id}/contact", data={"contact_id": str(contact.id)})
    assert linked.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).user_id == invited.id
    unit_page = client.get(f"/units/{unit.id}").get_data(as_text=True)
    assert f'href="/users/{invited.id}"' in unit_page and f"#contact-{contact.id}" in unit_page
    assert "contact.user_linked" in actions(invited)
    client.post(f"/users/{invited.id}/contact/unlink")
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).user_id is None
    assert "contact.user_unlinked" in actions(invited)


def test_a_contact_of_another_unit_cannot_be_linked(client, login_as, no_mail):
    login_as("admin")
    other = Contact(unit_id=unit_named("市委编办", "hegang").id, name="赵六", mobile="139")
    db.session.add(other)
    db.session.commit()
    invite(client)
    invited = user("wangfang")
    response = client.post(f"/users/{invited.id}/contact", data={"contact_id": str(other.id)})
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Contact, other.id).user_id is None
    with pytest.raises(people.LinkRefused):
        people.link(other, invited, actor=None)


def test_the_lifetime_follows_the_setting(client, login_as, no_mail, app, monkeypatch):
    monkeypatch.setitem(app.config, "INVITATION_DAYS", 2)
    login_as("admin")
    before = now_utc()
    invite(client)
    stored = db.session.scalars(select(Invitation)).all()[-1]
    assert timedelta(days=2) <= stored.expires_at - before < timedelta(days=2, minutes=1)


def test_a_password_set_by_the_admin_ends_the_pending_link(client, login_as, no_mail):
    login_as("admin")
    _response, secret = invite(client)
    invited = user("wangfang")
    reset = client.post(
        f"/users/{invited.id}/password", data={"password": STRONG, "confirm_password": STRONG}
    )
    assert reset.status_code == 302
    assert user("wangfang").has_password
    client.post("/logout")
    assert client.get(f"/invite/{secret}").status_code == 410
