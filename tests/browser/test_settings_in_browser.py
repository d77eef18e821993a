"""A person's path through a real browser: sign in, edit settings through htmx, see errors inline.

Runs `duely web` as its own process and drives Debian's Chromium with Playwright.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from duely.accounts import seed_demo
from duely.migrate import upgrade

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed at /usr/bin/chromium (make test installs it with apt-get)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def web_url(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'duely.db'}"
    upgrade(database_url)
    seed_demo(database_url, "demo@duely.local", "duely-demo")
    port = _free_port()
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


async def test_sign_in_and_edit_settings_with_htmx(web_url, tmp_path):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        await page.goto(f"{web_url}/settings/organisation")
        await expect(page).to_have_url(f"{web_url}/login?next=/settings/organisation")

        await page.fill("input[name=email]", "demo@duely.local")
        await page.fill("input[name=password]", "duely-demo")
        await page.click("button[type=submit]")
        await expect(page).to_have_url(f"{web_url}/settings/organisation")

        await page.fill("input[name=name]", "Renamed In A Browser")
        async with page.expect_response("**/settings/organisation") as saved:
            await page.click("text=Save settings")
        response = await saved.value
        assert response.request.headers.get("hx-request") == "true"  # htmx, not a reload
        await expect(page.locator("[role=status]")).to_have_text("Settings saved.")

        await page.fill("input[name=send_window_start]", "18:00")
        await page.fill("input[name=send_window_end]", "09:00")
        await page.click("text=Save settings")
        await expect(page.locator("text=the send window must start before it ends")).to_be_visible()
        await page.screenshot(path=str(tmp_path / "settings.png"), full_page=True)

        await page.goto(f"{web_url}/")
        await expect(page.locator("h1")).to_have_text("Renamed In A Browser")
        await browser.close()
