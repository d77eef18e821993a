"""The sandbox's one user clicking "Allow access" on the consent page, as a browser would.

Used where no person is at hand: the demo seed of `duely up`, tests and benchmarks. It follows
the real redirects, so the OAuth code path it exercises is the one a person's browser takes.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

_INPUT = re.compile(r"<input ([^>]*)>")
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


async def allow_access(authorize_url: str, tenant_names: list[str] | None = None) -> dict:
    """Consent to `authorize_url` for the named tenants (all when None); returns the query
    parameters duely's callback receives (`code` and `state`, or `error`)."""
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(authorize_url)
        page.raise_for_status()
        form: list[tuple[str, str]] = [("decision", "allow")]
        for tag in _INPUT.findall(page.text):
            attributes = {k: unescape(v) for k, v in _ATTRIBUTE.findall(tag)}
            if attributes.get("type") == "hidden":
                form.append((attributes["name"], attributes.get("value", "")))
            elif attributes.get("name") == "tenant_ids":
                label = page.text.split(tag, 1)[1].split("</label>", 1)[0]
                if tenant_names is None or unescape(label).strip() in tenant_names:
                    form.append(("tenant_ids", attributes["value"]))
        action = urljoin(authorize_url, unescape(_FORM_ACTION.search(page.text).group(1)))
        answer = await browser.post(
            action,
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    if answer.status_code != 302:
        raise RuntimeError(f"the consent page answered {answer.status_code}: {answer.text[:200]}")
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}
