"""Store status: conditions, phase and per-service readiness, computed as data.

Follows the Kubernetes condition conventions: one condition per concern, each
with status True/False/Unknown, a CamelCase reason, a message for humans,
observedGeneration, and lastTransitionTime that moves only when status does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

ConditionStatus = Literal["True", "False", "Unknown"]

# Condition type -> (what it covers, whether Ready waits for it being True).
# Integration conditions do not gate Ready while they are Unknown: their
# provisioners are optional and a plain cluster falls back to in-namespace defaults.
CONDITIONS: Final[Mapping[str, tuple[str, bool]]] = {
    "NamespaceReady": ("the tenant namespace and its policies exist", True),
    "RuntimeReady": ("every runtime service's Deployment is Available", True),
    "RoutesReady": ("the store's domains route to the runtime", True),
    "DatabaseReady": ("the tenant database", False),
    "CacheReady": ("the tenant cache", False),
    "EventsReady": ("the tenant event topics", False),
    "SecretsReady": ("the tenant secrets", False),
    "IdentityReady": ("the tenant identity realm", False),
    "NotificationsReady": ("where the store's e-mail goes (spec.notifications)", False),
}
CONDITION_ORDER: Final = ("Ready", *CONDITIONS)


@dataclass(frozen=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str


@dataclass(frozen=True)
class ServiceReadiness:
    name: str
    desired: int
    ready: int
    available: bool


@dataclass
class Observation:
    """What one reconcile found, the input of compute()."""

    generation: int
    url: str
    namespace: str
    routing: str
    suspended: bool
    conditions: list[Condition] = field(default_factory=list)
    services: list[ServiceReadiness] = field(default_factory=list)
    error: str | None = None
    # Reason of an external system that failed (VaultUnavailable, ...): the store is
    # Degraded, whether or not it was ever Ready, until the system answers again.
    degraded: str | None = None


def ready_condition(conditions: Iterable[Condition], suspended: bool) -> Condition:
    if suspended:
        return Condition("Ready", "False", "Suspended", "spec.suspend is true: scaled to zero")
    by_type = {c.type: c for c in conditions}
    blocking = [
        c
        for name, (_, gates) in CONDITIONS.items()
        if (c := by_type.get(name)) is not None
        and (c.status == "False" or (gates and c.status != "True"))
    ]
    if not blocking:
        return Condition("Ready", "True", "AllReady", "the store is serving")
    first = blocking[0]
    names = ", ".join(c.type for c in blocking)
    status: ConditionStatus = "False" if any(c.status == "False" for c in blocking) else "Unknown"
    return Condition("Ready", status, first.reason, f"waiting for {names}: {first.message}")


def phase_of(ready: Condition, observation: Observation, was_ready: bool) -> tuple[str, str]:
    """(phase, phaseReason) for humans and Argo CD."""
    if observation.suspended:
        return "Suspended", ready.reason
    if observation.error is not None:
        return ("Degraded" if was_ready else "Failed"), ready.reason
    if observation.degraded is not None:
        return "Degraded", observation.degraded
    if ready.status == "True":
        return "Ready", ready.reason
    return ("Degraded" if was_ready else "Provisioning"), ready.reason


def merge_conditions(
    previous: Iterable[Mapping[str, Any]],
    current: Iterable[Condition],
    generation: int,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Status conditions with lastTransitionTime kept where status did not change."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = {c.get("type"): c for c in previous}
    merged = []
    for condition in sorted(current, key=lambda c: _order(c.type)):
        old = before.get(condition.type)
        moved = old is None or old.get("status") != condition.status
        merged.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": stamp if moved else old["lastTransitionTime"],  # type: ignore[index]
            }
        )
    return merged


def _order(condition_type: str) -> int:
    try:
        return CONDITION_ORDER.index(condition_type)
    except ValueError:
        return len(CONDITION_ORDER)


def compute(
    observation: Observation, previous_status: Mapping[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    """The whole new status of a Store."""
    ready = ready_condition(observation.conditions, observation.suspended)
    previous_conditions = previous_status.get("conditions") or []
    was_ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in previous_conditions
    ) or previous_status.get("phase") in ("Ready", "Degraded")
    phase, reason = phase_of(ready, observation, was_ready)
    conditions = merge_conditions(
        previous_conditions, [ready, *observation.conditions], observation.generation, now
    )
    ready_services = sum(1 for s in observation.services if s.available)
    return {
        "phase": phase,
        "phaseReason": reason,
        "observedGeneration": observation.generation,
        "url": observation.url,
        "namespace": observation.namespace,
        "routing": observation.routing,
        "servicesReady": f"{ready_services}/{len(observation.services)}",
        "conditions": conditions,
        "services": [
            {"name": s.name, "desired": s.desired, "ready": s.ready, "available": s.available}
            for s in observation.services
        ],
    }


def transitions(
    previous: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Conditions whose status changed, or that appeared not True, for Events.

    A condition appearing True is no news: the phase change already says so.
    """
    before = {c.get("type"): c.get("status") for c in previous}
    return [
        c
        for c in current
        if before.get(c["type"]) != c["status"] and (c["type"] in before or c["status"] != "True")
    ]
