"""The provisioners the operator's settings configure, by the Store spec block they serve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from storefleet.operator.provisioners.base import Provisioner
from storefleet.operator.provisioners.kafka import KafkaProvisioner
from storefleet.operator.provisioners.keycloak import KeycloakProvisioner
from storefleet.operator.provisioners.postgres import PostgresProvisioner
from storefleet.operator.provisioners.redis import RedisProvisioner
from storefleet.operator.provisioners.settings import ProvisionerSettings
from storefleet.operator.provisioners.vault import VaultProvisioner


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


# spec block -> (is it configured?, how to make its provisioner for a plan)
_FACTORIES: Final[
    dict[
        str,
        tuple[
            Callable[[ProvisionerSettings], bool],
            Callable[[ProvisionerSettings, str], Provisioner],
        ],
    ]
] = {
    "database": (
        lambda s: s.postgres_dsn is not None,
        lambda s, _plan: PostgresProvisioner(
            _secret(s.postgres_dsn), connect_timeout=s.timeout_seconds
        ),
    ),
    "cache": (
        lambda s: s.redis_url is not None,
        lambda s, _plan: RedisProvisioner(_secret(s.redis_url), timeout=s.timeout_seconds),
    ),
    "events": (
        lambda s: bool(s.kafka_bootstrap_servers),
        lambda s, plan: KafkaProvisioner(
            str(s.kafka_bootstrap_servers),
            username=s.kafka_username,
            password=_secret(s.kafka_password) if s.kafka_password is not None else None,
            security_protocol=s.kafka_security_protocol,
            plan=plan,
            timeout=s.timeout_seconds,
        ),
    ),
    "secrets": (
        lambda s: bool(s.vault_addr) and s.vault_token is not None,
        lambda s, _plan: VaultProvisioner(
            str(s.vault_addr),
            _secret(s.vault_token),
            kv_mount=s.vault_kv_mount,
            auth_mount=s.vault_auth_mount,
            timeout=s.timeout_seconds,
        ),
    ),
    "identity": (
        lambda s: bool(s.keycloak_url and s.keycloak_username) and s.keycloak_password is not None,
        lambda s, _plan: KeycloakProvisioner(
            str(s.keycloak_url),
            str(s.keycloak_username),
            _secret(s.keycloak_password),
            timeout=s.timeout_seconds,
        ),
    ),
}


def server_address(block: str, settings: ProvisionerSettings) -> str | None:
    """Where a block's shared server is, as configured (a URL, DSN or host:port list),
    for the egress NetworkPolicies; never logged, a DSN may hold a password."""
    value = {
        "database": settings.postgres_dsn,
        "cache": settings.redis_url,
        "events": settings.kafka_bootstrap_servers,
        "secrets": settings.vault_addr,
        "identity": settings.keycloak_url,
    }[block]
    return None if value is None else _secret(value)


def configured(settings: ProvisionerSettings) -> list[str]:
    """The spec blocks whose shared server the operator was given."""
    return [block for block, (ready, _) in _FACTORIES.items() if ready(settings)]


def provisioner_for(block: str, settings: ProvisionerSettings, plan: str) -> Provisioner | None:
    """The provisioner of a spec block, or None when its server is not configured."""
    ready, make = _FACTORIES[block]
    return make(settings, plan) if ready(settings) else None
