"""The Redis Streams event bus (redis.asyncio): for a Store with Redis but no Kafka.

It keeps the Kafka bus's contract (:mod:`.kafka`), so services and
consumers cannot tell the two apart:

Streams: one per context stream, keyed ``<redis_key_prefix><topic_prefix><stream>``
(``acme:store.acme.orders``; the key prefix is the cache's, the one the store's
Redis user may touch). An entry holds the CloudEvents envelope (field
``envelope``), the aggregate id (``key``) and the ``ce_*`` attributes Kafka
sends as headers, so ``XRANGE`` shows what an entry is without parsing it.
Every XADD trims the stream to about ``redis_max_len`` entries (``MAXLEN ~``):
Redis memory stays bounded, and an entry older than that is gone whether or
not every consumer has read it.

Publishing: a relay's batch is one pipeline of XADDs; the outbox relay marks an
event published only once its XADD returned an entry id. Redis has no
idempotent producer: a send retried after a lost answer may add an entry
twice, and consumers skip the second.

Consuming: each consumer is a consumer group named after it (``notifications``)
on every stream it reads, created at id ``0``: like a new Kafka group starting
at ``earliest``, a consumer that appears later still reads whatever the streams
hold. Each process is one member of the group (``<hostname>-<pid>``); it reads
with XREADGROUP BLOCK and acknowledges (XACK) an entry only once its consumer
handled it, or it went to the ``dead-letter`` stream (the original fields, plus
the error) after the consumer's retries. Pending entries are never lost with a
pod: a member first takes back its own (a restarted container keeps its
name), and every half ``redis_claim_idle_seconds`` it claims (XAUTOCLAIM) those
another member read and left that long unacknowledged. While an entry is being
handled its idle time is reset, so slow retries are not claimed away.

Order: a stream is one total order and a member handles what it reads in that
order. Replicas of one consumer share a stream's entries between them, and a
claimed entry arrives late; so, unlike Kafka's per-key partitions, events of
one aggregate keep their order only while one replica consumes them.

Tracing: PRODUCER and CONSUMER spans as on Kafka, ``messaging.system``
``redis_streams``, the stream key as the destination (see
:mod:`~storefleet.runtime.platform.telemetry.tracing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import redis.asyncio as aioredis
from opentelemetry import trace
from redis.exceptions import RedisError, ResponseError

from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.consumer import (
    Consumer,
    Delivery,
    Origin,
    PlainConsumer,
    backoff_delay,
    consume_record,
    subscriber_group,
)
from storefleet.runtime.platform.events.envelope import (
    DEAD_LETTER,
    encode,
    headers_for,
    partition_key,
    route,
    utcnow_iso,
)
from storefleet.runtime.platform.events.model import Event
from storefleet.runtime.platform.telemetry import tracing

log = logging.getLogger(__name__)

# The fields of an entry besides the ``ce_*`` attributes.
ENVELOPE: Final = b"envelope"
KEY: Final = b"key"
# Entries read, or claimed, per call.
BATCH: Final = 100
# A member that has had nothing pending and not been seen for this long is
# gone (a pod replaced by a rollout); it is removed from the group.
FORGET_MEMBER_AFTER_SECONDS: Final = 3600.0

Fields = dict[bytes, bytes]


def member_name() -> str:
    """This process's name in every consumer group: one per pod and process."""
    return f"{socket.gethostname()}-{os.getpid()}"


class RedisEventBus:
    def __init__(self, settings: EventsSettings, *, member: str | None = None) -> None:
        url = settings.resolved_redis_url()
        if not url:
            raise ValueError(
                "the Redis Streams event bus needs STOREFLEET_EVENTS_REDIS_URL "
                "or a redis:// STOREFLEET_CACHE_URL"
            )
        self.settings = settings
        self.member = member or member_name()
        timeout = settings.request_timeout_seconds
        # A blocked read holds its connection for redis_block_seconds.
        self.redis = aioredis.from_url(
            url,
            socket_timeout=timeout + settings.redis_block_seconds,
            socket_connect_timeout=timeout,
        )
        self._consumers: list[Consumer] = []
        self._plain: dict[str, PlainConsumer] = {}
        self._runners: dict[str, RedisConsumerRunner] = {}
        self._users = 0

    def key(self, stream: str) -> str:
        return f"{self.settings.redis_key_prefix}{self.settings.topic_prefix}{stream}"

    async def add(self, key: str, fields: Mapping[bytes, bytes]) -> bytes:
        """XADD one entry, trimming the stream; returns its id."""
        entry_id: Any = await self.redis.xadd(
            key, _values(fields), maxlen=self.settings.redis_max_len, approximate=True
        )
        return bytes(entry_id)

    # -- publishing ---------------------------------------------------------

    def _start_add(self, event: Event) -> tuple[trace.Span, str, Fields]:
        """The XADD's PRODUCER span, stream key and fields; the entry carries
        the span's context."""
        stream, reason = route(event)
        key = self.key(stream)
        span, traced = tracing.start_publish_span(
            event, system=tracing.REDIS_STREAMS, destination=key
        )
        try:
            fields: Fields = {
                KEY: partition_key(traced).encode(),
                ENVELOPE: encode(traced, store=self.settings.store),
            }
        except Exception as exc:
            tracing.end_with(span, exc)
            raise
        fields.update((name.encode(), value) for name, value in headers_for(traced))
        if reason:
            log.error("event type has no stream: %s", reason, extra={"event_id": event.id})
            fields.update({b"dlq_error": reason.encode(), b"dlq_consumer": b"relay"})
        return span, key, fields

    async def publish(self, event: Event) -> None:
        span, key, fields = self._start_add(event)
        with trace.use_span(span, end_on_exit=True):
            await self.add(key, fields)

    async def publish_many(self, events: list[Event]) -> list[BaseException | None]:
        """XADD a batch in one round trip; the outcome of each, in order
        (None: Redis has it)."""
        # Per event: its span, or why it could not be sent.
        started: list[trace.Span | BaseException] = []
        queued = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                try:
                    span, key, fields = self._start_add(event)
                except Exception as exc:
                    started.append(exc)
                    continue
                pipe.xadd(
                    key, _values(fields), maxlen=self.settings.redis_max_len, approximate=True
                )
                started.append(span)
                queued += 1
            try:
                replies: list[Any] = await pipe.execute(raise_on_error=False) if queued else []
            except Exception as exc:
                # Redis unreachable: none of them is known to have arrived.
                replies = [exc] * queued
        outcomes: list[BaseException | None] = []
        answers = iter(replies)
        for sent in started:
            if isinstance(sent, BaseException):
                outcomes.append(sent)
                continue
            reply = next(answers)
            error = reply if isinstance(reply, BaseException) else None
            tracing.end_with(sent, error)
            outcomes.append(error)
        return outcomes

    # -- consuming ----------------------------------------------------------

    def subscribe(self, event_type: str, handler: Callable[[Event], Awaitable[None]]) -> None:
        """A handler without a database; its context is its consumer group."""
        group = subscriber_group(handler)
        consumer = self._plain.get(group)
        if consumer is None:
            consumer = PlainConsumer.configured(group, self.settings)
            self._plain[group] = consumer
            self.add_consumer(consumer)
        consumer.on(event_type, handler)

    def add_consumer(self, consumer: Consumer) -> None:
        self._consumers.append(consumer)
        if self._users:
            self._start_runner(consumer)

    def _start_runner(self, consumer: Consumer) -> None:
        if consumer.name not in self._runners:
            runner = RedisConsumerRunner(self, consumer)
            self._runners[consumer.name] = runner
            runner.start()

    def runner(self, name: str) -> RedisConsumerRunner:
        return self._runners[name]

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Start the consumers. Never raises for a Redis that is down:
        consumers keep trying, and a publish that fails leaves its event in
        the outbox for the next pass."""
        self._users += 1
        if self._users > 1:
            return
        for consumer in self._consumers:
            self._start_runner(consumer)
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            log.warning("Redis is not reachable yet: %s", exc)

    async def stop(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users:
            return
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            await runner.stop()
        await self.redis.aclose()


class RedisConsumerRunner:
    """One consumer group, this process one member of it, on the streams its
    consumer handles."""

    def __init__(self, bus: RedisEventBus, consumer: Consumer) -> None:
        self.bus = bus
        self.redis = bus.redis
        self.consumer = consumer
        self.settings = bus.settings
        self.group = consumer.name
        self.keys = [bus.key(stream) for stream in consumer.streams()]
        self._task: asyncio.Task[None] | None = None
        # Set once the groups exist: from then on nothing published is missed.
        self.ready = asyncio.Event()
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.claimed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"redis-consumer-{self.group}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        """Consume until cancelled; a failure (Redis down, a stream deleted)
        starts over, and what was read but not acknowledged is read again."""
        failures = 0
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _stop_if_cancelling(exc)
                failures += 1
                log.warning("Redis consumer %s failed (%r); restarting it", self.group, exc)
                await asyncio.sleep(backoff_delay(failures, 0.5, 10.0))

    async def _consume(self) -> None:
        await self._create_groups()
        self.ready.set()
        await self._take_back_own()
        loop = asyncio.get_running_loop()
        claim_every = self.settings.redis_claim_idle_seconds / 2
        claim_at = loop.time()
        while True:
            if loop.time() >= claim_at:
                for key in self.keys:
                    await self._claim_stale(key)
                    await self._forget_departed(key)
                claim_at = loop.time() + claim_every
            await self._read_new(block=min(claim_every, self.settings.redis_block_seconds))

    async def _create_groups(self) -> None:
        for key in self.keys:
            try:
                await self.redis.xgroup_create(key, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _take_back_own(self) -> None:
        """What this member read before it restarted and never acknowledged."""
        cursors: dict[Any, Any] = {key: "0" for key in self.keys}
        while cursors:
            reply: Any = await self.redis.xreadgroup(
                self.group, self.bus.member, cursors, count=BATCH
            )
            for key, entries in _by_stream(reply):
                if not entries:
                    cursors.pop(key, None)
                    continue
                for entry_id, fields in entries:
                    await self._process(key, entry_id, fields)
                cursors[key] = entries[-1][0]

    async def _read_new(self, *, block: float) -> None:
        streams: dict[Any, Any] = dict.fromkeys(self.keys, ">")
        reply: Any = await self.redis.xreadgroup(
            self.group,
            self.bus.member,
            streams,
            count=BATCH,
            block=max(1, int(block * 1000)),
        )
        for key, entries in _by_stream(reply):
            for entry_id, fields in entries:
                await self._process(key, entry_id, fields)

    async def _claim_stale(self, key: str) -> None:
        """Entries other members read and left unacknowledged too long (their pod died)."""
        idle = int(self.settings.redis_claim_idle_seconds * 1000)
        start: Any = "0-0"
        while True:
            reply: Any = await self.redis.xautoclaim(
                key, self.group, self.bus.member, idle, start_id=start, count=BATCH
            )
            cursor, entries = reply[0], reply[1]
            for entry_id, fields in entries:
                if entry_id is None:
                    continue  # Redis 6.2: trimmed away (7.0 leaves these out)
                self.claimed += 1
                log.info(
                    "claimed an entry left pending",
                    extra={"consumer": self.group, "stream": key, "entry_id": _text(entry_id)},
                )
                await self._process(key, entry_id, fields)
            if _text(cursor) == "0-0":
                return
            start = cursor

    async def _forget_departed(self, key: str) -> None:
        """Drop members gone for good, so the group does not list every pod
        that ever ran. Only those with nothing pending: removing a member
        drops its pending entries."""
        forget_after = int(FORGET_MEMBER_AFTER_SECONDS * 1000)
        members: list[dict[str, Any]] = await self.redis.xinfo_consumers(key, self.group)
        for member in members:
            name = _text(member["name"])
            if name != self.bus.member and not member["pending"] and member["idle"] > forget_after:
                await self.redis.xgroup_delconsumer(key, self.group, name)

    async def _process(self, key: str, entry_id: bytes, fields: Fields | None) -> None:
        if not fields:
            # Trimmed away (MAXLEN) after it was read: nothing is left to handle.
            await self._ack(key, entry_id)
            return
        origin = Origin(
            system=tracing.REDIS_STREAMS,
            destination=key,
            group=self.group,
            attributes={tracing.MESSAGING_REDIS_ENTRY_ID: _text(entry_id)},
        )

        async def dead_letter(error: BaseException, attempts: int) -> None:
            await self._dead_letter(key, entry_id, fields, error, attempts=attempts)

        delivery = await consume_record(
            self.consumer,
            fields.get(ENVELOPE),
            origin,
            dead_letter,
            held=lambda: self._held(key, entry_id),
        )
        if delivery is Delivery.APPLIED:
            self.applied += 1
        elif delivery is Delivery.DUPLICATE:
            self.duplicates += 1
        # Handled (or dead-lettered, or not this consumer's), then acknowledged:
        # at least once.
        await self._ack(key, entry_id)

    @contextlib.asynccontextmanager
    async def _held(self, key: str, entry_id: bytes) -> AsyncIterator[None]:
        """Keeps an entry this member's while it is handled: its idle time is
        reset well before another member would claim it."""
        every = self.settings.redis_claim_idle_seconds / 3

        async def touch() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await self.redis.xclaim(
                        key, self.group, self.bus.member, 0, [entry_id], justid=True
                    )
                except (RedisError, OSError) as exc:
                    _stop_if_cancelling(exc)
                    log.warning("keeping entry %s failed: %s", _text(entry_id), exc)

        keeper = asyncio.create_task(touch(), name=f"redis-hold-{self.group}")
        try:
            yield
        finally:
            keeper.cancel()
            # However it ends: its outcome must not replace this task's own.
            await asyncio.wait([keeper])

    async def _ack(self, key: str, entry_id: bytes) -> None:
        await self.redis.xack(key, self.group, entry_id)

    async def _dead_letter(
        self,
        key: str,
        entry_id: bytes,
        fields: Fields,
        error: BaseException,
        *,
        attempts: int,
    ) -> None:
        entry: Fields = {
            **fields,
            b"dlq_error": f"{type(error).__name__}: {error}"[:2000].encode(),
            b"dlq_consumer": self.consumer.name.encode(),
            b"dlq_attempts": str(attempts).encode(),
            b"dlq_original_stream": key.encode(),
            b"dlq_original_id": entry_id,
            b"dlq_failed_at": utcnow_iso().encode(),
        }
        log.error(
            "event dead-lettered",
            extra={"consumer": self.consumer.name, "stream": key, "error": str(error)},
        )
        attempt = 0
        while True:
            # The entry is only acknowledged once the dead-letter stream has it.
            attempt += 1
            try:
                await self.bus.add(self.bus.key(DEAD_LETTER), entry)
                self.dead_lettered += 1
                return
            except (RedisError, OSError) as exc:
                _stop_if_cancelling(exc)
                log.warning("writing to the dead-letter stream failed (%s); retrying", exc)
                await asyncio.sleep(backoff_delay(attempt, 0.5, 10.0))


def _stop_if_cancelling(error: BaseException) -> None:
    """Re-raise a cancellation that came back as an error. A redis-py call
    interrupted by ``Task.cancel()`` may raise a TimeoutError or ConnectionError
    instead; a loop that retries those would then never stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from error


def _by_stream(reply: Any) -> list[tuple[str, list[tuple[bytes, Fields]]]]:
    """What XREADGROUP answered, per stream key: its entries, each with its
    fields (none: trimmed away since it was read). redis-py answers a list of
    pairs, or a mapping when asked for RESP3."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [(_text(name), entries) for name, entries in pairs]


def _values(fields: Mapping[bytes, bytes]) -> dict[Any, Any]:
    """Fields as redis-py's (invariant) XADD signature takes them."""
    return dict(fields)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
