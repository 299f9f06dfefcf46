"""One trace spans a checkout: the shopper's POST to the storefront, and every call it
causes in orders, cart, catalog and payments, share one trace id (W3C traceparent).
And the checkout shows in the business counters a dashboard reads."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from orders_harness import Commerce, databases, new_product, running_commerce, wait_for_status
from prometheus_client import REGISTRY

pytestmark = pytest.mark.asyncio(loop_scope="session")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends, kept in memory (the process's provider, once)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    with databases(request, tmp_path_factory.mktemp("traced"), "embedded") as dbs:
        async with running_commerce("embedded", dbs) as shop:
            yield shop


async def test_one_trace_spans_a_checkout(shop: Commerce, spans: InMemorySpanExporter) -> None:
    sku = await new_product(shop, stock=3, price=1999)
    async with httpx.AsyncClient(base_url=shop.storefront.url, timeout=60) as browser:
        added = await browser.post("/cart/add", data={"sku": sku, "quantity": "1"})
        assert added.status_code == 303
        page = await browser.get("/checkout")
        key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
        assert key is not None
        spans.clear()
        paid_before = sample("storefleet_orders_total", event="paid")
        revenue_before = {
            c: sample("storefleet_revenue_minor_units_total", currency=c) for c in ("EUR", "USD")
        }
        form = {
            "idempotency_key": key.group(1),
            "email": f"trace-{uuid.uuid4().hex[:6]}@example.com",
            "name": "Ada Tracer",
            "line1": "1 Span Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
            "shipping_method": "standard",
            "card_number": "4242 4242 4242 4242",
            "exp_month": "12",
            "exp_year": "2031",
            "cvc": "123",
        }
        placed = await browser.post("/checkout", data=form)
        assert placed.status_code == 303, placed.text

    finished = spans.get_finished_spans()
    root = next(
        s
        for s in finished
        if s.kind == SpanKind.SERVER and s.name == "POST /checkout" and s.parent is None
    )
    trace_id = root.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    servers = [s for s in in_trace if s.kind == SpanKind.SERVER and s is not root]
    clients = [s for s in in_trace if s.kind == SpanKind.CLIENT]
    # The storefront called orders, which reserved stock (catalog), charged
    # (payments) and emptied the cart: each call a client span, each answer a
    # server span under it, all one trace.
    called = {c.name.split(" ", 1)[1] for c in clients}
    assert called >= {"orders", "catalog", "payments", "cart"}, sorted(called)
    routes = {s.name for s in servers}
    assert {"POST /reservations", "POST /payments"} <= routes, sorted(routes)
    client_ids = {c.context.span_id for c in clients}
    for span in servers:
        assert span.parent is not None, span.name
        assert span.parent.span_id in client_ids, span.name

    # The business counters moved by this order: one more paid, its total as revenue.
    order = await wait_for_status(shop, placed.headers["location"].rsplit("/", 1)[1], {"paid"})
    currency = order["currency"]
    deadline = asyncio.get_running_loop().time() + 10
    while sample("storefleet_orders_total", event="paid") == paid_before:
        assert asyncio.get_running_loop().time() < deadline, "order.paid was not counted"
        await asyncio.sleep(0.1)
    assert sample("storefleet_orders_total", event="paid") == paid_before + 1
    revenue = sample("storefleet_revenue_minor_units_total", currency=currency)
    assert revenue - revenue_before[currency] == order["total_minor"]
