"""Real accounts servers for the accounts, permission and storefront-account tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyotp
import pytest
import uvicorn
from cryptography.fernet import Fernet
from fastapi import FastAPI

from storefleet.runtime.accounts.app import create_app as accounts_app
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.events.outbox import Event, InProcessEventBus
from storefleet.runtime.platform.identity.revocations import RevokedSessions
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings
from storefleet.runtime.platform.storage.cache import create_cache

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A uvicorn server on a free port, in the test's event loop."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(600):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)
        raise TimeoutError(f"server on {self.url} did not start")

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=15)


@contextlib.contextmanager
def accounts_database(request: pytest.FixtureRequest, directory: Path, kind: str) -> Iterator[str]:
    """A fresh, empty database URL of the given kind (embedded or postgres)."""
    if kind == "embedded":
        yield f"sqlite:///{directory / f'accounts-{uuid.uuid4().hex[:6]}.db'}"
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    name = f"sf_test_{uuid.uuid4().hex[:10]}_accounts"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Accounts:
    """A running accounts service of one store, and a way to read its mail."""

    server: Server
    bus: InProcessEventBus
    auth: Authenticator
    store: str
    cache_url: str = "memory://"
    cache_prefix: str = ""
    sent: list[Event] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    def last_link(self, kind: str, email: str) -> str:
        for event in reversed(self.bus.recent):
            if event.type == f"account.{kind}" and event.payload.get("email") == email:
                link: str = event.payload["link"]
                return link
        raise AssertionError(f"no {kind} event for {email}")

    def token_of(self, kind: str, email: str) -> str:
        return self.last_link(kind, email).split("token=", 1)[1]

    async def wait_link(self, kind: str, email: str) -> str:
        for _ in range(100):
            with contextlib.suppress(AssertionError):
                return self.last_link(kind, email)
            await asyncio.sleep(0.05)
        return self.last_link(kind, email)

    def replica(self) -> Authenticator:
        """Another service's (or replica's) authenticator: the same store's
        settings and the same shared cache, through a client of its own."""
        settings = self.auth.settings
        if self.cache_url == "memory://":
            return Authenticator(settings, revocations=self.auth.revocations)
        ttl = settings.access_ttl_seconds + settings.leeway_seconds
        cache = create_cache(self.cache_url, self.cache_prefix)
        return Authenticator(settings, revocations=RevokedSessions(cache, ttl))

    def issue(self, subject: str, *roles: str, **kwargs: Any) -> str:
        return self.auth.issue_access(subject, frozenset(roles), **kwargs)

    def bearer(self, subject: str, *roles: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issue(subject, *roles, **kwargs)}"}

    async def sign_up(
        self, client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD
    ) -> tuple[str, dict[str, Any]]:
        """Register, follow the e-mailed link, sign in: (email, tokens)."""
        email = email or f"shopper-{uuid.uuid4().hex[:8]}@example.test"
        response = await client.post(
            "/register", json={"email": email, "password": password, "name": "Ada Shopper"}
        )
        assert response.status_code == 202, response.text
        link = await self.wait_link("verification_requested", email)
        verified = await client.post("/verify-email", json={"token": link.split("token=")[1]})
        assert verified.status_code == 200, verified.text
        signed_in = await client.post("/sign-in", json={"email": email, "password": password})
        assert signed_in.status_code == 200, signed_in.text
        tokens: dict[str, Any] = signed_in.json()
        return email, tokens


@contextlib.asynccontextmanager
async def running_accounts(
    database_url: str,
    *,
    store: str | None = None,
    cache_url: str = "memory://",
    cache_prefix: str = "",
    secret: str | None = None,
    **overrides: Any,
) -> AsyncIterator[Accounts]:
    store = store or f"shop-{uuid.uuid4().hex[:6]}"
    bus = InProcessEventBus(history=10_000)
    auth_settings = AuthSettings(
        jwt_secret=secret or secrets.token_urlsafe(32),
        issuer=f"storefleet:{store}",
        required=True,
    )
    # Signed-out sessions in the store's shared cache (Redis on the postgres backend).
    revocations = None
    if cache_url != "memory://":
        ttl = auth_settings.access_ttl_seconds + auth_settings.leeway_seconds
        revocations = RevokedSessions(create_cache(cache_url, cache_prefix), ttl)
    auth = Authenticator(auth_settings, revocations=revocations)
    # A test's own key for MFA secrets at rest (a pod gets the store's from its Secret).
    overrides.setdefault("secrets_key", Fernet.generate_key().decode())
    settings = AccountsSettings(
        database_url=database_url,
        cache_url=cache_url,
        cache_prefix=cache_prefix,
        access_log=False,
        outbox_poll_seconds=0.2,
        log_links=False,
        **overrides,
    )
    app = accounts_app(settings, auth=auth, store=StoreSettings(name="Test Shop"), bus=bus)
    server = Server(app)
    await server.start()
    try:
        yield Accounts(server, bus, auth, store, cache_url, cache_prefix)
    finally:
        await server.stop()


class Browser:
    """Keeps cookies the way a browser on localhost does (Secure ones included)
    and remembers every Set-Cookie it saw, to check their flags."""

    def __init__(self, url: str) -> None:
        self.client = httpx.AsyncClient(base_url=url, timeout=30, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []
        self.origin = url

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.client.request(method, path, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or "expires=Thu, 01 Jan 1970" in header:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def follow(self, path: str) -> httpx.Response:
        response = await self.get(path)
        for _ in range(5):
            if response.status_code not in (302, 303, 307):
                break
            response = await self.get(response.headers["location"])
        return response

    async def submit(
        self, page: str, fields: dict[str, str], action: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Open the page, copy its CSRF token into the form, post it."""
        opened = await self.get(page)
        match = re.search(r'name="csrf" value="([^"]+)"', opened.text)
        assert match, f"no CSRF field on {page}: {opened.status_code}"
        return await self.request(
            "POST",
            action or page.split("?")[0],
            data={"csrf": match.group(1), **fields},
            headers=kwargs.pop("headers", {"Origin": self.origin}),
            **kwargs,
        )

    async def close(self) -> None:
        await self.client.aclose()


@dataclass
class Site:
    """A small shop: accounts, catalog (with a "lamps" category), cart, storefront."""

    accounts: Accounts
    catalog: Server
    cart: Server
    storefront: Server


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.asynccontextmanager
async def running_site(directory: Path, **accounts_settings: Any) -> AsyncIterator[Site]:
    from storefleet.runtime.cart.app import create_app as cart_app
    from storefleet.runtime.cart.settings import CartSettings
    from storefleet.runtime.catalog.app import create_app as catalog_app
    from storefleet.runtime.catalog.settings import CatalogSettings
    from storefleet.runtime.storefront.app import create_app as storefront_app
    from storefleet.runtime.storefront.settings import StorefrontSettings

    accounts_settings.setdefault("attempts_per_minute", 1000)
    async with running_accounts(
        f"sqlite:///{directory / 'accounts.db'}", **accounts_settings
    ) as accounts:
        # The cart reads exact stock with the catalog's token (sign-in is required here).
        catalog_token = secrets.token_urlsafe(24)
        catalog = Server(
            catalog_app(
                CatalogSettings(
                    database_url=f"sqlite:///{directory / 'c.db'}", admin_token=catalog_token
                )
            )
        )
        catalog.app.state.authenticator = accounts.auth
        await catalog.start()
        cart = Server(
            cart_app(
                CartSettings(
                    database_url=f"sqlite:///{directory / 'cart.db'}",
                    catalog_url=catalog.url,
                    catalog_token=catalog_token,
                    http_retries=0,
                )
            )
        )
        cart.app.state.authenticator = accounts.auth
        await cart.start()
        with env(STOREFLEET_STOREFRONT_ACCOUNTS_URL=accounts.url):
            front = storefront_app(
                StorefrontSettings(catalog_url=catalog.url, cart_url=cart.url, access_log=False),
                store=StoreSettings(name="Test Shop"),
            )
        front.state.authenticator = accounts.auth
        storefront = Server(front)
        await storefront.start()
        admin = accounts.bearer("setup", "store-admin")
        async with httpx.AsyncClient(base_url=catalog.url) as client:
            made = await client.post(
                "/admin/categories", json={"slug": "lamps", "name": "Lamps"}, headers=admin
            )
            assert made.status_code == 201, made.text
        try:
            yield Site(accounts, catalog, cart, storefront)
        finally:
            for server in (storefront, cart, catalog):
                await server.stop()


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def totp_next(secret: str) -> str:
    """The next 30-second code: still accepted (one step of drift) and unused."""
    import time

    return pyotp.TOTP(secret).at(time.time() + 30)
