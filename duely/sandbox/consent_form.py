"""The sandbox's one user on a ledger sandbox's consent page, as a browser would: read the
form, tick choices, press allow, and return what the app's callback receives.

Used where no person is at hand (the demo seed of `duely up`, tests and benchmarks), by
xero/consent.py (`allow_access`: organisations) and quickbooks/consent.py (`connect_company`:
one company). It follows the real redirects, so the OAuth code path it exercises is the one a
person's browser takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

_INPUT = re.compile(r"<input ([^>]*)>")
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


@dataclass
class Choice:
    """A checkbox or radio button on the page, with the text of its label."""

    name: str
    value: str
    label: str


def _form(page: str) -> tuple[list[tuple[str, str]], list[Choice]]:
    """The hidden fields (the authorisation request) and the choices the user may tick."""
    hidden: list[tuple[str, str]] = []
    choices: list[Choice] = []
    for tag in _INPUT.findall(page):
        attributes = {k: unescape(v) for k, v in _ATTRIBUTE.findall(tag)}
        if attributes.get("type") == "hidden":
            hidden.append((attributes["name"], attributes.get("value", "")))
        elif "name" in attributes and "value" in attributes:
            after = page.split(tag, 1)[1].split("</label>", 1)[0]
            label = unescape(after).lstrip(">").strip()
            choices.append(Choice(attributes["name"], attributes["value"], label))
    return hidden, choices


async def consent(
    authorize_url: str, choose: Callable[[list[Choice]], list[Choice]]
) -> dict[str, str]:
    """Open the consent page, tick what `choose` picks among its choices and allow; returns
    the query parameters of the redirect back to the app (code and state, or error)."""
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(authorize_url)
        page.raise_for_status()
        hidden, choices = _form(page.text)
        ticked = [(choice.name, choice.value) for choice in choose(choices)]
        found = _FORM_ACTION.search(page.text)
        if found is None:
            raise RuntimeError("the consent page has no form")
        action = urljoin(authorize_url, unescape(found.group(1)))
        answer = await browser.post(
            action,
            content=urlencode([("decision", "allow"), *hidden, *ticked]),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    if answer.status_code != 302:
        raise RuntimeError(f"the consent page answered {answer.status_code}: {answer.text[:200]}")
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}
