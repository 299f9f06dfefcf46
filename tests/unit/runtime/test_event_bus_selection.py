"""Which event bus a service gets: Kafka, Redis Streams or in-process, from its settings.

The buses themselves run against real servers in tests/integration/runtime
(test_kafka_bus.py, test_redis_bus.py); building one here opens no connection.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.backends import choose_backend, create_event_bus
from storefleet.runtime.platform.events.kafka import KafkaEventBus
from storefleet.runtime.platform.events.outbox import InProcessEventBus
from storefleet.runtime.platform.events.redis_streams import RedisEventBus, member_name

REDIS = "redis://:secret@redis:6379/0"


@pytest.fixture(autouse=True)
def _no_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the environment running the tests decides for them."""
    for name in (
        "STOREFLEET_CACHE_URL",
        "STOREFLEET_CACHE_PREFIX",
        "STOREFLEET_STORE_ID",
        "STOREFLEET_EVENTS_BACKEND",
        "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS",
        "STOREFLEET_EVENTS_REDIS_URL",
        "STOREFLEET_EVENTS_REDIS_KEY_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("environment", "chosen"),
    [
        ({}, "inprocess"),
        ({"STOREFLEET_CACHE_URL": "memory://"}, "inprocess"),
        ({"STOREFLEET_CACHE_URL": REDIS}, "redis"),
        ({"STOREFLEET_CACHE_URL": "rediss://redis.example:6380/0"}, "redis"),
        ({"STOREFLEET_EVENTS_REDIS_URL": REDIS}, "redis"),
        ({"STOREFLEET_EVENTS_BOOTSTRAP_SERVERS": "kafka:9092"}, "kafka"),
        # Both: Kafka comes first in the table.
        (
            {"STOREFLEET_EVENTS_BOOTSTRAP_SERVERS": "kafka:9092", "STOREFLEET_CACHE_URL": REDIS},
            "kafka",
        ),
        # The store's explicit choice wins over what auto would find.
        ({"STOREFLEET_EVENTS_BACKEND": "inprocess", "STOREFLEET_CACHE_URL": REDIS}, "inprocess"),
        (
            {
                "STOREFLEET_EVENTS_BACKEND": "redis",
                "STOREFLEET_CACHE_URL": REDIS,
                "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS": "kafka:9092",
            },
            "redis",
        ),
    ],
)
def test_auto_takes_the_first_backend_whose_servers_are_configured(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], chosen: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert choose_backend("auto", EventsSettings()).name == chosen


def test_a_service_that_names_its_bus_overrides_the_store() -> None:
    events = EventsSettings(backend="kafka", bootstrap_servers="kafka:9092", redis_url=REDIS)
    assert choose_backend("redis", events).name == "redis"
    assert choose_backend("inprocess", events).name == "inprocess"
    assert choose_backend("auto", events).name == "kafka"


def test_create_event_bus_builds_the_chosen_bus_without_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(create_event_bus(), InProcessEventBus)
    monkeypatch.setenv("STOREFLEET_CACHE_URL", REDIS)
    monkeypatch.setenv("STOREFLEET_CACHE_PREFIX", "acme:")
    monkeypatch.setenv("STOREFLEET_STORE_ID", "acme")
    bus = create_event_bus()
    assert isinstance(bus, RedisEventBus)
    # Under the cache's prefix, where the store's Redis user may write.
    assert bus.key("orders") == "acme:store.acme.orders"
    assert bus.member == member_name()
    kafka = create_event_bus(events=EventsSettings(bootstrap_servers="kafka:9092"))
    assert isinstance(kafka, KafkaEventBus)


def test_a_bus_that_cannot_be_reached_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="STOREFLEET_EVENTS_REDIS_URL"):
        create_event_bus("redis")
    with pytest.raises(ValueError, match="STOREFLEET_EVENTS_BOOTSTRAP_SERVERS"):
        create_event_bus("kafka")
    with pytest.raises(ValueError, match="unsupported"):
        create_event_bus("carrier-pigeon")


def test_the_redis_url_must_name_a_redis_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="redis://"):
        EventsSettings(redis_url="memory://")
    assert EventsSettings(redis_url="unix:///run/redis.sock").resolved_redis_url()
    # The cache's URL is only a fallback when it is Redis.
    monkeypatch.setenv("STOREFLEET_CACHE_URL", "memory://")
    assert EventsSettings().resolved_redis_url() == ""
    assert EventsSettings(redis_url=REDIS).resolved_redis_url() == REDIS
