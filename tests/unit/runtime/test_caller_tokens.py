"""A caller's token does what its call needs and nothing more.

In a Store every service that calls another gets a token of its own for that
call (the operator's ``..._CALLER_TOKENS``). The callee grants it its caller's
role: the orders service may hold stock and pay, the cart may count stock, the
vendors service may write products; none of them is staff anywhere. In process,
on SQLite: the rules are the product's, no server is involved.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from environment import environment
from fastapi import FastAPI

from storefleet.runtime import serve
from storefleet.runtime.platform.identity.permissions import check_callers
from storefleet.runtime.platform.identity.roles import SERVICE_ORDERS
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")
TOKENS = {
    caller: {callee: secrets.token_urlsafe(32) for callee in ("catalog", "cart", "payments")}
    for caller in ("orders", "cart", "vendors")
}
CALLS = {"catalog": ("orders", "cart", "vendors"), "cart": ("orders",), "payments": ("orders",)}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def apps(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, FastAPI]]:
    directory: Path = tmp_path_factory.mktemp("callers")
    settings = {
        "STOREFLEET_DATA_DIR": str(directory),
        "STOREFLEET_AUTH_JWT_SECRET": secrets.token_urlsafe(32),
        "STOREFLEET_AUTH_REQUIRED": "true",
        "STOREFLEET_LOG_LEVEL": "WARNING",
        **{
            f"STOREFLEET_{callee.upper()}_ADMIN_TOKEN": secrets.token_urlsafe(32)
            for callee in CALLS
        },
        **{
            f"STOREFLEET_{callee.upper()}_CALLER_TOKENS": (
                "{" + ", ".join(f'"{c}": "{TOKENS[c][callee]}"' for c in callers) + "}"
            )
            for callee, callers in CALLS.items()
        },
    }
    with environment(settings):
        built = {name: serve._service_app(name) for name in CALLS}
        async with contextlib.AsyncExitStack() as stack:
            for app in built.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield built


async def call(
    app: FastAPI, caller: str, callee: str, method: str, path: str, body: object = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKENS[caller][callee]}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.request(method, path, json=body, headers=headers)


async def test_each_caller_is_admitted_to_its_calls_and_refused_the_rest(
    apps: dict[str, FastAPI],
) -> None:
    catalog, cart, payments = apps["catalog"], apps["cart"], apps["payments"]
    hold = {"items": [{"sku": "NO-SUCH-SKU", "quantity": 1}]}
    # Admitted: the answer is about the request (unknown SKU), not about the caller.
    held = await call(catalog, "orders", "catalog", "POST", "/internal/reservations", hold)
    assert held.status_code not in (401, 403), held.text
    assert held.status_code < 500, held.text
    counted = await call(
        catalog, "cart", "catalog", "POST", "/admin/variant-lookup", {"skus": ["NO-SUCH-SKU"]}
    )
    assert counted.status_code == 200, counted.text
    ledger = await call(payments, "orders", "payments", "GET", "/admin/ledger")
    assert ledger.status_code == 200, ledger.text
    # Refused with 403 naming the permission: each role stops at its own calls.
    refused = {
        "the cart holding stock": await call(
            catalog, "cart", "catalog", "POST", "/internal/reservations", hold
        ),
        "the orders service writing products": await call(
            catalog, "orders", "catalog", "POST", "/admin/brands", {"name": "Acme"}
        ),
        "the vendors service holding stock": await call(
            catalog, "vendors", "catalog", "POST", "/internal/reservations", hold
        ),
        "the orders service managing promotions": await call(
            cart, "orders", "cart", "GET", "/admin/promos"
        ),
    }
    for what, answer in refused.items():
        assert answer.status_code == 403, (what, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), what
        assert "needs permission" in answer.json()["detail"], what


async def test_a_callers_token_is_good_only_at_the_service_that_gave_it(
    apps: dict[str, FastAPI],
) -> None:
    """The orders service's token for the catalog is nobody at payments."""
    transport = httpx.ASGITransport(app=apps["payments"])
    headers = {"Authorization": f"Bearer {TOKENS['orders']['catalog']}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        answer = await client.get("/admin/ledger", headers=headers)
    assert answer.status_code == 401, answer.text


async def test_no_sign_in_carries_a_callers_role(apps: dict[str, FastAPI]) -> None:
    """An access token that claims to be the orders service is a shopper's at most."""
    auth = Authenticator(AuthSettings())
    forged = auth.issue_access("mallory", {SERVICE_ORDERS, "customer"})
    transport = httpx.ASGITransport(app=apps["catalog"])
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        answer = await client.post(
            "/internal/reservations",
            json={"items": [{"sku": "NO-SUCH-SKU", "quantity": 1}]},
            headers={"Authorization": f"Bearer {forged}"},
        )
    assert answer.status_code == 403, answer.text


async def test_a_caller_the_runtime_does_not_know_stops_the_service_at_start() -> None:
    with pytest.raises(ValueError, match="unknown caller analytics"):
        check_callers({"analytics": "x"})
