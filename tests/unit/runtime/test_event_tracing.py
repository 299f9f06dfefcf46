"""Events carry their trace: enqueued in a span, published under it, consumed under that.

SQLite and the in-process bus; the same through Kafka is in
tests/integration/runtime/test_kafka_bus.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.platform.events.consumer import (
    IdempotentConsumer,
    attach_consumer,
    processed_events_table,
)
from storefleet.runtime.platform.events.envelope import decode, encode, headers_for
from storefleet.runtime.platform.events.outbox import (
    Event,
    InProcessEventBus,
    OutboxRelay,
    enqueue,
    outbox_table,
)
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry import tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "storefleet=t61rcWkgMzE,other=x"


def _only(spans: list[ReadableSpan], kind: SpanKind, **attributes: str) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.kind == kind
        and all((s.attributes or {}).get(name) == value for name, value in attributes.items())
    ]
    assert len(found) == 1, [(s.name, s.kind, s.attributes) for s in spans]
    return found[0]


def test_the_envelope_carries_the_trace_context() -> None:
    event = Event(
        "order.paid", {"order_id": "o1"}, source="orders", traceparent=TRACEPARENT,
        tracestate=TRACESTATE,
    )  # fmt: skip
    body = json.loads(encode(event))
    assert (body["traceparent"], body["tracestate"]) == (TRACEPARENT, TRACESTATE)
    headers = dict(headers_for(event))
    assert headers["ce_traceparent"] == TRACEPARENT.encode()
    assert headers["ce_tracestate"] == TRACESTATE.encode()
    back = decode(encode(event))
    assert (back.traceparent, back.tracestate) == (TRACEPARENT, TRACESTATE)


def test_an_event_without_trace_context_has_none_on_the_wire() -> None:
    event = Event("order.paid", {"order_id": "o1"})
    assert "traceparent" not in json.loads(encode(event))
    assert not any(name.startswith("ce_trace") for name, _ in headers_for(event))
    # A record written before events carried a trace still decodes.
    old = encode(event)
    assert b"trace" not in old
    back = decode(old)
    assert (back.id, back.traceparent, back.tracestate) == (event.id, None, None)


@pytest.mark.parametrize(
    "traceparent",
    [
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # the invalid trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # the invalid span id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        42,
        ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ],
)
def test_a_malformed_traceparent_is_dropped_not_poison(traceparent: object) -> None:
    body = json.loads(encode(Event("order.paid", {"order_id": "o1"})))
    body["traceparent"] = traceparent
    body["tracestate"] = TRACESTATE
    event = decode(json.dumps(body).encode())
    assert event.type == "order.paid"
    assert (event.traceparent, event.tracestate) == (None, None)


def test_a_consumer_span_of_a_malformed_context_starts_a_new_trace(
    spans: InMemorySpanExporter,
) -> None:
    spans.clear()
    event = Event("order.paid", {"order_id": "o1"}, traceparent="00-nope-nope-01")
    consume = tracing.consume_span(
        event, system=tracing.INPROCESS, destination="orders", consumer="unit"
    )
    with tracing.tracer().start_as_current_span("unrelated") as ambient, consume as span:
        context = span.get_span_context()
    assert context.is_valid
    assert context.trace_id != ambient.get_span_context().trace_id
    consumed = _only(list(spans.get_finished_spans()), SpanKind.CONSUMER)
    assert consumed.parent is None


async def test_an_event_continues_the_trace_it_was_enqueued_in(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'traced.db'}")
    metadata = MetaData()
    outbox = outbox_table(metadata)
    processed = processed_events_table(metadata)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    bus = InProcessEventBus()
    handled: list[str] = []

    async def notify(event: Event, session: AsyncSession) -> None:
        handled.append(tracing.current_trace_id())

    async def count(event: Event) -> None:
        handled.append(tracing.current_trace_id())

    consumer = IdempotentConsumer("notifications", db, processed, backoff=0.001)
    consumer.on("order.paid", notify)
    feed = attach_consumer(bus, consumer)
    assert feed is not None
    bus.subscribe("order.paid", count)
    relay = OutboxRelay(db, outbox, bus)
    spans.clear()

    event = Event("order.paid", {"order_id": "o1"}, source="orders")
    with tracing.tracer().start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as request:
        async with db.write() as session:
            await enqueue(session, outbox, event)
    async with db.read() as session:
        stored = (await session.execute(select(outbox.c.traceparent, outbox.c.tracestate))).one()
    request_context = request.get_span_context()
    trace_id = format(request_context.trace_id, "032x")
    assert stored.traceparent.split("-")[1:3] == [trace_id, f"{request_context.span_id:016x}"]
    assert stored.tracestate is None

    # The relay runs later, outside the request.
    assert await relay.run_once() == 1
    await feed.drain()
    assert handled == [trace_id, trace_id]

    finished = list(spans.get_finished_spans())
    published = _only(finished, SpanKind.PRODUCER, **{"messaging.message.id": event.id})
    assert published.parent is not None
    assert published.parent.span_id == request_context.span_id
    assert published.name == "publish orders"
    assert (published.attributes or {})["messaging.system"] == tracing.INPROCESS
    (sent,) = bus.recent
    # What travels is the publish span's context: consumers hang under it.
    assert sent.traceparent is not None
    assert sent.traceparent.split("-")[1:3] == [trace_id, f"{published.context.span_id:016x}"]
    consumed = _only(
        finished, SpanKind.CONSUMER, **{"messaging.consumer.group.name": "notifications"}
    )
    assert consumed.context.trace_id == request_context.trace_id
    assert consumed.parent is not None
    assert consumed.parent.span_id == published.context.span_id
    attributes = consumed.attributes or {}
    assert attributes["messaging.system"] == tracing.INPROCESS
    assert attributes["messaging.destination.name"] == "orders"
    assert attributes["messaging.message.id"] == event.id
    assert attributes["cloudevents.event_type"] == "order.paid"
    assert attributes["messaging.operation.type"] == "process"
    handler = _only(
        finished,
        SpanKind.INTERNAL,
        **{"code.function.name": f"{__name__}.{notify.__qualname__}"},
    )
    assert handler.parent is not None
    assert handler.parent.span_id == consumed.context.span_id
    # A plain subscriber of the bus is a consumer under the same publish span.
    inline = _only(
        finished, SpanKind.CONSUMER, **{"messaging.consumer.group.name": count.__qualname__}
    )
    assert inline.parent is not None
    assert inline.parent.span_id == published.context.span_id
    await feed.close()
    await db.dispose()


async def test_an_event_enqueued_outside_any_span_starts_its_own_trace(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'untraced.db'}")
    metadata = MetaData()
    outbox = outbox_table(metadata)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    long_state = ",".join(f"k{n}=" + "v" * 20 for n in range(40))
    async with db.write() as session:
        await enqueue(session, outbox, Event("order.paid", {"order_id": "o1"}))
        # A context named by the event is kept; a tracestate too long to store is dropped.
        await enqueue(
            session,
            outbox,
            Event("order.paid", {"order_id": "o2"}, traceparent=TRACEPARENT, tracestate=long_state),
        )
    async with db.read() as session:
        rows = (
            await session.execute(
                select(outbox.c.payload, outbox.c.traceparent, outbox.c.tracestate)
            )
        ).all()
    assert sorted((r.payload["order_id"], r.traceparent, r.tracestate) for r in rows) == [
        ("o1", None, None),
        ("o2", TRACEPARENT, None),
    ]
    bus = InProcessEventBus()
    spans.clear()
    assert await OutboxRelay(db, outbox, bus).run_once() == 2
    by_order = {
        (s.attributes or {})["messaging.message.id"]: s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.PRODUCER
    }
    sent = {e.payload["order_id"]: e for e in bus.recent}
    assert by_order[sent["o1"].id].parent is None
    continued = by_order[sent["o2"].id]
    assert continued.parent is not None
    assert format(continued.context.trace_id, "032x") == TRACEPARENT.split("-")[1]
    await db.dispose()
