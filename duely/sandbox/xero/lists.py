"""An organisation's settings lists: GET /Currencies, GET /BrandingThemes, GET /ContactGroups
and GET /ContactGroups/{ContactGroupID} (which alone lists the group's contacts; the list
shows every group with an empty Contacts, as Xero does)."""

from __future__ import annotations

import uuid

from litestar import Request, Response, get
from litestar.params import FromPath

from duely.sandbox.xero.accounting import API_PATH, Call, list_endpoint
from duely.sandbox.xero.dates import ms_date
from duely.sandbox.xero.errors import not_found
from duely.sandbox.xero.ledger import ContactGroup, Ledger
from duely.sandbox.xero.listing import select
from duely.sandbox.xero.representations import contact_summary
from duely.sandbox.xero.where import Field

CURRENCY_NAMES = {
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
    "EUR": "Euro",
    "GBP": "British Pound",
    "JPY": "Japanese Yen",
    "NZD": "New Zealand Dollar",
    "USD": "United States Dollar",
}
# A fixed namespace, so a tenant's branding theme ids are the same on every start.
THEME_NAMESPACE = uuid.UUID("6f1a0c53-8f4e-4b43-9a52-3c0ad9f0e7b1")
THEMES = ("Standard", "Special projects")


def currencies(ledger: Ledger) -> list[str]:
    """The base currency, then every other currency the organisation has added (those of
    its bank accounts, contacts and invoices), alphabetically."""
    base = ledger.organisation.base_currency
    used = {a.currency for a in ledger.accounts.values() if a.currency}
    used |= {c.currency for c in ledger.contacts.values() if c.currency}
    used |= {i.currency for i in ledger.invoices.values()}
    return [base, *sorted(used - {base})]


def _currencies(call: Call) -> Response:
    query = call.list_query()
    fields = {
        "Code": Field("string", lambda code: code),
        "Description": Field("string", lambda code: CURRENCY_NAMES.get(code, code)),
    }
    codes = select(
        currencies(call.ledger), query, fields, "Currency", lambda _: call.xero.clock.now()
    )
    return call.answer(
        "Currencies", [{"Code": c, "Description": CURRENCY_NAMES.get(c, c)} for c in codes]
    )


def branding_themes(ledger: Ledger) -> list[dict]:
    created = ledger.organisation.created
    return [
        {
            "BrandingThemeID": str(uuid.uuid5(THEME_NAMESPACE, f"{ledger.tenant_id}/{name}")),
            "Name": name,
            "LogoUrl": "",
            "Type": "INVOICE",
            "SortOrder": position,
            "CreatedDateUTC": ms_date(created),
        }
        for position, name in enumerate(THEMES)
    ]


@get(f"{API_PATH}/BrandingThemes")
async def get_branding_themes(request: Request) -> Response:
    call = Call(request)
    return call.answer("BrandingThemes", branding_themes(call.ledger))


def contact_group_json(ledger: Ledger, group: ContactGroup, *, with_contacts: bool) -> dict:
    members = group.contact_ids if with_contacts else []
    return {
        "ContactGroupID": group.group_id,
        "Name": group.name,
        "Status": group.status,
        "Contacts": [contact_summary(ledger.contacts.get(c), c) for c in members],
        "HasValidationErrors": False,
    }


def _contact_groups(call: Call) -> Response:
    query = call.list_query()
    fields = {
        "ContactGroupID": Field("guid", lambda g: g.group_id),
        "Name": Field("string", lambda g: g.name),
        "Status": Field("string", lambda g: g.status),
    }
    groups = call.ledger.contact_groups.values()
    # Xero lists groups by name unless told otherwise; deleted ones only when asked for.
    asked_status = "status" in query.get("where").lower()
    records = select(
        sorted(groups, key=lambda g: g.name.lower()),
        query,
        fields,
        "ContactGroup",
        lambda _: call.xero.clock.now(),
        lambda g: asked_status or g.status == "ACTIVE",
    )
    return call.answer(
        "ContactGroups",
        [contact_group_json(call.ledger, g, with_contacts=False) for g in records],
    )


@get(f"{API_PATH}/ContactGroups/{{group_id:str}}")
async def get_contact_group(request: Request, group_id: FromPath[str]) -> Response:
    call = Call(request)
    group = call.ledger.contact_groups.get(group_id.lower())
    if group is None:
        return not_found()
    return call.answer(
        "ContactGroups", [contact_group_json(call.ledger, group, with_contacts=True)]
    )


get_currencies = get(f"{API_PATH}/Currencies", name="xero-currencies")(list_endpoint(_currencies))
get_contact_groups = get(f"{API_PATH}/ContactGroups", name="xero-contact-groups")(
    list_endpoint(_contact_groups)
)

LIST_HANDLERS = [get_currencies, get_branding_themes, get_contact_groups, get_contact_group]
