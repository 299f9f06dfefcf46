"""The analytics service on its own, on SQLite and on the dev stack's PostgreSQL.

Events are published onto its bus as the orders, payments, cart and catalog
relays publish them (docs/events.md), with the times they happened; the
reports are then read over HTTP, with tokens signed as the accounts service
signs them. One order's ``order.paid`` is delivered twice and another's is
published again under a new id: each counts once. Refunds reduce net revenue.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from conftest import Backend, Server

from storefleet.runtime.analytics.app import create_app
from storefleet.runtime.analytics.settings import AnalyticsSettings
from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.events.outbox import Event, InProcessEventBus
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")
PROBLEM = "application/problem+json"


@dataclass
class Analytics:
    server: Server
    bus: InProcessEventBus
    auth: Authenticator
    admin_token: str

    def as_role(self, role: str) -> dict[str, str]:
        token = self.auth.issue_access(f"{role}-{uuid.uuid4().hex[:6]}", {role})
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def publish(self, *events: Event) -> None:
        """Deliver as a relay does, and wait until the service has handled them."""
        for event in events:
            await self.bus.publish(event)
        await self.server.app.state.feed.drain()


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["embedded", "postgres"])
async def analytics(
    request: pytest.FixtureRequest,
    make_backend: Callable[..., AbstractContextManager[Backend]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Analytics]:
    with make_backend(request, tmp_path_factory.mktemp("analytics"), request.param) as backend:
        bus = InProcessEventBus(history=1000)
        auth = Authenticator(
            AuthSettings(
                jwt_secret=secrets.token_urlsafe(32), issuer="storefleet:analytics", required=True
            )
        )
        admin_token = secrets.token_urlsafe(24)
        app = create_app(
            AnalyticsSettings(
                # The backend's first database is this service's here.
                database_url=backend.catalog_db,
                admin_token=admin_token,
                access_log=False,
            ),
            bus=bus,
        )
        app.state.authenticator = auth
        server = Server(app)
        await server.start()
        try:
            yield Analytics(server, bus, auth, admin_token)
        finally:
            await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def api(analytics: Analytics) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=analytics.server.url, headers=analytics.admin, timeout=30
    ) as client:
        yield client


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def line(sku: str, product_id: int | None, quantity: int, unit: int) -> dict[str, Any]:
    return {
        "sku": sku,
        "product_id": product_id,
        "product_slug": sku.lower(),
        "product_name": f"Product {sku}",
        "variant_name": "",
        "quantity": quantity,
        "unit_price_minor": unit,
        "line_total_minor": quantity * unit,
    }


def order_event(
    kind: str, order_id: str, when: dt.datetime, total: int = 0, currency: str = "EUR", **extra: Any
) -> Event:
    """An ``order.*`` event as the orders service publishes it: held to its
    contract (runtime/src/storefleet/runtime/platform/events/contracts.py)."""
    if "lines" in extra:
        ids = {item["product_id"] for item in extra["lines"] if item["product_id"] is not None}
        extra.setdefault("product_ids", sorted(ids))
    if kind == "placed":
        extra.setdefault("lines", [])
        extra.setdefault("product_ids", [])
        extra.setdefault("shipping_method", "standard")
        extra.setdefault("shipping_country", "DE")
    payload = {
        "order_id": order_id,
        "store": "test",
        "customer_id": None,
        "email": "ada@example.com",
        "status": kind,
        "currency": currency,
        "subtotal_minor": total,
        "discount_minor": 0,
        "shipping_minor": 0,
        "tax_minor": 0,
        "total_minor": total,
        "authorized_minor": total,
        "captured_minor": total,
        "refunded_minor": 0,
        **extra,
    }
    return contracts.event(f"order.{kind}", payload, source="orders", occurred_at=when)


def checkout(
    order_id: str, when: dt.datetime, lines: list[dict[str, Any]], currency: str = "EUR"
) -> list[Event]:
    """A checkout that went through: placed, then paid a minute later."""
    total = sum(item["line_total_minor"] for item in lines) + 495
    return [
        order_event("placed", order_id, when, total, currency, lines=lines),
        order_event("paid", order_id, when + dt.timedelta(minutes=1), total, currency, lines=lines),
    ]


async def report(api: httpx.AsyncClient, name: str, **params: Any) -> dict[str, Any]:
    response = await api.get(f"/reports/{name}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_sales_top_products_and_funnel_after_a_day_of_events(
    api: httpx.AsyncClient, analytics: Analytics
) -> None:
    # A day of its own per backend run: the module's database is shared by its tests.
    first = dt.date(2026, 3, 2)
    second = first + dt.timedelta(days=1)
    run = uuid.uuid4().hex[:6]
    ids = {name: f"{name}-{run}" for name in ("ada", "bob", "cid", "dan", "eve")}
    tea, mug = 900_000 + secrets.randbelow(9999), 800_000 + secrets.randbelow(9999)
    ada = checkout(ids["ada"], at(first, 9), [line("TEA-1", tea, 2, 1250)])
    bob = checkout(
        ids["bob"], at(first, 10), [line("TEA-1", tea, 1, 1250), line("MUG", mug, 3, 2500)]
    )
    dan = checkout(ids["dan"], at(first, 11), [line("TEA-1", tea, 1, 1250)], currency="USD")
    eve = checkout(ids["eve"], at(first, 12), [line("MUG", mug, 1, 2500)])
    await analytics.publish(
        *ada,
        ada[1],  # the relay sent it again (same event id)
        *bob,
        *dan,
        *eve,
        order_event("placed", ids["cid"], at(first, 13), 1745),
        contracts.event(
            "payment.failed",
            {"payment_id": "p-" + run, "order_id": ids["cid"], "store": "test",
             "customer_id": None, "email": "ada@example.com", "currency": "EUR",
             "amount_minor": 1745, "captured_minor": 0, "refunded_minor": 0,
             "gateway": "sandbox", "reason": "declined", "decline_code": "card_declined"},
            source="payments",
            occurred_at=at(first, 13),
        ),
        order_event("cancelled", ids["cid"], at(first, 13), 1745, reason="payment_declined"),
        contracts.event(
            "cart.abandoned",
            {"cart": "c-" + run, "owner": "anon", "item_count": 2, "subtotal_minor": 2500,
             "currency": "EUR", "idle_hours": 24.5},
            source="cart",
            occurred_at=at(first, 20),
        ),
        # bob's order.paid published once more under a new id: still one sale.
        contracts.event("order.paid", bob[1].payload, source="orders",
                              occurred_at=at(second, 8)),
        # A partial refund of ada's order, and eve's paid order cancelled by staff.
        order_event("refunded", ids["ada"], at(second, 9), 2995, refund_minor=1000,
                    refunded_minor=1000, reason="damaged"),
        order_event("cancelled", ids["eve"], at(second, 10), 2995, reason="cancelled",
                    refund_minor=2995, refunded_minor=2995),
        contracts.event("catalog.product_updated", {"product_id": mug, "slug": "big-mug"},
                              source="catalog", occurred_at=at(second, 11)),
        contracts.event("catalog.product_archived", {"product_id": mug, "slug": "big-mug"},
                              source="catalog", occurred_at=at(second, 12)),
    )  # fmt: skip

    sales = await report(api, "sales", **{"from": first.isoformat(), "to": second.isoformat()})
    assert (sales["from"], sales["to"], sales["timezone"]) == (str(first), str(second), "UTC")
    by_day = {(d["day"], d["currency"]): d for d in sales["days"]}
    assert set(by_day) == {(str(first), "EUR"), (str(first), "USD"), (str(second), "EUR")}
    ada_total, bob_total, eve_total = 2500 + 495, 8750 + 495, 2500 + 495
    gross = ada_total + bob_total + eve_total
    assert by_day[(str(first), "EUR")] == {
        "day": str(first),
        "currency": "EUR",
        "orders": 3,
        "units": 2 + 4 + 1,
        "gross_minor": gross,
        "refunds_minor": 0,
        "refund_count": 0,
        "net_minor": gross,
        "average_order_minor": (2 * gross + 3) // 6,
    }
    refund_day = by_day[(str(second), "EUR")]
    assert (refund_day["orders"], refund_day["refunds_minor"], refund_day["refund_count"]) == (
        0,
        1000 + eve_total,
        2,
    )
    assert refund_day["net_minor"] == -(1000 + eve_total)
    totals = {t["currency"]: t for t in sales["totals"]}
    assert totals["EUR"]["gross_minor"] == gross
    assert totals["EUR"]["net_minor"] == gross - 1000 - eve_total
    assert totals["EUR"]["orders"] == 3
    assert totals["USD"]["gross_minor"] == 1250 + 495
    assert all(isinstance(t["net_minor"], int) for t in sales["totals"])

    usd = await report(api, "sales", **{"from": str(first), "to": str(second), "currency": "USD"})
    assert [(d["currency"], d["orders"]) for d in usd["days"]] == [("USD", 1)]

    top = await report(api, "top-products", **{"from": str(first), "to": str(second)})
    assert top["by"] == "units"
    ranked = [
        (i["product_id"], i["currency"], i["units"], i["revenue_minor"]) for i in top["items"]
    ]
    assert ranked == [(mug, "EUR", 4, 10000), (tea, "EUR", 3, 3750), (tea, "USD", 1, 1250)]
    mug_row = top["items"][0]
    # The catalog renamed the mug's slug and archived it after it sold.
    assert (mug_row["name"], mug_row["slug"], mug_row["archived"]) == (
        "Product MUG",
        "big-mug",
        True,
    )
    assert (top["items"][1]["slug"], top["items"][1]["archived"]) == ("tea-1", False)
    by_revenue = await report(
        api, "top-products", **{"from": str(first), "to": str(second), "by": "revenue", "limit": 1}
    )
    assert [(i["product_id"], i["revenue_minor"]) for i in by_revenue["items"]] == [(mug, 10000)]

    funnel = await report(api, "funnel", **{"from": str(first), "to": str(second)})
    assert {k: v for k, v in funnel.items() if k not in ("from", "to", "timezone")} == {
        "checkouts_started": 5,
        "orders_paid": 4,
        "orders_cancelled": 2,
        "payment_failures": 1,
        "carts_abandoned": 1,
        "conversion_rate": 0.8,
    }
    only_second = await report(api, "funnel", **{"from": str(second), "to": str(second)})
    assert (only_second["checkouts_started"], only_second["conversion_rate"]) == (0, None)

    metrics = (await api.get("/metrics")).text
    assert 'storefleet_events_handled_total{consumer="analytics",outcome="duplicate"}' in metrics


async def test_the_reports_are_for_store_staff(
    api: httpx.AsyncClient, analytics: Analytics
) -> None:
    async with httpx.AsyncClient(base_url=analytics.server.url, timeout=30) as anonymous:
        refused = await anonymous.get("/reports/sales")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert "Bearer" in refused.headers["www-authenticate"]
        for role in ("customer", "vendor-admin", "vendor-staff"):
            answer = await anonymous.get("/reports/funnel", headers=analytics.as_role(role))
            assert answer.status_code == 403, role
            assert answer.headers["content-type"].startswith(PROBLEM)
        for role in ("store-admin", "support"):
            answer = await anonymous.get("/reports/top-products", headers=analytics.as_role(role))
            assert answer.status_code == 200, (role, answer.text)
        wrong = await anonymous.get("/reports/sales", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    assert (await api.get("/reports/sales")).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("sales", {"from": "2026-02-01", "to": "2026-01-31"}, "after"),
        ("funnel", {"from": "2024-01-01", "to": "2026-01-01"}, "at most"),
        ("sales", {"from": "yesterday"}, "from"),
        ("sales", {"to": "2026-02-30"}, "to"),
        # Not a Unix timestamp: only YYYY-MM-DD is a date.
        ("funnel", {"to": "0"}, "ISO date"),
        ("sales", {"currency": "eur"}, "currency"),
        ("top-products", {"limit": "0"}, "limit"),
        ("top-products", {"limit": "101"}, "limit"),
        ("top-products", {"by": "price"}, "by"),
        ("top-products", {"from": "2030-01-01"}, "after"),
    ],
)
async def test_bad_input_is_a_problem_not_a_server_error(
    api: httpx.AsyncClient, path: str, params: dict[str, str], detail: str
) -> None:
    answer = await api.get(f"/reports/{path}", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert detail in answer.json()["detail"]


async def test_an_event_it_cannot_count_is_dead_lettered_not_guessed(
    api: httpx.AsyncClient, analytics: Analytics
) -> None:
    day = dt.date(2026, 5, 4)
    run = uuid.uuid4().hex[:6]
    floaty = order_event("paid", f"f-{run}", at(day), 0, lines=[])
    floaty.payload["total_minor"] = 35.94
    future = Event(
        "order.paid",
        order_event("paid", f"v-{run}", at(day), 1000, lines=[]).payload,
        source="orders",
        occurred_at=at(day),
        version=2,
    )
    await analytics.publish(floaty, future, *checkout(f"ok-{run}", at(day), []))
    dead = {event.id: error for _, event, error in analytics.bus.dead_letters}
    assert "total_minor" in dead[floaty.id]
    assert "dataversion 2" in dead[future.id]
    sales = await report(api, "sales", **{"from": str(day), "to": str(day)})
    assert [(d["orders"], d["gross_minor"]) for d in sales["days"]] == [(1, 495)]
