"""What a Store's templates are rendered from, as types.

``desired.build`` makes a :class:`StoreContext` from the Store's spec and the
operator's settings; the reconcile then fills in what only a pass can know:
``tenancy`` (what provisioning made, :func:`desired.with_tenancy`), ``egress``
(with the servers' names resolved) and ``config_checksums`` (digests of the
Secrets the spec names). The templates under ``templates/`` read the keys by
these names; a key misspelt in Python is a type error, not an empty field.
"""

from __future__ import annotations

from typing import Any, TypedDict

from storefleet.operator.egress import Destination
from storefleet.operator.plans import Plan
from storefleet.operator.vocabulary import ConditionType, Reason, Routing

# Where a pod finds its Vault token (a projected ServiceAccount token for Vault).
VAULT_TOKEN_DIR = "/var/run/secrets/storefleet/vault"


class StoreRef(TypedDict):
    name: str
    uid: str
    displayName: str


class Owner(TypedDict):
    apiVersion: str
    kind: str
    name: str
    uid: str | None


class Domain(TypedDict):
    host: str
    slug: str


class IntegrationState(TypedDict):
    """One integration block as the spec has it (see integrations.py)."""

    enabled: bool
    condition: ConditionType
    fallback: str
    port: int
    settings: dict[str, Any]


class Tenancy(TypedDict):
    """What provisioning made (or, offline, would make) for the templates."""

    # The credentials' home did not answer: nothing is re-rendered from them.
    blocked: bool
    # The shared servers every pod connects to.
    egress: list[Destination]
    credentials: dict[str, str]
    runtime_env: dict[str, str]
    # Service -> its own secret environment, and the Secret that holds it.
    service_env: dict[str, dict[str, str]]
    service_secrets: dict[str, str]
    vault_service_paths: dict[str, str]
    vault_roles: dict[str, str]
    pod_env: dict[str, str]
    vault: bool
    vault_audience: str
    vault_token_dir: str
    checksum: str
    # Blocks served by a stand-in in the tenant namespace.
    in_namespace: list[str]


def empty_tenancy() -> Tenancy:
    """Nothing provisioned: the runtime as rendered without any system."""
    return {
        "blocked": False,
        "egress": [],
        "credentials": {},
        "runtime_env": {},
        "service_env": {},
        "service_secrets": {},
        "vault_service_paths": {},
        "vault_roles": {},
        "pod_env": {},
        "vault": False,
        "vault_audience": "vault",
        "vault_token_dir": VAULT_TOKEN_DIR,
        "checksum": "",
        "in_namespace": [],
    }


class StoreContext(TypedDict):
    store: StoreRef
    owner: Owner
    namespace: str
    labels: dict[str, str]
    plan: Plan
    suspended: bool
    version: str
    image_pull_policy: str
    placement: dict[str, Any]
    catalog_seed: str | None
    liveness_path: str
    readiness_path: str
    drain_seconds: int
    domains: list[Domain]
    url: str
    routing: Routing
    routing_reason: Reason
    routing_message: str
    # Per runtime service: its routes, resources, autoscaling and workloads (tracks).
    services: list[dict[str, Any]]
    routes: list[dict[str, str]]
    service_only: list[str]
    tracks: list[dict[str, Any]]
    mesh: dict[str, Any]
    integrations: dict[str, IntegrationState]
    # Where the spec's integrations send each service's pods, and the egress
    # NetworkPolicies for them and the shared servers (egress.policies).
    egress_destinations: list[Destination]
    egress: list[dict[str, Any]]
    # Service -> digest of what its pods read from the Secrets the spec names.
    config_checksums: dict[str, str]
    tenancy: Tenancy
    datastores: dict[str, Any]
    store_settings: dict[str, Any]
    store_settings_json: str
    settings: dict[str, Any]
