"""What a reconcile tells: the Store's status when it changed, the metrics, and
one Event per transition (conditions, phase, apply failures, drift, pruning)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from storefleet.operator import events, metrics, status
from storefleet.operator.apply import ApplyReport
from storefleet.operator.kube import Kube, KubeError
from storefleet.operator.vocabulary import EventReason, Reason, StorePhase


async def write_status(
    kube: Kube, store: Mapping[str, Any], previous: Mapping[str, Any], new: dict[str, Any]
) -> None:
    name = store["metadata"]["name"]
    metrics.record_store(name, new)
    comparable = {k: v for k, v in previous.items() if k in new}
    if comparable == new:
        return
    try:
        await kube.patch_store_status(name, new)
    except KubeError as exc:
        if exc.status == 404:  # deleted while we worked
            return
        raise
    if (
        new["phase"] == StorePhase.READY
        and previous.get("phase") != StorePhase.READY
        and not status.is_ready(previous.get("conditions") or [])
    ):
        created = store["metadata"].get("creationTimestamp")
        if created:
            elapsed = datetime.now(UTC) - datetime.fromisoformat(created.replace("Z", "+00:00"))
            metrics.TIME_TO_READY.observe(max(elapsed.total_seconds(), 0.0))


async def tell(
    kube: Kube,
    store: Mapping[str, Any],
    previous: Mapping[str, Any],
    new: Mapping[str, Any],
    report: ApplyReport,
) -> None:
    for condition in status.transitions(previous.get("conditions") or [], new["conditions"]):
        healthy = condition["status"] == "True"
        await events.post(
            kube,
            store,
            "Normal" if healthy else "Warning",
            condition["reason"],
            f"{condition['type']} is {condition['status']}: {condition['message']}",
        )
    if previous.get("phase") != new["phase"]:
        await events.post(
            kube,
            store,
            "Warning" if new["phase"] in (StorePhase.FAILED, StorePhase.DEGRADED) else "Normal",
            f"Phase{new['phase']}",
            f"phase {previous.get('phase', StorePhase.PENDING)} -> {new['phase']}: "
            f"{new['phaseReason']}",
        )
    for key, error in report.failed.items():
        metrics.APPLY_ERRORS.labels(key.kind).inc()
        await events.post(
            kube, store, "Warning", Reason.APPLY_FAILED, f"{key}: {error.message or error}"
        )
    if report.drifted:
        for key in report.drifted:
            metrics.DRIFT_CORRECTIONS.labels(key.kind).inc()
        await events.post(
            kube,
            store,
            "Warning",
            EventReason.DRIFT_CORRECTED,
            "restored objects changed or deleted outside the operator: "
            + ", ".join(str(k) for k in report.drifted),
        )
    if report.pruned:
        for key in report.pruned:
            metrics.PRUNED.labels(key.kind).inc()
        await events.post(
            kube,
            store,
            "Normal",
            EventReason.PRUNED,
            "deleted objects the Store no longer wants: "
            + ", ".join(str(k) for k in report.pruned),
        )
    if report.recreated:
        await events.post(
            kube,
            store,
            "Normal",
            EventReason.RECREATED,
            "recreated objects whose immutable fields changed, keeping their pods and "
            "volumes: " + ", ".join(str(k) for k in report.recreated),
        )
