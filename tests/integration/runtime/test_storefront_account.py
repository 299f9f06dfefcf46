"""Account pages and the admin console through HTTP, as a browser would use them:
forms with CSRF tokens, a Secure/HttpOnly/SameSite session cookie, redirects."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from accounts_harness import (
    PASSWORD,
    Browser,
    Site,
    running_site,
    totp_next,
    totp_now,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
OWNER = "owner@shop.test"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    async with running_site(tmp_path_factory.mktemp("site"), admin_emails=[OWNER]) as made:
        yield made


@pytest_asyncio.fixture(loop_scope="session")
async def browser(site: Site) -> AsyncIterator[Browser]:
    made = Browser(site.storefront.url)
    yield made
    await made.close()


async def sign_up(site: Site, browser: Browser, email: str | None = None) -> str:
    email = email or f"page-{uuid.uuid4().hex[:8]}@shop.test"
    fields = {"email": email, "name": "Ada", "password": PASSWORD, "password_again": PASSWORD}
    answer = await browser.submit("/account/sign-up", fields)
    assert answer.status_code == 200
    assert "Check your inbox" in answer.text
    link = await site.accounts.wait_link("verification_requested", email)
    path = link.split("://", 1)[1].split("/", 1)[1]
    confirmed = await browser.submit(f"/{path}", {"token": link.split("token=")[1]})
    assert confirmed.status_code == 303
    return email


async def sign_in(browser: Browser, email: str, password: str = PASSWORD) -> httpx.Response:
    return await browser.submit("/account/sign-in", {"email": email, "password": password})


async def test_sign_up_and_sign_in_with_a_secure_session_cookie(
    site: Site, browser: Browser
) -> None:
    email = await sign_up(site, browser)
    before = browser.cookies["sf_session"]
    answer = await sign_in(browser, email)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account"
    after = browser.cookies["sf_session"]
    assert after != before, "the session id must change at sign-in"
    session_cookies = [c for c in browser.set_cookies if c.startswith("sf_session=")]
    for header in session_cookies:
        flags = {part.strip().lower() for part in header.split(";")}
        assert "secure" in flags
        assert "httponly" in flags
        assert "samesite=lax" in flags
    account = await browser.get("/account")
    assert account.status_code == 200
    assert email in account.text
    assert account.headers["cache-control"].startswith("private")

    signed_out = await browser.submit("/account", {}, action="/account/sign-out")
    assert signed_out.status_code == 303
    again = await browser.get("/account")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/account/sign-in")
    # The old session id is dead too, not only forgotten by this browser.
    stolen = await browser.client.get("/account", headers={"Cookie": f"sf_session={after}"})
    assert stolen.status_code == 303


async def test_forms_refuse_a_missing_or_foreign_csrf_token(site: Site, browser: Browser) -> None:
    email = await sign_up(site, browser)
    no_token = await browser.request(
        "POST", "/account/sign-in", data={"email": email, "password": PASSWORD}
    )
    assert no_token.status_code == 403
    other = Browser(site.storefront.url)
    opened = await other.get("/account/sign-in")
    foreign = re.search(r'name="csrf" value="([^"]+)"', opened.text)
    assert foreign
    await browser.get("/account/sign-in")
    crossed = await browser.request(
        "POST",
        "/account/sign-in",
        data={"csrf": foreign.group(1), "email": email, "password": PASSWORD},
    )
    assert crossed.status_code == 403
    from_elsewhere = await browser.submit(
        "/account/sign-in",
        {"email": email, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert from_elsewhere.status_code == 403
    await other.close()
    assert "sf_session" not in browser.cookies or (await browser.get("/account")).status_code == 303


async def test_sign_in_page_says_the_same_for_unknown_and_wrong(
    site: Site, browser: Browser
) -> None:
    email = await sign_up(site, browser)
    wrong = await sign_in(browser, email, "not the password")
    unknown = await sign_in(browser, f"nobody-{uuid.uuid4().hex[:6]}@shop.test", "whatever1")
    assert wrong.status_code == unknown.status_code == 401

    def message(page: str) -> str:
        found = re.search(r'<p class="error" role="alert">([^<]+)</p>', page)
        assert found
        return found.group(1)

    assert message(wrong.text) == message(unknown.text)


async def test_repeated_wrong_passwords_lock_the_form(site: Site, browser: Browser) -> None:
    email = await sign_up(site, browser)
    for n in range(5):
        assert (await sign_in(browser, email, f"wrong-{n}")).status_code == 401
    locked = await sign_in(browser, email)
    assert locked.status_code == 429
    assert "too many" in locked.text.lower()


async def test_mfa_enrolment_and_challenge_through_the_pages(site: Site, browser: Browser) -> None:
    email = await sign_up(site, browser)
    await sign_in(browser, email)
    setup = await browser.get("/account/mfa/setup")
    assert setup.status_code == 200
    assert "<svg" in setup.text
    secret = re.search(r'<code id="mfa-secret">([A-Z2-7]+)</code>', setup.text)
    assert secret
    codes_page = await browser.submit("/account/mfa/setup", {"code": totp_now(secret.group(1))})
    assert codes_page.status_code == 200
    assert len(re.findall(r"<li>[0-9a-f]{6}-[0-9a-f]{6}</li>", codes_page.text)) == 10
    await browser.submit("/account", {}, action="/account/sign-out")

    first = await sign_in(browser, email)
    assert first.headers["location"] == "/account/mfa"
    wrong = await browser.submit("/account/mfa", {"code": "000000"})
    assert wrong.status_code == 401
    right = await browser.submit("/account/mfa", {"code": totp_next(secret.group(1))})
    assert right.status_code == 303
    assert (await browser.get("/account")).status_code == 200


async def test_addresses_preferences_export_and_deletion(site: Site, browser: Browser) -> None:
    email = await sign_up(site, browser)
    await sign_in(browser, email)
    bad = await browser.submit(
        "/account/addresses",
        {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Oslo",
            "postal_code": "0150",
            "country": "Norway",
        },
    )
    assert bad.status_code == 400
    assert "Country" in bad.text
    saved = await browser.submit(
        "/account/addresses",
        {
            "name": "Ada",
            "line1": "1 Main St",
            "city": "Oslo",
            "postal_code": "0150",
            "country": "no",
        },
    )
    assert saved.status_code == 303
    listed = await browser.get("/account/addresses")
    assert "1 Main St" in listed.text
    assert "Oslo" in listed.text
    await browser.submit(
        "/account/preferences",
        {"name": "Ada L.", "language": "de", "channel_sms": "on", "marketing_opt_in": "on"},
    )
    page = await browser.get("/account/preferences")
    assert '<option value="de" selected>' in page.text
    assert 'name="channel_sms" checked' in page.text
    assert 'name="channel_email" checked' not in page.text

    export = await browser.get("/account/export")
    assert export.status_code == 200
    data = export.json()
    assert data["profile"]["email"] == email
    assert data["profile"]["language"] == "de"
    assert data["addresses"][0]["country"] == "NO"

    deleted = await browser.submit(
        "/account", {"password": PASSWORD, "confirm": "DELETE"}, action="/account/delete"
    )
    assert deleted.status_code == 303
    assert (await sign_in(browser, email)).status_code == 401


async def test_admin_console_is_for_staff_only(site: Site, browser: Browser) -> None:
    shopper = await sign_up(site, browser)
    await sign_in(browser, shopper)
    assert (await browser.get("/admin")).status_code == 403
    assert (await browser.get("/admin/customers")).status_code == 403
    await browser.submit("/account", {}, action="/account/sign-out")
    assert (await browser.get("/admin")).status_code == 303  # to the sign-in page

    owner = Browser(site.storefront.url)
    await sign_up(site, owner, OWNER)
    await sign_in(owner, OWNER)
    home = await owner.get("/admin")
    assert home.status_code == 200
    for section in ("Catalog", "Promotions", "Customers", "Settings"):
        assert f">{section}</a>" in home.text
    customers = await owner.get("/admin/customers")
    assert shopper in customers.text
    assert "sign in" in customers.text  # the security log

    code = f"SAVE{uuid.uuid4().hex[:4].upper()}"
    created = await owner.submit(
        "/admin/promotions", {"code": code, "kind": "percent", "value": "15"}
    )
    assert created.status_code == 303
    assert code in (await owner.get("/admin/promotions")).text
    sku = f"LAMP-{uuid.uuid4().hex[:6].upper()}"
    product = await owner.submit(
        "/admin/catalog",
        {
            "name": f"Desk lamp {sku}",
            "category": "lamps",
            "sku": sku,
            "price": "24.90",
            "stock": "3",
        },
    )
    assert product.status_code == 303
    async with httpx.AsyncClient(base_url=site.catalog.url) as catalog:
        found = await catalog.get(f"/variants/{sku}")
        assert found.json()["price_minor"] == 2490
    # The console's writes carry the admin's own token: anonymous calls stay refused.
    async with httpx.AsyncClient(base_url=site.cart.url) as cart:
        assert (await cart.get("/admin/promos")).status_code == 401
    await owner.close()


async def test_the_cart_knows_a_signed_in_shopper_by_the_accounts_token(site: Site) -> None:
    admin = site.accounts.bearer("setup", "store-admin")
    sku = f"MUG-{uuid.uuid4().hex[:6].upper()}"
    product = {
        "slug": f"mug-{sku.lower()}",
        "name": "Mug",
        "category": "lamps",
        "variants": [
            {"sku": sku, "name": "Blue", "price_minor": 900, "currency": "EUR", "stock": 5}
        ],
    }
    async with (
        httpx.AsyncClient(base_url=site.catalog.url) as catalog,
        httpx.AsyncClient(base_url=site.accounts.url) as accounts,
        httpx.AsyncClient(base_url=site.cart.url) as cart,
    ):
        assert (await catalog.post("/admin/products", json=product)).status_code == 401
        made = await catalog.post("/admin/products", json=product, headers=admin)
        assert made.status_code == 201, made.text
        _, ada = await site.accounts.sign_up(accounts)
        _, bob = await site.accounts.sign_up(accounts)
        as_ada = {"Authorization": f"Bearer {ada['access_token']}"}
        added = await cart.post("/cart/items", json={"sku": sku, "quantity": 2}, headers=as_ada)
        assert added.status_code == 200, added.text
        assert (await cart.get("/cart", headers=as_ada)).json()["item_count"] == 2
        as_bob = {"Authorization": f"Bearer {bob['access_token']}"}
        assert (await cart.get("/cart", headers=as_bob)).json()["item_count"] == 0
        forged = ada["access_token"][:-3] + "abc"
        refused = await cart.get("/cart", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401
