"""From a Store (and what the cluster serves) to the data the templates render.

Pure: no I/O besides reading the CRD for its defaults. Every decision about
what a tenant gets is made here, as data, so templates stay free of logic
beyond loops and the unit tests can check decisions without YAML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from storefleet.operator import egress, notifications, payments, schema, spec_integrations
from storefleet.operator.context import IntegrationState, StoreContext, Tenancy, empty_tenancy
from storefleet.operator.egress import Destination
from storefleet.operator.integrations import INTEGRATIONS
from storefleet.operator.plans import Plan, plan_for
from storefleet.operator.services import (
    DRAIN_SECONDS,
    HTTP_PORT,
    LIVENESS_PATH,
    READINESS_PATH,
    SERVICES,
)
from storefleet.operator.settings import OperatorSettings
from storefleet.operator.spec_integrations import SpecIntegration
from storefleet.operator.vocabulary import Reason, Routing

GROUP: Final = "storefleet.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
STORE_LABEL: Final = "storefleet.io/store"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "storefleet-operator"
# Settings a service gets from the Store's spec beyond the common ones:
# service -> (plain environment, environment read from the platform team's Secrets).
# Integrations a Store names in its spec, by the one service each is for.
SPEC_INTEGRATIONS: Final[tuple[SpecIntegration, ...]] = (
    *notifications.CHANNELS,
    payments.GATEWAY,
)
# Memory limit of the in-namespace Redis container, in MiB.
REDIS_MEMORY_MI: Final = 512


@dataclass(frozen=True)
class ClusterFeatures:
    """What the cluster serves, discovered at reconcile time."""

    istio: bool = False


def store_namespace(store_name: str, settings: OperatorSettings) -> str:
    return f"{settings.namespace_prefix}{store_name}"


def with_defaults(store: Mapping[str, Any], settings: OperatorSettings) -> dict[str, Any]:
    crd = schema.load_crd(settings.crds_dir / "stores.storefleet.io.yaml")
    defaulted: dict[str, Any] = schema.apply_defaults(schema.crd_schema(crd), dict(store))
    return defaulted


def _slug(text: str, limit: int = 63) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-")


def _resources(plan: Plan, override: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    resources = {"requests": dict(plan.requests), "limits": dict(plan.limits)}
    for part in ("requests", "limits"):
        for key, value in ((override or {}).get(part) or {}).items():
            resources[part][key] = str(value)
    return resources


def _placement(spec: Mapping[str, Any], settings: OperatorSettings) -> dict[str, Any]:
    """Where the store's pods run: its spec.placement, field by field over the defaults."""
    placement = spec.get("placement") or {}
    return {
        "nodeSelector": placement.get("nodeSelector", settings.default_node_selector),
        "tolerations": placement.get("tolerations", settings.default_tolerations),
    }


def _routing(spec: Mapping[str, Any], features: ClusterFeatures) -> tuple[Routing, Reason, str]:
    """Returns (mode, reason, message) for RoutesReady."""
    if not spec["mesh"].get("enabled", True):
        return (
            Routing.INGRESS,
            Reason.INGRESS_BY_CHOICE,
            "spec.mesh.enabled is false; routing through Ingress",
        )
    if not features.istio:
        return (
            Routing.INGRESS,
            Reason.ISTIO_NOT_INSTALLED,
            "the cluster does not serve the Istio APIs (networking.istio.io, security.istio.io); "
            "routing through Ingress, without mTLS, circuit breaking or canary weights",
        )
    return Routing.ISTIO, Reason.ISTIO_ROUTES, "routing through the Istio gateway"


def build(
    store: Mapping[str, Any], features: ClusterFeatures, settings: OperatorSettings
) -> StoreContext:
    """The template context of one Store."""
    store = with_defaults(store, settings)
    meta, spec = store["metadata"], store["spec"]
    name: str = meta["name"]
    namespace = store_namespace(name, settings)
    plan = plan_for(spec["plan"])
    suspended = bool(spec.get("suspend", False))
    runtime = spec["runtime"]
    version: str = runtime["version"]
    image_repo: str = runtime.get("image") or settings.runtime_image
    routing, routing_reason, routing_message = _routing(spec, features)

    canary = spec["mesh"].get("canary")
    if canary and routing != Routing.ISTIO:
        routing_message += "; spec.mesh.canary is ignored (weighted routes need Istio)"
        canary = None
    tracks = [{"name": "stable", "version": version, "weight": 100}]
    if canary:
        tracks[0]["weight"] = 100 - int(canary["weight"])
        tracks.append({"name": "canary", "version": canary["version"], "weight": canary["weight"]})

    labels = {
        "app.kubernetes.io/part-of": "storefleet",
        MANAGED_BY_LABEL: MANAGED_BY,
        STORE_LABEL: name,
    }
    autoscaling = spec.get("autoscaling") or {}
    overrides: Mapping[str, Any] = spec.get("services") or {}
    services: list[dict[str, Any]] = []
    for service in SERVICES:
        override = overrides.get(service.name) or {}
        if not override.get("enabled", True):
            continue
        fixed_replicas = override.get("replicas")
        hpa = None
        if not suspended and fixed_replicas is None:
            low = autoscaling.get("minReplicas", plan.min_replicas)
            high = autoscaling.get("maxReplicas", plan.max_replicas)
            hpa = {
                "min": override.get("minReplicas", low),
                "max": override.get("maxReplicas", high),
                "cpu": autoscaling.get("targetCPUUtilization", plan.target_cpu_utilization),
            }
            hpa["max"] = max(hpa["max"], hpa["min"])
        env = {
            "STOREFLEET_STORE": name,
            "STOREFLEET_SERVICE": service.name,
            "STOREFLEET_PORT": str(HTTP_PORT),
        }
        env.update(override.get("env") or {})
        spec_rows = spec_integrations.of_service(SPEC_INTEGRATIONS, service.name)
        for row in spec_rows:
            env.update(row.environment(spec))
        workloads = []
        for track in tracks:
            is_stable = track["name"] == "stable"
            replicas: int | None
            if suspended:
                replicas = 0
            elif not is_stable:
                replicas = 1
            else:
                replicas = fixed_replicas
            workloads.append(
                {
                    "name": service.name if is_stable else f"{service.name}-{track['name']}",
                    "track": track["name"],
                    "version": track["version"],
                    "image": (
                        override["image"]
                        if override.get("image") and is_stable
                        else f"{image_repo}:{track['version']}"
                    ),
                    "replicas": replicas,
                    "env": {**env, "STOREFLEET_VERSION": track["version"]},
                    "secret_env": [
                        item for row in spec_rows for item in row.secret_environment(spec)
                    ],
                }
            )
        services.append(
            {
                "name": service.name,
                "account": service.account,
                "description": service.description,
                "routes": list(service.routes),
                "service_only": list(service.service_only),
                "port": HTTP_PORT,
                "hpa": hpa,
                "pdb_max_unavailable": plan.pdb_max_unavailable,
                "resources": _resources(plan, override.get("resources")),
                "workloads": workloads,
            }
        )
    routes = sorted(
        ({"path": path, "service": svc["name"]} for svc in services for path in svc["routes"]),
        key=lambda route: -len(route["path"]),
    )

    domains: list[str] = list(spec["domains"])
    branding = dict(spec.get("branding") or {})
    branding.setdefault("name", spec["displayName"])
    integrations: dict[str, IntegrationState] = {
        row.block: {
            "enabled": row.always or bool((spec.get(row.block) or {}).get("enabled", False)),
            "condition": row.condition,
            "fallback": row.fallback,
            "port": row.port,
            "settings": spec.get(row.block) or {},
        }
        for row in INTEGRATIONS
    }
    spec_egress = [d for row in SPEC_INTEGRATIONS for d in row.egress(spec)]
    url = f"{settings.url_scheme}://{domains[0]}"
    store_settings = {
        "name": name,
        "displayName": spec["displayName"],
        "url": url,
        "domains": domains,
        "currency": spec["currency"],
        "locale": spec["locale"],
        "branding": branding,
        "plan": plan.name,
        "integrations": {k: v["enabled"] for k, v in integrations.items()},
    }
    gateway_key, _, gateway_value = settings.istio_gateway_selector.partition("=")
    return {
        "store": {
            "name": name,
            "uid": meta.get("uid", ""),
            "displayName": spec["displayName"],
        },
        "owner": {"apiVersion": API_VERSION, "kind": "Store", "name": name, "uid": meta.get("uid")},
        "namespace": namespace,
        "labels": labels,
        "plan": plan,
        "suspended": suspended,
        "version": version,
        "image_pull_policy": runtime["imagePullPolicy"],
        "placement": _placement(spec, settings),
        "catalog_seed": None if spec["catalog"]["seed"] == "none" else spec["catalog"]["seed"],
        "liveness_path": LIVENESS_PATH,
        "readiness_path": READINESS_PATH,
        "drain_seconds": DRAIN_SECONDS,
        "domains": [{"host": host, "slug": _slug(host)} for host in domains],
        "url": url,
        "routing": routing,
        "routing_reason": routing_reason,
        "routing_message": routing_message,
        "services": services,
        "routes": routes,
        "service_only": sorted(path for svc in services for path in svc["service_only"]),
        "tracks": tracks,
        "mesh": spec["mesh"],
        "integrations": integrations,
        # Where the spec's integrations send each service's pods; the reconcile adds
        # the shared servers and resolves names (egress.py). Offline: addresses and
        # cluster Services only.
        "egress_destinations": spec_egress,
        "egress": egress.policies(spec_egress, {}),
        # Service -> digest of configuration its pods read from Secrets the platform
        # team owns (SMTP credentials); filled in during a reconcile.
        "config_checksums": {},
        # Filled in by provisioning (storefleet.operator.provisioning) during a reconcile;
        # an offline render shows the runtime without provisioned systems.
        "tenancy": empty_tenancy(),
        "datastores": {
            "postgres_image": settings.postgres_image,
            "redis_image": settings.redis_image,
            "postgres_resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
            "redis_resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": f"{REDIS_MEMORY_MI}Mi"},
            },
            # Below the container's limit, so Redis evicts cache keys before the
            # kernel kills it.
            "redis_maxmemory": f"{REDIS_MEMORY_MI * 3 // 4}mb",
        },
        "store_settings": store_settings,
        "store_settings_json": json.dumps(store_settings, indent=2, sort_keys=True),
        "settings": {
            "ingress_class": settings.ingress_class,
            "ingress_namespace": settings.ingress_namespace,
            "monitoring_namespace": settings.monitoring_namespace,
            "dns_cidrs": list(settings.dns_cidrs),
            "gateway_namespace": settings.istio_gateway_namespace,
            "gateway_selector": {gateway_key: gateway_value},
            "pod_security_level": settings.pod_security_level,
            "tls_secret": spec["mesh"].get("tlsSecretName") or f"{name}-tls",
        },
    }


def egress_of(context: StoreContext, tenancy: Tenancy) -> list[Destination]:
    """Where a store's pods connect: the shared servers it is provisioned on, then
    the servers its spec names."""
    return [*tenancy["egress"], *context["egress_destinations"]]


def with_tenancy(
    context: StoreContext,
    tenancy: Tenancy,
    resolved: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """The context with what provisioning made (or would make, offline) and the
    egress policies for it; ``resolved`` gives the addresses of the servers' names
    (egress.resolve), which an offline render goes without."""
    context["tenancy"] = tenancy
    context["egress"] = egress.policies(egress_of(context, tenancy), resolved or {})
