"""The integration-health page: in one place, everything in duely's connections to the ledger
and to Stripe that needs a person. Collectors and admins see it and mark alerts seen.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from duely.models import Alert, Organisation
from duely.web.auth import requires_collector
from duely.web.deps import DbSession, get_organisation, get_owned
from duely.web.integration_health import (
    ITEMS_SHOWN,
    UNMATCHED_MEANS,
    alerts_section,
    integration_health,
    mark_alert_seen,
)
from duely.web.pages.payments import SOURCE_LABELS, STATUS_LABELS
from duely.web.pages.receivables import formatters, wants_fragment

ALERT_LABELS = {"refund": "Refund", "dispute": "Dispute", "ledger_write": "Ledger write"}


def _context(organisation: Organisation, **sections: Any) -> dict[str, Any]:
    return {
        **formatters(organisation),
        **sections,
        "items_shown": ITEMS_SHOWN,
        "alert_labels": ALERT_LABELS,
        "status_labels": STATUS_LABELS,
        "source_labels": SOURCE_LABELS,
        "unmatched_means": UNMATCHED_MEANS,
    }


class IntegrationsController(Controller):
    path = "/integrations"
    include_in_schema = False
    # Guards sit on each handler, not on the controller: Litestar gives a controller's guards
    # to the OPTIONS handler it generates too, and OPTIONS is never authenticated, so a guard
    # there found no user and answered 500.

    @get("/", guards=[requires_collector], name="integrations")
    async def show(self, request: Request, db_session: DbSession) -> Template:
        organisation = await get_organisation(db_session, request.user.organisation_id)
        health = await integration_health(db_session, organisation.id)
        context = _context(
            organisation,
            health=health,
            alerts=health.alerts,
            alert_invoices=health.alert_invoices,
        )
        return Template("integrations/index.html", context=context)

    @post("/alerts/{alert_id:int}/seen", guards=[requires_collector], status_code=200)
    async def mark_seen(
        self, request: HTMXRequest, db_session: DbSession, alert_id: FromPath[int]
    ) -> Template | Redirect:
        """Through htmx the answer is the alerts section, without the alert just seen."""
        organisation = await get_organisation(db_session, request.user.organisation_id)
        alert = await get_owned(db_session, Alert, alert_id, organisation.id)
        await mark_alert_seen(db_session, alert)
        if not wants_fragment(request):
            return Redirect("/integrations", status_code=303)
        alerts, alert_invoices = await alerts_section(db_session, organisation.id)
        context = _context(organisation, alerts=alerts, alert_invoices=alert_invoices)
        return Template("integrations/_alerts.html", context=context)
