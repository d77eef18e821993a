"""The Twilio sandbox behaves like Twilio's Messages API: shapes, auth, validation, opt-outs,
signed webhooks and status callbacks. Served on a real socket, as duely meets it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from litestar import Litestar, Request, Response, post

from duely.integrations.sms import twilio_signature
from duely.sandbox import create_sandbox_app
from duely.sandbox.twilio import TwilioAccount, TwilioSandbox
from duely.sandbox.twilio.sandbox import (
    DEMO_ACCOUNT_SID,
    DEMO_AUTH_TOKEN,
    DEMO_NUMBER,
    segments,
)
from duely.sandbox.twilio.signature import sign
from duely.settings import Settings
from tests.serving import serve, shut

SID = DEMO_ACCOUNT_SID
MESSAGES = f"/twilio/2010-04-01/Accounts/{SID}/Messages.json"
CUSTOMER = "+447700900123"
MESSAGE_FIELDS = {
    "account_sid", "api_version", "body", "date_created", "date_sent", "date_updated",
    "direction", "error_code", "error_message", "from", "messaging_service_sid", "num_media",
    "num_segments", "price", "price_unit", "sid", "status", "subresource_uris", "to", "uri",
}  # fmt: skip
RFC_2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")


@pytest.fixture
def twilio() -> TwilioSandbox:
    return TwilioSandbox(delivery_delay=0.01)


@pytest_asyncio.fixture
async def api(twilio) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox on a socket, called with the demo account's credentials."""
    served = await serve(create_sandbox_app(twilio=twilio))
    async with httpx.AsyncClient(base_url=served.url, auth=(SID, DEMO_AUTH_TOKEN)) as client:
        yield client
    await shut(served)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict]]]:
    """A webhook receiver on a socket: its URL and every request it got."""
    received: list[dict] = []

    @post("/hook", status_code=200)
    async def hook(request: Request) -> Response:
        form = await request.form()
        received.append(
            {
                "url": str(request.url),
                "params": {name: str(value) for name, value in form.items()},
                "signature": request.headers.get("x-twilio-signature", ""),
                "content_type": request.headers.get("content-type", ""),
            }
        )
        return Response("<Response/>", media_type="application/xml")

    served = await serve(Litestar([hook], openapi_config=None))
    yield f"{served.url}/hook", received
    await shut(served)


def send(api: httpx.AsyncClient, **form: str):
    return api.post(MESSAGES, data={"From": DEMO_NUMBER, "Body": "Invoice INV-1 is due", **form})


def assert_twilio_error(response: httpx.Response, status: int, code: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert body["message"]
    return body


def test_duely_default_settings_are_the_sandbox_demo_account():
    settings = Settings()
    assert settings.twilio_account_sid == DEMO_ACCOUNT_SID
    assert re.fullmatch(r"AC[0-9a-f]{32}", settings.twilio_account_sid)
    assert settings.twilio_auth_token == DEMO_AUTH_TOKEN
    assert settings.twilio_from_number == DEMO_NUMBER
    assert settings.twilio_api_url == "http://127.0.0.1:8100/twilio"
    assert Settings(sandbox_port=9100).twilio_api_url == "http://127.0.0.1:9100/twilio"


async def test_create_answers_with_twilios_message_resource(api, twilio):
    response = await send(api, To=CUSTOMER, StatusCallback="http://127.0.0.1:1/status")

    assert response.status_code == 201
    message = response.json()
    assert set(message) == MESSAGE_FIELDS
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert message["status"] == "queued"
    assert message["direction"] == "outbound-api"
    assert message["to"] == CUSTOMER
    assert message["from"] == DEMO_NUMBER
    assert message["body"] == "Invoice INV-1 is due"
    assert message["account_sid"] == SID
    assert message["api_version"] == "2010-04-01"
    assert message["num_segments"] == "1"
    assert message["date_sent"] is None
    assert RFC_2822.match(message["date_created"])
    assert message["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}.json"

    captured = (await api.get("/twilio/_admin/messages")).json()
    assert [(m["sid"], m["to"], m["status_callback"]) for m in captured] == [
        (message["sid"], CUSTOMER, "http://127.0.0.1:1/status")
    ]


async def test_a_message_moves_on_to_delivered(api, twilio):
    sid = (await send(api, To=CUSTOMER)).json()["sid"]
    await twilio.wait_idle()

    fetched = await api.get(f"/twilio/2010-04-01/Accounts/{SID}/Messages/{sid}.json")

    assert fetched.status_code == 200
    assert fetched.json()["status"] == "delivered"
    assert RFC_2822.match(fetched.json()["date_sent"])


async def test_status_callbacks_are_signed_like_twilios(api, twilio, receiver):
    url, received = receiver
    sid = (await send(api, To=CUSTOMER, StatusCallback=url)).json()["sid"]
    await twilio.wait_idle()

    assert [r["params"]["MessageStatus"] for r in received] == ["sent", "delivered"]
    for request in received:
        assert request["params"]["MessageSid"] == sid
        assert request["content_type"].startswith("application/x-www-form-urlencoded")
        expected = twilio_signature(url, request["params"].items(), DEMO_AUTH_TOKEN)
        assert request["signature"] == expected


async def test_list_is_newest_first_filtered_and_paged(api):
    for number in ("+447700900001", "+447700900002", "+447700900001"):
        assert (await send(api, To=number)).status_code == 201

    listed = (await api.get(MESSAGES)).json()
    assert [m["to"] for m in listed["messages"]][:2] == ["+447700900001", "+447700900002"]
    assert listed["page"] == 0
    assert listed["page_size"] == 50
    assert listed["next_page_uri"] is None

    only = (await api.get(MESSAGES, params={"To": "+447700900001"})).json()
    assert [m["to"] for m in only["messages"]] == ["+447700900001"] * 2

    first = (await api.get(MESSAGES, params={"PageSize": 2})).json()
    assert len(first["messages"]) == 2
    assert first["next_page_uri"].endswith("PageSize=2&Page=1")
    second = (await api.get(MESSAGES, params={"PageSize": 2, "Page": 1})).json()
    assert len(second["messages"]) == 1
    assert second["next_page_uri"] is None


async def test_wrong_credentials_are_refused(api):
    wrong_token = await api.post(
        MESSAGES, data={"To": CUSTOMER, "From": DEMO_NUMBER, "Body": "x"}, auth=(SID, "nope")
    )
    assert_twilio_error(wrong_token, 401, 20003)
    assert wrong_token.headers["www-authenticate"].startswith("Basic")

    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        assert_twilio_error(await anonymous.get(MESSAGES), 401, 20003)

    other_account = MESSAGES.replace(SID, "AC" + "0" * 32)
    assert_twilio_error(await api.get(other_account), 404, 20404)


async def test_missing_and_invalid_fields_get_twilios_codes(api):
    assert_twilio_error(
        await api.post(MESSAGES, data={"From": DEMO_NUMBER, "Body": "x"}), 400, 21604
    )
    assert_twilio_error(await api.post(MESSAGES, data={"To": CUSTOMER, "Body": "x"}), 400, 21603)
    assert_twilio_error(await send(api, To=CUSTOMER, Body=""), 400, 21602)
    invalid = assert_twilio_error(await send(api, To="07700 900123"), 400, 21211)
    assert "07700 900123" in invalid["message"]
    assert_twilio_error(await send(api, To=CUSTOMER, From="+15550001111"), 400, 21606)
    assert_twilio_error(await send(api, To=CUSTOMER, Body="x" * 1601), 400, 21617)
    assert_twilio_error(await send(api, To="+15005550001"), 400, 21211)
    assert_twilio_error(await send(api, To="+15005550009"), 400, 21614)
    assert (await api.get("/twilio/_admin/messages")).json() == []


async def test_a_messaging_service_sends_without_a_from_number(api):
    service = "MG" + "ab" * 16
    response = await api.post(
        MESSAGES, data={"To": CUSTOMER, "MessagingServiceSid": service, "Body": "x"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"
    assert response.json()["from"] is None
    assert response.json()["messaging_service_sid"] == service


async def test_stop_refuses_sends_with_21610_until_start(api, twilio):
    assert (await send(api, To=CUSTOMER)).status_code == 201

    inbound = await api.post("/twilio/_admin/inbound", json={"from": CUSTOMER, "body": " stop "})
    assert inbound.status_code == 200
    assert inbound.json()["message"]["direction"] == "inbound"
    assert inbound.json()["message"]["to"] == DEMO_NUMBER
    assert inbound.json()["webhook"] is None

    refused = assert_twilio_error(await send(api, To=CUSTOMER), 400, 21610)
    assert refused["message"] == "Attempt to send to unsubscribed recipient"
    assert (await api.get("/twilio/_admin/opt-outs")).json() == {CUSTOMER: [DEMO_NUMBER]}
    # Through a Messaging Service the opt-out still holds; other recipients are unaffected.
    service = {"MessagingServiceSid": "MG" + "ab" * 16, "Body": "x", "To": CUSTOMER}
    assert_twilio_error(await api.post(MESSAGES, data=service), 400, 21610)
    assert (await send(api, To="+447700900999")).status_code == 201

    await api.post("/twilio/_admin/inbound", json={"from": CUSTOMER, "body": "START"})
    assert (await send(api, To=CUSTOMER)).status_code == 201

    replies = await api.get("/twilio/_admin/messages", params={"direction": "outbound-reply"})
    assert [m["body"].split(".")[0] for m in replies.json()] == [
        "You have successfully been unsubscribed",
        "You have successfully been re-subscribed to messages from this number",
    ]


async def test_inbound_reaches_the_webhook_signed_like_twilio(api, receiver):
    url, received = receiver
    inbound = await api.post(
        "/twilio/_admin/inbound",
        json={"from": CUSTOMER, "body": "Paying on Friday", "webhook_url": f"{url}?org=1"},
    )

    assert inbound.json()["webhook"]["status_code"] == 200
    [request] = received
    params = request["params"]
    assert params["From"] == CUSTOMER
    assert params["To"] == DEMO_NUMBER
    assert params["Body"] == "Paying on Friday"
    assert params["AccountSid"] == SID
    assert params["MessageSid"] == inbound.json()["message"]["sid"]
    assert params["SmsStatus"] == "received"
    assert params["FromCountry"] == "GB"
    # The query string is part of what Twilio signs.
    expected = twilio_signature(f"{url}?org=1", params.items(), DEMO_AUTH_TOKEN)
    assert request["signature"] == expected
    assert request["signature"] != twilio_signature(url, params.items(), DEMO_AUTH_TOKEN)


async def test_inbound_goes_to_the_numbers_webhook_when_none_is_given(receiver):
    url, received = receiver
    sandbox = TwilioSandbox.with_demo(web_url=url.removesuffix("/hook"))
    sandbox.default_account.sms_url = url

    message, webhook = await sandbox.receive(CUSTOMER, "STOP", "")

    assert webhook is not None and webhook.status_code == 200
    assert [r["params"]["MessageSid"] for r in received] == [message.sid]
    assert sandbox.is_opted_out(CUSTOMER, DEMO_NUMBER)
    assert TwilioSandbox.with_demo().default_account.sms_url == (
        "http://127.0.0.1:8000/webhooks/sms"
    )


async def test_admin_clears_messages_and_injects_faults(api):
    await send(api, To=CUSTOMER)
    assert (await api.delete("/twilio/_admin/messages")).status_code == 204
    assert (await api.get("/twilio/_admin/messages")).json() == []

    rules = {"rules": [{"status": 429, "remaining": 1, "retry_after": 3}]}
    assert (await api.put("/twilio/_admin/faults", json=rules)).status_code == 200
    limited = assert_twilio_error(await send(api, To=CUSTOMER), 429, 20429)
    assert limited["message"] == "Too Many Requests"
    assert (await send(api, To=CUSTOMER)).status_code == 201  # the rule was one-shot

    bad = {"rules": [{"status": 418}]}
    assert (await api.put("/twilio/_admin/faults", json=bad)).status_code == 400


async def test_an_unknown_message_is_twilios_404(api):
    missing = f"/twilio/2010-04-01/Accounts/{SID}/Messages/SM{'0' * 32}.json"
    assert_twilio_error(await api.get(missing), 404, 20404)


def test_the_signature_matches_twilios_documented_example():
    # The example in Twilio's webhook security documentation.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature(url, params.items(), "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize(
    ("body", "count"),
    [("a" * 160, 1), ("a" * 161, 2), ("{" * 80, 1), ("{" * 81, 2), ("é" * 160, 1), ("ł" * 70, 1),
     ("ł" * 71, 2), ("ł" * 134, 2), ("ł" * 135, 3)],
)  # fmt: skip
def test_segments_count_like_sms(body, count):
    assert segments(body) == count


def test_accounts_own_their_numbers():
    sandbox = TwilioSandbox([TwilioAccount("AC" + "1" * 32, "token", ["+15551230000"])])
    assert sandbox.authenticate("AC" + "1" * 32, "token") is not None
    assert sandbox.authenticate("AC" + "1" * 32, "wrong") is None
    assert sandbox.authenticate(DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN) is None
