"""The accounts context's events (``account.*``), written to its outbox in the
transaction of the change they announce."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts.models import outbox
from storefleet.runtime.platform.events.outbox import Event, enqueue

SOURCE: Final = "accounts"


async def emit(session: AsyncSession, type_: str, payload: dict[str, Any]) -> None:
    await enqueue(session, outbox, Event(type_, payload, source=SOURCE))
