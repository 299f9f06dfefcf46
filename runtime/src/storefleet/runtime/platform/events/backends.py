"""Which bus a service gets: the backends table and the factory that reads it.

Above every bus implementation (in-process, Kafka, Redis Streams) and imported
by nothing below them, so choosing a bus never ties the buses to each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from storefleet.runtime.platform.config.settings import BusKind, EventsSettings
from storefleet.runtime.platform.events.model import EventBus
from storefleet.runtime.platform.events.outbox import InProcessEventBus


def _kafka(events: EventsSettings) -> EventBus:
    # Imported when chosen, for load cost alone: an embedded shop or an
    # in-process bus loads neither client library (aiokafka, redis).
    from storefleet.runtime.platform.events.kafka import KafkaEventBus

    return KafkaEventBus(events)


def _redis(events: EventsSettings) -> EventBus:
    # Imported when chosen: see _kafka.
    from storefleet.runtime.platform.events.redis_streams import RedisEventBus

    return RedisEventBus(events)


def _inprocess(_: EventsSettings) -> EventBus:
    return InProcessEventBus()


@dataclass(frozen=True)
class BusBackend:
    name: BusKind
    # Whether the settings name this backend's servers (what ``auto`` asks).
    configured: Callable[[EventsSettings], bool]
    build: Callable[[EventsSettings], EventBus]


# ``auto`` takes the first row whose servers are configured.
BACKENDS: Final = (
    BusBackend("kafka", lambda events: bool(events.bootstrap_servers), _kafka),
    BusBackend("redis", lambda events: bool(events.resolved_redis_url()), _redis),
    BusBackend("inprocess", lambda _: True, _inprocess),
)


def choose_backend(kind: str, events: EventsSettings) -> BusBackend:
    """The backend ``kind`` names (a service's ``..._EVENT_BUS``); for ``auto``
    the store's ``STOREFLEET_EVENTS_BACKEND``, and when that is ``auto`` too the
    first of Kafka, Redis Streams and in-process whose servers are configured."""
    by_name: dict[str, BusBackend] = {backend.name: backend for backend in BACKENDS}
    if kind != "auto" and kind not in by_name:
        raise ValueError(f"unsupported event bus: {kind!r}")
    chosen = events.backend if kind == "auto" else kind
    if chosen != "auto":
        return by_name[chosen]
    return next(backend for backend in BACKENDS if backend.configured(events))


def create_event_bus(kind: str = "auto", events: EventsSettings | None = None) -> EventBus:
    """The bus :func:`choose_backend` picks: Kafka when
    ``STOREFLEET_EVENTS_BOOTSTRAP_SERVERS`` is set, else Redis Streams when a
    Redis URL is (``STOREFLEET_EVENTS_REDIS_URL`` or the cache's), else in-process."""
    events = events or EventsSettings()
    return choose_backend(kind, events).build(events)
