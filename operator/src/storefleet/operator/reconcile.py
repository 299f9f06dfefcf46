"""The one level-triggered, idempotent reconcile of a Store, and its clean-up.

Every trigger (create, update, resume, the drift timer, a change to an owned
Deployment) ends here. Running it twice changes nothing the second time:
rendering is deterministic, server-side apply of an unchanged object is a
no-op, and status is written only when it differs.

This module keeps the flow: build the desired state, provision, render, apply
and prune, then observe (observe.py), tell (announce.py), and on deletion clean
up (finalize.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp

from storefleet.operator import (
    announce,
    desired,
    egress,
    events,
    metrics,
    observe,
    spec_integrations,
    status,
)
from storefleet.operator.apply import Applier, ApplyReport, prunable_kinds
from storefleet.operator.autoscaling import hold_autoscaling_bounds
from storefleet.operator.errors import ReconcileError
from storefleet.operator.finalize import mark_deleting, release
from storefleet.operator.kinds import ISTIO_API_VERSIONS, kind_of
from storefleet.operator.kube import Kube, KubeError
from storefleet.operator.provisioners.settings import ProvisionerSettings
from storefleet.operator.provisioning import TenantProvisioning
from storefleet.operator.render import key_of, render
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.status import Condition, Observation
from storefleet.operator.vocabulary import ConditionType, EventReason, Reason, StorePhase

log = logging.getLogger("storefleet.operator.reconcile")

PAUSE_ANNOTATION: Final = "storefleet.io/paused"
RECONCILE_REQUEST_ANNOTATION: Final = "storefleet.io/reconcile-request"
PAUSED_REASON: Final = Reason.RECONCILE_PAUSED


@dataclass
class Outcome:
    status: dict[str, Any]
    ready: bool
    report: ApplyReport = field(default_factory=ApplyReport)
    paused: bool = False


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        settings: OperatorSettings,
        provisioners: ProvisionerSettings | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.provisioning = TenantProvisioning(kube, provisioners or ProvisionerSettings())
        self.applier = Applier(kube, settings.field_manager, settings.apply_concurrency)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # uids of deleted Stores whose external data was already released (or kept)
        self._released: set[str] = set()

    async def features(self) -> desired.ClusterFeatures:
        served = await self.kube.served_api_versions()
        return desired.ClusterFeatures(istio=all(v in served for v in ISTIO_API_VERSIONS))

    async def reconcile(self, store: Mapping[str, Any], trigger: str) -> Outcome:
        name = store["metadata"]["name"]
        async with self._locks[name]:
            started = time.monotonic()
            result = "error"
            try:
                # The body a trigger carries may predate our last status write
                # (triggers queue behind the lock); status is judged against the latest.
                latest = await self.kube.get_store(name)
                if latest is None or latest["metadata"].get("deletionTimestamp"):
                    result = "gone"
                    return Outcome(status={}, ready=False)
                store = latest
                outcome = await self._reconcile(store, trigger)
                result = "ready" if outcome.ready else "progressing"
                result = "paused" if outcome.paused else result
                return outcome
            except (KubeError, OSError, TimeoutError, aiohttp.ClientError) as exc:
                # Apply failures have their own Events; this is everything else the API did.
                await events.post(
                    self.kube,
                    store,
                    "Warning",
                    EventReason.RECONCILE_FAILED,
                    f"{type(exc).__name__}: {exc}",
                )
                raise ReconcileError(
                    str(exc), retriable=not isinstance(exc, KubeError) or exc.retriable
                ) from exc
            finally:
                elapsed = time.monotonic() - started
                metrics.RECONCILES.labels(trigger, result).inc()
                metrics.RECONCILE_DURATION.labels(trigger).observe(elapsed)
                log.info(
                    "reconciled %s (%s): %s in %.2fs",
                    name,
                    trigger,
                    result,
                    elapsed,
                    extra={"store": name, "trigger": trigger, "result": result, "seconds": elapsed},
                )

    async def refresh(self, name: str) -> None:
        """Re-reads the runtime's readiness into status without applying anything.

        For Deployment status changes, which come in bursts while a store starts; a
        full reconcile happens instead when the last one did not cover this generation.
        """
        async with self._locks[name]:
            started = time.monotonic()
            store = await self.kube.get_store(name)
            if store is None or store["metadata"].get("deletionTimestamp"):
                return
            previous: Mapping[str, Any] = store.get("status") or {}
            generation = int(store["metadata"].get("generation") or 0)
            annotations = store["metadata"].get("annotations") or {}
            if annotations.get(PAUSE_ANNOTATION) == "true":
                return
            if previous.get("observedGeneration") != generation or not previous.get("conditions"):
                await self._reconcile(store, "owned-change")
                return
            context = desired.build(store, await self.features(), self.settings)
            services = await observe.services(self.kube, context["namespace"], context)
            kept = [
                Condition.from_status(c)
                for c in previous["conditions"]
                if c["type"] not in (ConditionType.READY, ConditionType.RUNTIME)
            ]
            observation = Observation(
                generation=generation,
                url=context["url"],
                namespace=context["namespace"],
                routing=context["routing"],
                suspended=context["suspended"],
                services=services,
                conditions=[observe.runtime_condition(context, services, []), *kept],
            )
            new_status = status.compute(observation, previous)
            await announce.write_status(self.kube, store, previous, new_status)
            await announce.tell(self.kube, store, previous, new_status, ApplyReport())
            elapsed = time.monotonic() - started
            metrics.RECONCILES.labels("owned-status", "observed").inc()
            metrics.RECONCILE_DURATION.labels("owned-status").observe(elapsed)

    async def _reconcile(self, store: Mapping[str, Any], trigger: str) -> Outcome:
        meta = store["metadata"]
        name = meta["name"]
        previous: Mapping[str, Any] = store.get("status") or {}
        if (meta.get("annotations") or {}).get(PAUSE_ANNOTATION) == "true":
            log.info("reconcile paused by annotation", extra={"store": name})
            if previous.get("phaseReason") != PAUSED_REASON:
                # Only the reason: phase and conditions stay as last observed.
                await self.kube.patch_store_status(name, {"phaseReason": PAUSED_REASON})
                await events.post(
                    self.kube,
                    store,
                    "Normal",
                    PAUSED_REASON,
                    f"annotation {PAUSE_ANNOTATION}=true: objects and status are left alone "
                    "until it is removed",
                )
            return Outcome(status=dict(previous), ready=False, paused=True)

        features = await self.features()
        context = desired.build(store, features, self.settings)
        provisioned = await self.provisioning.ensure(store, context)
        resolved = await egress.resolve(desired.egress_of(context, provisioned.template))
        desired.with_tenancy(context, provisioned.template, resolved)
        for service in {row.service for row in desired.SPEC_INTEGRATIONS}:
            rows = spec_integrations.of_service(desired.SPEC_INTEGRATIONS, service)
            context["config_checksums"][service] = await spec_integrations.service_checksum(
                rows, self.kube, context["namespace"], store.get("spec") or {}
            )
        objects = render(context, self.settings.templates_dir)
        namespace = context["namespace"]
        generation = int(meta.get("generation") or 0)

        report = ApplyReport()
        # Without its credentials the tenant's objects would render without them; they
        # stay as last applied until the credentials' home answers again.
        if not provisioned.template["blocked"]:
            report = await self.applier.apply(objects)
            if not report.failed:
                served = await self.kube.served_api_versions()
                await self.applier.prune(
                    name, namespace, (key_of(o) for o in objects), prunable_kinds(served), report
                )
            await hold_autoscaling_bounds(self.kube, self.settings.field_manager, context, report)
        services = await observe.services(self.kube, namespace, context)
        observation = Observation(
            generation=generation,
            url=context["url"],
            namespace=namespace,
            routing=context["routing"],
            suspended=context["suspended"],
            services=services,
            degraded=provisioned.degraded,
        )
        if provisioned.template["blocked"]:
            kept = [
                Condition.from_status(c)
                for c in previous.get("conditions") or []
                if c["type"] in (ConditionType.NAMESPACE, ConditionType.ROUTES)
            ]
            observation.conditions = [
                *kept,
                observe.runtime_condition(context, services, []),
                *provisioned.conditions.values(),
            ]
        else:
            observation.conditions = observe.applied_conditions(context, report, services, objects)
            observation.conditions += await observe.integration_conditions(
                self.kube, context, provisioned, store["spec"]
            )
        if report.failed:
            observation.error = "; ".join(
                f"{key}: {error.message or error.reason}" for key, error in report.failed.items()
            )
        new_status = status.compute(observation, previous)
        if provisioned.rotation and not provisioned.template["blocked"]:
            new_status["credentialsRotation"] = provisioned.rotation
        await announce.write_status(self.kube, store, previous, new_status)
        await announce.tell(self.kube, store, previous, new_status, report)
        if provisioned.rotated and not provisioned.degraded:
            await events.post(
                self.kube,
                store,
                "Normal",
                EventReason.CREDENTIALS_ROTATED,
                f"new credentials for {provisioned.rotation!r}: passwords and admin token "
                "replaced on every provisioned system; the runtime rolls to pick them up",
            )

        if provisioned.degraded is not None:
            failing = [
                f"{c.type}: {c.message}"
                for c in provisioned.conditions.values()
                if c.status != "True" and c.reason == provisioned.degraded
            ]
            raise ReconcileError(
                "; ".join(failing) or provisioned.degraded, retriable=True, backoff=True
            )
        if report.failed:
            retriable = all(error.retriable for error in report.failed.values()) or any(
                "being terminated" in error.message for error in report.failed.values()
            )
            raise ReconcileError(observation.error or "apply failed", retriable=retriable)
        ready = new_status["phase"] == StorePhase.READY
        return Outcome(status=new_status, ready=ready, report=report)

    async def finalize(self, store: Mapping[str, Any]) -> bool:
        """Cleans up a deleted Store; True once nothing is left to wait for."""
        name = store["metadata"]["name"]
        namespace = desired.store_namespace(name, self.settings)
        async with self._locks[name]:
            # Called repeatedly while the namespace goes; the latest status says what was done.
            store = await self.kube.get_store(name) or store
            spec = store.get("spec") or {}
            previous: Mapping[str, Any] = store.get("status") or {}
            if previous.get("phase") != StorePhase.DELETING:
                await mark_deleting(self.kube, store, previous)
            uid = store["metadata"].get("uid") or name
            if uid not in self._released:
                await release(self.kube, self.provisioning, self.settings, store, spec)
                self._released.add(uid)
            existing = await self.kube.get(_NAMESPACE, None, namespace)
            if existing is None:
                self._forget(name, namespace)
                return True
            if not existing["metadata"].get("deletionTimestamp"):
                await self.kube.delete(_NAMESPACE, None, namespace, propagation="Background")
                message = f"deleting namespace {namespace}"
                await events.post(
                    self.kube, store, "Normal", EventReason.DELETING_NAMESPACE, message
                )
            return False

    async def namespace_gone(self, name: str) -> bool:
        namespace = desired.store_namespace(name, self.settings)
        if await self.kube.get(_NAMESPACE, None, namespace) is not None:
            return False
        self._forget(name, namespace)
        return True

    def _forget(self, name: str, namespace: str) -> None:
        """Drops what the operator keeps about a Store whose namespace is gone."""
        self.applier.forget(namespace)
        metrics.record_store(name, None)
        self._locks.pop(name, None)


_NAMESPACE: Final = kind_of("v1", "Namespace")
