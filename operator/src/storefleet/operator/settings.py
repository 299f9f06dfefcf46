"""Operator settings, read from STOREFLEET_OPERATOR_* environment variables.

docs/operator-settings.md lists them; keep the two in step (a unit test checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The repository root (operator/src/storefleet/operator/ is four folders below it),
# which holds crds/ and templates/; the image sets both folders by environment.
_ROOT = Path(__file__).resolve().parents[4]


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_OPERATOR_", frozen=True)

    field_manager: str = Field(
        default="storefleet-operator",
        description="Server-side apply field manager of every object.",
    )
    namespace_prefix: str = Field(
        default="store-", description="Tenant namespace is <prefix><store>."
    )
    runtime_image: str = Field(
        default="ghcr.io/storefleet/runtime",
        description="Runtime image repository when a Store does not name one.",
    )
    postgres_image: str = Field(
        default="ghcr.io/storefleet/postgres:0.1.0",
        description="Image of the in-namespace PostgreSQL a Store gets when it enables "
        "spec.database and the operator has no shared server.",
    )
    redis_image: str = Field(
        default="ghcr.io/storefleet/redis:0.1.0",
        description="Image of the in-namespace Redis a Store gets when it enables spec.cache "
        "and the operator has no shared server.",
    )
    default_node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Node labels (JSON object) a Store's pods require when its "
        "spec.placement.nodeSelector is unset.",
    )
    default_tolerations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Tolerations (JSON list) of a Store's pods when its spec.placement.tolerations "
        "is unset.",
    )
    vendor_api_url: str = Field(
        default="http://vendors.{namespace}.svc:8000",
        description="Where the operator reaches a store's vendors service to register Vendors; "
        "{namespace} and {store} are filled in.",
    )
    provision_retry_max_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest wait between retries while an external system (database, Vault, "
        "Keycloak, ...) fails; retries start at 5 s and double.",
    )
    url_scheme: Literal["https", "http"] = Field(
        default="https", description="Scheme of status.url."
    )
    ingress_class: str | None = Field(
        default="nginx", description="IngressClass of the fallback Ingress (when Istio is absent)."
    )
    istio_gateway_selector: str = Field(
        default="istio=ingressgateway",
        description="label=value selecting the Istio ingress gateway.",
    )
    istio_gateway_namespace: str = Field(
        default="istio-system",
        description="Namespace of the ingress gateway (allowed by policies).",
    )
    ingress_namespace: str = Field(
        default="ingress-nginx",
        description="Namespace of the Ingress controller (allowed by policies).",
    )
    monitoring_namespace: str = Field(
        default="monitoring", description="Namespace allowed to scrape the runtime's metrics."
    )
    dns_cidrs: list[str] = Field(
        default_factory=list,
        description="Addresses (CIDRs, JSON list) of cluster DNS servers that are not pods "
        "labelled k8s-app=kube-dns, such as node-local DNS caches or a node's own DNS "
        "server; a Store's pods may send DNS (port 53) to them too.",
    )
    pod_security_level: Literal["restricted", "baseline", "privileged"] = Field(
        default="restricted",
        description="Pod Security Admission level enforced on tenant namespaces "
        "(Istio without istio-cni needs privileged).",
    )
    store_selector: str = Field(
        default="",
        description="Only reconcile Stores with these labels (key=value,...); empty: all.",
    )
    drift_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often every Store is reconciled to undo drift."
    )
    watch_owned_objects: bool = Field(
        default=True, description="Reconcile a Store as soon as one of its Deployments changes."
    )
    worker_limit: int = Field(
        default=200,
        gt=0,
        description="Stores handled by Kopf at once; API writes are bounded separately.",
    )
    apply_concurrency: int = Field(
        default=16, gt=0, description="Applies in flight at once, across all Stores."
    )
    discovery_ttl_seconds: float = Field(
        default=30.0, ge=0, description="How long the list of APIs the cluster serves is cached."
    )
    watch_server_timeout_seconds: int = Field(
        default=300, gt=0, description="Server-side timeout of each watch request."
    )
    watch_client_timeout_seconds: int = Field(
        default=330, gt=0, description="Client-side timeout of each watch; catches silent streams."
    )
    connect_timeout_seconds: float = Field(default=10.0, gt=0, description="API connect timeout.")
    request_timeout_seconds: float = Field(default=60.0, gt=0, description="API request timeout.")
    metrics_port: int = Field(
        default=9090, ge=0, le=65535, description="Prometheus /metrics port; 0 turns it off."
    )
    health_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="Liveness endpoint port (/healthz); 0 turns it off.",
    )
    log_format: Literal["json", "plain"] = Field(default="json", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    standalone: bool = Field(
        default=True,
        description="Run without Kopf peering (one replica). False needs the peering CRD.",
    )
    peering_priority: int = Field(
        default=0, description="Kopf peering priority when not standalone."
    )
    peering_name: str = Field(
        default="default",
        description="The ClusterKopfPeering the replicas share when not standalone; it must "
        "exist (the chart creates it), or the operator refuses to start.",
    )
    templates_dir: Path = Field(
        default=_ROOT / "templates", description="Jinja2 manifest templates."
    )
    crds_dir: Path = Field(default=_ROOT / "crds", description="CustomResourceDefinitions.")


def load_settings() -> OperatorSettings:
    return OperatorSettings()
