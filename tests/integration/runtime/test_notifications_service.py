"""Notifications end to end: events in, email/SMS/in-app out, through real servers.

Cluster mode: the orders side commits ``order.paid`` to its outbox (as the
orders service does), its relay publishes to the real Kafka broker, and the
notifications service (PostgreSQL) consumes it. Email goes to a local SMTP
server (aiosmtpd) and is read back; SMS to a local webhook receiver that checks
the HMAC signature; in-app messages are read from the service's SSE stream.
Embedded mode (SQLite, in-process bus) covers retries, templates and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response
from sqlalchemy import MetaData

from storefleet.dev.components.kafka import KafkaAccess
from storefleet.runtime.notifications.app import create_app
from storefleet.runtime.notifications.channels import verify_signature
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.platform.config.settings import EventsSettings, StoreSettings
from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.events.kafka import KafkaEventBus
from storefleet.runtime.platform.events.outbox import (
    Event,
    EventBus,
    InProcessEventBus,
    OutboxRelay,
    enqueue,
    outbox_table,
)
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.storage.db import Database

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "notifications-test-secret"
WEBHOOK_SECRET = "sms-webhook-test-secret"
STORE = StoreSettings(
    name="Acme Outdoor",
    tagline="Gear for every trail",
    primary_color="#123456",
    accent_color="#abcdef",
    currency="EUR",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class MailServer:
    """A real SMTP server; ``fail_next`` makes it answer the next DATA with an error."""

    port: int = field(default_factory=_free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_next:
            return self.fail_next.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    server = MailServer()
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@dataclass
class Webhook:
    received: list[tuple[dict[str, Any], bool]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/sms")
        async def sms(request: Request) -> Response:
            body = await request.body()
            valid = verify_signature(
                WEBHOOK_SECRET,
                request.headers.get("x-storefleet-timestamp", ""),
                body,
                request.headers.get("x-storefleet-signature", ""),
            )
            self.received.append((json.loads(body), valid))
            return Response(status_code=202 if valid else 401)

        return app


async def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


def _order(
    event_type: str, user: str | None, email_address: str, number: str, **extra: Any
) -> Event:
    """An ``order.*`` event as the orders service publishes it, held to its
    contract (runtime/src/storefleet/runtime/platform/events/contracts.py), so it cannot drift from
    what the orders service really sends."""
    return contracts.event(
        event_type,
        {
            "order_id": f"ord_{uuid.uuid4().hex[:12]}",
            "order_number": number,
            "store": "acme",
            "customer_id": user,
            "email": email_address,
            "status": event_type.removeprefix("order."),
            "currency": "EUR",
            "subtotal_minor": 4990,
            "discount_minor": 0,
            "shipping_minor": 0,
            "tax_minor": 832,
            "total_minor": 4990,
            "authorized_minor": 4990,
            "captured_minor": 4990,
            "refunded_minor": 0,
            **extra,
        },
        source="orders",
    )


def _order_paid(user: str | None, email_address: str, number: str) -> Event:
    lines = [
        {
            "sku": "TENT-2P",
            "product_id": 11,
            "product_slug": "trail-tent",
            "product_name": "Trail tent",
            "variant_name": "",
            "quantity": 1,
            "unit_price_minor": 3990,
            "line_total_minor": 3990,
        },
        {
            "sku": "MUG",
            "product_id": 12,
            "product_slug": "camp-mug",
            "product_name": "Camp mug",
            "variant_name": "",
            "quantity": 2,
            "unit_price_minor": 500,
            "line_total_minor": 1000,
        },
    ]
    return _order("order.paid", user, email_address, number, lines=lines, product_ids=[11, 12])


@dataclass
class OrdersSide:
    """Stands in for the orders service: its own outbox, relay and bus."""

    db: Database
    outbox: Any
    relay: OutboxRelay

    async def publish(self, event: Event) -> None:
        async with self.db.write() as session:
            await enqueue(session, self.outbox, event)
        self.relay.wake()


@contextlib.asynccontextmanager
async def orders_side(url: str, bus: EventBus) -> AsyncIterator[OrdersSide]:
    metadata = MetaData()
    table = outbox_table(metadata, f"orders_outbox_{uuid.uuid4().hex[:6]}")
    db = Database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    relay = OutboxRelay(db, table, bus, interval=0.1)
    relay.start()
    try:
        yield OrdersSide(db, table, relay)
    finally:
        await relay.stop()
        await db.dispose()


@pytest.fixture(scope="module")
def pg_urls(postgres_dsn: str) -> Iterator[tuple[str, str]]:
    run = uuid.uuid4().hex[:10]
    names = (f"sf_test_{run}_notifications", f"sf_test_{run}_orders")
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    base = postgres_dsn.rsplit("/", 1)[0]
    try:
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _settings(database_url: str, smtp: MailServer, **extra: Any) -> NotificationsSettings:
    return NotificationsSettings(
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        auth_secret=SECRET,
        access_log=False,
        outbox_poll_seconds=0.2,
        dispatch_poll_seconds=0.2,
        send_backoff_seconds=0.1,
        send_backoff_max_seconds=0.5,
        stream_poll_seconds=0.5,
        **extra,
    )


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.sign(user, SECRET)}"}


async def _sse(
    client: httpx.AsyncClient, user: str, into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with client.stream("GET", "/inbox/stream", headers=_bearer(user)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        ready.set()
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "notification":
                into.append(json.loads(line[6:]))


async def test_order_paid_over_kafka_reaches_email_sms_and_the_in_app_stream(
    kafka_admin: KafkaAccess,
    pg_urls: tuple[str, str],
    smtp: MailServer,
    serve: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]],
) -> None:
    notifications_db, orders_db = pg_urls
    prefix = f"store.n{uuid.uuid4().hex[:8]}."
    events = EventsSettings(
        bootstrap_servers=kafka_admin.bootstrap_servers,
        sasl_username=kafka_admin.username,
        sasl_password=kafka_admin.password,
        topic_prefix=prefix,
        store="acme",
        retry_backoff_seconds=0.05,
        request_timeout_seconds=5,
    )
    webhook = Webhook()
    async with serve(webhook.app()) as receiver:
        settings = _settings(
            notifications_db,
            smtp,
            sms_webhook_url=f"{receiver.url}/sms",
            sms_webhook_secret=WEBHOOK_SECRET,
        )
        bus = KafkaEventBus(events)
        app = create_app(settings, STORE, bus=bus, events=events)
        async with (
            serve(app) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        ):
            # Bob wants no email; Carol wants SMS too.
            response = await client.patch(
                "/preferences/me", json={"email_enabled": False}, headers=_bearer("bob")
            )
            assert response.status_code == 200, response.text
            assert response.json()["email_enabled"] is False
            response = await client.patch(
                "/preferences/me",
                json={"sms_enabled": True, "phone": "+4915112345678"},
                headers=_bearer("carol"),
            )
            assert response.status_code == 200, response.text
            await _until(lambda: bus.runner("notifications").assigned.is_set(), 60, "assignment")

            streamed: list[dict[str, Any]] = []
            ready = asyncio.Event()
            sse = asyncio.create_task(_sse(client, "alice", streamed, ready))
            await asyncio.wait_for(ready.wait(), 10)

            orders_bus = KafkaEventBus(events)
            async with orders_side(orders_db, orders_bus) as orders:
                alice = _order_paid("alice", "alice@example.com", "A-1001")
                bob = _order_paid("bob", "bob@example.com", "B-2002")
                carol = _order_paid("carol", "carol@example.com", "C-3003")
                for event in (alice, bob, carol):
                    await orders.publish(event)

                await _until(lambda: len(smtp.messages) >= 2, 60, "two emails")
                await _until(lambda: bool(streamed), 30, "the SSE message")
                await _until(lambda: bool(webhook.received), 30, "the SMS webhook")

                mail = smtp.to("alice@example.com")
                assert len(mail) == 1
                assert "A-1001" in mail[0]["Subject"]
                assert "Acme Outdoor" in mail[0]["From"]
                text = mail[0].get_body(("plain",))
                html = mail[0].get_body(("html",))
                assert text is not None
                assert html is not None
                assert "49.90 EUR" in text.get_content()
                html_content = html.get_content()
                assert "Acme Outdoor" in html_content
                assert "#123456" in html_content
                assert "Trail tent" in html_content

                assert streamed[0]["event_type"] == "order.paid"
                assert "A-1001" in streamed[0]["title"]

                payload, valid = webhook.received[0]
                assert valid, "the SMS request carries a valid HMAC signature"
                assert payload["to"] == "+4915112345678"
                assert "C-3003" in payload["text"]
                assert len(smtp.to("carol@example.com")) == 1

                # Bob's event was handled (his inbox has it) but no email went out.
                inbox = await client.get("/inbox", headers=_bearer("bob"))
                assert [m["title"] for m in inbox.json()] == [
                    "Acme Outdoor: payment received for order B-2002"
                ]
                assert smtp.to("bob@example.com") == []

                # The same event again (a relay that crashed before marking it):
                # the shopper still gets one email.
                await orders_bus.publish(alice)
                runner = bus.runner("notifications")
                await _until(lambda: runner.duplicates >= 1, 30, "the duplicate delivery")
                await asyncio.sleep(1)
                assert len(smtp.to("alice@example.com")) == 1

                log = (
                    await client.get("/admin/notifications", params={"event_id": alice.id})
                ).json()
                assert sorted((row["channel"], row["status"]) for row in log) == [
                    ("email", "sent"),
                    ("in_app", "sent"),
                ]
            await orders_bus.stop()
            sse.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sse


@pytest_asyncio.fixture(loop_scope="session")
async def embedded(
    tmp_path: Path,
    smtp: MailServer,
    serve: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]],
) -> AsyncIterator[tuple[httpx.AsyncClient, OrdersSide]]:
    bus = InProcessEventBus()
    app = create_app(
        _settings(f"sqlite:///{tmp_path / 'notifications.db'}", smtp, max_send_attempts=3),
        STORE,
        bus=bus,
        events=EventsSettings(bootstrap_servers="", retry_backoff_seconds=0.05),
    )
    async with (
        serve(app) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        orders_side(f"sqlite:///{tmp_path / 'orders.db'}", bus) as orders,
    ):
        yield client, orders


async def test_a_mail_server_that_defers_is_retried_until_it_accepts(
    embedded: tuple[httpx.AsyncClient, OrdersSide], smtp: MailServer
) -> None:
    client, orders = embedded
    smtp.fail_next = ["451 4.3.0 Try again later", "421 4.7.0 Too busy"]
    event = _order_paid("dave", "dave@example.com", "D-4004")
    await orders.publish(event)
    await _until(lambda: bool(smtp.to("dave@example.com")), 30, "the email after retries")

    async def email_row() -> dict[str, Any]:
        log = (await client.get("/admin/notifications", params={"event_id": event.id})).json()
        return dict(next(row for row in log if row["channel"] == "email"))

    deadline = time.monotonic() + 10
    while (await email_row())["status"] == "pending":  # the send is recorded just after it
        assert time.monotonic() < deadline, "the sent email is never recorded"
        await asyncio.sleep(0.05)
    row = await email_row()
    assert row["status"] == "sent"
    assert row["attempts"] == 3
    assert len(smtp.to("dave@example.com")) == 1
    # The order's lines, as the orders service names them, are in the message.
    body = smtp.to("dave@example.com")[0].get_body(("plain",))
    assert body is not None
    assert "1 x Trail tent" in body.get_content()
    assert "2 x Camp mug" in body.get_content()

    # A refused address is not retried; the log says why.
    smtp.fail_next = ["550 5.1.1 No such user"]
    refused = _order_paid(None, "nobody@example.com", "E-5005")
    await orders.publish(refused)

    async def failed() -> list[dict[str, Any]]:
        rows = (await client.get("/admin/notifications", params={"event_id": refused.id})).json()
        return [row for row in rows if row["status"] == "failed"]

    deadline = time.monotonic() + 30
    while not await failed():
        assert time.monotonic() < deadline, "the refused email is never marked failed"
        await asyncio.sleep(0.1)
    row = (await failed())[0]
    assert row["attempts"] == 1
    assert "550" in row["last_error"]
    assert smtp.to("nobody@example.com") == []


async def test_store_templates_and_languages(
    embedded: tuple[httpx.AsyncClient, OrdersSide], smtp: MailServer
) -> None:
    client, orders = embedded
    response = await client.put(
        "/admin/templates/order.shipped/de",
        json={"subject": "{{ store.name }}: Paket {{ order_number }} kommt! ({{ data.carrier }})"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["customized"] == ["subject"]
    preview = (await client.get("/admin/templates/order.shipped/de/preview")).json()
    assert preview["subject"] == "Acme Outdoor: Paket 1001 kommt! (DHL)"
    assert "#123456" in preview["html"]

    await client.patch("/preferences/me", json={"language": "de"}, headers=_bearer("erika"))
    shipped = _order(
        "order.shipped",
        "erika",
        "erika@example.com",
        "F-6006",
        carrier="DHL",
        tracking_number="0034",
    )
    await orders.publish(shipped)
    await _until(lambda: bool(smtp.to("erika@example.com")), 30, "the German email")
    message = smtp.to("erika@example.com")[0]
    assert message["Subject"] == "Acme Outdoor: Paket F-6006 kommt! (DHL)"
    body = message.get_body(("plain",))
    assert body is not None
    assert "Sendungsnummer: 0034" in body.get_content()

    response = await client.delete("/admin/templates/order.shipped/de")
    assert response.status_code == 204
    preview = (await client.get("/admin/templates/order.shipped/de/preview")).json()
    assert preview["subject"] == "Acme Outdoor: Bestellung 1001 ist unterwegs"
    # The path names the wording in effect: the default now, and there is no store
    # wording left to delete.
    in_effect = (await client.get("/admin/templates/order.shipped/de")).json()
    assert in_effect["customized"] == []
    assert "Paket" not in in_effect["subject"]
    again = await client.delete("/admin/templates/order.shipped/de")
    assert again.status_code == 404
    assert again.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("patch", "/preferences/me", {"phone": "0151 1234"}, "user", 422),
        ("patch", "/preferences/me", {"email_enabled": "false"}, "user", 422),
        ("patch", "/preferences/me", {"emails": True}, "user", 422),
        ("patch", "/preferences/me", {"sms_enabled": True}, "user", 422),
        ("patch", "/preferences/me", {"language": "german"}, "user", 422),
        ("patch", "/preferences/me", {"email_enabled": False}, None, 401),
        ("patch", "/preferences/me", {"email_enabled": False}, "forged", 401),
        ("get", "/inbox/stream", None, None, 401),
        ("get", "/inbox?after=-1", None, "user", 422),
        ("post", "/inbox/999999/read", None, "user", 404),
        ("put", "/admin/templates/order.paid/en", {"subject": "{% if %}"}, None, 422),
        ("put", "/admin/templates/order.paid/en", {"subject": "{{ x | nofilter }}"}, None, 422),
        ("put", "/admin/templates/order.paid/en", {"subject": ""}, None, 422),
        ("put", "/admin/templates/order.nope/en", {"subject": "x"}, None, 404),
        ("put", "/admin/templates/order.paid/EN", {"subject": "x"}, None, 422),
        ("delete", "/admin/templates/order.paid/fr", None, None, 404),
        ("get", "/admin/notifications?status=lost", None, None, 422),
        ("post", "/admin/notifications/0123456789abcdef0123456789abcdef/retry", None, None, 404),
        ("patch", "/admin/users/a%20b/preferences", {"email_enabled": True}, None, 422),
    ],
)
async def test_bad_input_is_a_4xx_problem(
    embedded: tuple[httpx.AsyncClient, OrdersSide],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: str | None,
    status: int,
) -> None:
    client, _ = embedded
    sent = {
        None: {},
        "user": _bearer("frank"),
        "forged": {"Authorization": f"Bearer {auth.sign('frank', 'another-secret')}"},
    }[headers]
    response = await client.request(method, path, json=body, headers=sent)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


async def test_a_stream_resumes_after_last_event_id(
    embedded: tuple[httpx.AsyncClient, OrdersSide],
) -> None:
    client, orders = embedded
    first = _order_paid("gina", "gina@example.com", "G-1")
    second = _order_paid("gina", "gina@example.com", "G-2")
    for event in (first, second):
        await orders.publish(event)

    async def inbox() -> list[dict[str, Any]]:
        return list((await client.get("/inbox", headers=_bearer("gina"))).json())

    deadline = time.monotonic() + 30
    while len(await inbox()) < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    seqs = [message["seq"] for message in await inbox()]
    got: list[str] = []
    headers = {**_bearer("gina"), "Last-Event-ID": str(seqs[0])}
    async with client.stream("GET", "/inbox/stream", headers=headers) as response:
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                got.append(line[4:])
                break
    assert got == [str(seqs[1])], "only what came after the last seen message"
    response = await client.get(
        "/inbox/stream", headers={**_bearer("gina"), "Last-Event-ID": "abc"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_in_app_off_means_email_only_and_preferences_read_back(
    embedded: tuple[httpx.AsyncClient, OrdersSide], smtp: MailServer
) -> None:
    client, orders = embedded
    me = _bearer("hank")
    defaults = (await client.get("/preferences/me", headers=me)).json()
    assert defaults["email_enabled"] is True
    assert defaults["in_app_enabled"] is True
    assert defaults["sms_enabled"] is False
    response = await client.patch(
        "/preferences/me",
        json={"in_app_enabled": False, "email": "hank@work.example.com"},
        headers=me,
    )
    assert response.status_code == 200, response.text
    event = _order_paid("hank", "hank@home.example.com", "H-8008")
    await orders.publish(event)
    await _until(lambda: bool(smtp.to("hank@work.example.com")), 30, "Hank's email")
    assert smtp.to("hank@home.example.com") == [], "the address in the preferences wins"
    assert (await client.get("/inbox", headers=me)).json() == []
    stored = (await client.get("/admin/users/hank/preferences")).json()
    assert stored["in_app_enabled"] is False
    assert stored["email"] == "hank@work.example.com"
