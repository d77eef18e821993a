"""Issue 12, finding 7: a sender name with a line break was accepted, and then broke every
email the organisation sent (and could add headers of its own)."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from duely.integrations.mail import Mailer, OutgoingEmail
from duely.models import Organisation
from tests.conftest import MailCatcher, api_token
from tests.serving import free_port


@pytest.mark.parametrize("field", ["sender_name", "name"])
@pytest.mark.parametrize("value", ["Priya\r\nBcc: everyone@example.com", "Priya\nShah", "A\x00B"])
async def test_a_name_with_a_line_break_is_refused_at_save(client, db, org_a, field, value):
    admin = await api_token(client, org_a.admin)
    answer = await client.patch("/api/v1/organisation", json={field: value}, headers=admin)
    assert answer.status_code == 400
    assert "no line breaks" in answer.json()["extra"][field]
    stored = db.get(Organisation, org_a.id, populate_existing=True)
    assert "\n" not in getattr(stored, field) and "\x00" not in getattr(stored, field)


async def nothing() -> None:
    return None


async def test_a_line_break_stored_before_the_check_does_not_break_the_email():
    catcher, port = MailCatcher(), free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        email = OutgoingEmail(
            "Priya\r\nBcc: everyone@example.com",
            "priya@alpha.test",
            ("sam@acme.test",),
            "Invoice INV-1\nis due",
            "Body",
            "k-2",
        )
        await Mailer(f"smtp://127.0.0.1:{port}").send(email, nothing)
    finally:
        controller.stop()
    (received,) = catcher.received
    assert received.recipients == ["sam@acme.test"]
    assert received.message["Bcc"] is None
    assert received.message["Subject"] == "Invoice INV-1 is due"
    assert "Priya Bcc: everyone@example.com" in received.message["From"]
