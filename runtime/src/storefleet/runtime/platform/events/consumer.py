"""Consuming events: at least once from the bus, applied exactly once in effect.

A consumer names itself (its Kafka consumer group), registers handlers per
event type and is handed each event. An *idempotent* consumer runs the
handler inside a database transaction that also records ``(event id,
consumer)`` in its processed-events table: a redelivered event finds its row
and is skipped, and a handler that fails rolls the row back with its own
writes, so the retry starts clean. A failing handler is retried with
exponential backoff; after the last attempt the event is dead-lettered (on
Kafka: the store's ``dead-letter`` topic, with the error) and the consumer
moves on. :class:`PermanentError` skips the retries: the event can never succeed.

Each event a consumer takes is a CONSUMER span, child of the trace context the
event carries, with one INTERNAL span per handler attempt under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol, cast

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue
from prometheus_client import Counter
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    select,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.envelope import (
    DEAD_LETTER,
    STREAMS,
    EnvelopeError,
    decode,
    stream_for,
    stream_or_type,
)
from storefleet.runtime.platform.events.model import Event, EventBus, utcnow
from storefleet.runtime.platform.events.outbox import InProcessEventBus
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry import tracing

log = logging.getLogger(__name__)

TransactionalHandler = Callable[[Event, AsyncSession], Awaitable[None]]

EVENTS_HANDLED = Counter(
    "storefleet_events_handled_total",
    "Events a consumer finished with: applied, duplicate (skipped) or dead_letter",
    ["consumer", "outcome"],
)
EVENT_RETRIES = Counter(
    "storefleet_event_handler_retries_total",
    "Handler attempts that failed and were retried",
    ["consumer"],
)


class PermanentError(Exception):
    """Raised by a handler for an event that no retry can fix (dead-letter it now)."""


class DeadLettered(Exception):
    """An event that failed every attempt; carries the last error."""

    def __init__(self, event: Event | None, error: BaseException, attempts: int) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.event = event
        self.error = error
        self.attempts = attempts


class Consumer(Protocol):
    """What a bus adapter needs from a consumer."""

    @property
    def name(self) -> str: ...

    def handles(self, event_type: str) -> bool: ...

    def streams(self) -> list[str]: ...

    async def handle(self, event: Event) -> bool:
        """Apply the event (True), or skip a duplicate (False); raise DeadLettered."""
        ...


def processed_events_table(metadata: MetaData, name: str = "processed_events") -> Table:
    """Which events each consumer has applied; declared in the context's own metadata."""
    return Table(
        name,
        metadata,
        Column("event_id", String(64), nullable=False),
        Column("consumer", String(100), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("event_id", "consumer", name=f"pk_{name}"),
    )


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential: base, 2*base, 4*base, ... never above cap (attempt counts from 1)."""
    return float(min(cap, base * 2 ** (attempt - 1)))


@dataclass
class _Retry:
    consumer: str
    max_attempts: int = 5
    backoff: float = 0.5
    backoff_max: float = 10.0

    async def run(self, event: Event, attempt_once: Callable[[], Awaitable[bool]]) -> bool:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await attempt_once()
            except PermanentError as exc:
                raise DeadLettered(event, exc, attempt) from exc
            except Exception as exc:
                if attempt == self.max_attempts:
                    raise DeadLettered(event, exc, attempt) from exc
                EVENT_RETRIES.labels(self.consumer).inc()
                log.warning(
                    "event handler failed; retrying",
                    extra={"event_id": event.id, "event_type": event.type, "attempt": attempt},
                )
                await asyncio.sleep(backoff_delay(attempt, self.backoff, self.backoff_max))
        raise AssertionError("unreachable")


async def _counted(consumer: str, outcome: Awaitable[bool]) -> bool:
    try:
        applied = await outcome
    except DeadLettered:
        EVENTS_HANDLED.labels(consumer, "dead_letter").inc()
        raise
    EVENTS_HANDLED.labels(consumer, "applied" if applied else "duplicate").inc()
    return applied


def _streams(types: list[str]) -> list[str]:
    if "*" in types:
        return [stream for stream in STREAMS if stream != DEAD_LETTER]
    return sorted({stream_for(event_type) for event_type in types})


@dataclass
class IdempotentConsumer:
    """Handlers run in one transaction with the processed-event row."""

    name: str
    db: Database
    table: Table
    max_attempts: int = 5
    backoff: float = 0.5
    backoff_max: float = 10.0
    handlers: dict[str, list[TransactionalHandler]] = field(default_factory=dict)

    @classmethod
    def configured(
        cls, name: str, db: Database, table: Table, events: EventsSettings
    ) -> IdempotentConsumer:
        """A consumer that retries as the store's events settings say."""
        return cls(
            name,
            db,
            table,
            max_attempts=events.max_attempts,
            backoff=events.retry_backoff_seconds,
            backoff_max=events.retry_backoff_max_seconds,
        )

    def on(self, event_type: str, handler: TransactionalHandler) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    def handles(self, event_type: str) -> bool:
        return event_type in self.handlers or "*" in self.handlers

    def streams(self) -> list[str]:
        return _streams(list(self.handlers))

    async def apply(self, event: Event) -> bool:
        """One attempt: False if this consumer already applied the event."""
        t = self.table
        try:
            async with self.db.write() as session:
                seen = await session.execute(
                    select(t.c.event_id).where(t.c.event_id == event.id, t.c.consumer == self.name)
                )
                if seen.first() is not None:
                    return False
                for handler in [*self.handlers.get(event.type, ()), *self.handlers.get("*", ())]:
                    with tracing.handler_span(handler, event):
                        await handler(event, session)
                await session.execute(
                    t.insert().values(
                        event_id=event.id,
                        consumer=self.name,
                        event_type=event.type,
                        processed_at=utcnow(),
                    )
                )
        except IntegrityError:
            # A concurrent delivery of the same event committed first; if this
            # was not that, the handler's own constraint failed: let it retry.
            async with self.db.read() as session:
                seen = await session.execute(
                    select(t.c.event_id).where(t.c.event_id == event.id, t.c.consumer == self.name)
                )
                if seen.first() is not None:
                    return False
            raise
        return True

    async def handle(self, event: Event) -> bool:
        retry = _Retry(self.name, self.max_attempts, self.backoff, self.backoff_max)
        return await _counted(self.name, retry.run(event, lambda: self.apply(event)))

    async def purge(self, retention: timedelta = timedelta(days=30)) -> int:
        """Forget processed events older than the retention; returns how many.

        Keep it well above the topics' retention (3-14 days by plan): an event
        still on a topic must still be recognised if it comes again."""
        t = self.table
        async with self.db.write() as session:
            result = await session.execute(
                delete(t).where(t.c.consumer == self.name, t.c.processed_at < utcnow() - retention)
            )
            return int(cast(CursorResult[Any], result).rowcount)

    async def purge_forever(self, every_seconds: float = 3600.0) -> None:
        """:meth:`purge` now and every hour after, for the life of the service."""
        while True:
            try:
                await self.purge()
            except Exception:
                log.exception("purging processed events failed", extra={"consumer": self.name})
            await asyncio.sleep(every_seconds)


@dataclass
class PlainConsumer:
    """Handlers without a database (the bus's ``subscribe``): at least once, retried."""

    name: str
    max_attempts: int = 5
    backoff: float = 0.5
    backoff_max: float = 10.0
    handlers: dict[str, list[Callable[[Event], Awaitable[None]]]] = field(default_factory=dict)

    @classmethod
    def configured(cls, name: str, events: EventsSettings) -> PlainConsumer:
        """A consumer that retries as the store's events settings say."""
        return cls(
            name,
            max_attempts=events.max_attempts,
            backoff=events.retry_backoff_seconds,
            backoff_max=events.retry_backoff_max_seconds,
        )

    def on(self, event_type: str, handler: Callable[[Event], Awaitable[None]]) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    def handles(self, event_type: str) -> bool:
        return event_type in self.handlers or "*" in self.handlers

    def streams(self) -> list[str]:
        return _streams(list(self.handlers))

    async def _apply(self, event: Event) -> bool:
        for handler in [*self.handlers.get(event.type, ()), *self.handlers.get("*", ())]:
            with tracing.handler_span(handler, event):
                await handler(event)
        return True

    async def handle(self, event: Event) -> bool:
        retry = _Retry(self.name, self.max_attempts, self.backoff, self.backoff_max)
        return await _counted(self.name, retry.run(event, lambda: self._apply(event)))


def subscriber_group(handler: Callable[..., Any]) -> str:
    """``storefleet.runtime.catalog.app`` -> ``catalog``: the consumer a bus's
    ``subscribe`` files a handler under (one per context)."""
    parts = getattr(handler, "__module__", "").split(".")
    if len(parts) >= 3 and parts[:2] == ["storefleet", "runtime"]:
        return parts[2]
    return parts[-1] or "subscriber"


class ConsumerHost(Protocol):
    """A bus that runs consumers itself (Kafka, Redis Streams: one consumer group each)."""

    def add_consumer(self, consumer: Consumer) -> None: ...


class InProcessFeed:
    """Feeds one consumer from the in-process bus, through a queue of its own.

    The bus calls subscribers inline, from inside the publishing relay's
    transaction; handling there could wait on that very transaction (two
    contexts sharing one SQLite file). So delivery only enqueues, and a worker
    task applies events in order once the relay has moved on."""

    def __init__(self, bus: InProcessEventBus, consumer: Consumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def deliver(self, event: Event) -> None:
        if not self.consumer.handles(event.type):
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name=f"consumer-{self.consumer.name}")
        self._queue.put_nowait(event)

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                with tracing.consume_span(
                    event,
                    system=tracing.INPROCESS,
                    destination=stream_or_type(event.type),
                    consumer=self.consumer.name,
                ) as span:
                    try:
                        await self.consumer.handle(event)
                    except DeadLettered as dead:
                        span.record_exception(dead.error)
                        span.set_status(trace.Status(trace.StatusCode.ERROR, str(dead)))
                        log.error(
                            "event dead-lettered",
                            extra={
                                "event_id": event.id,
                                "consumer": self.consumer.name,
                                "error": str(dead),
                            },
                        )
                        self.bus.dead_letters.append((self.consumer.name, event, str(dead)))
            except Exception:
                # Recorded on the span as it left it; the worker goes on.
                log.exception("consumer %s failed on %s", self.consumer.name, event.id)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every delivered event has been handled."""
        await self._queue.join()

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


def attach_consumer(bus: EventBus, consumer: Consumer) -> InProcessFeed | None:
    """Feed a consumer from a bus: its own consumer group on Kafka or Redis
    Streams (returns None; the bus runs it); on the in-process bus a queued subscription (dead
    letters are logged and kept in ``bus.dead_letters``)."""
    add = getattr(bus, "add_consumer", None)
    if add is not None:
        add(consumer)
        return None
    if not isinstance(bus, InProcessEventBus):
        raise TypeError(f"cannot feed a consumer from {type(bus).__name__}")
    feed = InProcessFeed(bus, consumer)
    # Delivery only queues the event; the worker's span is the consumer span.
    bus.subscribe("*", feed.deliver, traced=False)
    return feed


# -- one record off a bus ----------------------------------------------------


class Delivery(StrEnum):
    """What became of one record a bus handed a consumer."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    # An event of a type this consumer has no handler for.
    NOT_HANDLED = "not_handled"


@dataclass(frozen=True)
class Origin:
    """Where a record was read, for its CONSUMER span."""

    system: str
    destination: str
    group: str
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


DeadLetter = Callable[[BaseException, int], Awaitable[None]]


@contextlib.asynccontextmanager
async def _nothing_held() -> Any:
    yield


async def consume_record(
    consumer: Consumer,
    payload: bytes | None,
    origin: Origin,
    dead_letter: DeadLetter,
    held: Callable[[], AbstractAsyncContextManager[None]] = _nothing_held,
) -> Delivery:
    """Decode a record and hand it to the consumer under a CONSUMER span.

    What every bus does with a record it read: a malformed envelope goes to
    `dead_letter` (error, attempts) at once, an event the consumer does not
    handle is passed over, and an event whose handler gave up after its retries
    is dead-lettered with its error on the span. `held` surrounds the handling
    (Redis keeps the entry claimed meanwhile). Acknowledging or committing is
    left to the bus."""
    try:
        event = decode(payload)
    except EnvelopeError as exc:
        await dead_letter(exc, 1)
        return Delivery.DEAD_LETTERED
    if not consumer.handles(event.type):
        return Delivery.NOT_HANDLED
    with tracing.consume_span(
        event,
        system=origin.system,
        destination=origin.destination,
        consumer=origin.group,
        attributes=origin.attributes,
    ) as span:
        try:
            async with held():
                applied = await consumer.handle(event)
        except DeadLettered as dead:
            span.record_exception(dead.error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(dead)))
            await dead_letter(dead.error, dead.attempts)
            return Delivery.DEAD_LETTERED
    return Delivery.APPLIED if applied else Delivery.DUPLICATE
