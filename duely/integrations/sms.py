"""Text messages through Twilio's Programmable Messaging REST API.

One call matters: `POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with the form
fields To, From (or MessagingServiceSid), Body and optionally StatusCallback, authenticated
with HTTP basic auth AccountSid:AuthToken. Twilio answers 201 with the message (sid `SM...`,
status `queued`, or `accepted` through a Messaging Service) or an error body
`{code, message, more_info, status}`.

The same client talks to the sandbox's emulator and to Twilio; only `api_url` differs. It knows
nothing of Temporal: a failure is an `SmsError` whose `retryable` says whether trying again
later can help, and whose text a finance person can act on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Self

import httpx

if TYPE_CHECKING:
    from duely.settings import Settings

API_VERSION = "2010-04-01"
TWILIO_API_URL = "https://api.twilio.com"
DEFAULT_TIMEOUT_SECONDS = 15.0
MAX_BODY_CHARACTERS = 1600
"""Twilio refuses a longer body (error 21617)."""

# Brackets, spaces, dashes, dots and slashes are how people write numbers, never part of them.
_PHONE_PUNCTUATION = re.compile(r"[^\d+]")
# "+44 (0)20 ..." : the national trunk prefix written beside the country code is not dialled.
_TRUNK_ZERO = re.compile(r"^\+(\d{1,3})\s*\(0\)")


def normalise_phone(raw: str) -> str:
    """A phone number reduced to `+digits` (E.164, when it was written with a country code) or
    to bare digits when it has no leading `+`: "+44 (0)7700 900-123" -> "+447700900123",
    "(020) 7946 0018" -> "02079460018". Loose on purpose: it never guesses a country."""
    text = _TRUNK_ZERO.sub(r"+\1", raw.strip())
    digits = _PHONE_PUNCTUATION.sub("", text).replace("+", "")
    if not digits:
        return ""
    return f"+{digits}" if text.startswith("+") else digits


def twilio_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """The `X-Twilio-Signature` of a request Twilio sends to `url` (the full URL, query string
    included) with these POST parameters: base64(HMAC-SHA1(url + every name and value, sorted
    by name, then value), auth token))."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class SentSms:
    sid: str
    status: str
    """queued or accepted at first; later sending, sent, delivered, undelivered or failed."""
    to: str = ""
    error_code: int | None = None


class SmsError(Exception):
    """A text that was not sent. `retryable`: trying again later can help (429, 5xx, network);
    otherwise the number, the account or the text itself must change first."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.code = code
        """Twilio's error code (21211, 21610, ...), when Twilio gave one."""
        self.retry_after = retry_after
        """Seconds Twilio asked us to wait (its Retry-After header), when it said."""
        self.maybe_sent = maybe_sent
        """The connection failed after the request went out: Twilio may have sent the text.
        Twilio has no idempotency key for messages, so a retry can send it twice."""

    @property
    def opted_out(self) -> bool:
        """The recipient replied STOP: no text reaches them until they reply START."""
        return self.code == UNSUBSCRIBED_RECIPIENT


INVALID_TO = 21211
UNSUBSCRIBED_RECIPIENT = 21610

# What each refusal means for the person who has to fix it. `{to}` and `{sender}` are filled in.
_REFUSALS = {
    20003: "Twilio refused duely's credentials: check DUELY_TWILIO_ACCOUNT_SID and "
    "DUELY_TWILIO_AUTH_TOKEN.",
    20404: "Twilio does not know this account or message: check DUELY_TWILIO_ACCOUNT_SID.",
    INVALID_TO: "{to} is not a valid phone number: correct the contact's mobile number, "
    "written with its country code (for example +447700900123).",
    21212: "The sending number {sender} is not valid: check DUELY_TWILIO_FROM_NUMBER.",
    21408: "Twilio is not allowed to text {to}'s country from this account: enable that "
    "country in the Twilio console's SMS geographic permissions, or chase by email.",
    21602: "The text was empty: check the SMS template.",
    21603: "No sending number is configured: set DUELY_TWILIO_FROM_NUMBER or "
    "DUELY_TWILIO_MESSAGING_SERVICE_SID.",
    21604: "The contact has no mobile number: add one or chase by email.",
    21606: "The sending number {sender} cannot send texts for this Twilio account: check "
    "DUELY_TWILIO_FROM_NUMBER.",
    21608: "The Twilio account is a trial, which can only text numbers verified in Twilio: "
    "upgrade the Twilio account, or verify {to} in its console.",
    21610: "{to} replied STOP to our texts, so Twilio will not deliver any more until they "
    "reply START: chase this customer by email or phone instead.",
    21612: "Twilio cannot reach {to} from the sending number: chase by email or phone.",
    21614: "{to} is not a mobile number, so it cannot receive texts: add a mobile number for "
    "the contact or chase by email.",
    21635: "{to} is a landline, which cannot receive texts: add a mobile number for the "
    "contact or chase by email.",
    21617: "The text is longer than Twilio's limit of 1,600 characters: shorten the SMS template.",
}


def _twilio_error(response: httpx.Response) -> tuple[int | None, str]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, response.text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return None, str(body)[:200]
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message") or "")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        moment = parsedate_to_datetime(value)
        date_header = response.headers.get("Date")
        now = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError):
        return None
    if now is None:
        return None
    return max(0.0, (moment - now).total_seconds())


def error_from_response(response: httpx.Response, to: str, sender: str) -> SmsError:
    """An SmsError for one of Twilio's non-2xx answers."""
    code, twilio_message = _twilio_error(response)
    status = response.status_code
    detail = f"Twilio error {code}" if code else f"HTTP {status}"
    if status == 429:
        return SmsError(
            f"Twilio is limiting how fast duely sends texts ({detail}): the text will be "
            "tried again shortly.",
            retryable=True,
            status_code=status,
            code=code,
            retry_after=_retry_after(response),
        )
    if status >= 500:
        return SmsError(
            f"Twilio had a problem of its own ({detail}): the text will be tried again.",
            retryable=True,
            status_code=status,
            code=code,
            retry_after=_retry_after(response),
        )
    if status == 401:
        code = code or 20003
    template = _REFUSALS.get(code or 0)
    if template:
        message = template.format(to=to or "the recipient", sender=sender or "(none)")
    else:
        reason = twilio_message or response.reason_phrase or "no reason given"
        message = f"Twilio refused the text to {to or 'the recipient'}: {reason}"
    return SmsError(f"{message} ({detail})", retryable=False, status_code=status, code=code)


class TwilioSms:
    """Sends texts from one Twilio account. Give it an httpx client to share connections, or
    let it make its own (closed by `aclose`)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str = "",
        *,
        messaging_service_sid: str = "",
        api_url: str = TWILIO_API_URL,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.account_sid = account_sid
        self.from_number = normalise_phone(from_number) if from_number else ""
        self.messaging_service_sid = messaging_service_sid
        self.api_url = api_url.rstrip("/")
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient | None = None) -> Self:
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_url=settings.twilio_api_url,
            http=http,
        )

    @property
    def _messages_url(self) -> str:
        return f"{self.api_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages"

    async def send(self, to: str, body: str, *, status_callback: str = "") -> SentSms:
        """Ask Twilio to send `body` to `to` (normalised first). Returns once Twilio has
        accepted the text (status queued or accepted), not when it is delivered: pass
        `status_callback` to hear about delivery. Raises SmsError."""
        recipient = normalise_phone(to)
        if not recipient:
            raise SmsError(_REFUSALS[21604], retryable=False, code=21604)
        if not body.strip():
            raise SmsError(_REFUSALS[21602], retryable=False, code=21602)
        form = {"To": recipient, "Body": body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.from_number
        if status_callback:
            form["StatusCallback"] = status_callback
        response = await self._call("POST", f"{self._messages_url}.json", recipient, data=form)
        return _sent(response)

    async def fetch(self, sid: str) -> SentSms:
        """The message as Twilio has it now (its status moves on after sending)."""
        response = await self._call("GET", f"{self._messages_url}/{sid}.json", "")
        return _sent(response)

    async def _call(self, method: str, url: str, recipient: str, **kwargs) -> httpx.Response:
        sender = self.from_number or self.messaging_service_sid
        try:
            response = await self._http.request(
                method, url, auth=self._auth, headers={"Accept": "application/json"}, **kwargs
            )
        except httpx.TransportError as error:
            # Only a failure before the request was written is sure to have sent nothing.
            sure_not_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
            raise SmsError(
                f"duely could not reach Twilio at {self.api_url} ({type(error).__name__}): "
                "the text will be tried again.",
                retryable=True,
                maybe_sent=method == "POST" and not sure_not_sent,
            ) from error
        if response.status_code >= 400:
            raise error_from_response(response, recipient, sender)
        return response

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()


def _sent(response: httpx.Response) -> SentSms:
    try:
        body = response.json()
        return SentSms(
            sid=body["sid"],
            status=body.get("status") or "",
            to=body.get("to") or "",
            error_code=body.get("error_code"),
        )
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise SmsError(
            f"Twilio answered HTTP {response.status_code} with something that is not a "
            "message: the text may have been sent; check Twilio's message log.",
            retryable=False,
            status_code=response.status_code,
        ) from error
