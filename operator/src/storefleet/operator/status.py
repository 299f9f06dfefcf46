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

from storefleet.operator.vocabulary import ConditionType, Reason, StorePhase

ConditionStatus = Literal["True", "False", "Unknown"]

# Condition type -> (what it covers, whether Ready waits for it being True).
# Integration conditions do not gate Ready while they are Unknown: their
# provisioners are optional and a plain cluster falls back to in-namespace defaults.
CONDITIONS: Final[Mapping[ConditionType, tuple[str, bool]]] = {
    ConditionType.NAMESPACE: ("the tenant namespace and its policies exist", True),
    ConditionType.RUNTIME: ("every runtime service's Deployment is Available", True),
    ConditionType.ROUTES: ("the store's domains route to the runtime", True),
    ConditionType.DATABASE: ("the tenant database", False),
    ConditionType.CACHE: ("the tenant cache", False),
    ConditionType.EVENTS: ("the tenant event topics", False),
    ConditionType.SECRETS: ("the tenant secrets", False),
    ConditionType.IDENTITY: ("the tenant identity realm", False),
    ConditionType.NOTIFICATIONS: ("where the store's e-mail goes (spec.notifications)", False),
    ConditionType.PAYMENTS: ("the gateway the store's payments go to (spec.payments)", False),
}
CONDITION_ORDER: Final = (ConditionType.READY, *CONDITIONS)


@dataclass(frozen=True)
class Condition:
    # A ConditionType (or VendorConditionType) and a Reason where the operator writes
    # one; plain str for what a status read back may hold (an older operator's words).
    type: str
    status: ConditionStatus
    reason: str
    message: str

    @classmethod
    def from_status(cls, written: Mapping[str, Any]) -> Condition:
        """A condition as status.conditions holds it, back as a Condition."""
        return cls(written["type"], written["status"], written["reason"], written["message"])


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
        return Condition(
            ConditionType.READY, "False", Reason.SUSPENDED, "spec.suspend is true: scaled to zero"
        )
    by_type = {c.type: c for c in conditions}
    blocking = [
        c
        for name, (_, gates) in CONDITIONS.items()
        if (c := by_type.get(name)) is not None
        and (c.status == "False" or (gates and c.status != "True"))
    ]
    if not blocking:
        return Condition(ConditionType.READY, "True", Reason.ALL_READY, "the store is serving")
    first = blocking[0]
    names = ", ".join(c.type for c in blocking)
    status: ConditionStatus = "False" if any(c.status == "False" for c in blocking) else "Unknown"
    return Condition(
        ConditionType.READY, status, first.reason, f"waiting for {names}: {first.message}"
    )


def is_ready(conditions: Iterable[Mapping[str, Any]]) -> bool:
    """Whether written status conditions hold Ready True."""
    return any(
        c.get("type") == ConditionType.READY and c.get("status") == "True" for c in conditions
    )


def phase_of(ready: Condition, observation: Observation, was_ready: bool) -> tuple[StorePhase, str]:
    """(phase, phaseReason) for humans and Argo CD."""
    if observation.suspended:
        return StorePhase.SUSPENDED, ready.reason
    if observation.error is not None:
        return (StorePhase.DEGRADED if was_ready else StorePhase.FAILED), ready.reason
    if observation.degraded is not None:
        return StorePhase.DEGRADED, observation.degraded
    if ready.status == "True":
        return StorePhase.READY, ready.reason
    return (StorePhase.DEGRADED if was_ready else StorePhase.PROVISIONING), ready.reason


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
    was_ready = is_ready(previous_conditions) or previous_status.get("phase") in (
        StorePhase.READY,
        StorePhase.DEGRADED,
    )
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
