"""A real checkout in ``serve all`` ends in the shopper's mailbox and in-app stream.

The whole shop runs as `storefleet runtime serve all` does (one process, the
in-process bus), with its notifications pointed at a local SMTP server. A
signed-in shopper buys a product with the sandbox's test card; the orders
service commits ``order.paid``, the notifications service turns it into a
branded email and an in-app message. A second shopper who turned email off
gets the in-app message and no email.
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
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from starlette.routing import Mount

from storefleet.runtime.platform.identity import auth
from storefleet.runtime.serve import build_all

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def shop_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {
        "STOREFLEET_DATA_DIR": str(tmp_path),
        "STOREFLEET_STORE_NAME": "Acme Outdoor",
        "STOREFLEET_STORE_PRIMARY_COLOR": "#0a5c36",
        "STOREFLEET_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "STOREFLEET_NOTIFICATIONS_SMTP_PORT": str(port),
        "STOREFLEET_NOTIFICATIONS_SMTP_SECURITY": "none",
        "STOREFLEET_NOTIFICATIONS_DISPATCH_POLL_SECONDS": "0.2",
        "STOREFLEET_NOTIFICATIONS_STREAM_POLL_SECONDS": "0.5",
        "STOREFLEET_LOG_LEVEL": "WARNING",
        "STOREFLEET_ACCESS_LOG": "false",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("STOREFLEET_DATABASE_URL", "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(key, raising=False)
    try:
        yield mailbox
    finally:
        controller.stop()


def _mounted(root: FastAPI, path: str) -> FastAPI:
    for route in root.routes:
        if isinstance(route, Mount) and route.path == path:
            app = route.app
            assert isinstance(app, FastAPI)
            return app
    raise LookupError(path)


async def _checkout(client: httpx.AsyncClient, token: str, sku: str, mail: str) -> dict[str, Any]:
    signed_in = {"Authorization": f"Bearer {token}"}
    response = await client.post(
        "/api/cart/cart/items", json={"sku": sku, "quantity": 2}, headers=signed_in
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        "/api/orders/checkout",
        json={
            "email": mail,
            "shipping_address": {
                "name": "Sam Shopper",
                "line1": "1 Trail Road",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
            "payment": {"token": "tok_visa"},
        },
        headers={**signed_in, "Idempotency-Key": f"checkout-{uuid.uuid4().hex}"},
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    assert order["status"] == "paid", order
    return order


async def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {within}s waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_paid_checkout_sends_a_branded_email_and_an_in_app_message(
    shop_env: Mailbox,
    serve: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]],
) -> None:
    mailbox = shop_env
    root = build_all(demo=False)
    secret = _mounted(root, "/api/cart").state.settings.auth_secret
    sam, kim = auth.sign("sam", secret), auth.sign("kim", secret)
    async with (
        serve(root) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        for path, body in (
            ("/api/catalog/admin/categories", {"slug": "tents", "name": "Tents"}),
            ("/api/catalog/admin/brands", {"slug": "acme", "name": "Acme"}),
            (
                "/api/catalog/admin/products",
                {
                    "slug": "trail-tent",
                    "name": "Trail Tent",
                    "category": "tents",
                    "brand": "acme",
                    "variants": [
                        {
                            "sku": "TENT-2P",
                            "name": "Two person",
                            "price_minor": 12900,
                            "currency": "EUR",
                            "stock": 10,
                        }
                    ],
                },
            ),
        ):
            response = await client.post(path, json=body)
            assert response.status_code == 201, response.text
        response = await client.patch(
            "/api/notifications/preferences/me",
            json={"email_enabled": False},
            headers={"Authorization": f"Bearer {kim}"},
        )
        assert response.status_code == 200, response.text

        streamed: list[dict[str, Any]] = []
        ready = asyncio.Event()

        async def listen() -> None:
            async with client.stream(
                "GET", "/api/notifications/inbox/stream", params={"access_token": sam}
            ) as response:
                assert response.status_code == 200
                ready.set()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        streamed.append(json.loads(line[6:]))

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(ready.wait(), 10)

        order = await _checkout(client, sam, "TENT-2P", "sam@example.com")

        def paid_mail() -> list[EmailMessage]:
            return [m for m in mailbox.to("sam@example.com") if "payment received" in m["Subject"]]

        await _until(lambda: bool(paid_mail()), 30, "Sam's payment email")
        await _until(
            lambda: any(m["event_type"] == "order.paid" for m in streamed), 30, "the SSE message"
        )
        await asyncio.sleep(0.5)
        paid = paid_mail()
        assert len(paid) == 1, [m["Subject"] for m in mailbox.messages]
        assert order["id"] in paid[0]["Subject"]
        assert "Acme Outdoor" in paid[0]["From"]
        html = paid[0].get_body(("html",))
        assert html is not None
        content = html.get_content()
        assert "#0a5c36" in content
        assert "Trail Tent" in content
        assert "258.00 EUR" in content
        message = next(m for m in streamed if m["event_type"] == "order.paid")
        assert order["id"] in message["title"]

        kims = await _checkout(client, kim, "TENT-2P", "kim@example.com")

        async def kim_inbox() -> list[dict[str, Any]]:
            response = await client.get(
                "/api/notifications/inbox", headers={"Authorization": f"Bearer {kim}"}
            )
            return list(response.json())

        deadline = time.monotonic() + 30
        while not any(kims["id"] in m["title"] for m in await kim_inbox()):
            assert time.monotonic() < deadline, "Kim's in-app message never came"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        assert mailbox.to("kim@example.com") == [], "Kim turned email off"
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
