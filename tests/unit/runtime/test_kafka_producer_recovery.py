"""A producer Kafka has stopped accepting is replaced, not kept until the pod restarts.

After a broker restart an idempotent producer can get ``OutOfOrderSequenceNumber``
for every send from then on (its sequence numbers no longer match what the
broker remembers). The bus must drop it so the relay's next pass starts a new
one; the outbox keeps the unsent events meanwhile. The producer here stands in
for aiokafka's only to play back the error: against the real broker the error
shows in about one Kafka restart test run in fifteen (tests/e2e), too rarely to
provoke on purpose.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber

from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.kafka import KafkaEventBus
from storefleet.runtime.platform.events.outbox import Event


class RefusingProducer:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.stopped = False

    async def send(self, topic: str, **record: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(self.error)
        return future

    async def send_and_wait(self, topic: str, **record: Any) -> None:
        raise self.error

    async def stop(self) -> None:
        self.stopped = True


def _bus(producer: RefusingProducer) -> KafkaEventBus:
    bus = KafkaEventBus(EventsSettings(bootstrap_servers="127.0.0.1:9", create_topics=False))
    bus._producer = producer  # type: ignore[assignment]
    return bus


def test_a_producer_out_of_sequence_is_dropped_and_the_send_reported_failed() -> None:
    producer = RefusingProducer(OutOfOrderSequenceNumber())
    bus = _bus(producer)
    outcomes = asyncio.run(bus.publish_many([Event("order.paid", {"order_id": "o-1"})]))
    assert isinstance(outcomes[0], OutOfOrderSequenceNumber)
    assert producer.stopped
    assert bus._producer is None  # the next send starts a new producer


def test_a_single_publish_drops_it_too() -> None:
    producer = RefusingProducer(OutOfOrderSequenceNumber())
    bus = _bus(producer)
    try:
        asyncio.run(bus.publish(Event("order.paid", {"order_id": "o-2"})))
    except OutOfOrderSequenceNumber:
        pass
    else:
        raise AssertionError("the refused send was reported as sent")
    assert bus._producer is None


def test_a_broker_that_is_merely_away_keeps_the_producer() -> None:
    # A timeout while the broker is down heals by itself: the producer stays.
    producer = RefusingProducer(KafkaTimeoutError())
    bus = _bus(producer)
    outcomes = asyncio.run(bus.publish_many([Event("order.paid", {"order_id": "o-3"})]))
    assert isinstance(outcomes[0], KafkaTimeoutError)
    assert bus._producer is producer
    assert not producer.stopped
