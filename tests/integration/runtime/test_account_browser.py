"""Embedded mode in a real browser (Debian's Chromium): sign up, confirm, sign
in, set up TOTP from the page, sign in again with a code, manage addresses.
Screenshots go to test-artifacts/storefront/."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest
import pytest_asyncio
from accounts_harness import PASSWORD, Site, running_site
from browser_harness import ARTIFACTS, launch

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    async with running_site(tmp_path_factory.mktemp("browser-site")) as made:
        yield made


async def test_a_shopper_signs_up_turns_on_two_factor_and_signs_in_with_it(
    site: Site, chromium: str
) -> None:
    email = f"ada-{uuid.uuid4().hex[:6]}@shop.test"
    async with launch(chromium) as browser:
        context = await browser.new_context(
            base_url=site.storefront.url, viewport={"width": 1280, "height": 900}
        )
        page: Any = await context.new_page()

        await page.goto("/")
        await page.get_by_role("link", name="Account").click()
        await page.wait_for_url("**/account/sign-in**")
        await page.get_by_role("link", name="Create an account").click()
        await page.get_by_label("Name").fill("Ada Lovelace")
        await page.get_by_label("E-mail address").fill(email)
        await page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
        await page.get_by_label("Password again").fill(PASSWORD)
        await page.screenshot(path=ARTIFACTS / "account-sign-up.png")
        await page.get_by_role("button", name="Create account").click()
        await page.get_by_role("heading", name="Check your inbox").wait_for()

        link = await site.accounts.wait_link("verification_requested", email)
        await page.goto("/" + link.split("://", 1)[1].split("/", 1)[1])  # the e-mailed link
        await page.get_by_role("button", name="Confirm my address").click()
        await page.wait_for_url("**/account/sign-in")

        await page.get_by_label("E-mail address").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/account")
        assert await page.locator("#account-email").inner_text() == email

        await page.get_by_role("link", name="Set it up").click()
        await page.wait_for_url("**/account/mfa/setup")
        assert await page.locator(".qr svg").count() == 1
        await page.screenshot(path=ARTIFACTS / "account-mfa-setup.png")
        secret = (await page.locator("#mfa-secret").inner_text()).strip()
        await page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).now())
        await page.get_by_role("button", name="Turn on").click()
        await page.get_by_role("heading", name="Two-factor authentication is on").wait_for()
        assert await page.locator(".codes li").count() == 10

        await page.goto("/account")
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(f"{site.storefront.url}/")
        await page.goto("/account")
        await page.get_by_label("E-mail address").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/account/mfa")
        await page.get_by_label("Code from your authenticator app").fill(
            pyotp.TOTP(secret).at(time.time() + 30)
        )
        await page.get_by_role("button", name="Continue").click()
        await page.wait_for_url("**/account")

        await page.get_by_role("link", name="Addresses").click()
        await page.get_by_label("Full name").fill("Ada Lovelace")
        await page.get_by_label("Street and number").fill("12 St James's Square")
        await page.get_by_label("Postcode").fill("SW1Y 4JH")
        await page.get_by_label("City").fill("London")
        await page.get_by_label("Country code (e.g. DE)").fill("GB")
        await page.get_by_role("button", name="Save address").click()
        await page.get_by_text("Address saved.").wait_for()
        assert "12 St James's Square" in await page.locator("#addresses").inner_text()
        await page.goto("/account")
        await page.screenshot(path=ARTIFACTS / "account.png", full_page=True)
        await context.close()
