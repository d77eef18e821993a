"""The customer page's opt-outs: a collector or an admin clears the customer's opt-out of email
or of texts, when the customer asked them to (duely/outbox/opt_outs.py keeps the rule and tells the
customer's running chases). A plain post is answered with a redirect back to the customer page;
through htmx, the opt-outs swap in place."""

from __future__ import annotations

from litestar import Response, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from duely.models import Customer
from duely.outbox.opt_outs import FIELDS, WORDS, clear_opt_out
from duely.web.auth import requires_collector
from duely.web.chase import tell_chases
from duely.web.deps import DbSession, get_organisation, get_owned
from duely.web.pages.receivables import formatters, wants_fragment


@post(
    "/customers/{customer_id:int}/opt-outs/{channel:str}/clear",
    guards=[requires_collector],
    include_in_schema=False,
)
async def clear_customer_opt_out(
    request: HTMXRequest, db_session: DbSession, customer_id: FromPath[int], channel: FromPath[str]
) -> Template | Response:
    organisation = await get_organisation(db_session, request.user.organisation_id)
    customer = await get_owned(db_session, Customer, customer_id, organisation.id)
    if channel not in FIELDS:
        raise HTTPException(status_code=400, detail=f"Customers cannot opt out of {channel!r}.")
    warning = await clear_opt_out(
        tell_chases(request.app.state), db_session, customer, channel, by=request.user.email
    )
    if not wants_fragment(request):
        return Redirect(f"/customers/{customer.id}", status_code=303)
    notice = f"{WORDS[channel].capitalize()} may go to {customer.name} again."
    if warning:
        notice += (
            f" The chase engine could not be reached ({warning}), so the running chases have "
            "not re-read it yet: a chase the opt-out stopped waits until the customer's "
            "chasing or schedule next changes."
        )
    return Template(
        "receivables/_customer_opt_outs.html",
        context={**formatters(organisation), "customer": customer, "opt_out_notice": notice},
    )
