"""A browser test's world: `duely web` as its own process on the demo organisation, and
Debian's Chromium for Playwright to drive (never a downloaded browser)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from duely.accounts.organisations import seed_demo
from duely.migrate import upgrade
from tests.serving import free_port

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps reaching for the internet.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed at /usr/bin/chromium (make test installs it with apt-get)",
)


def demo_web(tmp_path: Path, arrange: Callable[[str, int], None] | None = None) -> Iterator[str]:
    """Migrate and seed the demo organisation (then `arrange(database_url, org_id)`), serve
    `duely web` on a free port, yield its URL, stop it."""
    database_url = f"sqlite:///{tmp_path / 'duely.db'}"
    upgrade(database_url)
    org_id = seed_demo(database_url, "demo@duely.local", "duely-demo")
    if arrange:
        arrange(database_url, org_id)
    port = free_port()
    env = {
        **os.environ,
        "DUELY_HOME": str(tmp_path),
        "DUELY_WEB_PORT": str(port),
        "DUELY_TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "duely", "web"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/login", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "duely web did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def web_url(tmp_path) -> Iterator[str]:
    """`duely web` on the demo organisation; a module overrides it to arrange more first."""
    yield from demo_web(tmp_path)


async def sign_in_on_the_way_to(page: Page, web_url: str, path: str) -> None:
    """Open `path` signed out, get sent to the login form, sign in as the demo admin, land on
    `path` with htmx (a deferred script) listening."""
    await page.goto(f"{web_url}{path}")
    await expect(page).to_have_url(f"{web_url}/login?next={path}")
    await page.fill("input[name=email]", "demo@duely.local")
    await page.fill("input[name=password]", "duely-demo")
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{web_url}{path}")
    await page.wait_for_load_state()


def csp_violations(page: Page) -> list[str]:
    """What Chromium reports on the page's console as Content-Security-Policy violations (a
    script, style, frame or connection it refused), from now on. Tests assert the list is
    empty at their end: a policy that breaks htmx or Stripe.js fails them even where the page
    happens to look right."""
    found: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(message.text)

    page.on("console", note)
    return found


@asynccontextmanager
async def page_at(url: str, viewport: dict | None = None) -> AsyncIterator[Page]:
    """A new page in Debian's Chromium, loaded from `url`; the browser closes afterwards. The
    page must not have met a Content-Security-Policy violation by then."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        try:
            page = await (browser.new_page(viewport=viewport) if viewport else browser.new_page())
            violations = csp_violations(page)
            await page.goto(url)
            await page.wait_for_load_state()
            yield page
            assert violations == []
        finally:
            await browser.close()
