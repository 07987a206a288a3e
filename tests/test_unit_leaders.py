"""A unit's principal leader (单位主要负责人) among its contacts: marked on the contact form and
the API (audited), named on the notices copied to the unit's leader and sent them by e-mail
through the outbox, once; the office's note when a unit marked none (issue 16)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from taskhub.audit.models import AuditEvent
from taskhub.core.db import db
from taskhub.reminders import services as reminders
from taskhub.reminders.models import OutboxMessage
from taskhub.supervision import notices
from taskhub.supervision import services as escalations
from taskhub.supervision.jobs import escalate
from taskhub.units.models import Contact
from tests.conftest import login, unit_named
from tests.test_escalations import KDL, scene  # noqa: F401  (the fixture of a notice's scene)

TODAY = date(2022, 7, 5)
LEADER_MAIL = "zhangsan@kdl.example.gov.cn"


def _audit(action: str, contact_id: int) -> AuditEvent:
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.object_id == str(contact_id))
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    return event


# -- marking the leader ---------------------------------------------------------------------------


def test_the_contact_form_marks_the_principal_leader_audited(client, login_as):
    unit = unit_named(KDL, "baotou")
    login_as("office")
    form = {"name": "张三", "position": "区长", "email": LEADER_MAIL}
    response = client.post(f"/units/{unit.id}/contacts", data={**form, "is_unit_leader": "on"})
    assert response.status_code == 302
    contact = db.session.scalars(select(Contact).where(Contact.name == "张三")).one()
    assert contact.is_unit_leader is True
    assert _audit("contact.created", contact.id).after["is_unit_leader"] is True
    page = client.get(f"/units/{unit.id}").get_data(as_text=True)
    assert (
        "主要负责人" in page and 'name="is_unit_leader" type="checkbox" value="on" checked' in page
    )
    # The box left unticked clears it (a form sends nothing for it), audited before and after.
    client.post(f"/contacts/{contact.id}", data=form)
    db.session.expire_all()
    assert contact.is_unit_leader is False
    event = _audit("contact.updated", contact.id)
    assert event.before["is_unit_leader"] is True and event.after["is_unit_leader"] is False
    assert '<p class="tag">主要负责人</p>' not in client.get(f"/units/{unit.id}").get_data(
        as_text=True
    )


def test_the_api_marks_the_principal_leader_and_keeps_it_when_not_sent(api_as):
    unit = unit_named(KDL, "baotou")
    client = api_as("unit", unit)
    created = client.post(
        f"/api/v1/units/{unit.id}/contacts",
        json={"name": "张三", "email": LEADER_MAIL, "is_unit_leader": True},
    )
    assert created.status_code == 201, created.json
    assert created.json["is_unit_leader"] is True
    url = f"/api/v1/contacts/{created.json['id']}"
    etag = client.get(url).headers["ETag"]
    # A change that leaves the flag out keeps it.
    kept = client.patch(url, json={"position": "区长"}, headers={"If-Match": etag})
    assert kept.status_code == 200 and kept.json["is_unit_leader"] is True
    cleared = client.patch(
        url, json={"is_unit_leader": False}, headers={"If-Match": kept.headers["ETag"]}
    )
    assert cleared.status_code == 200 and cleared.json["is_unit_leader"] is False
    event = _audit("contact.updated", created.json["id"])
    assert event.before["is_unit_leader"] is True and event.after["is_unit_leader"] is False
    listed = client.get(f"/api/v1/units/{unit.id}/contacts").json
    assert [c["is_unit_leader"] for c in listed] == [False]
    bad = client.patch(
        url, json={"is_unit_leader": "maybe"}, headers={"If-Match": cleared.headers["ETag"]}
    )
    assert bad.status_code == 422


# -- escalations copied to the unit's leader -----------------------------------------------------


def _leader(unit_id: int) -> Contact:
    contact = Contact(unit_id=unit_id, name="张三", position="区长", email=LEADER_MAIL,
                      is_unit_leader=True)  # fmt: skip
    db.session.add(contact)
    db.session.commit()
    return contact


def _rows(notice_id: int, address: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.dedupe_key.like(f"notice:escalation:{notice_id}:%"),
                OutboxMessage.recipient == address,
            )
        )
    )


def test_a_notice_copied_to_the_unit_leader_mails_them_once(
    app: Any,
    scene: dict[str, Any],  # noqa: F811
    smtp_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    kdl = scene["kdl"]
    _leader(kdl.unit_id)
    city_id = escalations.city_of(kdl)
    # 提醒 is not copied to the unit's leader (the default ladder): the contact 王伟 only.
    remind = escalations.issue(
        kdl, escalations.level_by_code(city_id, "remind"), actor=scene["office"], today=TODAY
    )
    interview = escalations.issue(
        kdl, escalations.level_by_code(city_id, "interview"), actor=scene["office"], today=TODAY
    )
    db.session.commit()
    assert _rows(remind.id, LEADER_MAIL) == []
    assert len(_rows(remind.id, "wang@example.org")) == 1
    (row,) = _rows(interview.id, LEADER_MAIL)
    assert row.channel == "email" and interview.number in row.subject
    # Telling again (the job or a retry) queues nothing new; the job reruns.
    notices.issued(interview)
    db.session.commit()
    escalate(TODAY)
    escalate(TODAY)
    db.session.commit()
    assert len(_rows(interview.id, LEADER_MAIL)) == 1
    # Sent once quiet hours (if any now) are over; a second run sends nothing again.
    later = row.next_attempt_at + timedelta(minutes=1)
    assert reminders.deliver(app.config, now=later)["sent"] >= 1
    reminders.deliver(app.config, now=later)
    to_leader = [m for m in smtp_server.messages if LEADER_MAIL in m.rcpt_tos]
    assert len(to_leader) == 1 and interview.number in to_leader[0].subject
    assert "约谈" in to_leader[0].subject
    # The notice names the leader on its 抄送 line; the issue's audit lists who was copied.
    text = escalations.notice_text(interview)
    assert f"{KDL}主要负责同志（张三）" in text.copies_to
    assert "主要负责同志" not in "".join(escalations.notice_text(remind).copies_to)
    issued = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "escalation.issued", AuditEvent.object_id == str(interview.id)
        )
    ).one()
    assert issued.after["unit_leaders"] == ["张三"]
    assert escalations.unit_leader_missing(interview) is False


def test_the_job_mails_the_leader_at_an_automatic_level_that_asks(scene):  # noqa: F811
    kdl = scene["kdl"]
    _leader(kdl.unit_id)
    assert escalate(date(2022, 7, 14))["by_level"] == {"urge": 2}  # 催办: to the unit's leader
    db.session.commit()
    (urge,) = escalations.of_assignment(kdl.id)
    assert len(_rows(urge.id, LEADER_MAIL)) == 1
    assert escalate(date(2022, 7, 14))["issued"] == 0
    db.session.commit()
    assert len(_rows(urge.id, LEADER_MAIL)) == 1


def test_the_office_sees_a_note_when_the_unit_marked_no_leader(
    client,
    scene: dict[str, Any],  # noqa: F811
) -> None:
    kdl = scene["kdl"]
    city_id = escalations.city_of(kdl)
    interview = escalations.issue(
        kdl, escalations.level_by_code(city_id, "interview"), actor=scene["office"], today=TODAY
    )
    remind = escalations.issue(
        scene["qs"], escalations.level_by_code(city_id, "remind"), actor=scene["office"],
        today=TODAY,
    )  # fmt: skip
    db.session.commit()
    assert escalations.unit_leader_missing(interview) is True
    assert escalations.unit_leader_missing(remind) is False  # 提醒 does not ask for the leader
    assert f"{KDL}主要负责同志" in escalations.notice_text(interview).copies_to
    issued = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "escalation.issued", AuditEvent.object_id == str(interview.id)
        )
    ).one()
    assert issued.after["unit_leaders"] == []
    login(client, scene["office"])
    page = client.get(f"/assignments/{kdl.id}").get_data(as_text=True)
    assert "该单位未登记主要负责人" in page
    assert "抄送单位主要负责人" in client.get(f"/assignments/{kdl.id}/history").get_data(
        as_text=True
    )
    # Once a leader is marked the note goes (notices already sent are not sent again).
    _leader(kdl.unit_id)
    page = client.get(f"/assignments/{kdl.id}").get_data(as_text=True)
    assert "该单位未登记主要负责人" not in page
