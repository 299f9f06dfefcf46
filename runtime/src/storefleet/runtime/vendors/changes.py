"""The vendors context's events, written to its outbox in the transaction of
the change they announce."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.platform.events.outbox import Event, enqueue
from storefleet.runtime.vendors.models import (
    outbox,
)

SOURCE: Final = "vendors"


async def emit(session: AsyncSession, type_: str, payload: dict[str, Any]) -> None:
    # One vendor's (or one order's) events stay in order on one partition.
    key = str(payload.get("order_id") or payload.get("vendor_id") or "")
    await enqueue(session, outbox, Event(type=type_, payload=payload, source=SOURCE, key=key))
