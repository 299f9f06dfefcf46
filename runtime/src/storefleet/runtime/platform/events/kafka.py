"""The Kafka event bus (aiokafka): the store's topics, consumer groups, dead letters.

Publishing: the record key is the aggregate id, so one order's events share a
partition and stay in order; the topic is the stream of the event's context
(``order.*`` -> ``store.<store>.orders``). The producer is idempotent with
``acks=all``: a retried send is not written twice by the broker, and a send
is acknowledged only once every in-sync replica has it. The outbox relay
marks an event published only after that acknowledgement.

Consuming: each consumer is its own consumer group, commits an offset only
after handling the record (at least once), retries a failing handler with
backoff and then writes the record, its original headers and the error to
``store.<store>.dead-letter`` before moving on. Duplicates (a retried publish,
a redelivery after a rebalance or a crash) are made harmless by the consumer
(see :mod:`.consumer`).

Tracing: each send is a PRODUCER span (under the context the event was
enqueued in) whose context travels in the envelope; each record handled is a
CONSUMER span under it (see :mod:`~storefleet.runtime.platform.telemetry.tracing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.helpers import create_ssl_context
from opentelemetry import trace

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
    STREAMS,
    encode,
    headers_for,
    partition_key,
    route,
    utcnow_iso,
)
from storefleet.runtime.platform.events.model import Event
from storefleet.runtime.platform.telemetry import tracing

log = logging.getLogger(__name__)
# An idempotent producer that meets one of these (a broker restarted and lost
# its producer state, say) refuses every later send too; only a new producer,
# with a new producer id, publishes again. The records are resent from the
# outbox, and consumers skip what they already applied.
PRODUCER_BROKEN: Final = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
    ProducerClosed,
)


def connection(settings: EventsSettings) -> dict[str, Any]:
    """How every client of the bus reaches the broker: its address and, when the
    store has a SCRAM user, SASL (the broker refuses what its ACLs do not allow)."""
    options: dict[str, Any] = {"bootstrap_servers": settings.bootstrap_servers}
    protocol = settings.security_protocol or (
        "SASL_PLAINTEXT" if settings.sasl_username else "PLAINTEXT"
    )
    options["security_protocol"] = protocol
    if protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password
    if protocol == "SASL_SSL":
        options["ssl_context"] = create_ssl_context()
    return options


async def ensure_topics(
    client: Mapping[str, Any],
    names: list[str],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    request_timeout: float = 10.0,
) -> list[str]:
    """Create the topics that are missing; returns those created. `client`: the
    connection options (see :func:`connection`)."""
    admin = AIOKafkaAdminClient(**client, request_timeout_ms=int(request_timeout * 1000))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name, num_partitions=partitions, replication_factor=replication_factor
                        )
                        for name in missing
                    ]
                )
        return missing
    finally:
        await admin.close()


class KafkaEventBus:
    def __init__(self, settings: EventsSettings) -> None:
        if not settings.bootstrap_servers:
            raise ValueError("the Kafka event bus needs STOREFLEET_EVENTS_BOOTSTRAP_SERVERS")
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._consumers: list[Consumer] = []
        self._plain: dict[str, PlainConsumer] = {}
        self._runners: dict[str, KafkaConsumerRunner] = {}
        self._users = 0
        self._topics_ready = False

    def topic(self, stream: str) -> str:
        return f"{self.settings.topic_prefix}{stream}"

    # -- publishing ---------------------------------------------------------

    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                await self._ensure_topics()
                producer = AIOKafkaProducer(
                    **connection(self.settings),
                    client_id=self.settings.client_id,
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=int(self.settings.request_timeout_seconds * 1000),
                    retry_backoff_ms=200,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _replace_producer_after(self, errors: list[BaseException | None]) -> None:
        """Drop the producer when an error shows it can no longer publish."""
        broken = next((e for e in errors if isinstance(e, PRODUCER_BROKEN)), None)
        if broken is None:
            return
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        log.warning("Kafka producer refused further sends (%r); starting a new one", broken)
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), self.settings.request_timeout_seconds)

    async def _ensure_topics(self) -> None:
        if self._topics_ready or not self.settings.create_topics:
            return
        await ensure_topics(
            connection(self.settings),
            [self.topic(stream) for stream in STREAMS],
            partitions=self.settings.topic_partitions,
            replication_factor=self.settings.topic_replication_factor,
            request_timeout=self.settings.request_timeout_seconds,
        )
        self._topics_ready = True

    def route(self, event: Event) -> tuple[str, list[tuple[str, bytes]]]:
        """The event's topic and headers. A type naming no stream goes by its
        source's stream, else to the dead-letter topic with the reason: an
        outbox row that can never be routed must not hold up those behind it."""
        topic, reason = self._route(event)
        return topic, headers_for(event) + reason

    def _route(self, event: Event) -> tuple[str, list[tuple[str, bytes]]]:
        """The topic, and the dead-letter headers when it is the dead-letter topic."""
        stream, reason = route(event)
        if not reason:
            return self.topic(stream), []
        log.error("event type has no stream: %s", reason, extra={"event_id": event.id})
        return self.topic(DEAD_LETTER), [("dlq_error", reason.encode()), ("dlq_consumer", b"relay")]

    def _start_send(self, event: Event) -> tuple[trace.Span, str, dict[str, Any]]:
        """The send's PRODUCER span, topic and ``send`` arguments; the record
        carries the span's context."""
        topic, reason = self._route(event)
        key = partition_key(event)
        span, traced = tracing.start_publish_span(
            event,
            system=tracing.KAFKA,
            destination=topic,
            attributes={tracing.MESSAGING_KAFKA_KEY: key},
        )
        return (
            span,
            topic,
            {
                "value": encode(traced, store=self.settings.store),
                "key": key.encode(),
                "headers": headers_for(traced) + reason,
            },
        )

    async def publish(self, event: Event) -> None:
        producer = await self._ensure_producer()
        span, topic, record = self._start_send(event)
        with trace.use_span(span, end_on_exit=True):
            try:
                await producer.send_and_wait(topic, **record)
            except Exception as exc:
                await self._replace_producer_after([exc])
                raise

    async def publish_many(self, events: list[Event]) -> list[BaseException | None]:
        """Send a batch without waiting for each acknowledgement in turn; the
        outcome of each, in order (None: acknowledged)."""
        try:
            producer = await self._ensure_producer()
        except Exception as exc:
            return [exc for _ in events]
        # Per event: its span and the broker's future, or why it was not sent.
        sends: list[tuple[trace.Span, asyncio.Future[Any]] | BaseException] = []
        for event in events:
            span: trace.Span | None = None
            try:
                span, topic, record = self._start_send(event)
                sends.append((span, await producer.send(topic, **record)))
            except Exception as exc:
                if span is not None:
                    tracing.end_with(span, exc)
                sends.append(exc)
        outcomes: list[BaseException | None] = []
        for sent in sends:
            if isinstance(sent, BaseException):
                outcomes.append(sent)
                continue
            span, future = sent
            error: BaseException | None = None
            try:
                await future
            except Exception as exc:
                error = exc
            # The span lasts until the broker acknowledged (or refused) the record.
            tracing.end_with(span, error)
            outcomes.append(error)
        await self._replace_producer_after(outcomes)
        return outcomes

    async def send_raw(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        producer = await self._ensure_producer()
        try:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except Exception as exc:
            await self._replace_producer_after([exc])
            raise

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
            runner = KafkaConsumerRunner(self, consumer)
            self._runners[consumer.name] = runner
            runner.start()

    def runner(self, name: str) -> KafkaConsumerRunner:
        return self._runners[name]

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Start the consumers; the producer connects on first publish.

        Never raises for a broker that is down: consumers keep trying, and a
        publish that fails leaves its event in the outbox for the next pass."""
        self._users += 1
        if self._users > 1:
            return
        for consumer in self._consumers:
            self._start_runner(consumer)
        try:
            await self._ensure_producer()
        except (KafkaError, OSError) as exc:
            log.warning("Kafka is not reachable yet: %s", exc)

    async def stop(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users:
            return
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            await runner.stop()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()


class KafkaConsumerRunner:
    """One consumer group reading the streams its consumer handles."""

    def __init__(self, bus: KafkaEventBus, consumer: Consumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self.settings = bus.settings
        self.group_id = f"{self.settings.topic_prefix}{consumer.name}"
        self.topics = [bus.topic(stream) for stream in consumer.streams()]
        self._task: asyncio.Task[None] | None = None
        self.assigned = asyncio.Event()
        self.dead_lettered = 0
        self.applied = 0
        self.duplicates = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"kafka-consumer-{self.group_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _connect(self) -> AIOKafkaConsumer:
        attempt = 0
        while True:
            attempt += 1
            consumer = AIOKafkaConsumer(
                *self.topics,
                **connection(self.settings),
                group_id=self.group_id,
                client_id=f"{self.settings.client_id}-{self.consumer.name}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=30_000,
                request_timeout_ms=int(self.settings.request_timeout_seconds * 1000) + 30_000,
            )
            try:
                await self.bus._ensure_topics()
                await consumer.start()
                return consumer
            except asyncio.CancelledError:
                await consumer.stop()
                raise
            except (KafkaError, OSError) as exc:
                await consumer.stop()
                delay = backoff_delay(attempt, 0.5, 10.0)
                log.warning("Kafka consumer %s cannot start (%s); retrying", self.group_id, exc)
                await asyncio.sleep(delay)

    async def _run(self) -> None:
        """Consume until cancelled; an unexpected failure restarts the consumer
        (it resumes from the last committed offset) instead of ending it."""
        failures = 0
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("Kafka consumer %s failed; restarting it", self.group_id)
                await asyncio.sleep(backoff_delay(failures, 1.0, 30.0))

    async def _consume(self) -> None:
        consumer = await self._connect()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=100)
                if consumer.assignment():
                    self.assigned.set()
                for partition, records in batches.items():
                    for record in records:
                        await self._process(record)
                    # Handled, then committed: at least once. (A crash before
                    # this line redelivers the batch; applied events are skipped.)
                    await self._commit(consumer, partition, records[-1].offset + 1)
        finally:
            await consumer.stop()

    async def _commit(
        self, consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int
    ) -> None:
        try:
            await consumer.commit({partition: offset})
        except KafkaError as exc:
            # The next commit covers this offset; if the partition moved to
            # another member it redelivers, and the consumer skips duplicates.
            log.warning("committing offset %s of %s failed: %s", offset, partition, exc)

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        origin = Origin(
            system=tracing.KAFKA,
            destination=record.topic,
            group=self.group_id,
            attributes={
                tracing.MESSAGING_PARTITION: str(record.partition),
                tracing.MESSAGING_KAFKA_OFFSET: record.offset,
                tracing.MESSAGING_KAFKA_KEY: (record.key or b"").decode(errors="replace"),
            },
        )

        async def dead_letter(error: BaseException, attempts: int) -> None:
            await self._dead_letter(record, error, attempts=attempts)

        delivery = await consume_record(self.consumer, record.value, origin, dead_letter)
        if delivery is Delivery.APPLIED:
            self.applied += 1
        elif delivery is Delivery.DUPLICATE:
            self.duplicates += 1

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: BaseException, *, attempts: int
    ) -> None:
        headers = [
            *[(name, bytes(value)) for name, value in (record.headers or ())],
            ("dlq_error", f"{type(error).__name__}: {error}"[:2000].encode()),
            ("dlq_consumer", self.consumer.name.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_failed_at", utcnow_iso().encode()),
        ]
        log.error(
            "event dead-lettered",
            extra={"consumer": self.consumer.name, "topic": record.topic, "error": str(error)},
        )
        attempt = 0
        while True:
            # The record is only let go once the dead-letter topic has it.
            attempt += 1
            try:
                await self.bus.send_raw(
                    self.bus.topic(DEAD_LETTER), record.value, record.key, headers
                )
                self.dead_lettered += 1
                return
            except (KafkaError, OSError) as exc:
                log.warning("writing to the dead-letter topic failed (%s); retrying", exc)
                await asyncio.sleep(backoff_delay(attempt, 0.5, 10.0))
