"""A person signed in to Stripe choosing the account to connect, as a browser would.

For tests and the demo: it follows the real page and redirect, so the OAuth code path it
exercises is the one a person's browser takes.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


async def choose_account(authorize_url: str, account_id: str, allow: bool = True) -> str:
    """Connect `account_id` (or decline); returns the URL Stripe sends the browser back to."""
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(authorize_url)
        if page.status_code != 200:
            raise RuntimeError(f"Stripe's authorize page answered {page.status_code}: {page.text}")
        form = {unescape(name): unescape(value) for name, value in _HIDDEN.findall(page.text)}
        form |= {"account": account_id, "decision": "allow" if allow else "deny"}
        action = urljoin(authorize_url, unescape(_ACTION.search(page.text).group(1)))
        answer = await browser.post(action, data=form)
    if answer.status_code != 302:
        raise RuntimeError(f"Stripe's authorize form answered {answer.status_code}: {answer.text}")
    return answer.headers["location"]


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
