"""The payments API on its own: tokens (no card number kept), saved cards,
idempotency, fraud rules, signed webhooks, and subscriptions charged once per
period however often the scheduler runs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from orders_harness import Commerce, databases, ledger, running_commerce
from psycopg import sql

from storefleet.runtime.payments.sandbox import sign_webhook
from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.web.errors import PROBLEM_JSON

pytestmark = pytest.mark.asyncio(loop_scope="session")
WEBHOOK_SECRET = secrets.token_hex(16)
STRIPE_WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["embedded", "postgres"])
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    directory = tmp_path_factory.mktemp("payments")
    with databases(request, directory, request.param) as dbs:
        async with running_commerce(
            request.param,
            dbs,
            payments={
                "webhook_secret": WEBHOOK_SECRET,
                "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
            },
        ) as shop:
            shop.payments.app.state.test_directory = directory
            shop.payments.app.state.test_database = dbs["payments"]
            yield shop


@pytest.fixture(autouse=True)
def events_keep_their_contracts(shop: Commerce) -> Iterator[None]:
    """Every ``payment.*`` event published during a test (subscription charges,
    webhooks, refunds made here) keeps its type's contract
    (runtime/src/storefleet/runtime/platform/events/contracts.py)."""
    yield
    broken = []
    for published in list(shop.bus.recent):
        try:
            contracts.check_event(published)
        except contracts.ContractViolation as exc:
            broken.append(str(exc))
    assert not broken


async def tokenize(client: httpx.AsyncClient, number: str = "4242 4242 4242 4242") -> str:
    response = await client.post(
        "/tokens", json={"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def authorize(
    client: httpx.AsyncClient, key: str | None = None, **body: Any
) -> httpx.Response:
    payload = {
        "order_id": "o-" + uuid.uuid4().hex[:8],
        "amount_minor": 1500,
        "currency": "EUR",
        "email": f"p-{uuid.uuid4().hex[:6]}@example.com",
        **body,
    }
    if "token" not in payload and "payment_method_id" not in payload:
        payload["token"] = "tok_visa"
    return await client.post(
        "/payments", json=payload, headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )


async def test_a_card_number_is_never_stored(shop: Commerce) -> None:
    async with shop.payments_admin() as client:
        token = await tokenize(client, "5555 5555 5555 4444")
        paid = await authorize(client, token=token)
        assert paid.json()["status"] == "authorized"
        assert paid.json()["card_brand"] == "mastercard"
        assert paid.json()["card_last4"] == "4444"
    if shop.kind == "embedded":
        directory: Path = shop.payments.app.state.test_directory
        stored = await asyncio.to_thread(
            lambda: b"".join(file.read_bytes() for file in directory.glob("payments.db*"))
        )
    else:
        stored = await asyncio.to_thread(postgres_rows, shop.payments.app.state.test_database)
    assert b"4444" in stored, "the card's last four digits are kept, so the rows were read"
    assert b"5555555555554444" not in stored
    assert b"5555 5555 5555 4444" not in stored
    assert b"5555555555554444".hex().encode() not in stored  # as PostgreSQL shows bytea


def postgres_rows(dsn: str) -> bytes:
    """Every row of every table in the payments service's PostgreSQL database, as text."""
    with psycopg.connect(dsn) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert any(name == "payments" for _, name in tables), tables
        rows = [
            row
            for schema, name in tables
            for (row,) in connection.execute(
                sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(schema, name))
            )
        ]
    return "\n".join(rows).encode()


async def test_saved_cards_belong_to_their_customer(shop: Commerce) -> None:
    customer = "cust-" + uuid.uuid4().hex[:8]
    async with shop.payments_admin() as client:
        token = await tokenize(client)
        saved = await client.post(f"/customers/{customer}/payment-methods", json={"token": token})
        assert saved.status_code == 201
        method = saved.json()
        assert method["last4"] == "4242"
        assert "token" not in method
        listed = (await client.get(f"/customers/{customer}/payment-methods")).json()
        assert [item["id"] for item in listed] == [method["id"]]
        mine = await authorize(client, payment_method_id=method["id"], customer_id=customer)
        assert mine.json()["status"] == "authorized"
        theirs = await authorize(client, payment_method_id=method["id"], customer_id="someone")
        assert theirs.status_code == 404
        assert theirs.headers["content-type"].startswith(PROBLEM_JSON)
        deleted = await client.delete(f"/customers/{customer}/payment-methods/{method['id']}")
        assert deleted.status_code == 204
        assert (await client.get(f"/customers/{customer}/payment-methods")).json() == []


async def test_idempotency_keys_and_amount_rules(shop: Commerce) -> None:
    async with shop.payments_admin() as client:
        key = uuid.uuid4().hex
        first = await authorize(client, key, order_id="o-same", email="same@example.com")
        again = await authorize(client, key, order_id="o-same", email="same@example.com")
        assert first.json()["id"] == again.json()["id"]
        other = await authorize(client, key, order_id="o-other", email="same@example.com")
        assert other.status_code == 409
        payment = first.json()["id"]
        too_much = await client.post(
            f"/payments/{payment}/capture",
            json={"amount_minor": 1501},
            headers={"Idempotency-Key": "cap-too-much"},
        )
        assert too_much.status_code == 422
        captured = await client.post(
            f"/payments/{payment}/capture", json={}, headers={"Idempotency-Key": "cap-1-ok"}
        )
        assert captured.json()["captured_minor"] == 1500
        refund = await client.post(
            f"/payments/{payment}/refunds",
            json={"amount_minor": 1000},
            headers={"Idempotency-Key": "ref-1-ok"},
        )
        assert refund.status_code == 201
        over = await client.post(
            f"/payments/{payment}/refunds",
            json={"amount_minor": 501},
            headers={"Idempotency-Key": "ref-2-over"},
        )
        assert over.status_code == 409
        assert over.json()["refundable_minor"] == 500
        no_key = await client.post(f"/payments/{payment}/refunds", json={"amount_minor": 1})
        assert no_key.status_code == 400
        void = await client.post(
            f"/payments/{payment}/void", headers={"Idempotency-Key": "void-after-capture"}
        )
        assert void.status_code == 409
    books = await ledger(shop)
    assert books["gateway"]["refunded_minor"] == books["payments"]["refunded_minor"]
    assert books["gateway"]["captured_minor"] == books["payments"]["captured_minor"]


async def test_fraud_rules_block_after_repeated_declines(shop: Commerce) -> None:
    email = f"fraud-{uuid.uuid4().hex[:6]}@example.com"
    async with shop.payments_admin() as client:
        for _ in range(3):
            declined = await authorize(client, email=email, token="tok_chargeDeclined")
            assert declined.json()["status"] == "failed"
            assert declined.json()["decline_code"] == "card_declined"
        before = await ledger(shop)
        blocked = await authorize(client, email=email, billing_country="FR", shipping_country="DE")
        body = blocked.json()
        assert body["status"] == "failed"
        assert body["risk_decision"] == "block"
        assert body["risk_score"] >= 90
        assert "blocked by fraud rules" in body["failure_reason"]
        assert any("declines" in reason for reason in body["risk_reasons"])
    after = await ledger(shop)
    assert after["gateway"]["authorized_minor"] == before["gateway"]["authorized_minor"]


async def test_signed_webhooks_complete_three_d_secure_once(shop: Commerce) -> None:
    async with shop.payments_admin() as client:
        waiting = await authorize(client, token="tok_threeDSecureRequired")
        assert waiting.json()["status"] == "requires_action"
        charge = waiting.json()["action_url"].rsplit("/", 1)[1]
    # The bank's side: the shopper passed, the processor says so.
    async with shop.client(shop.payments) as bank:
        approved = await bank.post(f"/sandbox/challenge/{charge}", json={"approve": True})
    assert approved.json() == {"status": "authorized"}
    async with shop.payments_admin() as client:
        payment = (await client.get(f"/payments/{waiting.json()['id']}")).json()
    assert payment["status"] == "authorized"
    body = json.dumps(
        {"id": "evt_" + uuid.uuid4().hex, "type": "charge.authorized", "data": {"charge": charge}}
    ).encode()
    async with shop.client(shop.payments) as client:
        good = sign_webhook(body, WEBHOOK_SECRET)
        first = await client.post(
            "/webhooks/sandbox", content=body, headers={"Sandbox-Signature": good}
        )
        repeat = await client.post(
            "/webhooks/sandbox", content=body, headers={"Sandbox-Signature": good}
        )
        assert first.json() == {"applied": True}
        assert repeat.json() == {"applied": False}
        forged = sign_webhook(body, "not-the-secret")
        refused = await client.post(
            "/webhooks/sandbox", content=body, headers={"Sandbox-Signature": forged}
        )
        assert refused.status_code == 400
        stale = sign_webhook(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)
        replay = await client.post(
            "/webhooks/sandbox", content=body, headers={"Sandbox-Signature": stale}
        )
        assert replay.status_code == 400
        tampered = await client.post(
            "/webhooks/sandbox", content=body + b" ", headers={"Sandbox-Signature": good}
        )
        assert tampered.status_code == 400


async def test_stripe_webhooks_are_verified(shop: Commerce) -> None:
    payload = json.dumps(
        {
            "id": "evt_" + uuid.uuid4().hex,
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_unknown", "object": "payment_intent"}},
        }
    )
    stamp = int(time.time())
    mac = hmac.new(
        STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    async with shop.client(shop.payments) as client:
        ok = await client.post(
            "/webhooks/stripe", content=payload, headers={"Stripe-Signature": f"t={stamp},v1={mac}"}
        )
        assert ok.status_code == 200, ok.text
        bad = await client.post(
            "/webhooks/stripe", content=payload, headers={"Stripe-Signature": f"t={stamp},v1=00"}
        )
        assert bad.status_code == 400


async def test_subscriptions_are_charged_once_per_period(shop: Commerce) -> None:
    customer = "sub-" + uuid.uuid4().hex[:8]
    async with shop.payments_admin() as client:
        good = (
            await client.post(
                f"/customers/{customer}/payment-methods", json={"token": await tokenize(client)}
            )
        ).json()
        declined = (
            await client.post(
                f"/customers/{customer}/payment-methods",
                json={"token": await tokenize(client, "4000 0000 0000 0002")},
            )
        ).json()
        start = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        plans = {}
        for name, method in (("good", good), ("declined", declined)):
            created = await client.post(
                "/subscriptions",
                json={
                    "customer_id": customer,
                    "email": f"{customer}@example.com",
                    "plan": f"coffee-{name}",
                    "payment_method_id": method["id"],
                    "amount_minor": 1299,
                    "currency": "EUR",
                    "interval_days": 30,
                    "start_at": start,
                },
            )
            assert created.status_code == 201, created.text
            plans[name] = created.json()
        before = await ledger(shop)
        # Two schedulers at once, then again: the period is charged once.
        runs = await asyncio.gather(
            client.post("/admin/subscriptions/charge-due"),
            client.post("/admin/subscriptions/charge-due"),
        )
        assert all(run.status_code == 200 for run in runs)
        await client.post("/admin/subscriptions/charge-due")
        paid = (await client.get(f"/subscriptions/{plans['good']['id']}")).json()
        failing = (await client.get(f"/subscriptions/{plans['declined']['id']}")).json()
    assert paid["current_period"] == 1
    assert [charge["period"] for charge in paid["charges"]] == [0]
    next_at = datetime.fromisoformat(paid["next_charge_at"])
    assert next_at - datetime.fromisoformat(start) == timedelta(days=30)
    assert failing["status"] == "past_due"
    assert failing["failed_attempts"] >= 1
    assert failing["charges"] == []
    after = await ledger(shop)
    assert after["gateway"]["captured_minor"] - before["gateway"]["captured_minor"] == 1299
