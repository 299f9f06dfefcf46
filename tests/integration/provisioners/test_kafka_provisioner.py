"""Each Store gets its own event topics, sized from its plan, and a SCRAM user
that the broker lets near its own topics and consumer groups only."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from storefleet.dev.components.kafka import KafkaAccess
from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.kafka import (
    STREAMS,
    KafkaProvisioner,
    topic_names,
    topic_prefix,
    username,
)

CREATED: list[Tenant] = []


def provisioner_of(kafka: KafkaAccess, **options: object) -> KafkaProvisioner:
    return KafkaProvisioner(
        kafka.bootstrap_servers,
        username=kafka.username,
        password=kafka.password,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def admin(kafka_admin: KafkaAccess) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(**kafka_admin.aiokafka())
    await client.start()
    yield client
    while CREATED:
        await provisioner_of(kafka_admin).delete(CREATED.pop(), "Delete")
    await client.close()


def tenant() -> Tenant:
    who = Tenant(store=f"acme-{secrets.token_hex(3)}", namespace="unused")
    CREATED.append(who)
    return who


def as_store(kafka: KafkaAccess, who: Tenant, password: str) -> KafkaAccess:
    """How the store's runtime pods reach the broker: its own user, not the admin."""
    return KafkaAccess(kafka.bootstrap_servers, username(who), password)


async def partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}


async def produce(kafka: KafkaAccess, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**kafka.aiokafka(), request_timeout_ms=5000)
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, value), 15)
    finally:
        await producer.stop()


async def consume_one(kafka: KafkaAccess, topic: str, group: str) -> bytes | None:
    consumer = AIOKafkaConsumer(
        topic,
        **kafka.aiokafka(),
        group_id=group,
        auto_offset_reset="earliest",
        request_timeout_ms=40_000,
    )
    try:
        await consumer.start()
        record = await asyncio.wait_for(consumer.getone(), 20)
        return record.value
    finally:
        await consumer.stop()


async def test_a_store_gets_its_topics_sized_by_plan(
    kafka_admin: KafkaAccess, admin: AIOKafkaAdminClient
) -> None:
    who = tenant()
    result = await provisioner_of(kafka_admin, plan="standard").ensure(who, secrets.token_hex(8))
    assert result.ok, result.condition
    assert result.outputs["KAFKA_TOPIC_PREFIX"] == f"store.{who.store}."
    names = topic_names(who)
    assert len(names) == len(STREAMS)
    assert set(names) <= set(await admin.list_topics())
    assert set((await partitions(admin, names)).values()) == {3}


async def test_ensure_twice_is_harmless_and_a_bigger_plan_adds_partitions(
    kafka_admin: KafkaAccess, admin: AIOKafkaAdminClient
) -> None:
    who, password = tenant(), secrets.token_hex(8)
    small = provisioner_of(kafka_admin, plan="small")
    assert (await small.ensure(who, password)).ok
    assert (await small.ensure(who, password)).ok
    assert set((await partitions(admin, topic_names(who))).values()) == {1}

    grown = await provisioner_of(kafka_admin, plan="large").ensure(who, password)
    assert grown.ok, grown.condition
    assert set((await partitions(admin, topic_names(who))).values()) == {6}

    shrunk = await small.ensure(who, password)
    assert shrunk.ok
    assert "keep more partitions" in shrunk.condition.message


async def test_delete_removes_topics_and_retain_keeps_them(
    kafka_admin: KafkaAccess, admin: AIOKafkaAdminClient
) -> None:
    provisioner = provisioner_of(kafka_admin)
    kept, gone = tenant(), tenant()
    for who in (kept, gone):
        assert (await provisioner.ensure(who, secrets.token_hex(8))).ok

    assert (await provisioner.delete(kept, "Retain")).condition.reason == "Retained"
    assert (await provisioner.delete(gone, "Delete")).condition.reason == "Deleted"
    topics = set(await admin.list_topics())
    assert set(topic_names(kept)) <= topics
    assert not set(topic_names(gone)) & topics
    assert (await provisioner.describe(gone)).condition.reason == "Missing"


async def test_a_store_uses_its_own_topics_with_its_own_credentials(
    kafka_admin: KafkaAccess, admin: AIOKafkaAdminClient
) -> None:
    a, password = tenant(), secrets.token_urlsafe(16)
    result = await provisioner_of(kafka_admin).ensure(a, password)
    assert result.ok, result.condition
    assert result.outputs["KAFKA_SASL_USERNAME"] == username(a)
    assert result.outputs["KAFKA_SASL_PASSWORD"] == password
    store_a = as_store(kafka_admin, a, password)

    value = uuid.uuid4().bytes
    await produce(store_a, f"{topic_prefix(a)}orders", value)
    assert await consume_one(store_a, f"{topic_prefix(a)}orders", f"{topic_prefix(a)}g") == value


async def test_a_store_is_refused_another_stores_topics_and_groups(
    kafka_admin: KafkaAccess, admin: AIOKafkaAdminClient
) -> None:
    provisioner = provisioner_of(kafka_admin)
    a, b, password = tenant(), tenant(), secrets.token_urlsafe(16)
    assert (await provisioner.ensure(a, password)).ok
    assert (await provisioner.ensure(b, secrets.token_urlsafe(16))).ok
    store_a = as_store(kafka_admin, a, password)
    b_orders = f"{topic_prefix(b)}orders"
    await produce(kafka_admin, b_orders, b"b's own")

    with pytest.raises(TopicAuthorizationFailedError):
        await produce(store_a, b_orders, b"written by a")
    with pytest.raises(TopicAuthorizationFailedError):
        # Reading B's topic, even in a group A may use.
        await consume_one(store_a, b_orders, f"{topic_prefix(a)}thief")
    with pytest.raises(GroupAuthorizationFailedError):
        # Joining B's consumer group, even to read A's own topic.
        await consume_one(store_a, f"{topic_prefix(a)}orders", f"{topic_prefix(b)}orders")

    # Describing: B's topics are not even listed to A.
    client = AIOKafkaAdminClient(**store_a.aiokafka())
    await client.start()
    try:
        visible = set(await client.list_topics())
    finally:
        await client.close()
    assert set(topic_names(a)) <= visible
    assert not set(topic_names(b)) & visible


async def test_a_wrong_password_is_refused(
    kafka_admin: KafkaAccess, admin: AIOKafkaAdminClient, caplog: pytest.LogCaptureFixture
) -> None:
    a = tenant()
    assert (await provisioner_of(kafka_admin).ensure(a, secrets.token_urlsafe(16))).ok
    with caplog.at_level(logging.ERROR, "aiokafka"), pytest.raises(KafkaConnectionError):
        await produce(
            as_store(kafka_admin, a, "not-the-password"), f"{topic_prefix(a)}orders", b"x"
        )
    # aiokafka logs why the broker closed the connection.
    assert "SaslAuthenticationFailed" in caplog.text


async def test_after_deletion_the_stores_user_cannot_connect(
    kafka_admin: KafkaAccess, admin: AIOKafkaAdminClient
) -> None:
    provisioner = provisioner_of(kafka_admin)
    a, password = tenant(), secrets.token_urlsafe(16)
    assert (await provisioner.ensure(a, password)).ok
    store_a = as_store(kafka_admin, a, password)
    await produce(store_a, f"{topic_prefix(a)}orders", b"before")

    # Retain keeps the topics, not the access.
    deleted = await provisioner.delete(a, "Retain")
    assert deleted.condition.reason == "Retained"
    assert f"SCRAM user {username(a)}" in deleted.condition.message
    with pytest.raises(KafkaConnectionError):
        await produce(store_a, f"{topic_prefix(a)}orders", b"after")
    assert set(topic_names(a)) <= set(await admin.list_topics())


async def test_an_unauthenticated_client_is_refused(kafka_bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    try:
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(producer.start(), 15)
    finally:
        await producer.stop()


async def test_an_unreachable_broker_is_a_condition_not_a_crash() -> None:
    result = await KafkaProvisioner("127.0.0.1:1", timeout=3).ensure(tenant())
    assert result.condition.status == "False"
    assert result.condition.reason == "KafkaUnavailable"
