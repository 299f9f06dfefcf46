"""Events through Kafka: how fast the outbox relay publishes and a consumer applies.

    .venv/bin/python bench/events.py --events 2000

Uses the dev stack's PostgreSQL and Kafka (`storefleet dev stack up postgres
kafka`; the STOREFLEET_*_PORT variables select a stack). Commits N
`order.placed` events to an outbox in one transaction, then measures until the
relay has published them all (producer acks=all, idempotent) and until an
idempotent consumer (one database transaction per event, processed-event row
included) has applied them all. Topics and database are fresh per run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import psycopg
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.dev.components.kafka import Kafka
from storefleet.dev.components.postgres import Postgres
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.consumer import (
    IdempotentConsumer,
    attach_consumer,
    processed_events_table,
)
from storefleet.runtime.platform.events.kafka import KafkaEventBus
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, outbox_table
from storefleet.runtime.platform.storage.db import Database


async def run(count: int, dsn: str, bootstrap: str) -> None:
    name = f"sf_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"{dsn.rsplit('/', 1)[0]}/{name}")
    try:
        metadata = MetaData()
        outbox = outbox_table(metadata)
        processed = processed_events_table(metadata)
        effects = Table(
            "effects", metadata, Column("n", Integer, primary_key=True), Column("e", String(64))
        )
        async with db.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        settings = EventsSettings(
            bootstrap_servers=bootstrap,
            topic_prefix=f"store.bench{uuid.uuid4().hex[:6]}.",
            create_topics=True,
        )
        bus = KafkaEventBus(settings)
        consumer = IdempotentConsumer("bench", db, processed)

        async def apply(event: Event, session: AsyncSession) -> None:
            await session.execute(effects.insert().values(e=event.id))

        consumer.on("order.placed", apply)
        attach_consumer(bus, consumer)
        relay = OutboxRelay(db, outbox, bus, interval=0.1, batch_size=500)
        relay.start()
        while True:
            try:
                if bus.runner("bench").assigned.is_set():
                    break
            except KeyError:
                pass
            await asyncio.sleep(0.1)

        async with db.write() as session:
            for n in range(count):
                event = Event("order.placed", {"order_id": f"ord-{n % 50}", "n": n})
                await enqueue(session, outbox, event)
        relay.wake()
        started = time.monotonic()
        published_after: float | None = None
        while True:
            async with db.read() as session:
                applied = await session.scalar(select(func.count()).select_from(effects)) or 0
                if published_after is None:
                    waiting = await session.scalar(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.published_at.is_(None))
                    )
                    if not waiting:
                        published_after = time.monotonic() - started
            if applied >= count:
                break
            await asyncio.sleep(0.05)
        applied_after = time.monotonic() - started
        assert published_after is not None
        print(
            f"{count} events: all published in {published_after:.2f}s "
            f"({count / published_after:.0f}/s), all applied in {applied_after:.2f}s "
            f"({count / applied_after:.0f}/s)"
        )
        await relay.stop()
    finally:
        await db.dispose()
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--dsn", default=None, help="default: the dev stack's PostgreSQL")
    parser.add_argument("--bootstrap", default=None, help="default: the dev stack's Kafka")
    args = parser.parse_args()
    dsn = args.dsn or Postgres().dsn()
    bootstrap = args.bootstrap or Kafka().bootstrap_servers
    asyncio.run(run(args.events, dsn, bootstrap))


if __name__ == "__main__":
    main()
