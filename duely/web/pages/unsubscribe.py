"""`/unsubscribe/{token}`: the link at the foot of every reminder, and the target of its
`List-Unsubscribe` header. Public (the signed token is the only credential) and CSRF-exempt.

GET asks "stop payment reminders?" and changes nothing (mail scanners follow links); POST,
from the page's button or a mail client's RFC 8058 one-click request (body
`List-Unsubscribe=One-Click`), opts the customer out of email and texts (duely/outbox/opt_outs.py,
which also tells the customer's running chases).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from duely.core.links import TOKEN_IN_ADDRESS, UNSUBSCRIBE, BadLink, LinkedCustomer, linked_customer
from duely.outbox.opt_outs import opt_out_customer
from duely.web.chase import tell_chases
from duely.web.deps import DbSession
from duely.web.pages.receivables import formatters

# The token is in the address (no Referer either: duely/web/security_headers.py).
HEADERS = TOKEN_IN_ADDRESS
PUBLIC = {"exclude_from_auth": True}


@dataclass(frozen=True)
class Recipient(LinkedCustomer):
    """Whom an unsubscribe link is for."""

    @property
    def stopped_since(self) -> datetime | None:
        """Since when no reminder has gone to the customer by email or text: None while
        either may (a reply START resumes texts only, so the page offers to stop both again)."""
        times = [self.customer.email_opted_out_at, self.customer.sms_opted_out_at]
        return None if None in times else max(times)


class _Invalid(Exception):
    pass


async def _recipient(request: Request, db_session: DbSession, token: str) -> Recipient:
    secret = request.app.state.settings.resolved_secret_key
    try:
        organisation, customer = await linked_customer(
            db_session, secret, UNSUBSCRIBE, token, "this link no longer points to anyone"
        )
    except BadLink as bad:
        raise _Invalid(str(bad)) from bad
    return Recipient(organisation, customer)


def _invalid(reason: str) -> Template:
    return Template(
        "unsubscribe/invalid.html", context={"reason": reason}, status_code=400, headers=HEADERS
    )


@get("/unsubscribe/{token:str}", opt=PUBLIC, include_in_schema=False)
async def unsubscribe_page(
    request: Request, db_session: DbSession, token: FromPath[str]
) -> Template:
    try:
        recipient = await _recipient(request, db_session, token)
    except _Invalid as invalid:
        return _invalid(str(invalid))
    return Template(
        "unsubscribe/confirm.html",
        context={
            **formatters(recipient.organisation),
            "recipient": recipient,
            "action": f"/unsubscribe/{token}",
        },
        headers=HEADERS,
    )


@post(
    "/unsubscribe/{token:str}",
    opt={**PUBLIC, "exclude_from_csrf": True},
    status_code=200,
    include_in_schema=False,
)
async def unsubscribe(request: Request, db_session: DbSession, token: FromPath[str]) -> Template:
    """The button on the page, or a mail client's one-click POST: either way the customer is
    opted out (the body is not needed)."""
    try:
        recipient = await _recipient(request, db_session, token)
    except _Invalid as invalid:
        return _invalid(str(invalid))
    await opt_out_customer(tell_chases(request.app.state), db_session, recipient.customer)
    return Template(
        "unsubscribe/done.html",
        context={**formatters(recipient.organisation), "recipient": recipient},
        headers=HEADERS,
    )
