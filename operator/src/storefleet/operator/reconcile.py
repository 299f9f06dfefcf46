"""The one level-triggered, idempotent reconcile of a Store, and its clean-up.

Every trigger (create, update, resume, the drift timer, a change to an owned
Deployment) ends here. Running it twice changes nothing the second time:
rendering is deterministic, server-side apply of an unchanged object is a
no-op, and status is written only when it differs.
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

from storefleet.operator import desired, events, metrics, status
from storefleet.operator.apply import Applier, ApplyReport, prunable_kinds
from storefleet.operator.kinds import ISTIO_API_VERSIONS, KINDS, kind_of
from storefleet.operator.kube import Kube, KubeError
from storefleet.operator.provisioners.settings import ProvisionerSettings
from storefleet.operator.provisioning import IN_NAMESPACE, Provisioned, TenantProvisioning
from storefleet.operator.render import ObjectKey, key_of, render
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.status import Condition, Observation, ServiceReadiness
from storefleet.operator.vocabulary import ConditionType, EventReason, Reason, StorePhase

log = logging.getLogger("storefleet.operator.reconcile")

PAUSE_ANNOTATION: Final = "storefleet.io/paused"
RECONCILE_REQUEST_ANNOTATION: Final = "storefleet.io/reconcile-request"
PAUSED_REASON: Final = Reason.RECONCILE_PAUSED

# Which condition reports a failure to apply an object of each kind.
CONDITION_OF_KIND: Final = {
    "Deployment": ConditionType.RUNTIME,
    "Service": ConditionType.RUNTIME,
    "HorizontalPodAutoscaler": ConditionType.RUNTIME,
    "PodDisruptionBudget": ConditionType.RUNTIME,
    "Ingress": ConditionType.ROUTES,
    "Gateway": ConditionType.ROUTES,
    "VirtualService": ConditionType.ROUTES,
    "DestinationRule": ConditionType.ROUTES,
    "PeerAuthentication": ConditionType.ROUTES,
    "AuthorizationPolicy": ConditionType.ROUTES,
}


class ReconcileError(Exception):
    """A reconcile could not finish; retriable says whether trying again may help."""

    def __init__(self, message: str, *, retriable: bool, backoff: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable
        # An external system is failing: retry with growing delays, not every 5 s.
        self.backoff = backoff


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
            services = await self._observe(context["namespace"], context)
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
                conditions=[self._runtime_condition(context, services, []), *kept],
            )
            new_status = status.compute(observation, previous)
            await self._write_status(store, previous, new_status)
            await self._tell(store, previous, new_status, ApplyReport())
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
        context["tenancy"] = provisioned.template
        for integration in desired.SPEC_INTEGRATIONS.values():
            context["config_checksums"][integration.service] = await integration.secret_checksum(
                self.kube, context["namespace"], store.get("spec") or {}
            )
        if not provisioned.template["blocked"]:
            context["egress_ports"] = provisioned.template["egress_ports"]
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
            await self._hold_autoscaling_bounds(context, report)
        services = await self._observe(namespace, context)
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
                self._runtime_condition(context, services, []),
                *provisioned.conditions.values(),
            ]
        else:
            observation.conditions = self._conditions(context, report, services, objects)
            observation.conditions += await self._integration_conditions(
                context, provisioned, store["spec"]
            )
        if report.failed:
            observation.error = "; ".join(
                f"{key}: {error.message or error.reason}" for key, error in report.failed.items()
            )
        new_status = status.compute(observation, previous)
        if provisioned.rotation and not provisioned.template["blocked"]:
            new_status["credentialsRotation"] = provisioned.rotation
        await self._write_status(store, previous, new_status)
        await self._tell(store, previous, new_status, report)
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

    async def _hold_autoscaling_bounds(
        self, context: Mapping[str, Any], report: ApplyReport
    ) -> None:
        """Moves replicas into the HPA's bounds now, as the HPA would at its next sync.

        The applied Deployment leaves replicas to the HPA, so a new one starts at 1;
        waiting up to a sync period for the HPA would report Ready at 1 replica and then
        flap. The scale subresource is written under a separate field manager, so the
        apply never owns replicas and never fights the HPA.
        """
        for service in context["services"]:
            hpa = service["hpa"]
            if hpa is None:
                continue
            name = service["workloads"][0]["name"]
            key = ObjectKey("apps/v1", "Deployment", context["namespace"], name)
            applied = report.applied.get(key)
            if applied is None:
                continue
            current = int((applied.get("spec") or {}).get("replicas", 1))
            wanted = min(max(current, hpa["min"]), hpa["max"])
            if wanted != current:
                await self.kube.scale(
                    _DEPLOYMENT,
                    context["namespace"],
                    name,
                    wanted,
                    f"{self.settings.field_manager}-bounds",
                )

    async def _observe(self, namespace: str, context: Mapping[str, Any]) -> list[ServiceReadiness]:
        deployments = await self.kube.list(
            _DEPLOYMENT, namespace, f"{desired.STORE_LABEL}={context['store']['name']}"
        )
        by_name = {d["metadata"]["name"]: d for d in deployments}
        readiness = []
        for service in context["services"]:
            wanted, ready, available = 0, 0, True
            for workload in service["workloads"]:
                found = by_name.get(workload["name"])
                if found is None:
                    available = False
                    continue
                spec, dep_status = found.get("spec", {}), found.get("status", {})
                replicas = int(spec.get("replicas", 1))
                wanted += replicas
                ready += int(dep_status.get("readyReplicas", 0))
                available = available and _deployment_available(found, replicas)
            if service["hpa"] is not None:
                # Below the HPA's minimum is not done yet, even if the Deployment is Available.
                available = available and wanted >= service["hpa"]["min"]
            readiness.append(ServiceReadiness(service["name"], wanted, ready, available))
        return readiness

    def _conditions(
        self,
        context: Mapping[str, Any],
        report: ApplyReport,
        services: list[ServiceReadiness],
        objects: list[dict[str, Any]],
    ) -> list[Condition]:
        failures: dict[ConditionType, list[str]] = defaultdict(list)
        for key, error in report.failed.items():
            failures[CONDITION_OF_KIND.get(key.kind, ConditionType.NAMESPACE)].append(
                f"{key}: {error.message or error.reason}"
            )
        conditions: list[Condition] = []
        namespace = context["namespace"]
        policies = sum(1 for o in objects if o["kind"] == "NetworkPolicy")
        if failures[ConditionType.NAMESPACE] or (report.failed and not report.applied):
            conditions.append(
                Condition(
                    ConditionType.NAMESPACE,
                    "False",
                    Reason.APPLY_FAILED,
                    "; ".join(failures[ConditionType.NAMESPACE] or _all(report)),
                )
            )
        else:
            conditions.append(
                Condition(
                    ConditionType.NAMESPACE,
                    "True",
                    Reason.APPLIED,
                    f"namespace {namespace} with quota and limits of plan "
                    f"{context['plan'].name} and {policies} network policies",
                )
            )
        conditions.append(
            self._runtime_condition(context, services, failures[ConditionType.RUNTIME])
        )
        if failures[ConditionType.ROUTES]:
            conditions.append(
                Condition(
                    ConditionType.ROUTES,
                    "False",
                    Reason.APPLY_FAILED,
                    "; ".join(failures[ConditionType.ROUTES]),
                )
            )
        else:
            conditions.append(
                Condition(
                    ConditionType.ROUTES,
                    "True",
                    context["routing_reason"],
                    f"{context['routing_message']}; domains: "
                    + ", ".join(d["host"] for d in context["domains"]),
                )
            )
        return conditions

    async def _integration_conditions(
        self, context: Mapping[str, Any], provisioned: Provisioned, spec: Mapping[str, Any]
    ) -> list[Condition]:
        """Provisioning's conditions, with in-namespace datastores judged by their
        workload, and those of the integrations the spec names (mail, payments)."""
        conditions = dict(provisioned.conditions)
        for integration in desired.SPEC_INTEGRATIONS.values():
            conditions[integration.condition_type] = await integration.condition(
                self.kube, context["namespace"], spec
            )
        for block in provisioned.template["in_namespace"]:
            kind, name, _ = IN_NAMESPACE[block]
            condition = context["integrations"][block]["condition"]
            found = await self.kube.get(kind_of("apps/v1", kind), context["namespace"], name)
            ready = int(((found or {}).get("status") or {}).get("readyReplicas") or 0)
            if context["suspended"]:
                conditions[condition] = Condition(
                    condition, "True", Reason.SUSPENDED, f"{kind} {name} scaled to 0 with the store"
                )
            elif ready >= 1:
                conditions[condition] = Condition(
                    condition, "True", Reason.IN_NAMESPACE, f"{kind} {name} in the tenant namespace"
                )
            else:
                conditions[condition] = Condition(
                    condition,
                    "False",
                    Reason.DEPLOYING,
                    f"waiting for {kind} {name} in the tenant namespace to be ready",
                )
        return list(conditions.values())

    def _runtime_condition(
        self, context: Mapping[str, Any], services: list[ServiceReadiness], failures: list[str]
    ) -> Condition:
        if failures:
            return Condition(
                ConditionType.RUNTIME, "False", Reason.APPLY_FAILED, "; ".join(failures)
            )
        if context["suspended"]:
            return Condition(
                ConditionType.RUNTIME,
                "True",
                Reason.SUSPENDED,
                "spec.suspend is true: every service at 0",
            )
        waiting = [s for s in services if not s.available]
        if waiting:
            return Condition(
                ConditionType.RUNTIME,
                "False",
                Reason.PROGRESSING,
                "waiting for "
                + ", ".join(f"{s.name} ({s.ready}/{s.desired} ready)" for s in waiting),
            )
        return Condition(
            ConditionType.RUNTIME,
            "True",
            Reason.AVAILABLE,
            f"{len(services)}/{len(services)} services available at version {context['version']}",
        )

    async def _write_status(
        self, store: Mapping[str, Any], previous: Mapping[str, Any], new: dict[str, Any]
    ) -> None:
        name = store["metadata"]["name"]
        metrics.record_store(name, new)
        comparable = {k: v for k, v in previous.items() if k in new}
        if comparable == new:
            return
        try:
            await self.kube.patch_store_status(name, new)
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

    async def _tell(
        self,
        store: Mapping[str, Any],
        previous: Mapping[str, Any],
        new: Mapping[str, Any],
        report: ApplyReport,
    ) -> None:
        for condition in status.transitions(previous.get("conditions") or [], new["conditions"]):
            healthy = condition["status"] == "True"
            await events.post(
                self.kube,
                store,
                "Normal" if healthy else "Warning",
                condition["reason"],
                f"{condition['type']} is {condition['status']}: {condition['message']}",
            )
        if previous.get("phase") != new["phase"]:
            await events.post(
                self.kube,
                store,
                "Warning" if new["phase"] in (StorePhase.FAILED, StorePhase.DEGRADED) else "Normal",
                f"Phase{new['phase']}",
                f"phase {previous.get('phase', StorePhase.PENDING)} -> {new['phase']}: "
                f"{new['phaseReason']}",
            )
        for key, error in report.failed.items():
            metrics.APPLY_ERRORS.labels(key.kind).inc()
            await events.post(
                self.kube, store, "Warning", Reason.APPLY_FAILED, f"{key}: {error.message or error}"
            )
        if report.drifted:
            for key in report.drifted:
                metrics.DRIFT_CORRECTIONS.labels(key.kind).inc()
            await events.post(
                self.kube,
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
                self.kube,
                store,
                "Normal",
                EventReason.PRUNED,
                "deleted objects the Store no longer wants: "
                + ", ".join(str(k) for k in report.pruned),
            )
        if report.recreated:
            await events.post(
                self.kube,
                store,
                "Normal",
                EventReason.RECREATED,
                "recreated objects whose immutable fields changed, keeping their pods and "
                "volumes: " + ", ".join(str(k) for k in report.recreated),
            )

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
                await self._mark_deleting(store, previous)
            uid = store["metadata"].get("uid") or name
            if uid not in self._released:
                await self._release(store, spec)
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

    async def _mark_deleting(self, store: Mapping[str, Any], previous: Mapping[str, Any]) -> None:
        new = dict(previous)
        new.update(phase=StorePhase.DELETING, phaseReason=Reason.STORE_DELETED)
        try:
            await self.kube.patch_store_status(store["metadata"]["name"], new)
        except KubeError as exc:
            if exc.status != 404:
                raise

    async def _release(self, store: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        """Deletes (or keeps, by deletionPolicy) the tenant's shares of external systems."""
        policy = spec.get("deletionPolicy", "Retain")
        context = desired.build(store, desired.ClusterFeatures(), self.settings)
        results = await self.provisioning.delete(store, context)
        failed = [
            (b, r)
            for b, r in results
            if r.condition.reason not in (Reason.DELETED, Reason.RETAINED)
        ]
        if failed:
            message = "; ".join(f"{b}: {r.condition.message}" for b, r in failed)
            await events.post(
                self.kube,
                store,
                "Warning",
                EventReason.RELEASE_FAILED,
                f"deletionPolicy {policy}: could not finish, retrying: {message}",
            )
            raise ReconcileError(message, retriable=True, backoff=True)
        done = "; ".join(r.condition.message for _, r in results)
        local = [
            f"{block} ({integration['fallback']})"
            for block, integration in context["integrations"].items()
            if integration["enabled"] and block not in dict(results)
        ]
        if local:
            done += ("; " if done else "") + (
                "in the namespace, deleted with it: " + ", ".join(local)
            )
        if policy == "Retain":
            await events.post(
                self.kube,
                store,
                "Normal",
                EventReason.DATA_RETAINED,
                "deletionPolicy is Retain: tenant data on shared servers is kept ("
                + (done or "none provisioned")
                + "); the namespace and its workloads are deleted",
            )
        else:
            await events.post(
                self.kube,
                store,
                "Normal",
                EventReason.DATA_DELETED,
                "deletionPolicy is Delete: "
                + (done or "nothing provisioned outside the namespace"),
            )


def _all(report: ApplyReport) -> list[str]:
    return [f"{key}: {error.message or error.reason}" for key, error in report.failed.items()]


def _deployment_available(deployment: Mapping[str, Any], replicas: int) -> bool:
    meta, dep_status = deployment["metadata"], deployment.get("status") or {}
    if int(dep_status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
        return False
    if replicas == 0:
        return True
    if int(dep_status.get("updatedReplicas", 0)) < replicas:
        return False
    return (
        any(
            c.get("type") == "Available" and c.get("status") == "True"
            for c in dep_status.get("conditions") or []
        )
        and int(dep_status.get("availableReplicas", 0)) >= replicas
    )


_DEPLOYMENT: Final = next(k for k in KINDS if k.kind == "Deployment")
_NAMESPACE: Final = next(k for k in KINDS if k.kind == "Namespace")
