"""Events through the real Kafka broker and PostgreSQL: outbox -> topic -> consumer.

Each test uses topics of its own (a fresh ``store.<id>.`` prefix) and a fresh
database. What a user of the events relies on: every event committed with a
state change is applied once by each consumer, whatever Kafka redelivers; an
event no handler can take ends on the dead-letter topic with its error, and
the events behind it still flow; a broker restart loses and doubles nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.dev.components.kafka import Kafka, KafkaAccess
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.consumer import (
    IdempotentConsumer,
    PermanentError,
    attach_consumer,
    processed_events_table,
)
from storefleet.runtime.platform.events.envelope import encode
from storefleet.runtime.platform.events.kafka import KafkaConsumerRunner, KafkaEventBus
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, outbox_table
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry import tracing

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def pg_database(postgres_dsn: str) -> Iterator[str]:
    name = f"sf_test_{uuid.uuid4().hex[:10]}_events"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Pipeline:
    """An outbox and relay on one side, an idempotent consumer on the other."""

    db: Database
    outbox: Table
    effects: Table
    bus: KafkaEventBus
    relay: OutboxRelay
    consumer: IdempotentConsumer
    prefix: str

    @property
    def runner(self) -> KafkaConsumerRunner:
        return self.bus.runner(self.consumer.name)

    async def enqueue(self, event: Event) -> None:
        async with self.db.write() as session:
            await enqueue(session, self.outbox, event)
        self.relay.wake()

    async def applied(self) -> list[str]:
        async with self.db.read() as session:
            rows = await session.execute(select(self.effects.c.event_id))
            return [row[0] for row in rows]


async def _wait_for(condition: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await condition():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


@pytest_asyncio.fixture(loop_scope="session")
async def make_pipeline(
    kafka_admin: KafkaAccess, pg_database: str
) -> AsyncIterator[Callable[..., Awaitable[Pipeline]]]:
    made: list[Pipeline] = []

    async def make(
        handler: Callable[[Event, AsyncSession], Awaitable[None]] | None = None,
        *,
        max_attempts: int = 3,
    ) -> Pipeline:
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
        prefix = f"store.t{run}."
        settings = EventsSettings(
            bootstrap_servers=kafka_admin.bootstrap_servers,
            sasl_username=kafka_admin.username,
            sasl_password=kafka_admin.password,
            topic_prefix=prefix,
            store=f"t{run}",
            request_timeout_seconds=5,
            retry_backoff_seconds=0.05,
            retry_backoff_max_seconds=0.2,
            create_topics=True,
            topic_partitions=3,
        )
        bus = KafkaEventBus(settings)
        consumer = IdempotentConsumer(
            "counter", db, processed, max_attempts=max_attempts, backoff=0.05, backoff_max=0.2
        )

        async def count(event: Event, session: AsyncSession) -> None:
            if handler is not None:
                await handler(event, session)
            await session.execute(effects.insert().values(event_id=event.id))

        consumer.on("order.placed", count)
        attach_consumer(bus, consumer)
        relay = OutboxRelay(db, outbox, bus, interval=0.2)
        relay.start()
        pipeline = Pipeline(db, outbox, effects, bus, relay, consumer, prefix)
        made.append(pipeline)
        await _wait_for(_true_after(pipeline.bus, consumer.name), 60, "partition assignment")
        return pipeline

    yield make
    for pipeline in made:
        await pipeline.relay.stop()
        await pipeline.db.dispose()


def _true_after(bus: KafkaEventBus, name: str) -> Callable[[], Awaitable[bool]]:
    async def assigned() -> bool:
        try:
            return bus.runner(name).assigned.is_set()
        except KeyError:
            return False

    return assigned


async def _read_topic(
    kafka: KafkaAccess, topic: str, count: int, within: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, **kafka.aiokafka(), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + within
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_outbox_events_are_applied_once_even_when_delivered_twice(
    make_pipeline: Callable[..., Awaitable[Pipeline]], kafka_admin: KafkaAccess
) -> None:
    pipeline = await make_pipeline()
    events = [
        Event("order.placed", {"order_id": f"ord-{i % 4}", "n": i}, source="orders")
        for i in range(20)
    ]
    for event in events:
        await pipeline.enqueue(event)

    async def all_applied() -> bool:
        return len(await pipeline.applied()) >= 20

    await _wait_for(all_applied, 60, "20 events applied")
    # Publish five of them again, as a relay that crashed before marking them would.
    for event in events[:5]:
        await pipeline.bus.publish(event)

    async def duplicates_seen() -> bool:
        return pipeline.runner.duplicates >= 5

    await _wait_for(duplicates_seen, 60, "the duplicates delivered")
    applied = await pipeline.applied()
    assert sorted(applied) == sorted(event.id for event in events), "each event applied once"

    # On the wire: keyed by the order, CloudEvents-shaped, versioned.
    records = await _read_topic(kafka_admin, f"{pipeline.prefix}orders", 25)
    assert len(records) == 25
    by_key: dict[bytes, list[int]] = {}
    for record in records:
        envelope = json.loads(record.value or b"")
        assert record.key == envelope["data"]["order_id"].encode()
        assert envelope["specversion"] == "1.0"
        assert envelope["dataversion"] == 1
        assert envelope["type"] == "order.placed"
        assert dict(record.headers)["ce_id"].decode() == envelope["id"]
        by_key.setdefault(record.key, []).append(record.partition)
    assert all(len(set(partitions)) == 1 for partitions in by_key.values()), (
        "one order's events share a partition"
    )


async def test_a_poison_event_is_dead_lettered_and_the_consumer_moves_on(
    make_pipeline: Callable[..., Awaitable[Pipeline]], kafka_admin: KafkaAccess
) -> None:
    calls: dict[str, int] = {}

    async def picky(event: Event, _: AsyncSession) -> None:
        calls[event.id] = calls.get(event.id, 0) + 1
        if event.payload.get("poison"):
            raise ValueError("cannot ship to the moon")
        if event.payload.get("hopeless"):
            raise PermanentError("unknown currency XXX")

    pipeline = await make_pipeline(picky, max_attempts=3)
    before = Event("order.placed", {"order_id": "o1", "n": 1})
    poison = Event("order.placed", {"order_id": "o1", "poison": True})
    hopeless = Event("order.placed", {"order_id": "o1", "hopeless": True})
    after = Event("order.placed", {"order_id": "o1", "n": 2})
    for event in (before, poison, hopeless, after):
        await pipeline.enqueue(event)
    await pipeline.relay.run_once()  # all four are on the topic before the garbage
    # Not an envelope at all: a producer that does not follow the contract.
    producer = AIOKafkaProducer(**kafka_admin.aiokafka())
    await producer.start()
    try:
        await producer.send_and_wait(
            f"{pipeline.prefix}orders", b"{not json", key=b"o1", headers=[("origin", b"x")]
        )
    finally:
        await producer.stop()
    last = Event("order.placed", {"order_id": "o1", "n": 3})
    await pipeline.enqueue(last)

    async def good_ones_applied() -> bool:
        return len(await pipeline.applied()) >= 3

    await _wait_for(good_ones_applied, 60, "the good events applied")
    assert sorted(await pipeline.applied()) == sorted([before.id, after.id, last.id])
    assert calls[poison.id] == 3, "retried up to the limit"
    assert calls[hopeless.id] == 1, "a permanent error is not retried"

    dead = await _read_topic(kafka_admin, f"{pipeline.prefix}dead-letter", 3)
    assert len(dead) == 3
    first, second, garbage = (dict(record.headers) for record in dead)
    assert first["ce_id"].decode() == poison.id, "original headers are kept"
    assert b"cannot ship to the moon" in first["dlq_error"]
    assert first["dlq_attempts"] == b"3"
    assert first["dlq_consumer"] == b"counter"
    assert first["dlq_original_topic"].decode() == f"{pipeline.prefix}orders"
    assert json.loads(dead[0].value or b"")["id"] == poison.id, "the original record"
    assert second["ce_id"].decode() == hopeless.id
    assert second["dlq_attempts"] == b"1"
    assert garbage["origin"] == b"x"
    assert b"not JSON" in garbage["dlq_error"]
    assert dead[2].value == b"{not json"


def _may_restart_kafka(dev_stack: object) -> bool:
    """Only a Kafka of our own: an isolated stack, CI, or one this run started."""
    started = getattr(dev_stack, "started", [])
    return bool(
        os.environ.get("STOREFLEET_STACK_DIR") or os.environ.get("CI") or "kafka" in started
    )


async def test_a_kafka_restart_loses_nothing_and_doubles_nothing(
    make_pipeline: Callable[..., Awaitable[Pipeline]], dev_stack: object
) -> None:
    if not _may_restart_kafka(dev_stack):
        pytest.skip("restarts Kafka: set STOREFLEET_STACK_DIR to use a stack of this run's own")
    pipeline = await make_pipeline()
    kafka = Kafka()
    total, stop_at, start_at = 150, 40, 100
    sent: list[str] = []
    outage: dict[str, float] = {}

    async def produce() -> None:
        for i in range(total):
            if i == stop_at:
                await asyncio.to_thread(kafka.down)
                assert not kafka.running()
                outage["down"] = time.monotonic()
            if i == start_at:
                await asyncio.to_thread(kafka.up)
                outage["up"] = time.monotonic()
            event = Event("order.placed", {"order_id": f"ord-{i % 10}", "n": i})
            await pipeline.enqueue(event)
            sent.append(event.id)
            await asyncio.sleep(0.03)

    try:
        await produce()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(kafka.up)

    async def all_applied() -> bool:
        return len(await pipeline.applied()) >= total

    waited = await _wait_for(all_applied, 180, f"{total} events applied after the restart")
    await asyncio.sleep(2)  # let any late redelivery arrive
    applied = await pipeline.applied()
    assert len(applied) == total, f"{len(applied) - len(set(applied))} applied twice"
    assert sorted(applied) == sorted(sent)
    async with pipeline.db.read() as session:
        unpublished = await session.scalar(
            select(func.count())
            .select_from(pipeline.outbox)
            .where(pipeline.outbox.c.published_at.is_(None))
        )
    assert unpublished == 0
    print(
        f"kafka restart: broker down {outage['up'] - outage['down']:.1f}s; {total} events "
        f"({start_at - stop_at} committed while it was down), all applied once, "
        f"{waited:.1f}s after the last was committed"
    )


async def test_replicas_joining_and_leaving_the_group_lose_and_double_nothing(
    make_pipeline: Callable[..., Awaitable[Pipeline]],
) -> None:
    """A second replica of the consumer joins mid-stream (the partitions are
    shared out again) and later leaves (they come back): a rebalance redelivers
    whatever was handled but not yet committed, and it must apply once."""
    pipeline = await make_pipeline()
    first = pipeline.consumer
    second_bus = KafkaEventBus(pipeline.bus.settings)
    second = IdempotentConsumer(
        first.name, pipeline.db, first.table, backoff=0.05, handlers=first.handlers
    )
    attach_consumer(second_bus, second)
    total, join_at, leave_at = 300, 80, 200
    sent: list[str] = []
    handled_by_second = 0
    try:
        for i in range(total):
            if i == join_at:
                await second_bus.start()
            if i == leave_at:
                await _wait_for(_true_after(second_bus, second.name), 60, "the second replica")
                runner = second_bus.runner(second.name)
                # On a loaded machine the rebalance can finish after the last event
                # before this point was consumed: keep events coming until the second
                # replica has handled some, so leaving hands back real work.
                deadline = asyncio.get_running_loop().time() + 60
                while runner.applied + runner.duplicates == 0:
                    assert asyncio.get_running_loop().time() < deadline, "second got nothing"
                    extra = Event("order.placed", {"order_id": f"ord-{len(sent) % 12}"})
                    await pipeline.enqueue(extra)
                    sent.append(extra.id)
                    await asyncio.sleep(0.05)
                handled_by_second = runner.applied + runner.duplicates
                await second_bus.stop()
            event = Event("order.placed", {"order_id": f"ord-{i % 12}", "n": i})
            await pipeline.enqueue(event)
            sent.append(event.id)
            await asyncio.sleep(0.01)
    finally:
        await second_bus.stop()

    async def all_applied() -> bool:
        return len(await pipeline.applied()) >= len(sent)

    await _wait_for(all_applied, 120, f"{len(sent)} events applied")
    await asyncio.sleep(2)
    applied = await pipeline.applied()
    assert len(applied) == len(sent), f"{len(applied) - len(set(applied))} applied twice"
    assert sorted(applied) == sorted(sent)
    assert handled_by_second > 0, "the second replica took part"


async def test_an_event_of_no_known_stream_does_not_hold_up_the_outbox(
    make_pipeline: Callable[..., Awaitable[Pipeline]], kafka_admin: KafkaAccess
) -> None:
    pipeline = await make_pipeline()
    # (vendor.* has its own stream now: an example of a context with none)
    by_source = Event("warehouse.created", {"id": "w1"}, source="catalog")
    lost = Event("spaceship.launched", {"id": "s1"}, source="mars")
    behind = Event("order.placed", {"order_id": "o9"})
    for event in (by_source, lost, behind):
        await pipeline.enqueue(event)

    async def applied() -> bool:
        return await pipeline.applied() == [behind.id]

    await _wait_for(applied, 60, "the event behind them")
    (catalog,) = await _read_topic(kafka_admin, f"{pipeline.prefix}catalog", 1)
    assert json.loads(catalog.value or b"")["id"] == by_source.id, "routed by its source"
    (dead,) = await _read_topic(kafka_admin, f"{pipeline.prefix}dead-letter", 1)
    headers = dict(dead.headers)
    assert headers["ce_id"].decode() == lost.id
    assert b"names no known context" in headers["dlq_error"]


def _span_of(spans: InMemorySpanExporter, kind: SpanKind, event_id: str) -> ReadableSpan | None:
    for span in spans.get_finished_spans():
        if span.kind == kind and (span.attributes or {}).get("messaging.message.id") == event_id:
            return span
    return None


async def test_the_consumer_continues_the_trace_the_event_was_enqueued_in(
    make_pipeline: Callable[..., Awaitable[Pipeline]],
    kafka_admin: KafkaAccess,
    spans: InMemorySpanExporter,
) -> None:
    pipeline = await make_pipeline()
    traced = Event("order.placed", {"order_id": "tr-1"}, source="orders")
    with tracing.tracer().start_as_current_span("POST /orders", kind=SpanKind.SERVER) as request:
        await pipeline.enqueue(traced)
    enqueued_in = request.get_span_context()
    # Enqueued by a process that was not tracing (or before the outbox kept a trace).
    untraced = Event("order.placed", {"order_id": "tr-2"}, source="orders")
    await pipeline.enqueue(untraced)
    # A producer that sent a traceparent nobody can parse: handled all the same.
    garbled = Event("order.placed", {"order_id": "tr-3"}, source="orders")
    envelope = json.loads(encode(garbled))
    envelope["traceparent"] = "00-this-is-not-a-trace-01"
    producer = AIOKafkaProducer(**kafka_admin.aiokafka())
    await producer.start()
    try:
        await producer.send_and_wait(
            f"{pipeline.prefix}orders", json.dumps(envelope).encode(), key=b"tr-3"
        )
    finally:
        await producer.stop()

    async def all_consumed() -> bool:
        return all(_span_of(spans, SpanKind.CONSUMER, e.id) for e in (traced, untraced, garbled))

    await _wait_for(all_consumed, 60, "the three events consumed")
    assert sorted(await pipeline.applied()) == sorted(e.id for e in (traced, untraced, garbled))
    assert pipeline.runner.dead_lettered == 0, "a bad trace context is not poison"

    published = _span_of(spans, SpanKind.PRODUCER, traced.id)
    consumed = _span_of(spans, SpanKind.CONSUMER, traced.id)
    assert published is not None
    assert consumed is not None
    assert consumed.context.trace_id == enqueued_in.trace_id, "one trace, through Kafka"
    assert published.parent is not None
    assert published.parent.span_id == enqueued_in.span_id
    assert consumed.parent is not None
    assert consumed.parent.span_id == published.context.span_id
    assert consumed.parent.is_remote
    topic = f"{pipeline.prefix}orders"
    assert published.name == f"publish {topic}"
    attributes = consumed.attributes or {}
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.destination.name"] == topic
    assert attributes["messaging.message.id"] == traced.id
    assert attributes["cloudevents.event_type"] == "order.placed"
    assert attributes["messaging.consumer.group.name"] == f"{pipeline.prefix}counter"
    assert attributes["messaging.kafka.message.key"] == "tr-1"
    # The handler ran inside the consumer span, in its database transaction.
    handlers = [
        s
        for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == consumed.context.span_id
    ]
    assert [s.kind for s in handlers] == [SpanKind.INTERNAL]

    untraced_consumed = _span_of(spans, SpanKind.CONSUMER, untraced.id)
    untraced_published = _span_of(spans, SpanKind.PRODUCER, untraced.id)
    assert untraced_consumed is not None
    assert untraced_published is not None
    assert untraced_published.parent is None, "its own trace, started by the relay"
    assert untraced_consumed.context.trace_id == untraced_published.context.trace_id
    assert untraced_consumed.context.trace_id != enqueued_in.trace_id
    garbled_consumed = _span_of(spans, SpanKind.CONSUMER, garbled.id)
    assert garbled_consumed is not None
    assert garbled_consumed.parent is None, "a new root"

    # On the wire: the CloudEvents distributed-tracing extension, in the
    # envelope and as a header, naming the publish span.
    records = {
        json.loads(r.value or b"")["id"]: r for r in await _read_topic(kafka_admin, topic, 3)
    }
    record = records[traced.id]
    on_wire = json.loads(record.value or b"")["traceparent"]
    assert dict(record.headers)["ce_traceparent"].decode() == on_wire
    assert on_wire.split("-")[1:3] == [
        format(enqueued_in.trace_id, "032x"),
        format(published.context.span_id, "016x"),
    ]
