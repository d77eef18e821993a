"""The security headers as Chromium applies them: another page cannot frame duely's pages (the
clickjacking of the pause and stop buttons), and a script slipped into a page does not run and
is reported, which the other browser tests' `csp_violations` check counts on.

These tests expect violations, so they open Chromium themselves rather than through `page_at`
(which fails a test on any).
"""

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Page, async_playwright, expect

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    csp_violations,
    requires_chromium,
    sign_in_on_the_way_to,
)
from tests.waiting import eventually

pytestmark = requires_chromium


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def reported(violations: list[str]) -> list[str]:
    """The violations, once Chromium has reported any (a moment after the fact)."""
    return await eventually(lambda: violations, "Chromium reported no violation", seconds=2)


async def test_another_page_cannot_frame_a_staff_page(web_url, page):
    await sign_in_on_the_way_to(page, web_url, "/settings/organisation")
    await expect(page.get_by_text("Save settings")).to_be_visible()  # signed in: the victim
    violations = csp_violations(page)
    await page.set_content(f'<iframe src="{web_url}/settings/organisation"></iframe>')
    [violation] = await reported(violations)
    assert "frame-ancestors 'none'" in violation
    await expect(page.frame_locator("iframe").get_by_text("Save settings")).to_have_count(0)


async def test_an_injected_inline_script_does_not_run_and_is_reported(web_url, page):
    violations = csp_violations(page)
    await page.goto(f"{web_url}/login")
    await page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
        }"""
    )
    [violation] = await reported(violations)
    assert "script-src 'self'" in violation
    assert await page.evaluate("window.injected") is None
