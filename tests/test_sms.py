"""The SMS channel end to end over real sockets: duely's Twilio client against the sandbox's
emulator, and STOP/START replies from the emulator to duely's `/webhooks/sms` (they stop and
resume texts only: tests/test_chase_controls.py checks that the chases are told)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from litestar.datastructures import State
from sqlmodel import select

from duely.core.links import UNSUBSCRIBE, LinkTarget, make_token
from duely.core.temporal.client import TemporalConnection
from duely.integrations.sms import SmsError, TwilioSms, normalise_phone, twilio_signature
from duely.models import Channel, Contact, Customer, utcnow
from duely.outbox.opt_outs import channel_opt_out_reason, opt_out_by_phone, reply_keyword
from duely.sandbox import create_sandbox_app
from duely.sandbox.twilio import TwilioSandbox
from duely.web.app import create_app
from duely.web.chase import tell_chases
from tests.factories import add_customer
from tests.serving import free_port, serve, shut

CUSTOMER_PHONE = "+447700900123"


@pytest.fixture
def twilio() -> TwilioSandbox:
    return TwilioSandbox(delivery_delay=0.01)


@pytest_asyncio.fixture
async def twilio_url(twilio) -> AsyncIterator[str]:
    served = await serve(create_sandbox_app(twilio=twilio))
    yield f"{served.url}/twilio"
    await shut(served)


@pytest_asyncio.fixture
async def sms(settings, twilio_url) -> AsyncIterator[TwilioSms]:
    """duely's client with duely's default (demo) credentials, pointed at the sandbox."""
    async with TwilioSms.from_settings(
        settings.model_copy(update={"twilio_api_url": twilio_url})
    ) as client:
        yield client


async def admin(twilio_url: str, method: str, path: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(method, f"{twilio_url}/_admin{path}", **kwargs)


# --- phone numbers and keywords ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("+44 7700 900123", "+447700900123"),
        ("+44 (0)7700 900-123", "+447700900123"),
        (" +1 (415) 555-0100 ", "+14155550100"),
        ("+353.1.234.5678", "+35312345678"),
        ("07700 900123", "07700900123"),
        ("(020) 7946-0018", "02079460018"),
        ("", ""),
        ("n/a", ""),
    ],
)
def test_normalise_phone(raw, normalised):
    assert normalise_phone(raw) == normalised


@pytest.mark.parametrize(
    ("body", "keyword"),
    [("STOP", "stop"), (" stop\n", "stop"), ("StopAll", "stop"), ("unsubscribe", "stop"),
     ("cancel", "stop"), ("END", "stop"), ("quit", "stop"), ("start", "start"),
     ("UNSTOP", "start"), ("please stop", ""), ("stop.", ""), ("yes", ""), ("", "")],
)  # fmt: skip
def test_reply_keywords(body, keyword):
    assert reply_keyword(body) == keyword


# --- sending ----------------------------------------------------------------------------------


async def test_send_reaches_the_sandbox(sms, twilio_url):
    sent = await sms.send("+44 7700 900-123", "Invoice INV-1 is now due.")

    assert sent.sid.startswith("SM")
    assert sent.status == "queued"
    assert sent.to == CUSTOMER_PHONE
    [captured] = (await admin(twilio_url, "GET", "/messages")).json()
    assert captured["sid"] == sent.sid
    assert captured["to"] == CUSTOMER_PHONE
    assert captured["from"] == "+15005550006"
    assert captured["body"] == "Invoice INV-1 is now due."


async def test_status_callback_and_fetch(sms, twilio):
    sent = await sms.send(CUSTOMER_PHONE, "Hello", status_callback="http://127.0.0.1:1/status")
    await twilio.wait_idle()

    assert (await sms.fetch(sent.sid)).status == "delivered"
    assert twilio.messages[sent.sid].status_callback == "http://127.0.0.1:1/status"


async def test_invalid_number_is_not_retryable_and_says_what_to_fix(sms):
    with pytest.raises(SmsError) as raised:
        await sms.send("12345", "Hello")

    error = raised.value
    assert not error.retryable
    assert error.code == 21211
    assert error.status_code == 400
    assert "12345 is not a valid phone number" in str(error)
    assert "country code" in str(error)


async def test_unsubscribed_recipient_is_not_retryable(sms):
    with pytest.raises(SmsError) as raised:
        await sms.send("+15005550004", "Hello")  # Twilio's magic "blocked" number

    assert raised.value.code == 21610
    assert raised.value.opted_out
    assert not raised.value.retryable
    assert "replied STOP" in str(raised.value)


async def test_wrong_credentials_name_the_settings_to_check(settings, twilio_url):
    wrong = settings.model_copy(
        update={"twilio_api_url": twilio_url, "twilio_auth_token": "not-the-token"}
    )
    async with TwilioSms.from_settings(wrong) as client:
        with pytest.raises(SmsError) as raised:
            await client.send(CUSTOMER_PHONE, "Hello")

    assert raised.value.code == 20003
    assert not raised.value.retryable
    assert "DUELY_TWILIO_AUTH_TOKEN" in str(raised.value)


async def test_a_number_or_text_missing_fails_before_calling_twilio(sms, twilio):
    for to, body, code in (
        ("", "Hello", 21604),
        ("n/a", "Hello", 21604),
        (CUSTOMER_PHONE, " ", 21602),
    ):
        with pytest.raises(SmsError) as raised:
            await sms.send(to, body)
        assert raised.value.code == code
        assert not raised.value.retryable
    assert twilio.messages == {}


@pytest.mark.parametrize(("status", "retry_after"), [(429, 7), (500, None), (503, 2)])
async def test_rate_limits_and_server_errors_are_retryable(sms, twilio_url, status, retry_after):
    rule = {"status": status, "remaining": 1, "retry_after": retry_after}
    await admin(twilio_url, "PUT", "/faults", json={"rules": [rule]})

    with pytest.raises(SmsError) as raised:
        await sms.send(CUSTOMER_PHONE, "Hello")

    assert raised.value.retryable
    assert raised.value.status_code == status
    assert raised.value.retry_after == retry_after
    assert "tried again" in str(raised.value)
    assert (await sms.send(CUSTOMER_PHONE, "Hello")).status == "queued"


async def test_an_unreachable_twilio_is_retryable_and_nothing_was_sent():
    async with TwilioSms(
        "AC" + "0" * 32, "token", "+15005550006", api_url=f"http://127.0.0.1:{free_port()}"
    ) as client:
        with pytest.raises(SmsError) as raised:
            await client.send(CUSTOMER_PHONE, "Hello")

    assert raised.value.retryable
    assert not raised.value.maybe_sent
    assert "could not reach Twilio" in str(raised.value)


def _client_answering(handler) -> TwilioSms:
    """For what the emulator cannot do: a connection lost mid-answer, an HTTP-date Retry-After,
    a body that is not Twilio's."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return TwilioSms(
        "AC" + "0" * 32, "token", "+15005550006", api_url="http://twilio.test", http=http
    )


async def test_a_connection_lost_after_sending_may_have_sent_the_text():
    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(SmsError) as raised:
        await _client_answering(lost).send(CUSTOMER_PHONE, "Hello")

    assert raised.value.retryable
    assert raised.value.maybe_sent


async def test_retry_after_as_an_http_date():
    def limited(request: httpx.Request) -> httpx.Response:
        headers = {
            "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            "Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT",
        }
        return httpx.Response(429, headers=headers, text="slow down")

    with pytest.raises(SmsError) as raised:
        await _client_answering(limited).send(CUSTOMER_PHONE, "Hello")

    assert raised.value.retryable
    assert raised.value.retry_after == 30
    assert raised.value.code is None


async def test_an_unknown_refusal_keeps_twilios_words():
    def refused(request: httpx.Request) -> httpx.Response:
        body = {"code": 30007, "message": "Message filtered", "more_info": "", "status": 400}
        return httpx.Response(400, json=body)

    with pytest.raises(SmsError) as raised:
        await _client_answering(refused).send(CUSTOMER_PHONE, "Hello")

    assert not raised.value.retryable
    assert raised.value.code == 30007
    assert "Message filtered" in str(raised.value)
    assert CUSTOMER_PHONE in str(raised.value)


# --- replies: STOP and START through /webhooks/sms --------------------------------------------


@dataclass
class Duely:
    url: str
    settings: object


@pytest_asyncio.fixture
async def duely(settings, twilio_url) -> AsyncIterator[Duely]:
    """duely's web app on a socket, at the public URL Twilio signs."""
    port = free_port()
    public = settings.model_copy(
        update={"public_url": f"http://127.0.0.1:{port}", "twilio_api_url": twilio_url}
    )
    served = await serve(create_app(public), port)
    yield Duely(served.url, public)
    await shut(served)


def add_contact(db, customer: Customer, phone: str) -> Contact:
    contact = Contact(
        organisation_id=customer.organisation_id, customer_id=customer.id, phone=phone
    )
    db.add(contact)
    db.commit()
    return contact


def opted_out(db, channel: Channel = Channel.SMS) -> dict[str, bool]:
    """Who is opted out of `channel` (texts unless told), by customer name."""
    db.expire_all()
    return {
        c.name: bool(channel_opt_out_reason(c, channel)) for c in db.exec(select(Customer)).all()
    }


@pytest.fixture
def customers(db, org_a, org_b) -> dict[str, Customer]:
    """The same person is a contact at customers of two organisations (written two ways);
    a third customer has another number."""
    acme = add_customer(db, org_a.id, "Acme")
    add_contact(db, acme, "+44 (0)7700 900-123")
    bolt = add_customer(db, org_b.id, "Bolt")
    add_contact(db, bolt, "+447700900123")
    add_contact(db, bolt, "+447700900999")
    other = add_customer(db, org_a.id, "Other")
    add_contact(db, other, "+447700900124")
    national = add_customer(db, org_a.id, "National")
    add_contact(db, national, "07700 900123")  # no country code: cannot be matched
    return {"acme": acme, "bolt": bolt, "other": other, "national": national}


async def reply(twilio_url: str, duely: Duely, body: str, sender: str = CUSTOMER_PHONE) -> dict:
    answer = await admin(
        twilio_url,
        "POST",
        "/inbound",
        json={"from": sender, "body": body, "webhook_url": f"{duely.url}/webhooks/sms"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["webhook"]


async def test_stop_opts_out_every_customer_with_that_phone(db, customers, duely, twilio_url, sms):
    webhook = await reply(twilio_url, duely, "  Stop ")

    assert webhook["status_code"] == 200, webhook
    assert webhook["body"].endswith("<Response/>")
    assert opted_out(db) == {"Acme": True, "Bolt": True, "Other": False, "National": False}
    assert not any(opted_out(db, Channel.EMAIL).values())  # they asked the number, not email
    # Twilio refuses the number from now on, and says why in words a person can act on.
    with pytest.raises(SmsError) as raised:
        await sms.send(CUSTOMER_PHONE, "Invoice INV-1 is due")
    assert raised.value.opted_out


async def test_start_reverses_stop(db, customers, duely, twilio_url, sms):
    await reply(twilio_url, duely, "STOPALL")
    webhook = await reply(twilio_url, duely, "start")

    assert webhook["status_code"] == 200
    assert opted_out(db) == {"Acme": False, "Bolt": False, "Other": False, "National": False}
    assert (await sms.send(CUSTOMER_PHONE, "Invoice INV-1 is due")).status == "queued"


async def test_an_earlier_opt_out_keeps_its_time(db, customers, duely, twilio_url):
    earlier = utcnow().replace(year=2025)
    customers["acme"].sms_opted_out_at = earlier
    db.add(customers["acme"])
    db.commit()

    await reply(twilio_url, duely, "unsubscribe")

    db.expire_all()
    assert db.get(Customer, customers["acme"].id).sms_opted_out_at == earlier
    assert db.get(Customer, customers["bolt"].id).sms_opted_out_at > earlier


async def test_sms_start_does_not_undo_an_email_unsubscribe(db, customers, duely, twilio_url):
    """Issue 11, finding 9: both opt-outs were one field, so START re-subscribed email too."""
    acme = customers["acme"]
    token = make_token(
        duely.settings.resolved_secret_key,
        UNSUBSCRIBE,
        LinkTarget(acme.organisation_id, acme.id),
    )
    async with httpx.AsyncClient() as client:
        # The link at the foot of a reminder email: stops reminders by email and by text.
        unsubscribed = await client.post(
            f"{duely.url}/unsubscribe/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert unsubscribed.status_code == 200
    assert opted_out(db, Channel.EMAIL)["Acme"] and opted_out(db, Channel.SMS)["Acme"]

    # Later the same person texts duely's number STOP, then START: texts resume, email does not.
    await reply(twilio_url, duely, "STOP")
    await reply(twilio_url, duely, "START")

    assert opted_out(db, Channel.SMS)["Acme"] is False
    assert opted_out(db, Channel.EMAIL)["Acme"] is True
    db.expire_all()
    customer = db.get(Customer, acme.id)
    assert channel_opt_out_reason(customer, Channel.EMAIL) == "the customer opted out of email"
    assert channel_opt_out_reason(customer, Channel.SMS) == ""
    assert channel_opt_out_reason(customer, Channel.CALL_TASK) == ""


async def test_other_replies_change_nothing(db, customers, duely, twilio_url):
    webhook = await reply(twilio_url, duely, "Please stop chasing, paid yesterday")

    assert webhook["status_code"] == 200
    assert not any(opted_out(db).values())


async def test_the_webhook_answers_empty_twiml(customers, duely):
    params = {"From": CUSTOMER_PHONE, "To": "+15005550006", "Body": "hello", "MessageSid": "SM1"}
    url = f"{duely.url}/webhooks/sms"
    signature = twilio_signature(url, params.items(), duely.settings.twilio_auth_token)
    async with httpx.AsyncClient() as client:
        response = await client.post(url, data=params, headers={"X-Twilio-Signature": signature})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text.endswith("<Response/>")


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "wrong-token", "other-url"])
async def test_a_bad_signature_gets_403_and_changes_nothing(db, customers, duely, signature):
    params = {"From": CUSTOMER_PHONE, "To": "+15005550006", "Body": "STOP", "MessageSid": "SM1"}
    url = f"{duely.url}/webhooks/sms"
    if signature == "wrong-token":
        signature = twilio_signature(url, params.items(), "not-the-token")
    elif signature == "other-url":
        signature = twilio_signature(
            "https://elsewhere.example/webhooks/sms",
            params.items(),
            duely.settings.twilio_auth_token,
        )
    headers = {"X-Twilio-Signature": signature} if signature else {}
    async with httpx.AsyncClient() as client:
        response = await client.post(url, data=params, headers=headers)

    assert response.status_code == 403
    assert not any(opted_out(db).values())


async def test_a_tampered_body_is_refused(db, customers, duely):
    url = f"{duely.url}/webhooks/sms"
    signed = {"From": "+447700900124", "Body": "STOP"}
    signature = twilio_signature(url, signed.items(), duely.settings.twilio_auth_token)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url, data={**signed, "From": CUSTOMER_PHONE}, headers={"X-Twilio-Signature": signature}
        )

    assert response.status_code == 403
    assert not any(opted_out(db).values())


async def test_opt_out_by_phone_returns_the_customers(settings, db, customers):
    from duely.core.db import Database

    database = Database(settings.resolved_database_url)
    state = State({"temporal": TemporalConnection(settings)})  # unreachable: nobody to tell
    async with database.session() as session:
        tell = tell_chases(state)
        ids = await opt_out_by_phone(tell, session, "+44 7700 900123")
        assert await opt_out_by_phone(tell, session, "+1 555 0000") == []
    await database.dispose()

    assert sorted(ids) == sorted([customers["acme"].id, customers["bolt"].id])
    assert opted_out(db)["Acme"]
