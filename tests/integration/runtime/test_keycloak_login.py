"""Cluster-mode sign-in against the dev stack's real Keycloak: a realm per store
made by the operator's provisioner, the storefront's authorization-code flow
with PKCE in a real browser, tokens checked against the realm's JWKS."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
import pytest_asyncio
from accounts_harness import Server, free_port
from browser_harness import ARTIFACTS, launch
from keycloak import KeycloakAdmin, KeycloakOpenID
from starlette.requests import Request

from storefleet.dev.components.keycloak import KeycloakAccess
from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.keycloak import KeycloakProvisioner, realm_name
from storefleet.runtime.accounts.app import create_app as accounts_app
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.catalog.app import create_app as catalog_app
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings
from storefleet.runtime.storefront.app import create_app as storefront_app
from storefleet.runtime.storefront.settings import StorefrontSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Realm:
    tenant: Tenant
    name: str
    issuer: str
    outputs: dict[str, str]
    admin: KeycloakAdmin


@dataclass
class ClusterShop:
    acme: Realm
    globex: Realm
    storefront: Server
    accounts: Server
    auth: Authenticator
    password: str
    email: str


def realm_admin(access: KeycloakAccess, realm: str) -> KeycloakAdmin:
    return KeycloakAdmin(
        server_url=access.url,
        username=access.username,
        password=access.password,
        realm_name=realm,
        user_realm_name="master",
    )


def add_user(realm: Realm, email: str, password: str, role: str = "customer") -> str:
    user_id = realm.admin.create_user(
        {
            "username": email,
            "email": email,
            "firstName": "Ada",
            "lastName": "Shopper",
            "emailVerified": True,
            "enabled": True,
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }
    )
    realm.admin.assign_realm_roles(user_id, [realm.admin.get_realm_role(role)])
    return str(user_id)


def direct_grant_token(access: KeycloakAccess, realm: Realm, email: str, password: str) -> str:
    """A token by password grant (enabled here for the test only)."""
    client_id = realm.admin.get_client_id("storefront")
    realm.admin.update_client(client_id, {"directAccessGrantsEnabled": True})
    openid = KeycloakOpenID(
        server_url=access.url,
        realm_name=realm.name,
        client_id="storefront",
        client_secret_key=realm.outputs["OIDC_STOREFRONT_SECRET"],
    )
    token: str = openid.token(email, password)["access_token"]
    return token


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cluster_shop(
    keycloak_admin: KeycloakAccess, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ClusterShop]:
    directory = tmp_path_factory.mktemp("cluster")
    provisioner = KeycloakProvisioner(
        keycloak_admin.url, keycloak_admin.username, keycloak_admin.password
    )
    catalog = Server(catalog_app(CatalogSettings(database_url=f"sqlite:///{directory / 'c.db'}")))
    await catalog.start()
    # The storefront's address must be known to the realm (its redirect URIs).
    storefront_port = free_port()
    base_url = f"http://127.0.0.1:{storefront_port}"
    realms: list[Realm] = []
    google = [{"alias": "google", "type": "google", "clientId": "shop.apps.example"}]
    for store in (f"acme-{secrets.token_hex(3)}", f"globex-{secrets.token_hex(3)}"):
        spec = {"otp": "Off", "identityProviders": google if store.startswith("acme") else []}
        tenant = Tenant(store=store, namespace="unused", spec=spec)
        result = await provisioner.ensure(tenant, base_url=base_url, display_name=store)
        assert result.ok, result.condition
        name = realm_name(tenant)
        realms.append(
            Realm(
                tenant,
                name,
                result.outputs["OIDC_ISSUER"],
                result.outputs,
                realm_admin(keycloak_admin, name),
            )
        )
    acme, globex = realms
    auth = Authenticator(
        AuthSettings(
            oidc_issuer=acme.issuer,
            oidc_client_secret=acme.outputs["OIDC_STOREFRONT_SECRET"],
            jwt_secret=secrets.token_urlsafe(32),
            jwks_min_refresh_seconds=0,
            required=True,
        )
    )
    accounts = Server(
        accounts_app(
            AccountsSettings(database_url=f"sqlite:///{directory / 'a.db'}", access_log=False),
            auth=auth,
        )
    )
    await accounts.start()
    page_settings = {
        "STOREFLEET_STOREFRONT_ACCOUNTS_URL": accounts.url,
        "STOREFLEET_STOREFRONT_SOCIAL_PROVIDERS": '["google"]',
        "STOREFLEET_STOREFRONT_ADMIN_OIDC_CLIENT_SECRET": acme.outputs["OIDC_ADMIN_CONSOLE_SECRET"],
    }
    saved = {key: os.environ.get(key) for key in page_settings}
    os.environ.update(page_settings)
    try:
        front = storefront_app(
            StorefrontSettings(catalog_url=catalog.url, cart_url=catalog.url, access_log=False)
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    front.state.authenticator = auth
    storefront = Server(front, port=storefront_port)
    await storefront.start()
    password = secrets.token_urlsafe(16)
    email = f"ada-{uuid.uuid4().hex[:6]}@acme.test"
    add_user(acme, email, password)
    try:
        yield ClusterShop(acme, globex, storefront, accounts, auth, password, email)
    finally:
        for server in (storefront, accounts, catalog):
            await server.stop()
        for realm in realms:
            await provisioner.delete(realm.tenant, "Delete")


async def sign_in_on_the_realm(page: Any, email: str, password: str) -> None:
    """From the storefront's account page to the realm's login form, and submit it."""
    await page.goto("/account")
    await page.fill("#username", email)
    await page.fill("#password", password)
    await page.click("#kc-login")


async def test_a_shopper_signs_in_on_the_realm_login_page_and_reaches_the_account(
    cluster_shop: ClusterShop, chromium: str
) -> None:
    async with launch(chromium) as browser:
        context = await browser.new_context(base_url=cluster_shop.storefront.url)
        page = await context.new_page()
        await page.goto("/account")
        # Off to Keycloak: the realm's own login form.
        await page.wait_for_url(f"{cluster_shop.acme.issuer}/protocol/openid-connect/auth**")
        assert "code_challenge_method=S256" in page.url
        await page.fill("#username", cluster_shop.email)
        await page.fill("#password", cluster_shop.password)
        await page.screenshot(path=ARTIFACTS / "keycloak-login.png")
        await page.click("#kc-login")
        await page.wait_for_url(f"{cluster_shop.storefront.url}/account")
        assert await page.locator("#account-email").inner_text() == cluster_shop.email
        await page.screenshot(path=ARTIFACTS / "keycloak-account.png", full_page=True)
        cookies = {c["name"]: c for c in await context.cookies()}
        session = cookies["sf_session"]
        assert session["httpOnly"]
        assert session["secure"]
        assert session["sameSite"] == "Lax"
        await context.close()


async def test_tokens_of_the_stores_realm_pass_and_another_realms_are_refused(
    cluster_shop: ClusterShop, keycloak_admin: KeycloakAccess
) -> None:
    own = direct_grant_token(
        keycloak_admin, cluster_shop.acme, cluster_shop.email, cluster_shop.password
    )
    other_email = f"eve-{uuid.uuid4().hex[:6]}@globex.test"
    add_user(cluster_shop.globex, other_email, cluster_shop.password, role="store-admin")
    foreign = direct_grant_token(
        keycloak_admin, cluster_shop.globex, other_email, cluster_shop.password
    )
    async with httpx.AsyncClient(base_url=cluster_shop.accounts.url) as client:
        me = await client.get("/me", headers={"Authorization": f"Bearer {own}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == cluster_shop.email
        assert me.json()["roles"] == ["customer"]
        # A customer of this realm is not staff here.
        staff = await client.get("/admin/customers", headers={"Authorization": f"Bearer {own}"})
        assert staff.status_code == 403
        # Another store's admin is nobody here.
        refused = await client.get(
            "/admin/customers", headers={"Authorization": f"Bearer {foreign}"}
        )
        assert refused.status_code == 401
        assert (
            await client.get("/me", headers={"Authorization": f"Bearer {foreign}"})
        ).status_code == 401


async def test_rotated_realm_keys_are_fetched_on_an_unknown_key_id(
    cluster_shop: ClusterShop, keycloak_admin: KeycloakAccess
) -> None:
    before = await _token(cluster_shop, keycloak_admin)
    principal = await cluster_shop.auth.authenticate(before)
    assert principal is not None
    assert cluster_shop.auth.jwks is not None
    fetches = cluster_shop.auth.jwks.fetches
    realm = cluster_shop.acme.admin.get_realm(cluster_shop.acme.name)
    cluster_shop.acme.admin.create_component(
        {
            "name": f"rotated-{uuid.uuid4().hex[:6]}",
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm["id"],
            "config": {"priority": ["500"], "keySize": ["2048"], "active": ["true"]},
        }
    )
    after = await _token(cluster_shop, keycloak_admin)
    import jwt

    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    rotated = await cluster_shop.auth.authenticate(after)
    assert rotated is not None
    assert rotated.realm == cluster_shop.acme.name
    assert cluster_shop.auth.jwks.fetches == fetches + 1
    # Forged or unknown key ids don't get through either.
    header, payload, _ = after.split(".")
    assert await cluster_shop.auth.authenticate(f"{header}.{payload}.AAAA") is None


async def test_social_login_goes_straight_to_the_realms_identity_provider(
    cluster_shop: ClusterShop,
) -> None:
    async with httpx.AsyncClient(base_url=cluster_shop.storefront.url) as client:
        start = await client.get("/account/oidc/start", params={"idp": "google"})
        assert start.status_code == 303
        authorize = start.headers["location"]
        assert "kc_idp_hint=google" in authorize
        # Keycloak skips its own form and hands the browser to the provider's broker.
        hop = await client.get(authorize, follow_redirects=False)
        assert hop.status_code in (302, 303), hop.text[:300]
        assert f"/realms/{cluster_shop.acme.name}/broker/google/login" in hop.headers["location"]
        unknown = await client.get("/account/oidc/start", params={"idp": "myspace"})
        assert "kc_idp_hint" not in unknown.headers["location"]


async def test_staff_sign_in_to_the_admin_console_through_its_own_client(
    cluster_shop: ClusterShop, chromium: str
) -> None:
    boss = f"boss-{uuid.uuid4().hex[:6]}@acme.test"
    add_user(cluster_shop.acme, boss, cluster_shop.password, role="store-admin")
    async with launch(chromium) as browser:
        context = await browser.new_context(base_url=cluster_shop.storefront.url)
        page = await context.new_page()
        await page.goto("/admin/customers")
        await page.wait_for_url(f"{cluster_shop.acme.issuer}/protocol/openid-connect/auth**")
        assert "client_id=admin-console" in page.url
        await page.fill("#username", boss)
        await page.fill("#password", cluster_shop.password)
        await page.click("#kc-login")
        await page.wait_for_url(f"{cluster_shop.storefront.url}/admin/customers")
        # The accounts service took the realm's token as a store admin's.
        assert boss in await page.locator("#customers").inner_text()
        await page.screenshot(path=ARTIFACTS / "keycloak-admin-console.png", full_page=True)
        await context.close()


async def test_signing_out_ends_the_realms_session_and_its_access_tokens_everywhere(
    cluster_shop: ClusterShop, chromium: str
) -> None:
    """Sign-out on the storefront ends the Keycloak session (no silent sign-in
    after it) and the access token the storefront held is refused by the other
    services at once, long before it expires."""
    email = f"ines-{uuid.uuid4().hex[:6]}@acme.test"
    user_id = add_user(cluster_shop.acme, email, cluster_shop.password)
    front = cluster_shop.storefront.app
    async with launch(chromium) as browser:
        context = await browser.new_context(base_url=cluster_shop.storefront.url)
        page = await context.new_page()
        await sign_in_on_the_realm(page, email, cluster_shop.password)
        await page.wait_for_url(f"{cluster_shop.storefront.url}/account")
        (realm_session,) = cluster_shop.acme.admin.get_sessions(user_id)
        # The shopper's token never leaves the server: read it where the storefront keeps it.
        cookie = {c["name"]: c["value"] for c in await context.cookies()}["sf_session"]
        sessions = front.state.account_pages.sessions
        held = Request({"type": "http", "headers": [(b"cookie", f"sf_session={cookie}".encode())]})
        stored = await sessions.load(held)
        assert stored is not None
        access = str(stored.data["access"])
        bearer = {"Authorization": f"Bearer {access}"}
        async with httpx.AsyncClient(base_url=cluster_shop.accounts.url) as accounts:
            assert (await accounts.get("/me", headers=bearer)).status_code == 200

            await page.click("form[action='/account/sign-out'] button")
            await page.wait_for_url(f"{cluster_shop.storefront.url}/")

            me = await accounts.get("/me", headers=bearer)
            assert me.status_code == 401, me.text
            assert me.headers["content-type"].startswith("application/problem+json")
        assert realm_session["id"] not in {
            found["id"] for found in cluster_shop.acme.admin.get_sessions(user_id)
        }
        # The realm asks for the password again: its session is gone, not only ours.
        await page.goto("/account")
        await page.wait_for_url(f"{cluster_shop.acme.issuer}/protocol/openid-connect/auth**")
        assert await page.locator("#password").is_visible()
        await context.close()


async def test_the_realms_otp_policy_makes_a_new_shopper_set_up_a_second_factor(
    cluster_shop: ClusterShop, keycloak_admin: KeycloakAccess, chromium: str
) -> None:
    provisioner = KeycloakProvisioner(
        keycloak_admin.url, keycloak_admin.username, keycloak_admin.password
    )
    own = cluster_shop.acme.tenant
    strict = Tenant(own.store, "unused", {**own.spec, "otp": "Required"})
    assert (await provisioner.ensure(strict, base_url=cluster_shop.storefront.url)).ok
    try:
        await _enrol_and_sign_in_with_a_second_factor(cluster_shop, chromium)
    finally:
        # The module's other sign-ins expect the realm as the fixture made it,
        # whichever order they run in.
        restored = await provisioner.ensure(own, base_url=cluster_shop.storefront.url)
        assert restored.ok, restored.condition


async def _enrol_and_sign_in_with_a_second_factor(shop: ClusterShop, chromium: str) -> None:
    email = f"grace-{uuid.uuid4().hex[:6]}@acme.test"
    add_user(shop.acme, email, shop.password)
    async with launch(chromium) as browser:
        for attempt in ("enrol", "challenge"):
            context = await browser.new_context(base_url=shop.storefront.url)
            page = await context.new_page()
            await sign_in_on_the_realm(page, email, shop.password)
            if attempt == "enrol":
                # Keycloak's authenticator setup, required by the realm's policy.
                await page.click("#mode-manual")
                key = (await page.locator("#kc-totp-secret-key").inner_text()).replace(" ", "")
                await page.screenshot(path=ARTIFACTS / "keycloak-otp-setup.png")
                await page.fill("#totp", pyotp.TOTP(key).now())
                await page.fill("#userLabel", "phone")
                await page.click("#saveTOTPBtn")
            else:
                await page.fill("#otp", pyotp.TOTP(key).at(time.time() + 30))
                await page.click("#kc-login")
            await page.wait_for_url(f"{shop.storefront.url}/account")
            assert await page.locator("#account-email").inner_text() == email
            await context.close()


async def _token(shop: ClusterShop, access: KeycloakAccess) -> str:
    return direct_grant_token(access, shop.acme, shop.email, shop.password)
