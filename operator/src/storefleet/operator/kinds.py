"""The kinds of object a Store owns: one row each.

The table drives pruning (which kinds to list), discovery (which kinds need an
API the cluster may not serve) and offline validation (which model checks a
rendered object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool
    # kubernetes.client model for offline checks; None where the schema is a CRD's
    model: str | None = None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


KINDS: Final[tuple[Kind, ...]] = (
    Kind("v1", "Namespace", "namespaces", False, "V1Namespace"),
    Kind("v1", "ServiceAccount", "serviceaccounts", True, "V1ServiceAccount"),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles", True, "V1Role"),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True, "V1RoleBinding"),
    Kind("v1", "ResourceQuota", "resourcequotas", True, "V1ResourceQuota"),
    Kind("v1", "LimitRange", "limitranges", True, "V1LimitRange"),
    Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, "V1NetworkPolicy"),
    Kind("v1", "ConfigMap", "configmaps", True, "V1ConfigMap"),
    Kind("v1", "Secret", "secrets", True, "V1Secret"),
    Kind("apps/v1", "Deployment", "deployments", True, "V1Deployment"),
    Kind("apps/v1", "StatefulSet", "statefulsets", True, "V1StatefulSet"),
    Kind("batch/v1", "Job", "jobs", True, "V1Job"),
    Kind("v1", "Service", "services", True, "V1Service"),
    Kind(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        "V2HorizontalPodAutoscaler",
    ),
    Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "V1PodDisruptionBudget"),
    Kind("networking.k8s.io/v1", "Ingress", "ingresses", True, "V1Ingress"),
    Kind("networking.istio.io/v1", "Gateway", "gateways", True),
    Kind("networking.istio.io/v1", "VirtualService", "virtualservices", True),
    Kind("networking.istio.io/v1", "DestinationRule", "destinationrules", True),
    Kind("security.istio.io/v1", "PeerAuthentication", "peerauthentications", True),
    Kind("security.istio.io/v1", "AuthorizationPolicy", "authorizationpolicies", True),
)

BY_KIND: Final = {(k.api_version, k.kind): k for k in KINDS}

# The APIs that decide whether a tenant is routed through Istio.
ISTIO_API_VERSIONS: Final = ("networking.istio.io/v1", "security.istio.io/v1")

STORE: Final = Kind("storefleet.io/v1alpha1", "Store", "stores", False)
VENDOR: Final = Kind("storefleet.io/v1alpha1", "Vendor", "vendors", True)


def kind_of(api_version: str, kind: str) -> Kind:
    try:
        return BY_KIND[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the operator does not manage {kind} ({api_version})") from None
