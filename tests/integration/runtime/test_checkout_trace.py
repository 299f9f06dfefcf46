"""One trace spans a checkout: the shopper's POST to the storefront, and every call it
causes in orders, cart, catalog and payments, share one trace id (W3C traceparent);
so does the work the checkout's events cause after the commit: the outbox relay's
publish and the notifications service handling ``order.paid`` (the shopper's email,
and the in-app message of a signed-in shopper). And the checkout shows in the
business counters a dashboard reads."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from form_harness import post_form
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from orders_harness import (
    AUTH_SECRET,
    STORE,
    Commerce,
    Server,
    checkout_body,
    databases,
    new_product,
    running_commerce,
    wait_for_status,
)
from prometheus_client import REGISTRY
from sqlalchemy import select

from storefleet.runtime.notifications.app import create_app as notifications_app
from storefleet.runtime.notifications.models import Notification
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.identity.auth import sign
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry import tracing

pytestmark = pytest.mark.asyncio(loop_scope="session")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    with databases(request, tmp_path_factory.mktemp("traced"), "embedded") as dbs:
        async with running_commerce("embedded", dbs) as shop:
            # The saga poller (every 0.2 s here) may take a new saga before the
            # checkout request does: it must then run it in the checkout's trace.
            yield shop


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def notifications(
    shop: Commerce, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """The notifications service on the shop's bus (mail written as files)."""
    directory = tmp_path_factory.mktemp("traced-notifications")
    settings = NotificationsSettings(
        database_url=f"sqlite:///{directory / 'notifications.db'}",
        data_dir=directory,
        auth_secret=AUTH_SECRET,
        access_log=False,
        outbox_poll_seconds=0.1,
        dispatch_poll_seconds=0.2,
    )
    events = EventsSettings(bootstrap_servers="", retry_backoff_seconds=0.05)
    server = Server(notifications_app(settings, STORE, bus=shop.bus, events=events))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _handled_in_trace(
    shop: Commerce, spans: InMemorySpanExporter, order_id: str, trace_id: int
) -> tuple[ReadableSpan, str]:
    """The notifications consumer's span for the order's ``order.paid``, once it
    ended; asserts it belongs to the trace and hangs under the relay's publish."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        paid = shop.events("order.paid", order_id)
        if paid:
            (event,) = paid
            consumed = [
                s
                for s in spans.get_finished_spans()
                if s.kind == SpanKind.CONSUMER
                and (s.attributes or {}).get("messaging.message.id") == event.id
                and (s.attributes or {}).get("messaging.consumer.group.name") == "notifications"
            ]
            if consumed:
                break
        assert asyncio.get_running_loop().time() < deadline, "order.paid was not handled"
        await asyncio.sleep(0.1)
    (span,) = consumed
    assert span.context.trace_id == trace_id, "the consumer continued the checkout's trace"
    attributes = span.attributes or {}
    assert attributes["cloudevents.event_type"] == "order.paid"
    assert attributes["messaging.destination.name"] == "orders"
    assert attributes["messaging.system"] == tracing.INPROCESS
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished if s.context.trace_id == trace_id}
    assert span.parent is not None
    published = by_id[span.parent.span_id]
    assert published.kind == SpanKind.PRODUCER
    assert (published.attributes or {})["messaging.message.id"] == event.id
    # The publish hangs under the span that committed the order (in orders),
    # itself under the checkout's spans.
    assert published.parent is not None
    assert published.parent.span_id in by_id
    handlers = [
        s for s in finished if s.parent is not None and s.parent.span_id == span.context.span_id
    ]
    assert [s.name for s in handlers] == ["NotificationService.handle_event"]
    assert handlers[0].status.is_ok
    return span, event.id


async def _sent_in_trace(
    spans: InMemorySpanExporter, trace_id: int, channel: str, event_type: str
) -> ReadableSpan:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        sent = [
            s
            for s in spans.get_finished_spans()
            if s.name == f"send {channel}"
            and s.context.trace_id == trace_id
            and (s.attributes or {}).get("cloudevents.event_type") == event_type
        ]
        if sent:
            (span,) = sent
            return span
        assert asyncio.get_running_loop().time() < deadline, f"no {channel} was sent in the trace"
        await asyncio.sleep(0.1)


async def _deliveries(notifications: Server, event_id: str) -> dict[str, str]:
    """Channel -> recipient of the messages the notifications service made of an event."""
    app = notifications.app
    db = Database(app.state.settings.resolved_database_url())
    try:
        async with db.read() as session:
            rows = (
                await session.execute(
                    select(Notification.channel, Notification.recipient).where(
                        Notification.event_id == event_id
                    )
                )
            ).all()
    finally:
        await db.dispose()
    return {row.channel: row.recipient for row in rows}


async def test_one_trace_spans_a_checkout(
    shop: Commerce, notifications: Server, spans: InMemorySpanExporter
) -> None:
    sku = await new_product(shop, stock=3, price=1999)
    async with httpx.AsyncClient(base_url=shop.storefront.url, timeout=60) as browser:
        added = await post_form(browser, "/cart/add", {"sku": sku, "quantity": "1"})
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
        placed = await post_form(browser, "/checkout", form)
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
    assert {"POST /internal/reservations", "POST /payments"} <= routes, sorted(routes)
    client_ids = {c.context.span_id for c in clients}
    for span in servers:
        assert span.parent is not None, span.name
        assert span.parent.span_id in client_ids, span.name

    # The business counters moved by this order: one more paid, its total as revenue.
    order_id = placed.headers["location"].rsplit("/", 1)[1]
    order = await wait_for_status(shop, order_id, {"paid"})
    currency = order["currency"]
    deadline = asyncio.get_running_loop().time() + 10
    while sample("storefleet_orders_total", event="paid") == paid_before:
        assert asyncio.get_running_loop().time() < deadline, "order.paid was not counted"
        await asyncio.sleep(0.1)
    assert sample("storefleet_orders_total", event="paid") == paid_before + 1
    revenue = sample("storefleet_revenue_minor_units_total", currency=currency)
    assert revenue - revenue_before[currency] == order["total_minor"]

    # After the commit: the outbox relay published order.paid and the
    # notifications service handled it, all in the checkout's trace; the
    # handling made the shopper's email (a guest: no in-app inbox).
    consumed, event_id = await _handled_in_trace(shop, spans, order_id, trace_id)
    assert await _deliveries(notifications, event_id) == {"email": form["email"]}
    # And the dispatcher's sending of that email, later and in a task of its
    # own, is still the checkout's trace: under the handling that made it.
    sent = await _sent_in_trace(spans, trace_id, "email", "order.paid")
    handling = {s.context.span_id: s for s in spans.get_finished_spans()}
    assert sent.parent is not None
    assert handling[sent.parent.span_id].name == "NotificationService.handle_event"
    assert handling[sent.parent.span_id].parent.span_id == consumed.context.span_id  # type: ignore[union-attr]
    assert sent.status.is_ok


async def test_a_signed_in_shoppers_messages_are_in_the_checkout_trace(
    shop: Commerce, notifications: Server, spans: InMemorySpanExporter
) -> None:
    user = "tracer-" + uuid.uuid4().hex[:8]
    token = sign(user, AUTH_SECRET)
    sku = await new_product(shop, stock=2, price=1250)
    async with shop.client(shop.cart, Authorization=f"Bearer {token}") as cart:
        assert (await cart.post("/cart/items", json={"sku": sku})).status_code == 200
    body = checkout_body()
    # The shopper's app starts the trace and sends it with the request.
    with tracing.tracer().start_as_current_span("checkout", kind=SpanKind.CLIENT) as started:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        tracing.inject(headers)
        async with shop.client(shop.orders, Authorization=f"Bearer {token}") as client:
            placed = await client.post("/checkout", json=body, headers=headers)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await wait_for_status(shop, order_id, {"paid"})
    trace_id = started.get_span_context().trace_id
    _, event_id = await _handled_in_trace(shop, spans, order_id, trace_id)
    assert await _deliveries(notifications, event_id) == {"email": body["email"], "in_app": user}
    async with httpx.AsyncClient(
        base_url=notifications.url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        inbox = (await client.get("/inbox")).json()
    assert event_id in {message["event_id"] for message in inbox}, inbox
