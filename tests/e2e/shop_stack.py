"""A whole shop on the dev stack, deployed as a cluster deploys it: every service
its own uvicorn server with its own PostgreSQL database, Redis for the cart,
events over the real Kafka broker, email to a local SMTP server.

What it adds to ``orders_harness``: the notifications service, a Kafka bus per
service (a fresh topic prefix per shop, so runs never see each other's
events), the SMTP server, and a shopper who uses the storefront's HTML pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import inspect
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from form_harness import post_form
from orders_harness import (
    AUTH_SECRET,
    SERVICES,
    STORE,
    Commerce,
    Server,
    databases,
    running_commerce,
)

from storefleet.dev.components.kafka import KafkaAccess
from storefleet.runtime.notifications.app import create_app as notifications_app
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.kafka import KafkaEventBus
from storefleet.runtime.platform.events.outbox import EventBus

CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
ORDER_PAGE = re.compile(r"/orders/([0-9a-f]{32})")
# Tables whose rows say an event was published (outbox) or applied (consumers).
OUTBOXES = {
    "catalog": "catalog_outbox",
    "cart": "cart_outbox",
    "payments": "payments_outbox",
    "orders": "orders_outbox",
    "notifications": "notifications_outbox",
}


class Mailbox:
    """What the SMTP server received. aiosmtpd runs its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._messages.append(message)
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def payment_emails(self, order_id: str) -> list[EmailMessage]:
        return [
            m
            for m in self.messages
            if "payment received" in str(m["Subject"]) and order_id in str(m["Subject"])
        ]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@dataclass
class DevStackShop:
    commerce: Commerce
    notifications: Server
    mailbox: Mailbox
    databases: dict[str, str]
    topic_prefix: str
    buses: dict[str, KafkaEventBus]

    def shopper(self) -> Shopper:
        return Shopper(httpx.AsyncClient(base_url=self.commerce.storefront.url, timeout=60))

    async def scalar(self, service: str, sql: str) -> Any:
        def run() -> Any:
            with psycopg.connect(self.databases[service]) as connection:
                row = connection.execute(sql).fetchone()
                return row[0] if row else None

        return await asyncio.to_thread(run)

    async def column(self, service: str, sql: str) -> list[Any]:
        def run() -> list[Any]:
            with psycopg.connect(self.databases[service]) as connection:
                return [row[0] for row in connection.execute(sql).fetchall()]

        return await asyncio.to_thread(run)

    async def rows(self, service: str, sql: str) -> list[tuple[str, str]]:
        def run() -> list[tuple[str, str]]:
            with psycopg.connect(self.databases[service]) as connection:
                return [(str(a), str(b)) for a, b in connection.execute(sql).fetchall()]

        return await asyncio.to_thread(run)

    async def unpublished(self) -> dict[str, int]:
        """Outbox rows not yet acknowledged by Kafka, per service."""
        counts = {}
        for service, table in OUTBOXES.items():
            counts[service] = int(
                await self.scalar(
                    service, f"SELECT count(*) FROM {table} WHERE published_at IS NULL"
                )
            )
        return counts

    async def all_published(self) -> bool:
        return not any((await self.unpublished()).values())


@contextlib.asynccontextmanager
async def dev_stack_shop(
    request: pytest.FixtureRequest, directory: Path, kafka_admin: KafkaAccess, redis_url: str
) -> AsyncIterator[DevStackShop]:
    run = uuid.uuid4().hex[:8]
    events = EventsSettings(
        bootstrap_servers=kafka_admin.bootstrap_servers,
        sasl_username=kafka_admin.username,
        sasl_password=kafka_admin.password,
        topic_prefix=f"store.e2e{run}.",
        store=f"e2e{run}",
        request_timeout_seconds=5,
        retry_backoff_seconds=0.1,
        retry_backoff_max_seconds=1.0,
        create_topics=True,
        topic_partitions=3,
    )
    buses: dict[str, KafkaEventBus] = {}

    def bus_for(service: str) -> EventBus:
        buses[service] = KafkaEventBus(events.model_copy(update={"client_id": f"sf-{service}"}))
        return buses[service]

    with (
        databases(request, directory, "postgres", (*SERVICES, "notifications")) as dbs,
        smtp_server() as (mailbox, smtp_port),
    ):
        notifications = Server(
            notifications_app(
                NotificationsSettings(
                    database_url=dbs["notifications"],
                    auth_secret=AUTH_SECRET,
                    smtp_host="127.0.0.1",
                    smtp_port=smtp_port,
                    smtp_security="none",
                    dispatch_poll_seconds=0.2,
                    send_backoff_seconds=0.5,
                    send_backoff_max_seconds=2.0,
                    outbox_poll_seconds=0.1,
                    access_log=False,
                ),
                store=STORE,
                bus=bus_for("notifications"),
                events=events,
            )
        )
        await notifications.start()
        try:
            async with running_commerce(
                "postgres",
                dbs,
                cache_url=redis_url,
                cache_prefix=f"sf-e2e-{run}:",
                bus_for=bus_for,
            ) as commerce:
                yield DevStackShop(
                    commerce, notifications, mailbox, dbs, events.topic_prefix, buses
                )
        finally:
            await notifications.stop()


class Shopper:
    """A browser without JavaScript: the storefront's pages and forms, its cookies."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
        self.last_answer = ""

    @staticmethod
    def seen(page: httpx.Response) -> str:
        """What a shopper would read on a page that went wrong."""
        heading = re.search(r"<h1>(.*?)</h1>", page.text, re.S)
        said = heading.group(1).strip() if heading else page.text[:200]
        return f"{page.request.method} {page.request.url.path} answered {page.status_code}: {said}"

    async def close(self) -> None:
        await self.client.aclose()

    async def find(self, words: str) -> str:
        """Searches the shop; returns the path of the first product found."""
        page = await self.client.get("/search", params={"q": words})
        assert page.status_code == 200, self.seen(page)
        found = re.search(r'href="(/p/[a-z0-9-]+)"', page.text)
        assert found is not None, f"searching {words!r} found nothing"
        return found.group(1)

    async def add_to_cart(self, product_path: str, quantity: int) -> str:
        """Opens the product page and submits its form; returns the chosen SKU."""
        page = await self.client.get(product_path)
        assert page.status_code == 200, self.seen(page)
        form = re.search(r'<form method="post" action="/cart/add".*?</form>', page.text, re.S)
        assert form is not None, "the product page has no add-to-cart form"
        sku = re.search(r'name="sku" value="([^"]+)"[^>]* checked', form.group(0))
        assert sku is not None, "no variant is chosen for the shopper"
        added = await post_form(
            self.client,
            "/cart/add",
            {"sku": sku.group(1), "quantity": str(quantity), "back": product_path},
            page=product_path,
        )
        assert added.status_code == 303, self.seen(added)
        return sku.group(1)

    async def check_out(self, card: str = CARD, email: str | None = None) -> tuple[int, str | None]:
        """Fills the checkout page in; returns the answer's status and, once the
        order is placed, its id (from the confirmation page it leads to)."""
        cart = await self.client.get("/cart")
        assert 'href="/checkout"' in cart.text, self.seen(cart)
        page = await self.client.get("/checkout")
        assert page.status_code == 200, self.seen(page)
        key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
        assert key is not None
        placed = await post_form(
            self.client,
            "/checkout",
            {
                "idempotency_key": key.group(1),
                "email": email or self.email,
                "name": "Ada Shopper",
                "line1": "1 Test Street",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
                "shipping_method": "standard",
                "card_number": card,
                "exp_month": "12",
                "exp_year": str(time.gmtime().tm_year + 3),
                "cvc": "123",
            },
            page="/checkout",
        )
        if placed.status_code != 303:
            self.last_answer = self.seen(placed)
            return placed.status_code, None
        location = placed.headers["location"]
        found = ORDER_PAGE.fullmatch(location)
        assert found is not None, location
        return 303, found.group(1)

    async def order_page(self, order_id: str) -> str:
        page = await self.client.get(f"/orders/{order_id}")
        assert page.status_code == 200, self.seen(page)
        return page.text


async def until(
    condition: Callable[[], bool | Awaitable[bool]], within: float, what: str, every: float = 0.2
) -> float:
    """Polls; returns how long it took."""
    started = time.monotonic()

    async def holds() -> bool:
        answer = condition()
        return bool(await answer) if inspect.isawaitable(answer) else bool(answer)

    while not await holds():
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def all_orders(commerce: Commerce) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    async with commerce.orders_admin() as client:
        page = 1
        while True:
            response = await client.get("/admin/orders", params={"page": page, "per_page": 100})
            assert response.status_code == 200, response.text
            listing = response.json()
            for summary in listing["items"]:
                detail = await client.get(f"/admin/orders/{summary['id']}")
                assert detail.status_code == 200, detail.text
                orders.append(detail.json())
            if page * 100 >= listing["total"]:
                return orders
            page += 1
