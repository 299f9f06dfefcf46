"""The integration blocks of a Store's spec (``database``, ``cache``, ``events``,
``secrets``, ``identity``), one row each: everything the operator knows of a
block — its condition, what stands in without it, its shared server and how to
provision on it, its in-namespace stand-in, the credential that is its tenant's
password — in one place. Rendering (desired.py), provisioning (provisioning.py)
and observing (observe.py) read the rows; none keeps a table of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from storefleet.operator.credentials import CREDENTIALS_SECRET, RUNTIME_ENV_SECRET
from storefleet.operator.provisioners.base import Provisioner
from storefleet.operator.provisioners.kafka import KafkaProvisioner
from storefleet.operator.provisioners.keycloak import KeycloakProvisioner
from storefleet.operator.provisioners.postgres import PostgresProvisioner
from storefleet.operator.provisioners.redis import RedisProvisioner
from storefleet.operator.provisioners.settings import ProvisionerSettings
from storefleet.operator.provisioners.vault import VaultProvisioner
from storefleet.operator.vocabulary import ConditionType, Reason


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


@dataclass(frozen=True)
class StandIn:
    """A workload in the tenant namespace that serves a block when the operator
    has no shared server for it (datastores.yaml.j2 renders it)."""

    kind: str
    name: str
    port: int
    # The runtime setting it is reached by, and its URL from (host, port, password).
    setting: str
    url: Callable[[str, int, str], str]


@dataclass(frozen=True)
class Carrier:
    """Another block whose server carries this one's traffic when the operator has
    no server of its own for it."""

    block: str
    reason: Reason
    message: str


@dataclass(frozen=True)
class Integration:
    block: str
    condition: ConditionType
    # What the runtime uses when the block is off.
    fallback: str
    # Its server's usual TCP port.
    port: int
    # The condition when the block is on and the operator has no server for it.
    unserved: tuple[Reason, str]
    # The operator's setting naming the shared server (a URL, DSN or host:port
    # list; may hold a password, never logged), and the provisioner on it for a
    # plan, or None when the server is not (fully) configured.
    server: Callable[[ProvisionerSettings], object | None]
    provisioner: Callable[[ProvisionerSettings, str], Provisioner | None]
    stand_in: StandIn | None = None
    carrier: Carrier | None = None
    # The generated credential that is the tenant's password on the server (or
    # on the stand-in), when the block has one.
    password: str | None = None
    # Torn down after every other block: it holds what the others need to be found.
    last_to_go: bool = False
    # On whatever the spec says: the runtime's laptop stand-in for it (SQLite, the
    # memory cache) would give each replica its own, so no pod runs on it.
    always: bool = False

    def in_namespace(self) -> str:
        """What holds the block's data in the tenant namespace when no shared
        server serves it (deleted with the namespace)."""
        if self.stand_in is not None:
            return f"the {self.stand_in.kind} {self.stand_in.name} and its volume"
        if self.carrier is not None:
            return f"in the store's {self.carrier.block}"
        return self.fallback

    def server_address(self, settings: ProvisionerSettings) -> str | None:
        value = self.server(settings)
        return None if value is None else _secret(value)


def _postgres(s: ProvisionerSettings, plan: str) -> Provisioner | None:
    if s.postgres_dsn is None:
        return None
    return PostgresProvisioner(_secret(s.postgres_dsn), connect_timeout=s.timeout_seconds)


def _redis(s: ProvisionerSettings, plan: str) -> Provisioner | None:
    if s.redis_url is None:
        return None
    return RedisProvisioner(_secret(s.redis_url), timeout=s.timeout_seconds)


def _kafka(s: ProvisionerSettings, plan: str) -> Provisioner | None:
    if not s.kafka_bootstrap_servers:
        return None
    return KafkaProvisioner(
        s.kafka_bootstrap_servers,
        username=s.kafka_username,
        password=_secret(s.kafka_password) if s.kafka_password is not None else None,
        security_protocol=s.kafka_security_protocol,
        plan=plan,
        timeout=s.timeout_seconds,
    )


def _vault(s: ProvisionerSettings, plan: str) -> Provisioner | None:
    if not s.vault_addr or s.vault_token is None:
        return None
    return VaultProvisioner(
        s.vault_addr,
        _secret(s.vault_token),
        kv_mount=s.vault_kv_mount,
        auth_mount=s.vault_auth_mount,
        timeout=s.timeout_seconds,
    )


def _keycloak(s: ProvisionerSettings, plan: str) -> Provisioner | None:
    if not (s.keycloak_url and s.keycloak_username) or s.keycloak_password is None:
        return None
    return KeycloakProvisioner(
        s.keycloak_url,
        s.keycloak_username,
        _secret(s.keycloak_password),
        timeout=s.timeout_seconds,
    )


INTEGRATIONS: Final[tuple[Integration, ...]] = (
    Integration(
        block="database",
        condition=ConditionType.DATABASE,
        fallback="embedded SQLite database",
        port=5432,
        unserved=(Reason.IN_NAMESPACE, "a PostgreSQL StatefulSet in the tenant namespace"),
        server=lambda s: s.postgres_dsn,
        provisioner=_postgres,
        stand_in=StandIn(
            "StatefulSet",
            "postgres",
            5432,
            "DATABASE_URL",
            lambda host, port, password: (
                f"postgresql://storefleet:{password}@{host}:{port}/storefleet"
            ),
        ),
        password="database-password",
        always=True,
    ),
    Integration(
        block="cache",
        condition=ConditionType.CACHE,
        fallback="in-memory cache",
        port=6379,
        unserved=(Reason.IN_NAMESPACE, "a Redis StatefulSet in the tenant namespace"),
        server=lambda s: s.redis_url,
        provisioner=_redis,
        stand_in=StandIn(
            "StatefulSet",
            "redis",
            6379,
            "REDIS_URL",
            lambda host, port, password: f"redis://default:{password}@{host}:{port}/0",
        ),
        password="cache-password",
        always=True,
    ),
    Integration(
        block="events",
        condition=ConditionType.EVENTS,
        fallback="in-process event bus",
        port=9092,
        unserved=(
            Reason.IN_PROCESS_BUS,
            "the operator has no Kafka configured; the runtime uses its in-process event bus",
        ),
        server=lambda s: s.kafka_bootstrap_servers,
        provisioner=_kafka,
        # With no Kafka, the store's Redis (shared or in-namespace) carries its
        # events as Redis Streams.
        carrier=Carrier(
            "cache",
            Reason.REDIS_STREAMS,
            "the operator has no Kafka configured; events travel as Redis Streams in the "
            "store's Redis (spec.cache)",
        ),
        password="events-password",
    ),
    Integration(
        block="secrets",
        condition=ConditionType.SECRETS,
        fallback="Kubernetes Secrets in the tenant namespace",
        port=8200,
        unserved=(
            Reason.KUBERNETES_SECRETS,
            "the operator has no Vault configured; credentials are in the Secret "
            f"{CREDENTIALS_SECRET} and the runtime's in {RUNTIME_ENV_SECRET}",
        ),
        server=lambda s: s.vault_addr,
        provisioner=_vault,
        last_to_go=True,
    ),
    Integration(
        block="identity",
        condition=ConditionType.IDENTITY,
        fallback="built-in accounts service login",
        port=8443,
        unserved=(
            Reason.BUILT_IN_ACCOUNTS,
            "the operator has no Keycloak configured; the runtime's accounts service signs "
            "users in",
        ),
        server=lambda s: s.keycloak_url,
        provisioner=_keycloak,
    ),
)
BY_BLOCK: Final[Mapping[str, Integration]] = {row.block: row for row in INTEGRATIONS}
# The order blocks are torn down in.
TEARDOWN: Final[tuple[Integration, ...]] = tuple(
    sorted(INTEGRATIONS, key=lambda row: row.last_to_go)
)


def configured(settings: ProvisionerSettings) -> list[str]:
    """The blocks whose shared server the operator was given."""
    return [row.block for row in INTEGRATIONS if row.provisioner(settings, "") is not None]


def provisioner_for(block: str, settings: ProvisionerSettings, plan: str) -> Provisioner | None:
    """The provisioner of a block, or None when its server is not configured."""
    return BY_BLOCK[block].provisioner(settings, plan)
