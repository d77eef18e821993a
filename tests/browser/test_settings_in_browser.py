"""A person's path through a real browser: sign in, edit settings through htmx, see errors inline.

Runs `duely web` as its own process and drives Debian's Chromium with Playwright.
"""

from playwright.async_api import async_playwright, expect

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    csp_violations,
    requires_chromium,
    sign_in_on_the_way_to,
)

pytestmark = requires_chromium


async def test_sign_in_and_edit_settings_with_htmx(web_url, tmp_path):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS
        )
        page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        violations = csp_violations(page)
        await sign_in_on_the_way_to(page, web_url, "/settings/organisation")

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
        assert violations == []  # htmx and the pages work under the real policy
        await browser.close()
