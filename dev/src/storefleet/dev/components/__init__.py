"""The dev stack's components, by name, in the order they start."""

from __future__ import annotations

from storefleet.dev.components.base import Component, Status
from storefleet.dev.components.helm import Helm
from storefleet.dev.components.ingress import Ingress
from storefleet.dev.components.kafka import Kafka
from storefleet.dev.components.keycloak import Keycloak
from storefleet.dev.components.kube_score import KubeScore
from storefleet.dev.components.kubernetes import Kubernetes
from storefleet.dev.components.kwok import Kwok
from storefleet.dev.components.netpol import NetworkPolicies
from storefleet.dev.components.node import Node
from storefleet.dev.components.platform_crds import PlatformCrds
from storefleet.dev.components.postgres import Postgres
from storefleet.dev.components.redis import Redis
from storefleet.dev.components.relay import Relay
from storefleet.dev.components.smtp import Smtp
from storefleet.dev.components.vault import Vault

COMPONENTS: dict[str, type[Component]] = {
    "kubernetes": Kubernetes,
    "kwok": Kwok,
    "node": Node,
    "netpol": NetworkPolicies,
    "relay": Relay,
    "ingress": Ingress,
    "postgres": Postgres,
    "redis": Redis,
    "kafka": Kafka,
    "keycloak": Keycloak,
    "platform-crds": PlatformCrds,
    "vault": Vault,
    "smtp": Smtp,
    "helm": Helm,
    "kube-score": KubeScore,
}

__all__ = ["COMPONENTS", "Component", "Status"]
