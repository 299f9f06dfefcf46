"""What every committed catalog write does after it: events go out, caches forget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.catalog.models import outbox
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue
from storefleet.runtime.platform.storage.readcache import ReadCache


class Changes:
    """Events enqueued in a write's own transaction (the outbox), and, once it
    commits, the relay woken and every cached read of the catalog dropped."""

    def __init__(
        self,
        reads: ReadCache,
        relay: OutboxRelay | None = None,
        forget: Callable[[], None] | None = None,
    ) -> None:
        self.reads = reads
        self.relay = relay
        # What else is cached from the tables (the search's vocabulary).
        self.forget = forget

    async def emit(self, session: AsyncSession, event_type: str, payload: dict[str, Any]) -> None:
        await enqueue(session, outbox, Event(event_type, payload, source="catalog"))

    def committed(self) -> None:
        if self.forget is not None:
            self.forget()
        self.reads.invalidate()
        if self.relay is not None:
            self.relay.wake()
