"""TwilioSandbox: the emulated Twilio account(s), every message, opt-outs and faults.

The server keeps it on `app.state.twilio`; tests can hold it directly. Behaviour copied from
Twilio:

- A sent message starts `queued` (`accepted` through a Messaging Service), then moves to
  `sent` and `delivered`; each step is POSTed, signed, to the message's StatusCallback.
- Through a Messaging Service the message is created without a From; when it is queued the
  service picks one of its numbers (the account's, for a service the sandbox was not told
  about): the one it used for that recipient before (sticky sender), else one in the
  recipient's country, else its first.
- Lists filter on To, From and the GMT day sent (DateSent, DateSent< on or before, DateSent>
  on or after; see `sent_day`).
- An inbound text is recorded (direction `inbound`, status `received`) and POSTed, signed, to
  the webhook URL. STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or QUIT (the whole body, any case)
  opts the sender out of texts from that number, with Twilio's automatic reply; START, YES
  or UNSTOP opts them back in. Sending to an opted-out recipient fails with error 21610.
- Twilio's magic test numbers: To +15005550001 is invalid (21211), +15005550002 cannot be
  routed (21612), +15005550003 lacks international permission (21408), +15005550004 is
  blocked (21610), +15005550009 is not a mobile (21614).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import re
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

from duely.sandbox.twilio import errors
from duely.sandbox.twilio.signature import sign

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
DEMO_ACCOUNT_SID = "ACd0e1d0e1d0e1d0e1d0e1d0e1d0e1d0e1"
DEMO_AUTH_TOKEN = "duely-demo-twilio-auth-token"  # noqa: S105 - a published demo credential
DEMO_NUMBER = "+15005550006"
DEMO_WEB_URL = "http://127.0.0.1:8000"

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY = 1600

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
AUTO_REPLIES = {
    "stop": "You have successfully been unsubscribed. You will not receive any more messages "
    "from this number. Reply START to resubscribe.",
    "start": "You have successfully been re-subscribed to messages from this number. Reply HELP "
    "for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "help": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}

MAGIC_RECIPIENTS = {
    "+15005550001": (errors.INVALID_TO, "The 'To' number +15005550001 is not a valid phone "
                     "number."),
    "+15005550002": (errors.NOT_ROUTABLE, "The 'To' phone number: +15005550002, is not currently "
                     "reachable using the 'From' phone number via SMS."),
    "+15005550003": (errors.NO_INTERNATIONAL_PERMISSION, "Permission to send an SMS has not been "
                     "enabled for the region indicated by the 'To' number: +15005550003."),
    "+15005550004": (errors.UNSUBSCRIBED_RECIPIENT, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (errors.NOT_MOBILE, "'To' number is not a valid mobile number"),
}  # fmt: skip

COUNTRIES = (("+1", "US"), ("+44", "GB"), ("+61", "AU"), ("+64", "NZ"), ("+353", "IE"))

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")


def segments(body: str) -> int:
    """How many SMS segments Twilio bills for `body` (GSM-7 when it can, else UCS-2)."""
    if all(char in GSM_BASIC or char in GSM_EXTENDED for char in body):
        septets = sum(2 if char in GSM_EXTENDED else 1 for char in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def country_of(number: str) -> str:
    return next((code for prefix, code in COUNTRIES if number.startswith(prefix)), "")


def twilio_date(moment: datetime | None) -> str | None:
    """RFC 2822, as Twilio writes dates: "Thu, 24 Aug 2023 05:01:45 +0000"."""
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000") if moment else None


def sent_day(value: str) -> date:
    """The GMT day a DateSent filter names: `YYYY-MM-DD`, or an ISO 8601 date-time (what the
    SDKs send, `2026-03-02T00:00:00Z`) of which only the day counts, as Twilio documents the
    filter in GMT dates. ValueError when it is neither."""
    moment = datetime.fromisoformat(value.strip())
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


@dataclass(frozen=True)
class SentFilter:
    """DateSent (on), DateSent< (on or before) and DateSent> (on or after), as GMT days."""

    on: date | None = None
    until: date | None = None
    since: date | None = None

    def __bool__(self) -> bool:
        return any((self.on, self.until, self.since))

    def admits(self, sent: datetime | None) -> bool:
        """A message not sent yet has no date sent, so no DateSent filter admits it."""
        if sent is None:
            return False
        day = sent.astimezone(UTC).date()
        return (
            (self.on is None or day == self.on)
            and (self.until is None or day <= self.until)
            and (self.since is None or day >= self.since)
        )


def keyword_of(body: str) -> str:
    """ "stop", "start", "help" or "" for an inbound body."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return "stop"
    if word in OPT_IN_KEYWORDS:
        return "start"
    return "help" if word in HELP_KEYWORDS else ""


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class TwilioAccount:
    sid: str
    auth_token: str
    numbers: list[str] = field(default_factory=list)
    """The phone numbers this account owns and may send from."""
    sms_url: str = ""
    """Where texts to these numbers are POSTed (a number's "A message comes in" webhook) when
    an inbound text names no webhook URL of its own."""
    messaging_services: dict[str, list[str]] = field(default_factory=dict)
    """Messaging Service sid -> the numbers in its sender pool. A service not listed here
    sends from the account's numbers."""


@dataclass
class StoredMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    direction: str  # outbound-api, outbound-reply, inbound
    status: str
    messaging_service_sid: str | None = None
    status_callback: str = ""
    created: datetime = field(default_factory=_now)
    updated: datetime = field(default_factory=_now)
    sent: datetime | None = None

    def as_json(self) -> dict:
        """The message resource exactly as Twilio's API returns it."""
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": twilio_date(self.created),
            "date_sent": twilio_date(self.sent),
            "date_updated": twilio_date(self.updated),
            "direction": self.direction,
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": self.to,
            "uri": f"{base}.json",
        }


@dataclass
class TwilioFault:
    """Fails the next `remaining` matching API calls with `status` (429, 500 or 503)."""

    status: int = 500
    remaining: int = 1
    retry_after: int | None = None
    path_contains: str = ""
    method: str = ""

    def __post_init__(self) -> None:
        if self.status not in (429, 500, 503):
            raise ValueError("status must be 429, 500 or 503")
        if self.remaining < 1:
            raise ValueError("remaining must be at least 1")

    def matches(self, method: str, path: str) -> bool:
        return self.path_contains in path and (not self.method or self.method.upper() == method)


class Refused(Exception):  # noqa: N818 - it is Twilio's answer, not a bug
    """A request Twilio refuses: carries the HTTP status, Twilio's code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class WebhookResult:
    url: str
    status_code: int | None = None
    body: str = ""
    error: str = ""

    def as_json(self) -> dict:
        return {
            "url": self.url,
            "status_code": self.status_code,
            "body": self.body,
            "error": self.error,
        }


class TwilioSandbox:
    def __init__(
        self,
        accounts: list[TwilioAccount] | None = None,
        *,
        delivery_delay: float = 0.5,
        webhook_timeout: float = 10.0,
    ) -> None:
        """With no accounts given, the demo account (duely's default settings) owning the
        demo number. `delivery_delay` is how long each status step (sent, delivered) takes."""
        accounts = accounts or [TwilioAccount(DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, [DEMO_NUMBER])]
        self.accounts = {account.sid: account for account in accounts}
        self.messages: dict[str, StoredMessage] = {}
        self.opt_outs: dict[str, set[str]] = {}
        """Recipient -> the numbers of ours they replied STOP to."""
        self.faults: list[TwilioFault] = []
        self.delivery_delay = delivery_delay
        self.webhook_timeout = webhook_timeout
        self.callbacks: list[WebhookResult] = []
        self.sticky_senders: dict[tuple[str, str, str], str] = {}
        """(account, Messaging Service, recipient) -> the number the service last used."""
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def with_demo(cls, *, web_url: str = DEMO_WEB_URL, **options) -> TwilioSandbox:
        """The demo account, its number's inbound texts going to the web app at `web_url`."""
        account = TwilioAccount(
            DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, [DEMO_NUMBER], sms_url=f"{web_url}/webhooks/sms"
        )
        return cls([account], **options)

    @property
    def default_account(self) -> TwilioAccount:
        return next(iter(self.accounts.values()))

    # --- the REST API's behaviour ----------------------------------------------------------

    def authenticate(self, username: str, password: str) -> TwilioAccount | None:
        account = self.accounts.get(username)
        if account is None or not _same(account.auth_token, password):
            return None
        return account

    def take_fault(self, method: str, path: str) -> TwilioFault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def create_message(self, account: TwilioAccount, form: dict[str, str]) -> StoredMessage:
        """Validate like Twilio, then queue the message. Raises Refused."""
        to = form.get("To", "").strip()
        sender = form.get("From", "").strip()
        service = form.get("MessagingServiceSid", "").strip()
        body = form.get("Body", "")
        if not to:
            raise Refused(400, errors.TO_REQUIRED, "A 'To' phone number is required.")
        if not sender and not service:
            raise Refused(400, errors.FROM_REQUIRED, "A 'From' phone number is required.")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            raise Refused(400, errors.BODY_REQUIRED, "Message body is required.")
        if not E164.match(to):
            raise Refused(
                400, errors.INVALID_TO, f"The 'To' number {to} is not a valid phone number."
            )
        if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            raise Refused(400, errors.INVALID_MESSAGING_SERVICE, "Invalid messagingServiceSid")
        if sender and not service:
            self._check_sender(account, sender)
        if len(body) > MAX_BODY:
            raise Refused(
                400,
                errors.BODY_TOO_LONG,
                "The concatenated message body exceeds the 1600 character limit.",
            )
        if to in MAGIC_RECIPIENTS:
            code, message = MAGIC_RECIPIENTS[to]
            raise Refused(400, code, message)
        if self.is_opted_out(to, None if service else sender):
            raise Refused(
                400, errors.UNSUBSCRIBED_RECIPIENT, "Attempt to send to unsubscribed recipient"
            )
        message = StoredMessage(
            sid=_sid("SM"),
            account_sid=account.sid,
            to=to,
            from_=None if service else sender,
            body=body,
            direction="outbound-api",
            status="accepted" if service else "queued",
            messaging_service_sid=service or None,
            status_callback=form.get("StatusCallback", ""),
        )
        self.messages[message.sid] = message
        self._spawn(self._progress(account, message))
        return message

    @staticmethod
    def _check_sender(account: TwilioAccount, sender: str) -> None:
        if not E164.match(sender):
            raise Refused(
                400,
                errors.INVALID_FROM,
                f"The 'From' number {sender} is not a valid phone number, shortcode, or "
                "alphanumeric sender ID.",
            )
        if sender not in account.numbers:
            raise Refused(
                400,
                errors.FROM_NOT_OWNED,
                f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )

    def is_opted_out(self, recipient: str, sender: str | None) -> bool:
        """Through a Messaging Service (sender None) an opt-out from any of our numbers
        counts: the service may pick any of them."""
        ours = self.opt_outs.get(recipient, set())
        return bool(ours) if sender is None else sender in ours

    def list_messages(
        self, account_sid: str, to: str = "", sender: str = "", sent: SentFilter | None = None
    ) -> list:
        """Newest first, as Twilio lists them."""
        found = [
            message
            for message in self.messages.values()
            if message.account_sid == account_sid
            and (not to or message.to == to)
            and (not sender or message.from_ == sender)
            and (not sent or sent.admits(message.sent))
        ]
        return found[::-1]  # the store keeps them in the order they were created

    def service_sender(self, account: TwilioAccount, message: StoredMessage) -> str | None:
        """The number a Messaging Service sends `message` from (None: it has none)."""
        service = message.messaging_service_sid or ""
        pool = account.messaging_services.get(service) or account.numbers
        if not pool:
            return None
        key = (account.sid, service, message.to)
        sender = self.sticky_senders.get(key)
        if sender not in pool:
            country = country_of(message.to)
            sender = next((n for n in pool if country and country_of(n) == country), pool[0])
        self.sticky_senders[key] = sender
        return sender

    # --- status progression and callbacks -------------------------------------------------

    async def _progress(self, account: TwilioAccount, message: StoredMessage) -> None:
        if message.status == "accepted":
            message.status = "queued"
            if message.messaging_service_sid and not message.from_:
                message.from_ = self.service_sender(account, message)
        for status in ("sent", "delivered"):
            await asyncio.sleep(self.delivery_delay)
            message.status, message.updated = status, _now()
            if status == "sent":
                message.sent = message.updated
            if message.status_callback:
                params = {
                    "AccountSid": account.sid,
                    "ApiVersion": API_VERSION,
                    "From": message.from_ or "",
                    "MessageSid": message.sid,
                    "MessageStatus": status,
                    "SmsSid": message.sid,
                    "SmsStatus": status,
                    "To": message.to,
                }
                if message.messaging_service_sid:
                    params["MessagingServiceSid"] = message.messaging_service_sid
                result = await self._post(account, message.status_callback, params)
                self.callbacks.append(result)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coroutine)
        except RuntimeError:
            coroutine.close()  # no server running: the message simply stays queued
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, account: TwilioAccount, url: str, params: dict) -> WebhookResult:
        result = WebhookResult(url)
        headers = {"X-Twilio-Signature": sign(url, params, account.auth_token)}
        try:
            async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
                response = await client.post(url, data=params, headers=headers)
        except httpx.HTTPError as error:
            result.error = f"{type(error).__name__}: {error}"
            log.info("Twilio sandbox webhook to %s failed: %s", url, result.error)
            return result
        result.status_code, result.body = response.status_code, response.text[:2000]
        return result

    # --- inbound texts --------------------------------------------------------------------

    async def receive(
        self,
        sender: str,
        body: str,
        webhook_url: str,
        to: str = "",
        account_sid: str = "",
    ) -> tuple[StoredMessage, WebhookResult | None]:
        """A text from `sender` to one of our numbers, applied (opt-out keywords) and POSTed
        to `webhook_url` (else the account's sms_url) as Twilio does. Raises Refused for an
        unknown account or number."""
        account = self.accounts.get(account_sid) if account_sid else self.default_account
        if account is None:
            raise Refused(404, errors.NOT_FOUND, f"no account {account_sid}")
        to = to or (account.numbers[0] if account.numbers else "")
        webhook_url = webhook_url or account.sms_url
        if to not in account.numbers:
            raise Refused(400, errors.FROM_NOT_OWNED, f"{to} is not a number of {account.sid}")
        if not E164.match(sender):
            raise Refused(400, errors.INVALID_FROM, f"{sender} is not an E.164 number")
        message = StoredMessage(
            sid=_sid("SM"),
            account_sid=account.sid,
            to=to,
            from_=sender,
            body=body,
            direction="inbound",
            status="received",
        )
        self.messages[message.sid] = message
        self._apply_keyword(account, message)
        if not webhook_url:
            return message, None
        params = {
            "AccountSid": account.sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": sender,
            "FromCity": "",
            "FromCountry": country_of(sender),
            "FromState": "",
            "FromZip": "",
            "MessageSid": message.sid,
            "NumMedia": "0",
            "NumSegments": str(segments(body)),
            "SmsMessageSid": message.sid,
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "To": to,
            "ToCity": "",
            "ToCountry": country_of(to),
            "ToState": "",
            "ToZip": "",
        }
        return message, await self._post(account, webhook_url, params)

    def _apply_keyword(self, account: TwilioAccount, inbound: StoredMessage) -> None:
        keyword = keyword_of(inbound.body)
        recipient, ours = inbound.from_ or "", inbound.to
        if keyword == "stop":
            self.opt_outs.setdefault(recipient, set()).add(ours)
        elif keyword == "start":
            self.opt_outs.get(recipient, set()).discard(ours)
            if not self.opt_outs.get(recipient):
                self.opt_outs.pop(recipient, None)
        if keyword:
            reply = StoredMessage(
                sid=_sid("SM"),
                account_sid=account.sid,
                to=recipient,
                from_=ours,
                body=AUTO_REPLIES[keyword],
                direction="outbound-reply",
                status="delivered",
            )
            reply.sent = reply.created
            self.messages[reply.sid] = reply

    # --- lifecycle ------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every message (opt-outs stay, as on Twilio)."""
        self.messages.clear()
        self.callbacks.clear()

    async def wait_idle(self, within: float = 10.0) -> None:
        """Wait until every message has reached its final status (for tests and demos)."""
        async with asyncio.timeout(within):
            while self._tasks:  # noqa: ASYNC110 - tasks may run on another loop
                await asyncio.sleep(0.02)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


def _same(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
