"""What a reconcile sees after applying: how far the runtime's Deployments are,
and the conditions that say so, with the integrations' own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

from storefleet.operator import desired, spec_integrations
from storefleet.operator.apply import ApplyReport
from storefleet.operator.context import StoreContext
from storefleet.operator.integrations import BY_BLOCK
from storefleet.operator.kinds import kind_of
from storefleet.operator.kube import Kube
from storefleet.operator.provisioning import Provisioned
from storefleet.operator.status import Condition, ServiceReadiness
from storefleet.operator.vocabulary import ConditionType, Reason

DEPLOYMENT: Final = kind_of("apps/v1", "Deployment")

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


async def services(kube: Kube, namespace: str, context: StoreContext) -> list[ServiceReadiness]:
    """How far each runtime service's Deployments are."""
    deployments = await kube.list(
        DEPLOYMENT, namespace, f"{desired.STORE_LABEL}={context['store']['name']}"
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


def applied_conditions(
    context: StoreContext,
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
    conditions.append(runtime_condition(context, services, failures[ConditionType.RUNTIME]))
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


async def integration_conditions(
    kube: Kube, context: StoreContext, provisioned: Provisioned, spec: Mapping[str, Any]
) -> list[Condition]:
    """Provisioning's conditions, with in-namespace datastores judged by their
    workload, and those of the integrations the spec names (mail, payments)."""
    conditions = dict(provisioned.conditions)
    for found_condition in await spec_integrations.conditions(
        desired.SPEC_INTEGRATIONS, kube, context["namespace"], spec
    ):
        conditions[found_condition.type] = found_condition
    for block in provisioned.template["in_namespace"]:
        stand_in = BY_BLOCK[block].stand_in
        assert stand_in is not None
        kind, name = stand_in.kind, stand_in.name
        condition = context["integrations"][block]["condition"]
        found = await kube.get(kind_of("apps/v1", kind), context["namespace"], name)
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


def runtime_condition(
    context: StoreContext, services: list[ServiceReadiness], failures: list[str]
) -> Condition:
    if failures:
        return Condition(ConditionType.RUNTIME, "False", Reason.APPLY_FAILED, "; ".join(failures))
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
            "waiting for " + ", ".join(f"{s.name} ({s.ready}/{s.desired} ready)" for s in waiting),
        )
    return Condition(
        ConditionType.RUNTIME,
        "True",
        Reason.AVAILABLE,
        f"{len(services)}/{len(services)} services available at version {context['version']}",
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
