"""Analytics in cluster mode: events from the real Kafka broker, read models in
the dev stack's PostgreSQL.

The analytics service publishes nothing, so no outbox relay opens its Kafka
bus; the service starts its consumer group itself. Events go onto the store's
topics as the other services' relays send them; one is sent twice (a relay
that crashed before marking it published) and is counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Backend
from fastapi import FastAPI

from storefleet.dev.components.kafka import KafkaAccess
from storefleet.runtime.analytics.app import create_app
from storefleet.runtime.analytics.settings import AnalyticsSettings
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.events.kafka import KafkaEventBus
from storefleet.runtime.platform.events.outbox import Event

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {within}s waiting for {what}"
        await asyncio.sleep(0.1)


def _order(kind: str, order_id: str, when: dt.datetime, **extra: Any) -> Event:
    lines = [
        {"sku": "TENT-2P", "product_id": 7, "product_slug": "trail-tent",
         "product_name": "Trail Tent", "variant_name": "", "quantity": 2,
         "unit_price_minor": 12900, "line_total_minor": 25800},
    ]  # fmt: skip
    data: dict[str, Any] = {
        "order_id": order_id, "store": "acme", "customer_id": None, "email": "ada@example.com",
        "status": kind, "currency": "EUR", "subtotal_minor": 25800, "discount_minor": 0,
        "shipping_minor": 0, "tax_minor": 0, "total_minor": 25800, "authorized_minor": 25800,
        "captured_minor": 25800, "refunded_minor": 0, "lines": lines, "product_ids": [7],
    }  # fmt: skip
    if kind == "placed":
        data.update(shipping_method="standard", shipping_country="DE")
    if kind == "refunded":
        data.update(reason="returned")
    # Held to the contract of the type (storefleet.runtime.platform.events.contracts).
    return contracts.event(f"order.{kind}", data | extra, source="orders", occurred_at=when)


async def test_orders_events_over_kafka_reach_the_sales_report(
    kafka_admin: KafkaAccess,
    make_backend: Callable[..., AbstractContextManager[Backend]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    serve: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]],
) -> None:
    events = EventsSettings(
        bootstrap_servers=kafka_admin.bootstrap_servers,
        sasl_username=kafka_admin.username,
        sasl_password=kafka_admin.password,
        topic_prefix=f"store.a{uuid.uuid4().hex[:8]}.",
        store="acme",
        retry_backoff_seconds=0.05,
        request_timeout_seconds=5,
    )
    with make_backend(request, tmp_path, "postgres") as backend:
        bus = KafkaEventBus(events)
        app = create_app(
            AnalyticsSettings(database_url=backend.catalog_db, access_log=False),
            bus=bus,
            events=events,
        )
        orders = KafkaEventBus(events)
        day = dt.datetime(2026, 6, 1, 10, tzinfo=dt.UTC)
        order_id = uuid.uuid4().hex
        placed = _order("placed", order_id, day)
        paid = _order("paid", order_id, day + dt.timedelta(minutes=1))
        refunded = _order(
            "refunded", order_id, day + dt.timedelta(days=1), refund_minor=12900,
            refunded_minor=12900,
        )  # fmt: skip
        async with (
            serve(app) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        ):
            await _until(lambda: bus.runner("analytics").assigned.is_set(), 60, "assignment")
            try:
                for event in (placed, paid, paid, refunded):
                    await orders.publish(event)
                period = {"from": "2026-06-01", "to": "2026-06-02"}

                async def totals() -> list[dict[str, Any]]:
                    answer = await client.get("/reports/sales", params=period)
                    assert answer.status_code == 200, answer.text
                    return list(answer.json()["totals"])

                deadline = time.monotonic() + 60
                while not (found := await totals()) or found[0]["refund_count"] == 0:
                    assert time.monotonic() < deadline, f"the events never arrived: {found}"
                    await asyncio.sleep(0.2)
                [eur] = found
                assert (eur["orders"], eur["units"], eur["gross_minor"]) == (1, 2, 25800)
                assert (eur["refunds_minor"], eur["net_minor"]) == (12900, 12900)
                runner = bus.runner("analytics")
                assert runner.duplicates >= 1, "the second delivery was recognised"
                funnel = (await client.get("/reports/funnel", params=period)).json()
                assert (funnel["checkouts_started"], funnel["orders_paid"]) == (1, 1)
            finally:
                await orders.stop()
