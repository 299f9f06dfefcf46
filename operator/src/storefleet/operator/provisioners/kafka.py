"""Kafka: the Store's event topics, named under its prefix, sized from its plan.

Topics are created with the plan's partition count and retention; a plan that
grows adds partitions (Kafka cannot take them away, so a shrinking plan keeps
what it has and says so). This broker runs without an authorizer: names keep
tenants apart, and per-tenant ACLs are left to clusters that enable SASL and
an authorizer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

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

    def __init__(self, bootstrap_servers: str, *, plan: str = "small", timeout: float = 15.0):
        self.bootstrap_servers = bootstrap_servers
        self.plan = plan
        self.timeout = timeout

    async def _admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            request_timeout_ms=int(self.timeout * 1000),
        )
        await asyncio.wait_for(admin.start(), self.timeout)
        return admin

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
        except (KafkaError, TimeoutError, OSError) as exc:
            return _unavailable(exc)
        message = (
            f"{len(wanted)} topics {topic_prefix(tenant)}* with {shape.partitions} partition(s), "
            f"retention {shape.retention_ms // 3_600_000}h"
        )
        if kept:
            message += f"; {', '.join(kept)} keep more partitions (Kafka cannot remove them)"
        return outcome(
            CONDITION,
            Reason.PROVISIONED,
            message,
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
                "KAFKA_TOPIC_PREFIX": topic_prefix(tenant),
            },
        )

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
        except (KafkaError, TimeoutError, OSError) as exc:
            return _unavailable(exc)
        missing = [name for name in topic_names(tenant) if name not in existing]
        if missing:
            return outcome(CONDITION, Reason.MISSING, f"missing topics {missing}")
        return outcome(CONDITION, Reason.PROVISIONED, f"topics {topic_prefix(tenant)}* exist")

    async def delete(self, tenant: Tenant, policy: DeletionPolicy) -> Result:
        if policy == "Retain":
            return outcome(
                CONDITION,
                Reason.RETAINED,
                f"deletionPolicy Retain: topics {topic_prefix(tenant)}* kept",
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
        return outcome(CONDITION, Reason.DELETED, f"{len(doomed)} topics deleted")


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    described = await admin.describe_topics(topics)
    return {t["topic"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}


def _unavailable(exc: Any) -> Result:
    detail = str(exc) or type(exc).__name__
    return outcome(CONDITION, Reason.KAFKA_UNAVAILABLE, detail)
