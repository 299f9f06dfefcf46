"""Prometheus metrics of the operator. Names are the contract with dashboards and alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from storefleet.operator.vocabulary import StorePhase

RECONCILES: Final = Counter(
    "storefleet_reconciles_total",
    "Store reconciles, by what triggered them and how they ended.",
    ["trigger", "result"],
)
RECONCILE_DURATION: Final = Histogram(
    "storefleet_reconcile_duration_seconds",
    "Wall time of one Store reconcile.",
    ["trigger"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
STORES: Final = Gauge("storefleet_stores", "Stores by phase.", ["phase"])
STORE_CONDITIONS: Final = Gauge(
    "storefleet_store_conditions", "Stores by condition type and status.", ["type", "status"]
)
TIME_TO_READY: Final = Histogram(
    "storefleet_store_time_to_ready_seconds",
    "From a Store's creation to its first Ready.",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
DRIFT_CORRECTIONS: Final = Counter(
    "storefleet_drift_corrections_total",
    "Owned objects found changed or deleted by someone else and restored.",
    ["kind"],
)
PRUNED: Final = Counter(
    "storefleet_objects_pruned_total",
    "Owned objects deleted because no Store wants them.",
    ["kind"],
)
APPLY_ERRORS: Final = Counter(
    "storefleet_apply_errors_total", "Server-side applies refused or failed.", ["kind"]
)

# Store name -> (phase, {condition type: status}); the gauges are recomputed from it.
_LAST: dict[str, tuple[str, dict[str, str]]] = {}


def record_store(name: str, status: Mapping[str, Any] | None) -> None:
    """Remembers a Store's phase and conditions (None forgets it) and refreshes the gauges."""
    if status is None:
        _LAST.pop(name, None)
    else:
        conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
        _LAST[name] = (
            str(status.get("phase", StorePhase.PENDING)),
            {str(c["type"]): str(c["status"]) for c in conditions},
        )
    STORES.clear()
    STORE_CONDITIONS.clear()
    for phase, conditions_by_type in _LAST.values():
        STORES.labels(phase).inc()
        for condition_type, condition_status in conditions_by_type.items():
            STORE_CONDITIONS.labels(condition_type, condition_status).inc()


def serve(port: int) -> None:
    if port:
        start_http_server(port)
