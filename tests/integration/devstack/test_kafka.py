"""The dev stack's Kafka is a real KRaft broker that aiokafka produces to and consumes from."""

from __future__ import annotations

import asyncio
import secrets
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from storefleet.dev.components.kafka import KafkaAccess


async def test_a_produced_message_is_consumed(kafka_admin: KafkaAccess) -> None:
    topic = f"orders-{secrets.token_hex(4)}"
    producer = AIOKafkaProducer(**kafka_admin.aiokafka(), acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b'{"order": 1}', key=b"acme")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        **kafka_admin.aiokafka(),
        group_id=f"test-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        message = await consumer.getone()
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"acme", b'{"order": 1}')
    assert (message.partition, message.offset) == (sent.partition, sent.offset)


async def test_the_admin_client_creates_a_topic_with_its_partitions(
    kafka_admin: KafkaAccess,
) -> None:
    topic = f"tenant-acme-events-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(**kafka_admin.aiokafka())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
        # The controller has the topic once create_topics returns; the broker's
        # metadata catches up a moment later.
        deadline = time.monotonic() + 30
        while topic not in await admin.list_topics():
            assert time.monotonic() < deadline, f"{topic} never appeared in the broker's metadata"
            await asyncio.sleep(0.2)
        [description] = await admin.describe_topics([topic])
        assert description["error_code"] == 0
        assert len(description["partitions"]) == 6
        await admin.delete_topics([topic])
    finally:
        await admin.close()
