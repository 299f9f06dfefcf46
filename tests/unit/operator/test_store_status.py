"""Status as SREs read it: conditions, Ready, phase, transitions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storefleet.operator import schema, status
from storefleet.operator.events import build_event
from storefleet.operator.status import Condition, Observation, ServiceReadiness

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 12, 5, tzinfo=UTC)


def healthy(**overrides: Any) -> Observation:
    conditions = [
        Condition("NamespaceReady", "True", "Applied", "ok"),
        Condition("RuntimeReady", "True", "Available", "8/8"),
        Condition("RoutesReady", "True", "IstioNotInstalled", "ingress"),
        Condition("DatabaseReady", "True", "EmbeddedDefault", "embedded"),
        Condition("CacheReady", "Unknown", "ProvisionerNotAvailable", "later"),
    ]
    observation = Observation(
        generation=3,
        url="https://acme.example.com",
        namespace="store-acme",
        routing="Ingress",
        suspended=False,
        conditions=conditions,
        services=[ServiceReadiness("cart", 1, 1, True)],
    )
    for key, value in overrides.items():
        setattr(observation, key, value)
    return observation


def replace(observation: Observation, condition: Condition) -> Observation:
    observation.conditions = [
        condition if c.type == condition.type else c for c in observation.conditions
    ]
    return observation


def test_ready_when_core_conditions_hold_and_unknown_integrations_do_not_block() -> None:
    new = status.compute(healthy(), {}, T0)
    assert new["phase"] == "Ready"
    assert new["conditions"][0] == {
        "type": "Ready",
        "status": "True",
        "reason": "AllReady",
        "message": "the store is serving",
        "observedGeneration": 3,
        "lastTransitionTime": "2026-01-01T12:00:00Z",
    }
    assert new["servicesReady"] == "1/1"


def test_a_progressing_runtime_says_what_it_waits_for() -> None:
    observation = replace(
        healthy(), Condition("RuntimeReady", "False", "Progressing", "waiting for cart (0/1 ready)")
    )
    new = status.compute(observation, {}, T0)
    ready = new["conditions"][0]
    assert (new["phase"], ready["status"], ready["reason"]) == (
        "Provisioning",
        "False",
        "Progressing",
    )
    assert "RuntimeReady" in ready["message"]
    assert "cart (0/1 ready)" in ready["message"]


def test_a_failed_integration_blocks_ready() -> None:
    observation = replace(healthy(), Condition("CacheReady", "False", "AuthFailed", "bad password"))
    assert status.compute(observation, {}, T0)["conditions"][0]["status"] == "False"


def test_losing_readiness_after_ready_is_degraded() -> None:
    first = status.compute(healthy(), {}, T0)
    worse = replace(healthy(), Condition("RuntimeReady", "False", "Progressing", "cart 0/1"))
    assert status.compute(worse, first, T1)["phase"] == "Degraded"


def test_suspended_is_its_own_phase() -> None:
    new = status.compute(healthy(suspended=True), {}, T0)
    assert new["phase"] == "Suspended"
    assert new["conditions"][0]["reason"] == "Suspended"


def test_transition_time_moves_only_when_status_changes() -> None:
    first = status.compute(healthy(), {}, T0)
    same = status.compute(healthy(), first, T1)
    assert same == first, "an unchanged store must produce an identical status (no writes)"
    worse = replace(healthy(), Condition("RoutesReady", "False", "ApplyFailed", "x"))
    changed = {c["type"]: c for c in status.compute(worse, first, T1)["conditions"]}
    assert changed["RoutesReady"]["lastTransitionTime"] == "2026-01-01T12:05:00Z"
    assert changed["NamespaceReady"]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    moved = status.transitions(first["conditions"], status.compute(worse, first, T1)["conditions"])
    assert {c["type"] for c in moved} == {"Ready", "RoutesReady"}


def test_computed_status_fits_the_crd_status_schema() -> None:
    crd = schema.load_crd(ROOT / "crds" / "stores.storefleet.io.yaml")
    status_schema = schema.crd_schema(crd)["properties"]["status"]
    for observation in (healthy(), healthy(suspended=True), healthy(error="boom")):
        assert schema.validate(status_schema, status.compute(observation, {}, T0)) == []


def test_events_point_at_the_store_and_stay_short() -> None:
    store = {
        "apiVersion": "storefleet.io/v1alpha1",
        "kind": "Store",
        "metadata": {"name": "acme", "uid": "u1"},
    }
    event = build_event(store, "Warning", "ApplyFailed", "x" * 5000)
    assert event["involvedObject"] == {
        "apiVersion": "storefleet.io/v1alpha1",
        "kind": "Store",
        "name": "acme",
        "uid": "u1",
    }
    assert len(event["message"]) == 1024
    assert event["type"] == "Warning"


def test_a_new_store_announces_only_conditions_that_are_not_true() -> None:
    first = status.compute(healthy(), {}, T0)
    assert [c["type"] for c in status.transitions([], first["conditions"])] == ["CacheReady"]
