"""`POST /webhooks/sms`: a text to duely's number, as Twilio delivers it.

Twilio posts the message form-encoded and signs it: `X-Twilio-Signature` is base64(HMAC-SHA1(
the URL Twilio was given + every POST parameter's name and value sorted by name), keyed with
the account's auth token). That URL is duely's public one (`DUELY_PUBLIC_URL` + the path),
not whatever host a proxy in front of duely reports. A missing or wrong signature gets 403,
and a body that is not a URL-encoded form (Twilio sends nothing else) 415, unread.

STOP and its synonyms opt the sender's customers out of texts, START and UNSTOP opt them back
in to texts (email opt-outs stand), and their running chases are told (see
duely/outbox/opt_outs.py); Twilio has already stopped or resumed delivery by then. Any other
reply is acknowledged and ignored for now. The answer is empty TwiML: duely replies nothing
(Twilio sends its own confirmation of STOP and START).
"""

from __future__ import annotations

import hmac
import logging

from litestar import Request, Response, post
from litestar.enums import RequestEncodingType

from duely.integrations.sms import twilio_signature
from duely.outbox.opt_outs import opt_in_by_phone, opt_out_by_phone, reply_keyword
from duely.web.chase import tell_chases
from duely.web.deps import DbSession

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def signed_url(request: Request) -> str:
    """The URL Twilio signed: the public address of this path, with the query string."""
    public = request.app.state.settings.public_url.rstrip("/")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{public}{request.url.path}" + (f"?{query}" if query else "")


@post("/webhooks/sms", opt={"exclude_from_auth": True, "exclude_from_csrf": True}, status_code=200)
async def sms_webhook(request: Request, db_session: DbSession) -> Response:
    if request.content_type[0] != RequestEncodingType.URL_ENCODED:
        # Twilio posts URL-encoded forms only: anything else is not parsed at all.
        return Response(b"", status_code=415)
    form = await request.form()
    params = [(name, str(value)) for name, value in form.multi_items()]
    settings = request.app.state.settings
    expected = twilio_signature(signed_url(request), params, settings.twilio_auth_token)
    given = request.headers.get("x-twilio-signature", "")
    # As bytes: compare_digest refuses str with non-ASCII characters, which a forger can send.
    signed = hmac.compare_digest(expected.encode(), given.encode())
    if not (given and settings.twilio_auth_token and signed):  # no token: anyone could sign
        return Response(b"", status_code=403)
    fields = dict(params)
    keyword = reply_keyword(fields.get("Body", ""))
    sender = fields.get("From", "")
    if keyword == "stop" and sender:
        await opt_out_by_phone(tell_chases(request.app.state), db_session, sender)
    elif keyword == "start" and sender:
        await opt_in_by_phone(tell_chases(request.app.state), db_session, sender)
    return Response(EMPTY_TWIML, media_type="application/xml", status_code=200)
