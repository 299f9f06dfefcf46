"""Events over the dev stack's real Redis (Streams) and PostgreSQL: outbox -> stream -> consumer.

The Redis Streams bus keeps the Kafka bus's promises (test_kafka_bus.py), for a
Store whose pods have Redis but no Kafka. Each test is a store of its own (a
fresh ``store.<id>.`` prefix, fresh tables) with several "pods": bus instances
that are distinct members of each consumer group, as replicas in a cluster
are. Timeouts are short (entries are claimed after one idle second) so the
tests take seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.operator.provisioners import redis as redis_provisioner
from storefleet.operator.provisioners.base import Tenant
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.consumer import (
    IdempotentConsumer,
    PermanentError,
    attach_consumer,
    processed_events_table,
)
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, outbox_table
from storefleet.runtime.platform.events.redis_streams import RedisConsumerRunner, RedisEventBus
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry import tracing

pytestmark = pytest.mark.asyncio(loop_scope="session")

Handler = Callable[[Event, AsyncSession], Awaitable[None]]


@pytest.fixture(scope="module")
def pg_database(postgres_dsn: str) -> Iterator[str]:
    name = f"sf_test_{uuid.uuid4().hex[:10]}_redis_events"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Store:
    """One store's streams and tables; pods are added with :meth:`pod`."""

    settings: EventsSettings
    db: Database
    outbox: Table
    processed: Table
    effects: Table
    admin: aioredis.Redis
    buses: list[RedisEventBus] = field(default_factory=list)
    relays: list[OutboxRelay] = field(default_factory=list)

    def key(self, stream: str) -> str:
        return f"{self.settings.redis_key_prefix}{self.settings.topic_prefix}{stream}"

    def consumer(
        self, handler: Handler | None = None, *, max_attempts: int = 3
    ) -> IdempotentConsumer:
        consumer = IdempotentConsumer(
            "counter",
            self.db,
            self.processed,
            max_attempts=max_attempts,
            backoff=0.05,
            backoff_max=0.2,
        )
        effects = self.effects

        async def count(event: Event, session: AsyncSession) -> None:
            if handler is not None:
                await handler(event, session)
            await session.execute(effects.insert().values(event_id=event.id))

        consumer.on("order.placed", count)
        return consumer

    async def pod(
        self,
        member: str,
        consumer: IdempotentConsumer | None = None,
        *,
        settings: EventsSettings | None = None,
    ) -> RedisEventBus:
        """A started bus, this store's member ``member``, running ``consumer``."""
        bus = RedisEventBus(settings or self.settings, member=member)
        self.buses.append(bus)
        if consumer is not None:
            attach_consumer(bus, consumer)
        await bus.start()
        if consumer is not None:
            await asyncio.wait_for(bus.runner(consumer.name).ready.wait(), 10)
        return bus

    async def publisher(self) -> OutboxRelay:
        """A pod that only publishes: the outbox's relay on a bus of its own."""
        bus = RedisEventBus(self.settings, member="publisher")
        relay = OutboxRelay(self.db, self.outbox, bus, interval=0.2)
        relay.start()
        self.relays.append(relay)
        return relay

    async def enqueue(self, *events: Event) -> None:
        async with self.db.write() as session:
            for event in events:
                await enqueue(session, self.outbox, event)
        for relay in self.relays:
            relay.wake()

    async def applied(self) -> list[str]:
        """Event ids in the order their effects committed."""
        async with self.db.read() as session:
            rows = await session.execute(select(self.effects.c.event_id).order_by(self.effects.c.n))
            return [row[0] for row in rows]

    async def pending(self, stream: str = "orders", group: str = "counter") -> int:
        summary = await self.admin.xpending(self.key(stream), group)
        return int(summary["pending"])

    async def entries(self, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        return list(await self.admin.xrange(self.key(stream)))


def _settings(url: str, run: str, **changes: object) -> EventsSettings:
    values: dict[str, object] = {
        "backend": "redis",
        "bootstrap_servers": "",
        "redis_url": url,
        "redis_key_prefix": "",
        "topic_prefix": f"store.t{run}.",
        "store": f"t{run}",
        "request_timeout_seconds": 5,
        "retry_backoff_seconds": 0.05,
        "retry_backoff_max_seconds": 0.2,
        "redis_claim_idle_seconds": 1.0,
        "redis_block_seconds": 0.2,
    }
    values.update(changes)
    return EventsSettings.model_validate(values)


@pytest_asyncio.fixture(loop_scope="session")
async def store(redis_url: str, pg_database: str) -> AsyncIterator[Store]:
    run = uuid.uuid4().hex[:8]
    metadata = MetaData()
    outbox = outbox_table(metadata, f"outbox_{run}")
    processed = processed_events_table(metadata, f"processed_{run}")
    # No unique constraint: an event applied twice would show as two rows.
    effects = Table(
        f"effects_{run}",
        metadata,
        Column("n", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
    )
    db = Database(pg_database)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    admin = aioredis.from_url(redis_url)
    made = Store(_settings(redis_url, run), db, outbox, processed, effects, admin)
    yield made
    for relay in made.relays:
        await relay.stop()
    for bus in made.buses:
        while bus._users:
            await bus.stop()
    async for key in admin.scan_iter(match=f"*store.t{run}.*"):
        await admin.delete(key)
    await admin.aclose()
    await db.dispose()


async def _wait_for(condition: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await condition():
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


def _runner(bus: RedisEventBus, name: str = "counter") -> RedisConsumerRunner:
    return bus.runner(name)


def _applied(store: Store, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(await store.applied()) == count

    return check


async def test_events_published_in_one_pod_are_applied_once_and_in_order_in_another(
    store: Store,
) -> None:
    await store.publisher()
    notified: list[str] = []

    async def subscriber(event: Event) -> None:
        notified.append(event.id)

    consuming = RedisEventBus(store.settings, member="pod-b")
    store.buses.append(consuming)
    attach_consumer(consuming, store.consumer())
    # A plain subscriber too (what bus.subscribe gives a service): a group of its own.
    consuming.subscribe("order.placed", subscriber)
    await consuming.start()

    events = [
        Event("order.placed", {"order_id": f"ord-{i % 4}", "n": i}, source="orders")
        for i in range(20)
    ]
    for event in events:
        await store.enqueue(event)

    async def all_applied() -> bool:
        return len(await store.applied()) >= 20 and len(notified) >= 20

    await _wait_for(all_applied, 20, "20 events applied")
    # One stream, one replica: handled in the order they were committed.
    assert await store.applied() == [event.id for event in events]
    assert notified == [event.id for event in events]

    # A relay that crashed before marking its batch sends it again.
    for event in events[:5]:
        await consuming.publish(event)

    async def duplicates_seen() -> bool:
        return _runner(consuming).duplicates >= 5

    await _wait_for(duplicates_seen, 20, "the duplicates delivered")
    assert await store.applied() == [event.id for event in events], "each event applied once"
    assert await store.pending() == 0, "every entry acknowledged"

    # On the wire: one stream per context, the envelope and its routing fields.
    entries = await store.entries("orders")
    assert len(entries) == 25
    for _, fields in entries:
        envelope = json.loads(fields[b"envelope"])
        assert fields[b"key"] == envelope["data"]["order_id"].encode()
        assert fields[b"ce_id"].decode() == envelope["id"]
        assert fields[b"ce_type"] == b"order.placed"
        assert envelope["specversion"] == "1.0"
        assert envelope["store"] == store.settings.store
    groups = {group["name"]: group for group in await store.admin.xinfo_groups(store.key("orders"))}
    assert set(groups) == {b"counter", b"test_redis_bus"}, "one group per consumer"


async def test_a_poison_event_is_retried_then_dead_lettered_and_the_consumer_moves_on(
    store: Store,
) -> None:
    calls: dict[str, int] = {}

    async def picky(event: Event, _: AsyncSession) -> None:
        calls[event.id] = calls.get(event.id, 0) + 1
        if event.payload.get("poison"):
            raise ValueError("cannot ship to the moon")
        if event.payload.get("hopeless"):
            raise PermanentError("unknown currency XXX")

    relay = await store.publisher()
    before = Event("order.placed", {"order_id": "o1", "n": 1})
    poison = Event("order.placed", {"order_id": "o1", "poison": True})
    hopeless = Event("order.placed", {"order_id": "o1", "hopeless": True})
    after = Event("order.placed", {"order_id": "o1", "n": 2})
    await store.enqueue(before, poison, hopeless, after)
    await relay.run_once()
    # Not an envelope at all: a producer that does not follow the contract.
    await store.admin.xadd(store.key("orders"), {"envelope": b"{not json", "origin": b"x"})
    last = Event("order.placed", {"order_id": "o1", "n": 3})
    await store.enqueue(last)
    consuming = await store.pod("pod-b", store.consumer(picky, max_attempts=3))

    async def good_ones_applied() -> bool:
        return len(await store.applied()) >= 3

    await _wait_for(good_ones_applied, 20, "the good events applied")
    assert await store.applied() == [before.id, after.id, last.id]
    assert calls[poison.id] == 3, "retried up to the limit"
    assert calls[hopeless.id] == 1, "a permanent error is not retried"
    assert _runner(consuming).dead_lettered == 3
    assert await store.pending() == 0, "dead letters are acknowledged"

    dead = [fields for _, fields in await store.entries("dead-letter")]
    assert len(dead) == 3
    first, second, garbage = dead
    assert first[b"ce_id"].decode() == poison.id, "the original fields are kept"
    assert json.loads(first[b"envelope"])["id"] == poison.id
    assert b"cannot ship to the moon" in first[b"dlq_error"]
    assert first[b"dlq_attempts"] == b"3"
    assert first[b"dlq_consumer"] == b"counter"
    assert first[b"dlq_original_stream"].decode() == store.key("orders")
    assert first[b"dlq_original_id"] in {entry_id for entry_id, _ in await store.entries("orders")}
    assert second[b"ce_id"].decode() == hopeless.id
    assert second[b"dlq_attempts"] == b"1"
    assert garbage[b"origin"] == b"x"
    assert b"not JSON" in garbage[b"dlq_error"]


async def test_an_entry_a_dead_pod_read_and_never_acknowledged_is_claimed_by_another(
    store: Store,
) -> None:
    """Pod A takes an event and hangs in its handler; while A lives it keeps
    the entry (pod B does not claim it); once A is gone, B claims and applies it."""
    await store.publisher()
    taken = asyncio.Event()
    hang = asyncio.Event()

    async def stuck(event: Event, _: AsyncSession) -> None:
        taken.set()
        await hang.wait()

    pod_a = await store.pod("pod-a", store.consumer(stuck))
    event = Event("order.placed", {"order_id": "o-claim"})
    await store.enqueue(event)
    await asyncio.wait_for(taken.wait(), 10)
    pod_b = await store.pod("pod-b", store.consumer())

    # Three claim periods: a live member's entry stays with it.
    await asyncio.sleep(3 * store.settings.redis_claim_idle_seconds)
    assert _runner(pod_b).claimed == 0
    assert await store.applied() == []
    (pending,) = await store.admin.xpending_range(store.key("orders"), "counter", "-", "+", 10)
    assert pending["consumer"] == b"pod-a"

    await pod_a.stop()  # the pod dies in the middle of the handler

    async def applied_by_b() -> bool:
        return await store.applied() == [event.id]

    waited = await _wait_for(applied_by_b, 10, "pod B to claim the entry")
    assert _runner(pod_b).claimed == 1
    assert await store.pending() == 0
    # A kept the entry fresh every third of min-idle until it died: B waits the rest.
    assert waited >= store.settings.redis_claim_idle_seconds * 0.6, "not before min-idle"


async def test_a_restarted_pod_takes_back_what_it_read_before(store: Store) -> None:
    """A container restarted in its pod keeps its member name: it handles its
    own pending entries at once, without waiting for min-idle."""
    slow = _settings(
        store.settings.redis_url,
        "x",
        topic_prefix=store.settings.topic_prefix,
        store=store.settings.store,
        redis_claim_idle_seconds=600,
    )
    await store.enqueue(Event("order.placed", {"order_id": "o-restart"}))
    relay = await store.publisher()
    await relay.run_once()
    key = store.key("orders")
    await store.admin.xgroup_create(key, "counter", id="0", mkstream=True)
    # What the container read before it was killed.
    await store.admin.xreadgroup("counter", "pod-a", {key: ">"}, count=10)
    assert await store.pending() == 1
    restarted = await store.pod("pod-a", store.consumer(), settings=slow)

    async def applied() -> bool:
        return len(await store.applied()) == 1

    await _wait_for(applied, 5, "the restarted member's own entry applied")
    assert _runner(restarted).claimed == 0
    assert await store.pending() == 0


async def test_a_consumer_created_later_reads_what_the_streams_already_hold(
    store: Store,
) -> None:
    relay = await store.publisher()
    earlier = [Event("order.placed", {"order_id": f"early-{i}"}) for i in range(3)]
    await store.enqueue(*earlier)
    await relay.run_once()
    assert len(await store.entries("orders")) == 3
    assert await store.admin.xinfo_groups(store.key("orders")) == [], "no group yet"

    await store.pod("pod-b", store.consumer())

    async def all_applied() -> bool:
        return len(await store.applied()) == 3

    await _wait_for(all_applied, 10, "the earlier events applied")
    assert await store.applied() == [event.id for event in earlier]


async def test_streams_are_trimmed_to_about_max_len(store: Store) -> None:
    bounded = store.settings.model_copy(update={"redis_max_len": 10})
    bus = await store.pod("publisher", settings=bounded)
    events = [Event("order.placed", {"order_id": f"o{i}", "n": i}) for i in range(500)]
    for start in range(0, len(events), 100):
        assert await bus.publish_many(events[start : start + 100]) == [None] * 100
    length = int(await store.admin.xlen(store.key("orders")))
    # Approximate trimming removes whole nodes (100 entries each by default).
    assert 10 <= length <= 110, length
    (_, newest), *_ = reversed(await store.entries("orders"))
    assert json.loads(newest[b"envelope"])["id"] == events[-1].id, "the newest are kept"


async def test_the_consumer_continues_the_trace_the_event_was_enqueued_in(
    store: Store, spans: InMemorySpanExporter
) -> None:
    await store.publisher()
    await store.pod("pod-b", store.consumer())
    traced = Event("order.placed", {"order_id": "tr-1"}, source="orders")
    with tracing.tracer().start_as_current_span("POST /orders", kind=SpanKind.SERVER) as request:
        await store.enqueue(traced)

    async def consumed() -> bool:
        return _span_of(spans, SpanKind.CONSUMER, traced.id) is not None

    await _wait_for(consumed, 10, "the event consumed")
    published = _span_of(spans, SpanKind.PRODUCER, traced.id)
    handled = _span_of(spans, SpanKind.CONSUMER, traced.id)
    assert published is not None
    assert handled is not None
    assert published.parent is not None
    assert published.parent.span_id == request.get_span_context().span_id
    assert handled.parent is not None
    assert handled.parent.span_id == published.context.span_id, "one trace, through Redis"
    key = store.key("orders")
    assert published.name == f"publish {key}"
    attributes = handled.attributes or {}
    assert attributes["messaging.system"] == "redis_streams"
    assert attributes["messaging.destination.name"] == key
    assert attributes["messaging.consumer.group.name"] == "counter"
    assert attributes["messaging.message.id"] == traced.id
    (_, fields), *_ = await store.entries("orders")
    assert json.loads(fields[b"envelope"])["traceparent"].split("-")[2] == format(
        published.context.span_id, "016x"
    )


def _span_of(spans: InMemorySpanExporter, kind: SpanKind, event_id: str) -> ReadableSpan | None:
    for span in spans.get_finished_spans():
        if span.kind == kind and (span.attributes or {}).get("messaging.message.id") == event_id:
            return span
    return None


@contextlib.asynccontextmanager
async def _tenant_user(redis_url: str, store_id: str) -> AsyncIterator[dict[str, str]]:
    """A Redis user exactly as the operator provisions one for a Store; what
    the operator hands the runtime (``REDIS_URL``, ``REDIS_KEY_PREFIX``)."""
    provisioner = redis_provisioner.RedisProvisioner(redis_url)
    tenant = Tenant(store=store_id, namespace=f"store-{store_id}")
    result = await provisioner.ensure(tenant, secrets.token_urlsafe(16))
    assert result.ok, result
    try:
        yield dict(result.outputs)
    finally:
        admin = aioredis.from_url(redis_url)
        await admin.acl_deluser(redis_provisioner.username(tenant))
        await admin.aclose()


async def test_the_store_redis_user_the_operator_provisions_can_run_the_bus(
    store: Store, redis_url: str
) -> None:
    """Stream keys live under the cache's prefix, and every command the bus
    sends is one the store's ACL user may run."""
    store_id = store.settings.store
    async with _tenant_user(redis_url, store_id) as outputs:
        confined = store.settings.model_copy(
            update={
                "redis_url": outputs["REDIS_URL"],
                "redis_key_prefix": outputs["REDIS_KEY_PREFIX"],
            }
        )
        store.settings = confined
        store.relays.append(
            OutboxRelay(store.db, store.outbox, RedisEventBus(confined), interval=0.2)
        )
        store.relays[-1].start()

        async def refuse(event: Event, _: AsyncSession) -> None:
            if event.payload.get("poison"):
                raise PermanentError("no")

        pod = await store.pod("pod-b", store.consumer(refuse))
        good = Event("order.placed", {"order_id": "acl-1"})
        await store.enqueue(good, Event("order.placed", {"order_id": "acl-2", "poison": True}))

        async def handled() -> bool:
            return await store.applied() == [good.id] and _runner(pod).dead_lettered == 1

        await _wait_for(handled, 10, "events handled under the store's ACL user")
        assert store.key("orders") == f"{store_id}:store.{store_id}.orders"
        assert len(await store.entries("dead-letter")) == 1


async def test_an_event_is_marked_published_only_once_redis_has_it(store: Store) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens there once the probe is closed
    unreachable = store.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{closed}/0", "request_timeout_seconds": 0.5}
    )
    down = OutboxRelay(store.db, store.outbox, RedisEventBus(unreachable), interval=60)
    event = Event("order.placed", {"order_id": "o-down"})
    await store.enqueue(event)
    assert await down.run_once() == 0
    async with store.db.read() as session:
        row = (await session.execute(select(store.outbox))).mappings().one()
    assert row["published_at"] is None, "still in the outbox"
    assert row["attempts"] == 1
    assert await store.admin.exists(store.key("orders")) == 0

    up = await store.publisher()
    assert await up.run_once() == 1
    ((_, fields),) = await store.entries("orders")
    assert json.loads(fields[b"envelope"])["id"] == event.id


async def test_a_consumer_whose_stream_was_evicted_carries_on_with_what_comes_next(
    store: Store,
) -> None:
    """What an allkeys-* eviction policy does to a stream (docs/events.md says
    not to run one): the events in it are gone, and consuming goes on."""
    relay = await store.publisher()
    await store.pod("pod-b", store.consumer())
    first = Event("order.placed", {"order_id": "o-1"})
    await store.enqueue(first)

    await _wait_for(_applied(store, 1), 10, "the first event applied")
    await store.admin.delete(store.key("orders"))  # evicted, with its groups
    second = Event("order.placed", {"order_id": "o-2"})
    await store.enqueue(second)
    await relay.run_once()
    await _wait_for(_applied(store, 2), 15, "the event after the eviction applied")
    assert await store.applied() == [first.id, second.id]
