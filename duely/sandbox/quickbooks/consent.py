"""The sandbox's one user connecting a company on the consent page, as a browser would.

For the demo, tests and benchmarks: it follows the real redirect, so the OAuth code path it
exercises is the one a person's browser takes.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

_INPUT = re.compile(r"<input ([^>]*)>")
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


async def connect_company(authorize_url: str, company_name: str | None = None) -> dict:
    """Pick `company_name` (the first company when None) and press Connect; returns the
    query parameters the app's callback receives (code, state and realmId, or error)."""
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(authorize_url)
        page.raise_for_status()
        form: list[tuple[str, str]] = [("decision", "allow")]
        chosen = ""
        for tag in _INPUT.findall(page.text):
            attributes = {k: unescape(v) for k, v in _ATTRIBUTE.findall(tag)}
            if attributes.get("type") == "hidden":
                form.append((attributes["name"], attributes.get("value", "")))
            elif attributes.get("name") == "realm_id" and not chosen:
                after = page.text.split(tag, 1)[1].split("</label>", 1)[0]
                label = unescape(after).lstrip(">").strip()
                if company_name is None or label == company_name:
                    chosen = attributes["value"]
        if chosen:
            form.append(("realm_id", chosen))
        found = _FORM_ACTION.search(page.text)
        if found is None:
            raise RuntimeError("the consent page has no form")
        action = urljoin(authorize_url, unescape(found.group(1)))
        answer = await browser.post(
            action,
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    if answer.status_code != 302:
        raise RuntimeError(f"the consent page answered {answer.status_code}: {answer.text[:200]}")
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}
