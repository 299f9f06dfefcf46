"""Kafka: the Store's event topics, named under its prefix, sized from its plan.

Topics are created with the plan's partition count and retention; a plan that
grows adds partitions (Kafka cannot take them away, so a shrinking plan keeps
what it has and says so).

With SASL credentials for a super user in its settings, the operator also makes
each Store a SCRAM-SHA-512 user, ``store-<name>``, and ACLs that allow it its
own topics and consumer groups only: PREFIXED patterns on ``store.<name>.``,
which is both the topic prefix and the consumer-group prefix of the runtime.
A broker with an authorizer that denies what no ACL allows
(``allow.everyone.if.no.acl.found=false``) then refuses that user every other
store's topics and groups. The user, its password and the ACLs are converged
on every pass (a rotated password reaches the broker on the next reconcile)
and removed when the Store is deleted, whatever its deletionPolicy: Retain
keeps the topics' data, never a deleted Store's access to them. Without
credentials the cluster is taken to have no authentication, and the condition
says the topics are not isolated.

aiokafka's admin client has no SCRAM or ACL calls; those go through
confluent-kafka's AdminClient (librdkafka), whose blocking futures run in a
thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from storefleet.operator.provisioners.base import DeletionPolicy, Result, Tenant, outcome
from storefleet.operator.vocabulary import ConditionType, Reason

CONDITION = ConditionType.EVENTS
# One topic per stream of events the runtime publishes, plus where poison goes.
STREAMS: Final = (
    "accounts",
    "catalog",
    "cart",
    "orders",
    "payments",
    "notifications",
    "analytics",
    "vendors",
    "dead-letter",
)
DAY_MS: Final = 24 * 3600 * 1000
SASL_MECHANISM: Final = "SCRAM-SHA-512"
SCRAM_ITERATIONS: Final = 8192
# What a store's user may do on its own prefix: the runtime produces, consumes,
# creates missing topics and reads their configuration; it never deletes or alters.
TOPIC_OPERATIONS: Final = (
    AclOperation.READ,
    AclOperation.WRITE,
    AclOperation.DESCRIBE,
    AclOperation.CREATE,
    AclOperation.DESCRIBE_CONFIGS,
)
GROUP_OPERATIONS: Final = (AclOperation.READ, AclOperation.DESCRIBE)


@dataclass(frozen=True)
class TopicShape:
    partitions: int
    retention_ms: int


# Plan -> how its topics are sized (spec.events can override both).
PLAN_TOPICS: Final[Mapping[str, TopicShape]] = {
    "small": TopicShape(partitions=1, retention_ms=3 * DAY_MS),
    "standard": TopicShape(partitions=3, retention_ms=7 * DAY_MS),
    "large": TopicShape(partitions=6, retention_ms=14 * DAY_MS),
}


def topic_prefix(tenant: Tenant) -> str:
    return f"store.{tenant.store}."


def topic_names(tenant: Tenant) -> list[str]:
    return [topic_prefix(tenant) + stream for stream in STREAMS]


def group_prefix(tenant: Tenant) -> str:
    """The runtime names its consumer groups <topic prefix><consumer>."""
    return topic_prefix(tenant)


def username(tenant: Tenant) -> str:
    return f"store-{tenant.store}"


def acl_bindings(tenant: Tenant) -> list[AclBinding]:
    """The store's ACLs: ALLOW on its own topic and group prefixes, nothing else."""
    principal = f"User:{username(tenant)}"
    wanted = [(ResourceType.TOPIC, topic_prefix(tenant), op) for op in TOPIC_OPERATIONS] + [
        (ResourceType.GROUP, group_prefix(tenant), op) for op in GROUP_OPERATIONS
    ]
    return [
        AclBinding(
            kind,
            name,
            ResourcePatternType.PREFIXED,
            principal,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for kind, name, operation in wanted
    ]


def _acls_of(tenant: Tenant) -> AclBindingFilter:
    """Every ACL whose principal is the store's user, on any resource."""
    # None matches any name and any host (the stubs say str; librdkafka takes NULL).
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]
        ResourcePatternType.ANY,
        f"User:{username(tenant)}",
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def shape_for(tenant: Tenant, plan: str) -> TopicShape:
    base = PLAN_TOPICS[plan]
    partitions = tenant.spec.get("partitions", base.partitions)
    retention_hours = tenant.spec.get("retentionHours")
    return TopicShape(
        partitions=partitions if isinstance(partitions, int) else base.partitions,
        retention_ms=retention_hours * 3600 * 1000
        if isinstance(retention_hours, int)
        else base.retention_ms,
    )


class KafkaProvisioner:
    condition_type = CONDITION

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        username: str | None = None,
        password: str | None = None,
        security_protocol: str = "SASL_PLAINTEXT",
        plan: str = "small",
        timeout: float = 15.0,
    ):
        self.bootstrap_servers = bootstrap_servers
        # The super user's SASL login; None: a cluster without authentication.
        self.username = username
        self.password = password
        self.security_protocol = security_protocol if username else "PLAINTEXT"
        self.plan = plan
        self.timeout = timeout

    @property
    def authenticated(self) -> bool:
        return bool(self.username)

    async def _admin(self) -> AIOKafkaAdminClient:
        sasl: dict[str, Any] = {}
        if self.authenticated:
            sasl = {
                "sasl_mechanism": SASL_MECHANISM,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password or "",
            }
        if self.security_protocol == "SASL_SSL":
            sasl["ssl_context"] = create_ssl_context()
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            request_timeout_ms=int(self.timeout * 1000),
            **sasl,
        )
        await asyncio.wait_for(admin.start(), self.timeout)
        return admin

    def _acl_admin(self) -> AdminClient:
        return AdminClient(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "security.protocol": self.security_protocol,
                "sasl.mechanism": SASL_MECHANISM,
                "sasl.username": self.username or "",
                "sasl.password": self.password or "",
                "socket.timeout.ms": int(self.timeout * 1000),
            }
        )

    async def _wait(self, futures: Mapping[Any, Future[Any]] | list[Future[Any]]) -> list[Any]:
        """The results of confluent-kafka's futures, waited for in a thread."""
        pending = list(futures.values()) if isinstance(futures, Mapping) else list(futures)

        def wait() -> list[Any]:
            return [future.result(timeout=self.timeout) for future in pending]

        return await asyncio.to_thread(wait)

    async def _ensure_user(self, tenant: Tenant, password: str) -> None:
        """The store's SCRAM user with this password, and exactly its ACLs."""
        if not password:
            raise ValueError("the store's Kafka user needs a password")
        admin = self._acl_admin()
        credential = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        await self._wait(
            admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(username(tenant), credential, password.encode())],
                request_timeout=self.timeout,
            )
        )
        wanted = acl_bindings(tenant)
        (present,) = await self._wait([admin.describe_acls(_acls_of(tenant))])
        stale = [binding for binding in present if binding not in wanted]
        if stale:
            await self._wait(
                admin.delete_acls(
                    [_exact_filter(binding) for binding in stale], request_timeout=self.timeout
                )
            )
        # Creating an ACL that exists already is a no-op on the broker.
        await self._wait(admin.create_acls(wanted, request_timeout=self.timeout))

    async def _user_exists(self, tenant: Tenant) -> bool:
        admin = self._acl_admin()
        futures = admin.describe_user_scram_credentials(
            [username(tenant)], request_timeout=self.timeout
        )
        try:
            await self._wait(futures if isinstance(futures, Mapping) else [futures])
        except KafkaException as exc:
            if "RESOURCE_NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
                return False
            raise
        return True

    async def _delete_user(self, tenant: Tenant) -> None:
        admin = self._acl_admin()
        await self._wait(admin.delete_acls([_acls_of(tenant)], request_timeout=self.timeout))
        if await self._user_exists(tenant):
            await self._wait(
                admin.alter_user_scram_credentials(
                    [UserScramCredentialDeletion(username(tenant), ScramMechanism.SCRAM_SHA_512)],
                    request_timeout=self.timeout,
                )
            )

    async def ensure(self, tenant: Tenant, password: str = "") -> Result:
        shape = shape_for(tenant, self.plan)
        wanted = topic_names(tenant)
        try:
            admin = await self._admin()
            try:
                existing = set(await admin.list_topics())
                missing = [name for name in wanted if name not in existing]
                if missing:
                    config = {"retention.ms": str(shape.retention_ms)}
                    await admin.create_topics(
                        [
                            NewTopic(name, shape.partitions, 1, topic_configs=config)
                            for name in missing
                        ]
                    )
                    # Created is not yet usable: Ready must mean a producer can write.
                    await self._settle(admin, missing, partitions=shape.partitions)
                present = [name for name in wanted if name in existing]
                kept = await self._converge(admin, present, shape)
            finally:
                await admin.close()
            if self.authenticated:
                await self._ensure_user(tenant, password)
        except (KafkaError, KafkaException, TimeoutError, OSError) as exc:
            return _unavailable(exc)
        message = (
            f"{len(wanted)} topics {topic_prefix(tenant)}* with {shape.partitions} partition(s), "
            f"retention {shape.retention_ms // 3_600_000}h"
        )
        if kept:
            message += f"; {', '.join(kept)} keep more partitions (Kafka cannot remove them)"
        outputs = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": topic_prefix(tenant),
        }
        if self.authenticated:
            message += (
                f"; SCRAM user {username(tenant)} allowed topics and groups "
                f"{topic_prefix(tenant)}* only"
            )
            outputs |= {
                "KAFKA_SECURITY_PROTOCOL": self.security_protocol,
                "KAFKA_SASL_MECHANISM": SASL_MECHANISM,
                "KAFKA_SASL_USERNAME": username(tenant),
                "KAFKA_SASL_PASSWORD": password,
            }
        else:
            message += "; the cluster has no authentication: the topics are not isolated"
        return outcome(CONDITION, Reason.PROVISIONED, message, outputs)

    async def _converge(
        self, admin: AIOKafkaAdminClient, topics: list[str], shape: TopicShape
    ) -> list[str]:
        """Grow partitions and set retention on existing topics; return those left larger."""
        if not topics:
            return []
        counts = await _partition_counts(admin, topics)
        grow = {
            name: NewPartitions(shape.partitions)
            for name, n in counts.items()
            if n < shape.partitions
        }
        if grow:
            await admin.create_partitions(grow)
            await self._settle(admin, list(grow), partitions=shape.partitions)
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    name,
                    configs={"retention.ms": str(shape.retention_ms)},
                )
                for name in topics
            ]
        )
        return sorted(name for name, n in counts.items() if n > shape.partitions)

    async def _settle(self, admin: AIOKafkaAdminClient, topics: list[str], partitions: int) -> None:
        """Wait until the broker's metadata shows each topic with `partitions` (0: gone)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            if partitions:
                counts = await _partition_counts(admin, topics)
                settled = all(counts.get(name, 0) >= partitions for name in topics)
            else:
                settled = not set(topics) & set(await admin.list_topics())
            if settled:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"topics {topics} did not settle at {partitions} partitions")
            await asyncio.sleep(0.2)

    async def describe(self, tenant: Tenant) -> Result:
        try:
            admin = await self._admin()
            try:
                existing = set(await admin.list_topics())
            finally:
                await admin.close()
            user = await self._user_exists(tenant) if self.authenticated else True
        except (KafkaError, KafkaException, TimeoutError, OSError) as exc:
            return _unavailable(exc)
        missing = [name for name in topic_names(tenant) if name not in existing]
        if missing:
            return outcome(CONDITION, Reason.MISSING, f"missing topics {missing}")
        if not user:
            return outcome(CONDITION, Reason.MISSING, f"no SCRAM user {username(tenant)}")
        return outcome(CONDITION, Reason.PROVISIONED, f"topics {topic_prefix(tenant)}* exist")

    async def delete(self, tenant: Tenant, policy: DeletionPolicy) -> Result:
        # A deleted Store's access goes whatever the policy: Retain keeps data only.
        try:
            if self.authenticated:
                await self._delete_user(tenant)
        except (KafkaException, TimeoutError, OSError) as exc:
            return _unavailable(exc)
        gone = f"; SCRAM user {username(tenant)} and its ACLs removed" if self.authenticated else ""
        if policy == "Retain":
            return outcome(
                CONDITION,
                Reason.RETAINED,
                f"deletionPolicy Retain: topics {topic_prefix(tenant)}* kept{gone}",
            )
        try:
            admin = await self._admin()
            try:
                existing = set(await admin.list_topics())
                doomed = [name for name in topic_names(tenant) if name in existing]
                if doomed:
                    await admin.delete_topics(doomed)
                    await self._settle(admin, doomed, partitions=0)
            finally:
                await admin.close()
        except (KafkaError, TimeoutError, OSError) as exc:
            return _unavailable(exc)
        return outcome(CONDITION, Reason.DELETED, f"{len(doomed)} topics deleted{gone}")


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    described = await admin.describe_topics(topics)
    return {t["topic"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}


def _exact_filter(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


def _unavailable(exc: Any) -> Result:
    detail = str(exc) or type(exc).__name__
    return outcome(CONDITION, Reason.KAFKA_UNAVAILABLE, detail)
