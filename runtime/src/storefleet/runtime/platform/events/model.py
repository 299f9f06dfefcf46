"""What an event is and what a bus promises: the vocabulary every events module shares.

A leaf: it imports nothing of Storefleet, so the outbox (:mod:`.outbox`), the
wire format (:mod:`.envelope`), tracing, the business counters and the
bus adapters (:mod:`.kafka`, :mod:`.redis_streams`) all build on it without
importing each other to name an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    type: str
    payload: dict[str, Any]
    source: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = field(default_factory=utcnow)
    # The version of this type's payload schema (``dataversion`` on the wire).
    version: int = 1
    # The aggregate id (Kafka record key); empty: taken from the payload
    # (order_id, cart_id, ...), see envelope.partition_key.
    key: str = ""
    # W3C trace context of the work that caused the event (the CloudEvents
    # distributed-tracing extension); None: the event starts its own trace.
    traceparent: str | None = None
    tracestate: str | None = None


Handler = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    def subscribe(self, event_type: str, handler: Handler) -> None: ...


class StartableBus(Protocol):
    """A bus with connections to open and close (Kafka, Redis Streams); the relay drives them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
