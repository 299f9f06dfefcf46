"""The event envelope, stream routing and idempotent consumers (SQLite, in-process bus)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.consumer import (
    DeadLettered,
    IdempotentConsumer,
    PermanentError,
    attach_consumer,
    backoff_delay,
    processed_events_table,
)
from storefleet.runtime.platform.events.envelope import (
    EnvelopeError,
    decode,
    encode,
    partition_key,
    stream_for,
)
from storefleet.runtime.platform.events.outbox import (
    Event,
    InProcessEventBus,
    OutboxRelay,
    enqueue,
    outbox_table,
)
from storefleet.runtime.platform.storage.db import Database


@pytest.mark.parametrize(
    ("event_type", "stream"),
    [
        ("order.paid", "orders"),
        ("orders.order_placed", "orders"),
        ("payment.captured", "payments"),
        ("catalog.stock_reserved", "catalog"),
        ("cart.abandoned", "cart"),
        ("account.created", "accounts"),
        ("notification.sent", "notifications"),
    ],
)
def test_each_context_has_its_stream(event_type: str, stream: str) -> None:
    assert stream_for(event_type) == stream


def test_an_unknown_context_is_refused() -> None:
    with pytest.raises(ValueError, match="names no known context"):
        stream_for("spaceship.launched")


def test_the_key_is_the_aggregate() -> None:
    assert partition_key(Event("order.paid", {"order_id": "o1", "id": "x"})) == "o1"
    assert partition_key(Event("cart.abandoned", {"cart_id": "c9"})) == "c9"
    assert partition_key(Event("order.paid", {"order_id": "o1"}, key="k")) == "k"
    lonely = Event("analytics.ping", {})
    assert partition_key(lonely) == lonely.id


def test_the_envelope_round_trips() -> None:
    event = Event("order.paid", {"order_id": "o1", "total_minor": 1999}, source="orders")
    body = json.loads(encode(event, store="acme"))
    assert body["specversion"] == "1.0"
    assert body["dataversion"] == 1
    assert body["store"] == "acme"
    assert body["partitionkey"] == "o1"
    back = decode(encode(event))
    assert (back.id, back.type, back.payload, back.source) == (
        event.id,
        event.type,
        event.payload,
        event.source,
    )
    assert back.occurred_at == event.occurred_at
    assert back.key == "o1"


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"{nope",
        b"[1]",
        b'{"specversion": "0.3", "id": "a", "type": "t", "time": "2026-01-01T00:00:00Z"}',
        b'{"specversion": "1.0", "type": "t", "time": "2026-01-01T00:00:00Z", "data": {}}',
        b'{"specversion": "1.0", "id": "a", "type": "t", "time": "2026-01-01T00:00:00Z"}',
        b'{"specversion": "1.0", "id": "a", "type": "t", "time": "yesterday", "data": {}}',
        b'{"specversion": "1.0", "id": "a", "type": "t", "time": "2026-01-01T00:00:00Z",'
        b' "data": {}, "dataversion": true}',
    ],
)
def test_malformed_records_are_poison(value: bytes | None) -> None:
    with pytest.raises(EnvelopeError):
        decode(value)


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_delay(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_the_bus_is_in_process_without_brokers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOREFLEET_EVENTS_BOOTSTRAP_SERVERS", raising=False)
    assert isinstance(create_event_bus(), InProcessEventBus)
    assert isinstance(create_event_bus("inprocess"), InProcessEventBus)
    with pytest.raises(ValueError, match="unsupported"):
        create_event_bus("carrier-pigeon")


async def test_an_idempotent_consumer_applies_each_event_once(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'consumer.db'}")
    metadata = MetaData()
    processed = processed_events_table(metadata)
    outbox = outbox_table(metadata)
    effects = Table(
        "effects", metadata, Column("n", Integer, primary_key=True), Column("e", String)
    )
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    failures = {"flaky": 2}

    async def apply(event: Event, session: AsyncSession) -> None:
        await session.execute(effects.insert().values(e=event.id))
        if event.payload.get("kind") == "flaky" and failures["flaky"]:
            failures["flaky"] -= 1
            raise RuntimeError("database hiccup")
        if event.payload.get("kind") == "bad":
            raise PermanentError("unknown currency")

    def handled(outcome: str) -> float:
        labels = {"consumer": "unit-counter", "outcome": outcome}
        return REGISTRY.get_sample_value("storefleet_events_handled_total", labels) or 0.0

    before = {outcome: handled(outcome) for outcome in ("applied", "duplicate", "dead_letter")}
    consumer = IdempotentConsumer("unit-counter", db, processed, max_attempts=3, backoff=0.001)
    consumer.on("order.paid", apply)
    bus = InProcessEventBus()
    feed = attach_consumer(bus, consumer)
    assert feed is not None
    relay = OutboxRelay(db, outbox, bus)
    good = Event("order.paid", {"order_id": "o1"})
    flaky = Event("order.paid", {"order_id": "o2", "kind": "flaky"})
    bad = Event("order.paid", {"order_id": "o3", "kind": "bad"})
    async with db.write() as session:
        for event in (good, flaky, bad):
            await enqueue(session, outbox, event)
    assert await relay.run_once() == 3
    await bus.publish(good)  # delivered again
    await feed.drain()
    assert await consumer.handle(good) is False

    async with db.read() as session:
        rows = [row[0] for row in await session.execute(select(effects.c.e))]
        marks = await session.scalar(select(func.count()).select_from(processed))
    # The flaky event's failed attempts rolled back their writes with them.
    assert sorted(rows) == sorted([good.id, flaky.id])
    assert marks == 2
    assert [(name, event.id) for name, event, _ in bus.dead_letters] == [("unit-counter", bad.id)]
    with pytest.raises(DeadLettered) as caught:
        await consumer.handle(bad)
    assert caught.value.attempts == 1
    # /metrics tells an operator what the consumer did.
    assert handled("applied") - before["applied"] == 2
    assert handled("duplicate") - before["duplicate"] == 2
    assert handled("dead_letter") - before["dead_letter"] == 2
    assert await consumer.purge() == 0, "recent marks are kept"
    assert await consumer.purge(timedelta(seconds=-1)) == 2
    assert await consumer.handle(good) is True, "forgotten: it would apply again"
    await feed.close()
    await db.dispose()


async def test_an_envelope_outbox_keeps_the_version_and_key(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
    metadata = MetaData()
    plain = outbox_table(metadata, "plain_outbox")
    versioned = outbox_table(metadata, "versioned_outbox", envelope=True)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    v2 = Event("order.paid", {"order_id": "o1"}, version=2, key="customer-7")
    with pytest.raises(ValueError, match="envelope=True"):
        async with db.write() as session:
            await enqueue(session, plain, v2)
    async with db.write() as session:
        await enqueue(session, versioned, v2)
    bus = InProcessEventBus()
    assert await OutboxRelay(db, versioned, bus).run_once() == 1
    (sent,) = bus.recent
    assert (sent.version, sent.key) == (2, "customer-7")
    assert json.loads(encode(sent))["dataversion"] == 2
    await db.dispose()
