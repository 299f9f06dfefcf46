"""The clean-up of a deleted Store: its phase says Deleting, and its shares of
the external systems are deleted or kept as its deletionPolicy says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storefleet.operator import desired, events
from storefleet.operator.errors import ReconcileError
from storefleet.operator.integrations import BY_BLOCK
from storefleet.operator.kube import Kube, KubeError
from storefleet.operator.provisioning import TenantProvisioning
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.vocabulary import EventReason, Reason, StorePhase


async def mark_deleting(kube: Kube, store: Mapping[str, Any], previous: Mapping[str, Any]) -> None:
    new = dict(previous)
    new.update(phase=StorePhase.DELETING, phaseReason=Reason.STORE_DELETED)
    try:
        await kube.patch_store_status(store["metadata"]["name"], new)
    except KubeError as exc:
        if exc.status != 404:
            raise


async def release(
    kube: Kube,
    provisioning: TenantProvisioning,
    settings: OperatorSettings,
    store: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> None:
    """Deletes (or keeps, by deletionPolicy) the tenant's shares of external systems."""
    policy = spec.get("deletionPolicy", "Retain")
    context = desired.build(store, desired.ClusterFeatures(), settings)
    results = await provisioning.delete(store, context)
    failed = [
        (b, r) for b, r in results if r.condition.reason not in (Reason.DELETED, Reason.RETAINED)
    ]
    if failed:
        message = "; ".join(f"{b}: {r.condition.message}" for b, r in failed)
        await events.post(
            kube,
            store,
            "Warning",
            EventReason.RELEASE_FAILED,
            f"deletionPolicy {policy}: could not finish, retrying: {message}",
        )
        raise ReconcileError(message, retriable=True, backoff=True)
    done = "; ".join(r.condition.message for _, r in results)
    local = [
        f"{block} ({BY_BLOCK[block].in_namespace()})"
        for block, integration in context["integrations"].items()
        if integration["enabled"] and block not in dict(results)
    ]
    if local:
        done += ("; " if done else "") + ("in the namespace, deleted with it: " + ", ".join(local))
    if policy == "Retain":
        await events.post(
            kube,
            store,
            "Normal",
            EventReason.DATA_RETAINED,
            "deletionPolicy is Retain: tenant data on shared servers is kept ("
            + (done or "none provisioned")
            + "); the namespace and its workloads are deleted",
        )
    else:
        await events.post(
            kube,
            store,
            "Normal",
            EventReason.DATA_DELETED,
            "deletionPolicy is Delete: " + (done or "nothing provisioned outside the namespace"),
        )
