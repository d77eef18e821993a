"""The Twilio sandbox driven by Twilio's own Python SDK (twilio 9) over real HTTP.

`twilio.rest.Client` is pointed at the sandbox by its API domain's base URL
(`client.api.base_url`), the one thing the SDK builds every Messages URL from. The SDK is
synchronous: each call runs in a thread so the server, on this event loop, keeps answering.

Also here, each with a test named after what it broke: the DateSent, DateSent< and DateSent>
list filters (ignored before), and a message sent through a Messaging Service, which never
got a From number.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from litestar import Litestar, Request, Response, post
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from duely.sandbox import create_sandbox_app
from duely.sandbox.twilio import TwilioAccount, TwilioSandbox
from duely.sandbox.twilio.sandbox import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, DEMO_NUMBER
from tests.serving import Served, serve, shut

SID = DEMO_ACCOUNT_SID
MESSAGES = f"/twilio/2010-04-01/Accounts/{SID}/Messages.json"
CUSTOMER = "+447700900123"
SERVICE = "MG" + "ab" * 16


async def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(method, *args, **kwargs)


@pytest.fixture
def twilio() -> TwilioSandbox:
    return TwilioSandbox(delivery_delay=0.01)


@pytest_asyncio.fixture
async def served(twilio: TwilioSandbox) -> AsyncIterator[Served]:
    served = await serve(create_sandbox_app(twilio=twilio))
    yield served
    await shut(served)


@pytest.fixture
def sdk(served: Served) -> Client:
    """Twilio's client for the demo account, aimed at the sandbox (and nothing from the
    environment: no edge or region rewriting the host)."""
    client = Client(SID, DEMO_AUTH_TOKEN, environment={})
    client.api.base_url = f"{served.url}/twilio"
    return client


@pytest_asyncio.fixture
async def api(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, auth=(SID, DEMO_AUTH_TOKEN)) as client:
        yield client


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict]]]:
    """A status callback receiver: its URL and the form of every request it got."""
    received: list[dict] = []

    @post("/status", status_code=200)
    async def status(request: Request) -> Response:
        received.append({name: str(value) for name, value in (await request.form()).items()})
        return Response("", media_type="text/plain")

    served = await serve(Litestar([status], openapi_config=None))
    yield f"{served.url}/status", received
    await shut(served)


async def send(sdk: Client, **options: Any):
    options = {"to": CUSTOMER, "from_": DEMO_NUMBER, "body": "Invoice INV-1 is due", **options}
    return await call(sdk.messages.create, **options)


# --- DateSent filters -----------------------------------------------------------------------

SENT = {
    "late on the 1st": datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC),
    "midnight on the 2nd": datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC),
    "evening of the 2nd": datetime(2026, 3, 2, 18, 30, 0, tzinfo=UTC),
    "morning of the 3rd": datetime(2026, 3, 3, 9, 0, 0, tzinfo=UTC),
}


@pytest_asyncio.fixture
async def dated(sdk: Client, twilio: TwilioSandbox) -> dict[str, str]:
    """Four delivered messages sent at the SENT moments, and one still queued: their sids."""
    sids = {}
    for name in SENT:
        message = await send(sdk, body=name)
        sids[name] = message.sid
    await twilio.wait_idle()
    for name, moment in SENT.items():
        twilio.messages[sids[name]].sent = moment
    unsent = await send(sdk, body="never sent")
    await twilio.wait_idle()
    twilio.messages[unsent.sid].sent = None
    twilio.messages[unsent.sid].status = "queued"
    return sids


def names(messages, sids: dict[str, str]) -> set[str]:
    by_sid = {sid: name for name, sid in sids.items()}
    return {by_sid.get(message.sid, message.sid) for message in messages}


async def test_list_honours_date_sent_filters(sdk, dated):
    """DateSent, DateSent< (on or before) and DateSent> (on or after) were ignored: every
    message came back whatever the dates."""
    on_the_2nd = await call(sdk.messages.list, date_sent=date(2026, 3, 2))
    assert names(on_the_2nd, dated) == {"midnight on the 2nd", "evening of the 2nd"}

    until_the_2nd = await call(sdk.messages.list, date_sent_before=date(2026, 3, 2))
    assert names(until_the_2nd, dated) == {
        "late on the 1st",
        "midnight on the 2nd",
        "evening of the 2nd",
    }

    from_the_2nd = await call(sdk.messages.list, date_sent_after=date(2026, 3, 2))
    assert names(from_the_2nd, dated) == {
        "midnight on the 2nd",
        "evening of the 2nd",
        "morning of the 3rd",
    }

    between = await call(
        sdk.messages.list,
        date_sent_after=datetime(2026, 3, 1, tzinfo=UTC),
        date_sent_before=datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert names(between, dated) == {"late on the 1st", "midnight on the 2nd", "evening of the 2nd"}

    nothing = await call(sdk.messages.list, date_sent=date(2026, 2, 28))
    assert nothing == []


async def test_date_sent_filters_as_written_on_the_wire(api, dated):
    """`DateSent<=2026-03-01` in a query string is the parameter `DateSent<` = 2026-03-01."""

    async def listed(query: str) -> set[str]:
        response = await api.get(f"{MESSAGES}?{query}")
        assert response.status_code == 200, response.text
        return names(_Sids(response.json()["messages"]), dated)

    assert await listed("DateSent<=2026-03-01") == {"late on the 1st"}
    assert await listed("DateSent>=2026-03-03") == {"morning of the 3rd"}
    assert await listed("DateSent=2026-03-02") == {"midnight on the 2nd", "evening of the 2nd"}
    assert await listed("DateSent>=2026-03-02&DateSent<=2026-03-02") == {
        "midnight on the 2nd",
        "evening of the 2nd",
    }
    assert await listed("DateSent=2026-03-02T18:30:00Z") == {
        "midnight on the 2nd",
        "evening of the 2nd",
    }


async def test_date_sent_filters_carry_into_the_next_page(sdk, dated):
    paged = await call(sdk.messages.list, date_sent_after=date(2026, 3, 2), page_size=1)

    assert len(paged) == 3
    assert names(paged, dated) == {
        "midnight on the 2nd",
        "evening of the 2nd",
        "morning of the 3rd",
    }


async def test_an_unreadable_date_sent_is_twilios_invalid_date(api, dated):
    for query in ("DateSent=yesterday", "DateSent<=2026-13-01", "DateSent=>=2026-03-01"):
        response = await api.get(f"{MESSAGES}?{query}")
        assert response.status_code == 400, query
        body = response.json()
        assert body["code"] == 20001 and body["status"] == 400
        assert body["more_info"] == "https://www.twilio.com/docs/errors/20001"


class _Sids(list):
    """Raw JSON messages, shaped enough like the SDK's for `names`."""

    def __init__(self, messages: list[dict]) -> None:
        super().__init__(type("M", (), {"sid": m["sid"]})() for m in messages)


# --- Messaging Services -----------------------------------------------------------------------


async def test_a_messaging_service_message_gets_a_from_number(sdk, twilio, receiver):
    """Through a Messaging Service (no From) the message kept from=null after delivery and
    in every status callback; Twilio picks one of the service's numbers."""
    url, received = receiver
    created = await call(
        sdk.messages.create,
        to=CUSTOMER,
        messaging_service_sid=SERVICE,
        body="Invoice INV-2 is due",
        status_callback=url,
    )
    assert created.status == "accepted" and created.from_ is None
    await twilio.wait_idle()

    fetched = await call(sdk.messages(created.sid).fetch)

    assert fetched.status == "delivered"
    assert fetched.from_ == DEMO_NUMBER
    assert fetched.messaging_service_sid == SERVICE
    assert [r["From"] for r in received] == [DEMO_NUMBER, DEMO_NUMBER]
    assert [r["MessageStatus"] for r in received] == ["sent", "delivered"]
    assert all(r["MessagingServiceSid"] == SERVICE for r in received)
    from_ours = await call(sdk.messages.list, from_=DEMO_NUMBER)
    assert [m.sid for m in from_ours] == [created.sid]


UK_NUMBER = "+447700900555"
US_NUMBER = "+15005550010"
OTHER_SERVICE = "MG" + "cd" * 16


@pytest.fixture
def pooled() -> TwilioSandbox:
    account = TwilioAccount(
        SID,
        DEMO_AUTH_TOKEN,
        [DEMO_NUMBER, UK_NUMBER, US_NUMBER],
        messaging_services={SERVICE: [US_NUMBER, UK_NUMBER]},
    )
    return TwilioSandbox([account], delivery_delay=0.01)


async def test_a_messaging_service_sends_from_its_own_pool(pooled):
    """The service's numbers only; the recipient's country first (Twilio's geographic
    match), and the same sender again for the same recipient (sticky sender)."""
    served = await serve(create_sandbox_app(twilio=pooled))
    try:
        sdk = Client(SID, DEMO_AUTH_TOKEN, environment={})
        sdk.api.base_url = f"{served.url}/twilio"

        async def through(service: str, to: str) -> str:
            message = await call(
                sdk.messages.create, to=to, messaging_service_sid=service, body="x"
            )
            await pooled.wait_idle()
            return (await call(sdk.messages(message.sid).fetch)).from_

        assert await through(SERVICE, CUSTOMER) == UK_NUMBER
        assert await through(SERVICE, "+12025550123") == US_NUMBER
        assert await through(SERVICE, "+61491570156") == US_NUMBER  # no match: the first
        pooled.accounts[SID].messaging_services[SERVICE].reverse()
        assert await through(SERVICE, "+61491570156") == US_NUMBER  # sticky
        # A service the sandbox was not told about sends from the account's numbers.
        assert await through(OTHER_SERVICE, CUSTOMER) == UK_NUMBER
    finally:
        await shut(served)


# --- the rest of what duely does with Twilio, through the SDK -----------------------------


async def test_send_then_fetch(sdk, twilio):
    created = await send(sdk, status_callback="http://127.0.0.1:1/status")

    held = twilio.messages[created.sid]
    assert created.status == "queued"
    assert created.to == CUSTOMER and created.from_ == DEMO_NUMBER
    assert created.body == held.body == "Invoice INV-1 is due"
    assert created.account_sid == SID and created.direction == "outbound-api"
    assert created.date_sent is None
    assert created.date_created == held.created
    assert created.num_segments == "1"
    assert held.status_callback == "http://127.0.0.1:1/status"
    await twilio.wait_idle()

    fetched = await call(sdk.messages(created.sid).fetch)

    assert fetched.sid == created.sid
    assert fetched.status == "delivered"
    assert fetched.date_sent == held.sent
    assert fetched.date_updated == held.updated
    assert fetched.error_code is None and fetched.price is None
    assert fetched.uri == f"/2010-04-01/Accounts/{SID}/Messages/{created.sid}.json"


async def test_list_by_recipient_and_sender(sdk):
    first = await send(sdk, to="+447700900001")
    await send(sdk, to="+447700900002")
    third = await send(sdk, to="+447700900001")

    to_one = await call(sdk.messages.list, to="+447700900001")
    assert [m.sid for m in to_one] == [third.sid, first.sid]
    assert len(await call(sdk.messages.list, from_=DEMO_NUMBER, page_size=2)) == 3
    assert await call(sdk.messages.list, from_="+15550001111") == []


@pytest.mark.parametrize(
    ("options", "status", "code"),
    [
        ({"to": "+15005550001"}, 400, 21211),  # Twilio's magic invalid number
        ({"to": "+15005550002"}, 400, 21612),
        ({"to": "+15005550003"}, 400, 21408),
        ({"to": "+15005550004"}, 400, 21610),
        ({"to": "+15005550009"}, 400, 21614),
        ({"to": "07700 900123"}, 400, 21211),
        ({"from_": "+15550001111"}, 400, 21606),
        ({"body": "x" * 1601}, 400, 21617),
    ],
)
async def test_refused_numbers_raise_twilios_error_codes(sdk, twilio, options, status, code):
    with pytest.raises(TwilioRestException) as refused:
        await send(sdk, **options)

    assert refused.value.status == status
    assert refused.value.code == code
    assert refused.value.msg
    assert refused.value.method == "POST"
    assert twilio.messages == {}


async def test_an_opted_out_recipient_is_refused_until_start(sdk, api):
    stop = await api.post("/twilio/_admin/inbound", json={"from": CUSTOMER, "body": "STOP"})
    assert stop.status_code == 200, stop.text

    with pytest.raises(TwilioRestException) as refused:
        await send(sdk)
    assert refused.value.code == 21610

    await api.post("/twilio/_admin/inbound", json={"from": CUSTOMER, "body": "START"})
    assert (await send(sdk)).status == "queued"


async def test_wrong_credentials_and_unknown_messages(sdk, served):
    with pytest.raises(TwilioRestException) as missing:
        await call(sdk.messages("SM" + "0" * 32).fetch)
    assert (missing.value.status, missing.value.code) == (404, 20404)

    wrong = Client(SID, "not-the-token", environment={})
    wrong.api.base_url = f"{served.url}/twilio"
    with pytest.raises(TwilioRestException) as refused:
        await send(wrong)
    assert (refused.value.status, refused.value.code) == (401, 20003)
