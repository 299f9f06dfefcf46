"""A service in a pod never runs on a laptop's stand-ins (SQLite, the memory
cache, the in-process bus): each replica would keep its own data and lose it on
restart, and its events would reach no other pod."""

from __future__ import annotations

import pytest

from storefleet.runtime.standins import StandInRefused, refuse_in_pod, stand_ins

REDIS = "redis://default:pw@redis.store-acme.svc:6379/0"
POSTGRES = "postgresql://storefleet:pw@postgres.store-acme.svc:5432/storefleet"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KUBERNETES_SERVICE_HOST",
        "STOREFLEET_DATABASE_URL",
        "STOREFLEET_CACHE_URL",
        "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS",
        "STOREFLEET_EVENTS_BACKEND",
        "STOREFLEET_EVENTS_REDIS_URL",
        "STOREFLEET_CART_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_out_of_the_box_every_stand_in_is_named_with_its_setting() -> None:
    found = stand_ins("orders")
    assert len(found) == 3
    assert "STOREFLEET_DATABASE_URL" in found[0]
    assert "STOREFLEET_CACHE_URL" in found[1]
    assert "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS" in found[2]
    # The storefront keeps no tables and sends no events: only its cache counts.
    assert len(stand_ins("storefront")) == 1


def test_a_laptop_may_run_on_them(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_in_pod("orders")
    refuse_in_pod("all")


def test_a_pod_refuses_each_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(
        StandInRefused, match="storefleet-cart will not start in a pod with its tables"
    ):
        refuse_in_pod("cart")
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", POSTGRES)
    # A Redis cache carries the events too (Redis Streams): nothing is left.
    monkeypatch.setenv("STOREFLEET_CACHE_URL", REDIS)
    refuse_in_pod("cart")
    refuse_in_pod("storefront")
    # A service's own setting counts as the process-wide one does.
    monkeypatch.delenv("STOREFLEET_DATABASE_URL")
    monkeypatch.setenv("STOREFLEET_CART_DATABASE_URL", POSTGRES)
    refuse_in_pod("cart")
    with pytest.raises(StandInRefused, match="SQLite"):
        refuse_in_pod("orders")


def test_a_pod_never_serves_all_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("STOREFLEET_CACHE_URL", REDIS)
    with pytest.raises(StandInRefused, match="serve all"):
        refuse_in_pod("all")


def test_an_explicit_in_process_bus_is_refused_even_with_redis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("STOREFLEET_CACHE_URL", REDIS)
    monkeypatch.setenv("STOREFLEET_EVENTS_BACKEND", "inprocess")
    with pytest.raises(StandInRefused, match="in-process bus"):
        refuse_in_pod("analytics")
