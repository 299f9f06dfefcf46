"""The in-process bus and the transactional outbox that feeds every bus.

The event model itself (``Event``, ``Handler``, the ``EventBus`` protocol) is
in :mod:`.model`; which bus a service gets is :mod:`.backends`.

A state change and the event announcing it are written in one database
transaction (the outbox row); a relay publishes outbox rows afterwards. So an
event is never lost when the process dies after the commit, and never sent for
a change that was rolled back. Delivery is at least once: handlers must be
idempotent, and every event carries a unique id to make that easy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import SchemaItem

from storefleet.runtime.platform.events.envelope import stream_or_type
from storefleet.runtime.platform.events.model import (
    Event,
    EventBus,
    Handler,
    StartableBus,
    utcnow,
)
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry import business_metrics, tracing

# The event model lives in events.model (a leaf); re-exported here, where the
# services and the outbox's callers have always imported it.
__all__ = [
    "Event",
    "EventBus",
    "Handler",
    "InProcessEventBus",
    "OutboxRelay",
    "StartableBus",
    "enqueue",
    "outbox_table",
    "trace_context_columns",
    "utcnow",
]

log = logging.getLogger(__name__)


class InProcessEventBus:
    """Delivers to subscribers in this process; ``*`` subscribes to everything.

    A failing handler is logged and does not stop the others: one consumer's bug
    must not block another consumer's events.
    """

    def __init__(self, history: int = 1000) -> None:
        # (handler, traced) per event type.
        self._handlers: dict[str, list[tuple[Handler, bool]]] = defaultdict(list)
        self.recent: deque[Event] = deque(maxlen=history)
        # (consumer, event, error) of events a consumer gave up on.
        self.dead_letters: deque[tuple[str, Event, str]] = deque(maxlen=history)

    def subscribe(self, event_type: str, handler: Handler, *, traced: bool = True) -> None:
        """``traced=False``: the handler only queues the event, and whoever
        handles it later opens the consumer span (see consumer.InProcessFeed)."""
        self._handlers[event_type].append((handler, traced))

    async def publish(self, event: Event) -> None:
        destination = _destination(event)
        # Subscribers get the event carrying the publish span's context.
        with tracing.publish_span(event, system=tracing.INPROCESS, destination=destination) as sent:
            self.recent.append(sent)
            subscribers = [*self._handlers.get(sent.type, ()), *self._handlers.get("*", ())]
            for handler, traced in subscribers:
                try:
                    if not traced:
                        await handler(sent)
                        continue
                    with tracing.consume_span(
                        sent,
                        system=tracing.INPROCESS,
                        destination=destination,
                        consumer=tracing.handler_name(handler),
                    ):
                        await handler(sent)
                except Exception:
                    log.exception("event handler failed", extra={"event_type": sent.type})


def _destination(event: Event) -> str:
    """The stream an event travels on in-process (its topic's suffix on Kafka)."""
    destination: str = stream_or_type(event.type)
    return destination


def trace_context_columns() -> list[Column[Any]]:
    """The outbox's ``traceparent`` and ``tracestate`` columns (nullable: rows
    written outside any trace, or before the columns existed, have none).
    Shared by :func:`outbox_table` and the migrations that add them
    (:mod:`storefleet.runtime.platform.events.trace_migrations`)."""
    return [
        Column("traceparent", String(tracing.TRACEPARENT_MAX), nullable=True),
        Column("tracestate", String(tracing.TRACESTATE_MAX), nullable=True),
    ]


def outbox_table(metadata: MetaData, name: str = "outbox", *, envelope: bool = False) -> Table:
    """The outbox table, declared in each context's own metadata and migrations.

    ``envelope=True`` adds ``data_version`` and ``partition_key`` (both
    nullable), so events with a payload version above 1 or an explicit key
    keep them on their way to the bus; without them :func:`enqueue` refuses
    such events rather than publish them as version 1.

    Every outbox keeps the trace context of the transaction that wrote the
    event (:func:`trace_context_columns`), so the event continues its trace."""
    extra: list[SchemaItem] = [*trace_context_columns()]
    if envelope:
        extra += [
            Column("data_version", Integer, nullable=True),
            Column("partition_key", String(200), nullable=True),
        ]
    return Table(
        name,
        metadata,
        Column("id", String(32), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("source", String(100), nullable=False, default=""),
        Column("payload", JSON, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        *extra,
        Index(f"ix_{name}_unpublished", "published_at", "occurred_at"),
    )


async def enqueue(session: AsyncSession, table: Table, event: Event) -> None:
    """Record an event in the caller's transaction; it is published after commit.

    The trace context active here (the request's span) goes with the event,
    unless the event already names one."""
    values: dict[str, Any] = {
        "id": event.id,
        "event_type": event.type,
        "source": event.source,
        "payload": event.payload,
        "occurred_at": event.occurred_at,
        "attempts": 0,
    }
    if "data_version" in table.c:
        values.update(data_version=event.version, partition_key=event.key or None)
    elif event.version != 1 or event.key:
        raise ValueError(
            f"outbox {table.name!r} cannot carry a payload version or key: "
            "declare it with outbox_table(..., envelope=True)"
        )
    if "traceparent" in table.c:
        traceparent, tracestate = event.traceparent, event.tracestate
        if traceparent is None:
            traceparent, tracestate = tracing.trace_context()
        elif len(traceparent) > tracing.TRACEPARENT_MAX:
            # Not a traceparent anyone could continue; never fail the write for it.
            traceparent, tracestate = None, None
        if tracestate is not None and len(tracestate) > tracing.TRACESTATE_MAX:
            tracestate = None
        values.update(traceparent=traceparent, tracestate=tracestate)
    await session.execute(table.insert().values(**values))


class OutboxRelay:
    """Moves committed outbox rows onto the bus.

    Runs as a background task polling every ``interval`` seconds; ``wake()`` makes
    it run at once, which services call right after committing an event so
    subscribers see it in milliseconds rather than at the next poll.
    """

    def __init__(
        self,
        db: Database,
        table: Table,
        bus: EventBus,
        *,
        interval: float = 1.0,
        batch_size: int = 100,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._retention = retention
        self._purged_at = time.monotonic()
        self._db = db
        self._table = table
        self._bus = bus
        self._interval = interval
        self._batch = batch_size
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # A bus with its own connections (Kafka, Redis Streams) keeps order,
        # so a failed send holds back the rest of the batch.
        self._ordered = hasattr(bus, "start")

    async def run_once(self) -> int:
        """Publish one batch; returns how many events went out."""
        t = self._table
        async with self._lock, self._db.write() as session:
            query = (
                select(t)
                .where(t.c.published_at.is_(None))
                .order_by(t.c.occurred_at)
                .limit(self._batch)
            )
            if self._db.is_postgres:
                # Several replicas relay the same outbox; each row goes to one of them.
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).mappings().all()
            events = [
                Event(
                    type=row["event_type"],
                    payload=row["payload"],
                    source=row["source"],
                    id=row["id"],
                    occurred_at=row["occurred_at"],
                    version=row.get("data_version") or 1,
                    key=row.get("partition_key") or "",
                    traceparent=row.get("traceparent"),
                    tracestate=row.get("tracestate"),
                )
                for row in rows
            ]
            published: list[str] = []
            publish_many = getattr(self._bus, "publish_many", None)
            if publish_many is not None and events:
                # Kafka, Redis: the whole batch in flight at once; acknowledged in order.
                outcomes: list[BaseException | None] = await publish_many(events)
                for event, error in zip(events, outcomes, strict=True):
                    if error is not None:
                        log.error(
                            "publishing outbox event failed: %s",
                            error,
                            extra={"event_id": event.id},
                        )
                        await session.execute(
                            update(t).where(t.c.id == event.id).values(attempts=t.c.attempts + 1)
                        )
                        # Later events of the batch wait for the next pass, so
                        # none overtakes this one (those already sent go again;
                        # consumers skip what they have applied).
                        break
                    published.append(event.id)
                    business_metrics.observe(event)
                events = []
            for event in events:
                try:
                    await self._bus.publish(event)
                except Exception:
                    log.exception("publishing outbox event failed", extra={"event_id": event.id})
                    await session.execute(
                        update(t).where(t.c.id == event.id).values(attempts=t.c.attempts + 1)
                    )
                    if self._ordered:
                        # A later event of the same aggregate must not overtake
                        # this one: the rest waits for the next pass.
                        break
                    continue
                published.append(event.id)
                business_metrics.observe(event)
            if published:
                await session.execute(
                    update(t).where(t.c.id.in_(published)).values(published_at=utcnow())
                )
            return len(published)

    async def purge(self, now: datetime | None = None) -> int:
        """Forget events published longer ago than the retention; returns how many.

        The outbox is a hand-over point, not an archive: without this it grows
        by one row per state change for ever."""
        t = self._table
        cutoff = (now or utcnow()) - self._retention
        async with self._db.write() as session:
            result = await session.execute(
                delete(t).where(t.c.published_at.is_not(None), t.c.published_at < cutoff)
            )
            return int(cast(CursorResult[Any], result).rowcount)

    def wake(self) -> None:
        self._wakeup.set()

    async def _loop(self) -> None:
        while True:
            try:
                while await self.run_once() == self._batch:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed")
            if time.monotonic() - self._purged_at > 3600:
                self._purged_at = time.monotonic()
                try:
                    await self.purge()
                except Exception:
                    log.exception("outbox purge failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._interval)
            self._wakeup.clear()

    def start(self) -> None:
        if self._task is None:
            # Events without a stored context start their own trace, never
            # one of whatever started the relay.
            with tracing.detached():
                self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def _run(self) -> None:
        if self._ordered:
            # Kafka, Redis: open the bus's connections (and its subscribers'
            # consumers) with the service; the bus retries a server not up yet.
            await cast(StartableBus, self._bus).start()
        await self._loop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            if self._ordered:
                await cast(StartableBus, self._bus).stop()
