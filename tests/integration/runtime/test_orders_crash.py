"""The shop's process is killed (SIGKILL) in the middle of a checkout and
started again: the saga resumes where it was, and ends with no order stuck,
no stock leaked and nothing charged twice.

`storefleet runtime serve all` runs as a real subprocess on SQLite files;
the first run goes through crashing_shop.py, which sets the saga runner's
``after_step`` seam in that process to stop the saga right after a step's
remote call succeeded and before the saga recorded it — the worst moment to
die. The restart is the plain command, with nothing set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")
STORE_CLI = Path(sys.executable).parent / "storefleet"
CRASHING_SHOP = Path(__file__).with_name("crashing_shop.py")


class Shop:
    def __init__(self, data: Path) -> None:
        self.data = data
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, stop_after: str = "", marker: Path | None = None) -> None:
        """Serve the shop; ``stop_after``: with the saga held after that step
        (``marker`` gets the step's name when it is reached)."""
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("STOREFLEET_") or key == "STOREFLEET_STACK_DIR"
        }
        environment.update(
            STOREFLEET_DATA_DIR=str(self.data),
            STOREFLEET_LOG_LEVEL="WARNING",
            STOREFLEET_ORDERS_SAGA_LEASE_SECONDS="1",
            STOREFLEET_ORDERS_SAGA_POLL_SECONDS="0.2",
            STOREFLEET_ORDERS_CHECKOUT_WAIT_SECONDS="1",
            STOREFLEET_ORDERS_SAGA_RETRY_BASE_SECONDS="0.1",
            STOREFLEET_ORDERS_SAGA_RETRY_MAX_SECONDS="0.5",
        )
        serve = ["--no-demo", "--port", str(self.port)]
        command = [str(STORE_CLI), "runtime", "serve", "all", *serve]
        if stop_after:
            assert marker is not None
            command = [sys.executable, str(CRASHING_SHOP), stop_after, str(marker), *serve]
        log = (self.data / "serve.log").open("ab")
        self.process = subprocess.Popen(
            command,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            for _ in range(1800):
                assert self.process is not None
                if self.process.poll() is not None:
                    log = await asyncio.to_thread((self.data / "serve.log").read_text)
                    raise AssertionError(f"the shop exited: {log[-3000:]}")
                try:
                    if (await client.get("/api/orders/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("serve all did not become ready")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    running = Shop(tmp_path)
    yield running
    running.stop()


async def wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):
        if await asyncio.to_thread(path.exists):
            return
        assert process.poll() is None, "the shop exited before reaching the step"
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the saga never reached {path.name}")


@pytest.mark.parametrize(
    ("step", "token", "outcome"),
    [
        ("reserve", "tok_visa", "paid"),
        ("authorize", "tok_visa", "paid"),
        ("confirm", "tok_visa", "paid"),
        ("capture", "tok_visa", "paid"),
        ("compensate", "tok_chargeDeclined", "cancelled"),
    ],
)
async def test_a_checkout_killed_mid_saga_resumes_after_a_restart(
    shop: Shop, step: str, token: str, outcome: str
) -> None:
    paused = shop.data / "paused"
    shop.start(stop_after=step, marker=paused)
    await shop.ready()
    async with httpx.AsyncClient(base_url=shop.url, timeout=30) as client:
        await client.post("/api/catalog/admin/categories", json={"slug": "tea", "name": "Tea"})
        created = await client.post(
            "/api/catalog/admin/products",
            json={
                "slug": "green-tea",
                "name": "Green Tea",
                "category": "tea",
                "variants": [{"sku": "TEA-1", "price_minor": 650, "currency": "EUR", "stock": 5}],
            },
        )
        assert created.status_code == 201, created.text
        added = await client.post("/api/cart/cart/items", json={"sku": "TEA-1", "quantity": 2})
        cart_id = added.headers["x-cart-id"]
        placed = await client.post(
            "/api/orders/checkout",
            json={
                "email": "crash@example.com",
                "shipping_address": {
                    "name": "Ada",
                    "line1": "1 Test Street",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
                "payment": {"token": token},
            },
            headers={"X-Cart-Id": cart_id, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        total = placed.json()["total_minor"]
    assert shop.process is not None
    await wait_for(paused, shop.process)
    shop.kill()

    shop.start()  # no pause this time
    await shop.ready()
    async with httpx.AsyncClient(base_url=shop.url, timeout=30) as client:
        order: dict[str, Any] = {}
        for _ in range(900):
            order = (await client.get(f"/api/orders/admin/orders/{order_id}")).json()
            if order["checkout_state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        assert order["status"] == outcome, order
        sagas = (await client.get("/api/orders/admin/sagas")).json()
        assert sagas["running"] == sagas["compensating"] == sagas["waiting"] == 0
        # The exact count is a staff read (open here: development mode).
        counted = await client.post("/api/catalog/admin/variant-lookup", json={"skus": ["TEA-1"]})
        stock = counted.json()["items"][0]["stock"]
        books = (await client.get("/api/payments/admin/ledger")).json()
        reservation = (await client.get(f"/api/catalog/internal/reservations/{order_id}")).json()
    gateway = books["gateway"]
    if outcome == "paid":
        assert stock == 3
        assert reservation["status"] == "committed"
        assert order["captured_minor"] == total
        # Exactly one authorization and one capture reached the processor.
        assert gateway["captured"] == 1
        assert gateway["authorized_minor"] == total
        assert gateway["captured_minor"] == total
    else:
        assert stock == 5
        assert reservation["status"] == "released"
        assert order["cancel_reason"] == "payment_declined"
        assert gateway["authorized_minor"] == 0
        assert gateway["captured_minor"] == 0
    assert gateway["open_authorizations"] == 0
    assert books["payments"]["captured_minor"] == gateway["captured_minor"]
