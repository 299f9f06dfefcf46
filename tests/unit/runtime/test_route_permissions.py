"""Every API route of every service declares who may call it, and means it.

The services are the ones ``storefleet.runtime.serve`` knows (``DEFAULT_PORTS``), so a
new service is checked as soon as it can be served. A route passes when one of
its dependencies is the rule ``Depends(require("<permission>"))`` (a permission
of ``PERMISSIONS`` in storefleet.runtime.platform.identity.permissions) or ``Depends(public)``.
Then, with credentials required, each permission-guarded route is called
without a token (401), with a token of every role the permission is not
granted to (403) and with one it is granted to (admitted).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from environment import environment
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from storefleet.runtime import serve
from storefleet.runtime.platform.identity.permissions import PERMISSIONS, PUBLIC, ROLES, rule_of
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")
SERVICES = sorted(name for name in serve.DEFAULT_PORTS if name != "all")
# Added to every service by create_service_app: probes must answer anyone.
PLATFORM_ROUTES = {("GET", "/healthz"), ("GET", "/readyz")}
HOW_TO_DECLARE = (
    "add dependencies=[Depends(require('<permission>'))] (a permission from PERMISSIONS in "
    "storefleet.runtime.platform.identity.permissions; add one there with its roles if none "
    "fits) or "
    "dependencies=[Depends(public)] for a route anyone may call, both from "
    "storefleet.runtime.platform.identity.permissions"
)
REFUSAL = "your role may not do this"


def rules_of(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    for sub in dependant.dependencies:
        rule = rule_of(sub.call)
        if rule is not None:
            found.add(rule)
        found |= rules_of(sub)
    return found


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: str
    rules: frozenset[str]

    def __str__(self) -> str:
        return f"{self.service}: {self.method} {self.path}"


def endpoints(name: str, app: FastAPI) -> list[Endpoint]:
    """Every operation of the app, as FastAPI routes it (included routers too)."""
    found = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or not context.include_in_schema:
            continue
        path, dependant = str(context.path), context.dependant
        assert isinstance(dependant, Dependant), f"{name}: {path} has no dependant"
        for method in sorted(context.methods or ()):
            if (method, path) in PLATFORM_ROUTES:
                continue
            rules = rules_of(dependant)
            if len(rules) > 1:
                # A permission on a route inside a public router: the stricter rule
                # applies (both dependencies run), so the route is guarded.
                rules.discard(PUBLIC)
            found.append(Endpoint(name, method, path, frozenset(rules)))
    return found


@dataclass
class Services:
    apps: dict[str, FastAPI]
    auth: Authenticator


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def services(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    directory: Path = tmp_path_factory.mktemp("services")
    settings = {
        "STOREFLEET_DATA_DIR": str(directory),
        "STOREFLEET_AUTH_JWT_SECRET": secrets.token_urlsafe(32),
        "STOREFLEET_AUTH_ISSUER": "storefleet:permissions-test",
        "STOREFLEET_AUTH_REQUIRED": "true",
        "STOREFLEET_LOG_LEVEL": "WARNING",
    }
    with environment(settings):
        apps = {name: serve._service_app(name) for name in SERVICES}
        async with contextlib.AsyncExitStack() as stack:
            for app in apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield Services(apps, Authenticator(AuthSettings()))


@pytest.mark.asyncio(loop_scope="session")
async def test_every_service_is_checked() -> None:
    assert {"catalog", "cart", "accounts", "storefront"} <= set(SERVICES)


async def test_every_route_declares_one_known_rule(services: Services) -> None:
    missing, conflicting, unknown = [], [], []
    for name, app in services.apps.items():
        found = endpoints(name, app)
        if name in {"catalog", "cart", "accounts"}:
            assert len(found) > 10, f"{name}: only {len(found)} routes found"
        for endpoint in found:
            if not endpoint.rules:
                missing.append(str(endpoint))
            elif len(endpoint.rules) > 1:
                conflicting.append(f"{endpoint} has {sorted(endpoint.rules)}")
            unknown += [
                f"{endpoint}: {rule}"
                for rule in endpoint.rules
                if rule != PUBLIC and rule not in PERMISSIONS
            ]
    assert not missing, f"routes without an access rule: {missing}; {HOW_TO_DECLARE}"
    assert not conflicting, f"routes with more than one rule: {conflicting}"
    assert not unknown, f"rules naming unknown permissions: {unknown}"


def guarded(services: Services, name: str) -> list[Endpoint]:
    return [
        e
        for e in endpoints(name, services.apps[name])
        if len(e.rules) == 1 and next(iter(e.rules)) != PUBLIC
    ]


def concrete(path: str) -> str:
    """Fill path parameters with something that matches the usual patterns."""
    import re

    return re.sub(r"\{[^}]+\}", "0" * 32, path)


async def call(
    app: FastAPI, endpoint: Endpoint, headers: dict[str, str] | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        body: dict[str, Any] = {"json": {}} if endpoint.method in {"POST", "PUT", "PATCH"} else {}
        return await client.request(
            endpoint.method, concrete(endpoint.path), headers=headers or {}, **body
        )


# What a route past its guard may answer to a bare call (path ids that name
# nothing, an empty body): its own answer, a missing resource, a conflict, the
# body's validation. Never 401 or the guard's 403, and never a server error: a
# route that crashes has not shown that the role reaches it.
ADMITTED = frozenset({200, 201, 202, 204, 400, 404, 409, 422})


def assert_admitted(answer: httpx.Response, who: str) -> None:
    assert answer.status_code != 401, f"{who}: {answer.text}"
    if answer.status_code == 403:
        # A refusal of the route's own (an unverified address, say), not the guard's.
        assert REFUSAL not in answer.json().get("detail", ""), f"{who}: {answer.text}"
        return
    assert answer.status_code in ADMITTED, f"{who}: {answer.status_code} {answer.text[:500]}"


@pytest.mark.parametrize("name", SERVICES)
async def test_every_guarded_route_refuses_the_wrong_role(services: Services, name: str) -> None:
    app = services.apps[name]
    checked = 0
    for endpoint in guarded(services, name):
        permission = next(iter(endpoint.rules))
        # The roles a sign-in can carry; a caller service's role comes only with
        # its caller token (test_caller_tokens.py), never in an access token.
        granted = PERMISSIONS[permission] & set(ROLES)

        anonymous = await call(app, endpoint)
        assert anonymous.status_code == 401, f"{endpoint} without a token: {anonymous.text}"
        assert "www-authenticate" in anonymous.headers

        for role in [*sorted(set(ROLES) - granted), None]:
            roles = {role} if role else set()
            token = services.auth.issue_access(f"user-{role}", roles)
            refused = await call(app, endpoint, {"Authorization": f"Bearer {token}"})
            assert refused.status_code == 403, f"{endpoint} as {role}: {refused.text}"
            assert REFUSAL in refused.json()["detail"]

        for role in sorted(granted):
            token = services.auth.issue_access(f"user-{role}", {role})
            admitted = await call(app, endpoint, {"Authorization": f"Bearer {token}"})
            assert_admitted(admitted, f"{endpoint} as {role}")
        checked += 1
    if name in {"catalog", "cart", "accounts"}:
        assert checked >= 5, f"only {checked} guarded routes in {name}"


async def test_the_laptop_default_keeps_the_demo_admin_open_but_not_customer_routes(
    tmp_path: Path,
) -> None:
    """Without configured credentials (not in a pod) staff routes answer anyone,
    as the demo's admin API always has; a customer's own routes never do."""
    laptop = {
        "STOREFLEET_DATA_DIR": str(tmp_path),
        "STOREFLEET_AUTH_REQUIRED": "false",
        # (The module's services were built with a secret; this laptop has none.)
        "STOREFLEET_AUTH_JWT_SECRET": "",
    }
    with environment(laptop):
        from storefleet.runtime.accounts.app import create_app as accounts_app
        from storefleet.runtime.catalog.app import create_app as catalog_app

        catalog, accounts = catalog_app(), accounts_app()
        async with (
            catalog.router.lifespan_context(catalog),
            accounts.router.lifespan_context(accounts),
        ):
            brand = Endpoint("catalog", "POST", "/admin/brands", frozenset())
            created = await call(catalog, brand)
            assert created.status_code == 422  # past the guard, to the body's validation
            me = Endpoint("accounts", "GET", "/me", frozenset())
            assert (await call(accounts, me)).status_code == 401


async def test_a_static_admin_token_acts_as_store_admin(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    with environment(
        {"STOREFLEET_DATA_DIR": str(tmp_path), "STOREFLEET_CATALOG_ADMIN_TOKEN": token}
    ):
        from storefleet.runtime.catalog.app import create_app as catalog_app

        catalog = catalog_app()
        async with catalog.router.lifespan_context(catalog):
            brand = Endpoint("catalog", "POST", "/admin/brands", frozenset())
            assert (await call(catalog, brand)).status_code == 401
            wrong = await call(catalog, brand, {"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            right = await call(catalog, brand, {"Authorization": f"Bearer {token}"})
            assert right.status_code == 422


async def test_a_store_admin_of_one_store_is_nobody_at_another(tmp_path: Path) -> None:
    from storefleet.runtime.cart.app import create_app as cart_app
    from storefleet.runtime.catalog.app import create_app as catalog_app

    tokens, apps = {}, {}
    for store in ("acme", "globex"):
        settings = {
            "STOREFLEET_DATA_DIR": str(tmp_path / store),
            "STOREFLEET_AUTH_JWT_SECRET": secrets.token_urlsafe(32),
            "STOREFLEET_AUTH_ISSUER": f"storefleet:{store}",
            "STOREFLEET_AUTH_REQUIRED": "true",
        }
        with environment(settings):
            apps[store] = (catalog_app(), cart_app())
            tokens[store] = Authenticator(AuthSettings()).issue_access("boss", {"store-admin"})
    async with contextlib.AsyncExitStack() as stack:
        for pair in apps.values():
            for app in pair:
                await stack.enter_async_context(app.router.lifespan_context(app))
        brand = Endpoint("catalog", "POST", "/admin/brands", frozenset())
        promos = Endpoint("cart", "GET", "/admin/promos", frozenset())
        for store, other in (("acme", "globex"), ("globex", "acme")):
            catalog, cart = apps[store]
            own = {"Authorization": f"Bearer {tokens[store]}"}
            foreign = {"Authorization": f"Bearer {tokens[other]}"}
            assert (await call(catalog, brand, own)).status_code == 422  # admitted
            assert (await call(cart, promos, own)).status_code == 200
            assert (await call(catalog, brand, foreign)).status_code == 401
            assert (await call(cart, promos, foreign)).status_code == 401


async def test_one_credential_anywhere_closes_every_service(tmp_path: Path) -> None:
    """Development mode is one switch for the whole runtime, not a guess per
    service: with a JWT secret and an admin token for the catalog only, an
    anonymous caller could make itself a store admin through accounts and read
    the payments ledger. Now nothing answers without a token."""
    with environment(
        {
            "STOREFLEET_DATA_DIR": str(tmp_path),
            "STOREFLEET_AUTH_JWT_SECRET": secrets.token_urlsafe(32),
            "STOREFLEET_CATALOG_ADMIN_TOKEN": secrets.token_urlsafe(24),
        }
    ):
        apps = {name: serve._service_app(name) for name in ("accounts", "payments", "cart")}
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        refused = {
            "accounts": Endpoint("accounts", "PUT", "/admin/customers/{id}/roles", frozenset()),
            "payments": Endpoint("payments", "GET", "/admin/ledger", frozenset()),
            "cart": Endpoint("cart", "GET", "/admin/promos", frozenset()),
        }
        for name, endpoint in refused.items():
            answer = await call(apps[name], endpoint)
            assert answer.status_code == 401, f"{endpoint}: {answer.text}"


async def test_development_mode_is_explicit_once_a_credential_is_set(tmp_path: Path) -> None:
    """With a credential set, only ``STOREFLEET_DEVELOPMENT_MODE=true`` opens the
    staff routes; ``false`` closes them on a laptop without any."""
    from storefleet.runtime.catalog.app import create_app as catalog_app

    brand = Endpoint("catalog", "POST", "/admin/brands", frozenset())
    # (The module's services were built with a secret and sign-in required.)
    laptop = {
        "STOREFLEET_DATA_DIR": str(tmp_path),
        "STOREFLEET_AUTH_JWT_SECRET": "",
        "STOREFLEET_AUTH_REQUIRED": "false",
    }
    token = secrets.token_urlsafe(24)
    explicit = {"STOREFLEET_PAYMENTS_ADMIN_TOKEN": token, "STOREFLEET_DEVELOPMENT_MODE": "true"}
    with environment(laptop | {"STOREFLEET_PAYMENTS_ADMIN_TOKEN": token}):
        guessed = catalog_app()
    with environment(laptop | explicit):
        opened = catalog_app()
    with environment(laptop | {"STOREFLEET_DEVELOPMENT_MODE": "false"}):
        closed = catalog_app()
    async with contextlib.AsyncExitStack() as stack:
        for app in (guessed, opened, closed):
            await stack.enter_async_context(app.router.lifespan_context(app))
        assert (await call(guessed, brand)).status_code == 401
        assert (await call(opened, brand)).status_code == 422  # admitted, to the body's check
        assert (await call(closed, brand)).status_code == 401


async def test_development_mode_inside_a_pod_stops_the_service(tmp_path: Path) -> None:
    from storefleet.runtime.catalog.app import create_app as catalog_app
    from storefleet.runtime.platform.config.settings import DevelopmentModeRefused

    with (
        environment(
            {
                "STOREFLEET_DATA_DIR": str(tmp_path),
                "KUBERNETES_SERVICE_HOST": "10.0.0.1",
                "STOREFLEET_DEVELOPMENT_MODE": "true",
            }
        ),
        pytest.raises(DevelopmentModeRefused),
    ):
        catalog_app()
