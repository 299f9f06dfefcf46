"""Each Store gets its own event topics, sized from its plan."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.kafka import STREAMS, KafkaProvisioner, topic_names

CREATED: list[Tenant] = []


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    while CREATED:
        await KafkaProvisioner(kafka_bootstrap).delete(CREATED.pop(), "Delete")
    await client.close()


def tenant() -> Tenant:
    who = Tenant(store=f"acme-{secrets.token_hex(3)}", namespace="unused")
    CREATED.append(who)
    return who


async def partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}


async def test_a_store_gets_its_topics_sized_by_plan(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    who = tenant()
    result = await KafkaProvisioner(kafka_bootstrap, plan="standard").ensure(who)
    assert result.ok, result.condition
    assert result.outputs["KAFKA_TOPIC_PREFIX"] == f"store.{who.store}."
    names = topic_names(who)
    assert len(names) == len(STREAMS)
    assert set(names) <= set(await admin.list_topics())
    assert set((await partitions(admin, names)).values()) == {3}


async def test_ensure_twice_is_harmless_and_a_bigger_plan_adds_partitions(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    who = tenant()
    small = KafkaProvisioner(kafka_bootstrap, plan="small")
    assert (await small.ensure(who)).ok
    assert (await small.ensure(who)).ok
    assert set((await partitions(admin, topic_names(who))).values()) == {1}

    grown = await KafkaProvisioner(kafka_bootstrap, plan="large").ensure(who)
    assert grown.ok, grown.condition
    assert set((await partitions(admin, topic_names(who))).values()) == {6}

    shrunk = await small.ensure(who)
    assert shrunk.ok
    assert "keep more partitions" in shrunk.condition.message


async def test_delete_removes_topics_and_retain_keeps_them(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient
) -> None:
    provisioner = KafkaProvisioner(kafka_bootstrap)
    kept, gone = tenant(), tenant()
    for who in (kept, gone):
        assert (await provisioner.ensure(who)).ok

    assert (await provisioner.delete(kept, "Retain")).condition.reason == "Retained"
    assert (await provisioner.delete(gone, "Delete")).condition.reason == "Deleted"
    topics = set(await admin.list_topics())
    assert set(topic_names(kept)) <= topics
    assert not set(topic_names(gone)) & topics
    assert (await provisioner.describe(gone)).condition.reason == "Missing"


async def test_an_unreachable_broker_is_a_condition_not_a_crash() -> None:
    result = await KafkaProvisioner("127.0.0.1:1", timeout=3).ensure(tenant())
    assert result.condition.status == "False"
    assert result.condition.reason == "KafkaUnavailable"
