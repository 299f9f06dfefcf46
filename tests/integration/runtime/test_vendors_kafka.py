"""The vendors service on Kafka (the dev stack's broker), as in a cluster:
``order.paid`` from the store's orders topic, published twice, makes one
sub-order; the vendors service's own events go out on ``store.<store>.vendors``,
keyed by the order."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from storefleet.dev.components.kafka import KafkaAccess
from storefleet.runtime.catalog.app import create_app as catalog_app
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.events.kafka import KafkaEventBus
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings
from storefleet.runtime.vendors.app import create_app as vendors_app
from storefleet.runtime.vendors.settings import VendorsSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_order_events_over_kafka_make_one_sub_order_and_vendor_events_flow(
    kafka_admin: KafkaAccess, tmp_path: Path
) -> None:
    store = f"vk{uuid.uuid4().hex[:8]}"
    events = EventsSettings(
        bootstrap_servers=kafka_admin.bootstrap_servers,
        sasl_username=kafka_admin.username,
        sasl_password=kafka_admin.password,
        topic_prefix=f"store.{store}.",
        store=store,
        retry_backoff_seconds=0.1,
    )
    admin_token = secrets.token_urlsafe(16)
    catalog = catalog_app(
        CatalogSettings(database_url=f"sqlite:///{tmp_path / 'catalog.db'}", access_log=False),
        bus=KafkaEventBus(events),
    )
    vendors = vendors_app(
        VendorsSettings(
            database_url=f"sqlite:///{tmp_path / 'vendors.db'}",
            catalog_url="http://catalog",
            admin_token=admin_token,
            access_log=False,
            payouts_enabled=False,
            outbox_poll_seconds=0.2,
        ),
        bus=KafkaEventBus(events),
        events=events,
        catalog_transport=httpx.ASGITransport(app=catalog),
    )
    auth = Authenticator(AuthSettings(jwt_secret=secrets.token_urlsafe(32), required=True))
    vendors.state.authenticator = auth
    orders_bus = KafkaEventBus(events)
    staff = {
        "Authorization": "Bearer "
        + auth.issue_access("owner", {"vendor-admin"}, extra={"vendor_id": "kafka-tea"})
    }
    async with (
        catalog.router.lifespan_context(catalog),
        vendors.router.lifespan_context(vendors),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=vendors), base_url="http://v") as api,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=catalog), base_url="http://c") as cat,
    ):
        await orders_bus.start()
        try:
            assert (
                await cat.post("/admin/categories", json={"slug": "tea", "name": "Tea"})
            ).status_code == 201
            body = {
                "display_name": "Kafka Tea",
                "contact_email": "k@tea.example",
                "commission_percent": 10,
                "payout": {"currency": "EUR", "schedule": "Daily", "minimum_amount": 0},
                "product_limit": None,
                "suspended": False,
            }
            put = await api.put(
                "/admin/vendors/kafka-tea",
                json=body,
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            assert put.status_code == 200, put.text
            made = await api.post(
                "/vendor/products",
                json={
                    "slug": "kafka-sencha",
                    "name": "Kafka Sencha",
                    "category": "tea",
                    "variants": [
                        {"sku": "KAFKA-1", "price_minor": 1000, "currency": "EUR", "stock": 5}
                    ],
                },
                headers=staff,
            )
            assert made.status_code == 201, made.text
            product = made.json()
            order_id = uuid.uuid4().hex
            paid = contracts.event(
                "order.paid",
                {
                    "order_id": order_id,
                    "store": "acme",
                    "customer_id": None,
                    "email": "shopper@example.com",
                    "status": "paid",
                    "currency": "EUR",
                    "subtotal_minor": 3000,
                    "discount_minor": 0,
                    "shipping_minor": 0,
                    "tax_minor": 0,
                    "total_minor": 3000,
                    "authorized_minor": 3000,
                    "captured_minor": 3000,
                    "refunded_minor": 0,
                    "product_ids": [product["id"]],
                    "lines": [
                        {
                            "sku": "KAFKA-1",
                            "product_id": product["id"],
                            "product_slug": product["slug"],
                            "product_name": "Kafka Sencha",
                            "variant_name": "",
                            "quantity": 3,
                            "unit_price_minor": 1000,
                            "line_total_minor": 3000,
                        }
                    ],
                },
                source="orders",
            )
            await orders_bus.publish(paid)
            await orders_bus.publish(paid)  # a producer retry: the same event again

            deadline = time.monotonic() + 60
            while True:
                listed = (await api.get("/vendor/suborders", headers=staff)).json()
                if listed["total"] >= 1 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert listed["total"] == 1, listed
            assert listed["items"][0]["lines_total_minor"] == 3000
            await asyncio.sleep(1.0)  # the duplicate arrives and is skipped
            again = (await api.get("/vendor/suborders", headers=staff)).json()
            assert again["total"] == 1
            ledger = (await api.get("/vendor/ledger", headers=staff)).json()
            assert ledger["payable_minor"] == 2700

            consumer = AIOKafkaConsumer(
                f"store.{store}.vendors",
                **kafka_admin.aiokafka(),
                group_id=None,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            seen: dict[str, bytes | None] = {}
            try:
                deadline = time.monotonic() + 30
                while "vendor.suborder_created" not in seen and time.monotonic() < deadline:
                    for batch in (await consumer.getmany(timeout_ms=500)).values():
                        for record in batch:
                            envelope = json.loads(record.value or b"")
                            seen[envelope["type"]] = record.key
            finally:
                await consumer.stop()
            assert seen.get("vendor.registered") == b"kafka-tea"
            assert seen.get("vendor.suborder_created") == order_id.encode()
        finally:
            await orders_bus.stop()
