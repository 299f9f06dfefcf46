"""The security audit log: who did what to an account, from which address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.accounts import schemas as s
from storefleet.runtime.accounts.models import AuditEvent
from storefleet.runtime.accounts.users import aware
from storefleet.runtime.platform.storage.db import Database


@dataclass(frozen=True)
class Client:
    """Who is asking, for rate limits and the audit log."""

    ip: str = ""
    user_agent: str = ""


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def record(
        session: AsyncSession, event: str, user_id: str | None, client: Client, **detail: Any
    ) -> None:
        """An entry in the transaction of what it records."""
        session.add(AuditEvent(user_id=user_id, event=event, ip=client.ip[:64], detail=detail))

    async def write(self, event: str, user_id: str | None, client: Client, **detail: Any) -> None:
        """An entry on its own (a failure, which changes nothing else)."""
        async with self.db.write() as session:
            self.record(session, event, user_id, client, **detail)

    async def security_events(
        self, user_id: str | None = None, limit: int = 100
    ) -> list[s.AuditEntry]:
        async with self.db.read() as session:
            query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            if user_id is not None:
                query = query.where(AuditEvent.user_id == user_id)
            rows = (await session.execute(query.limit(limit))).scalars()
            return [
                s.AuditEntry(
                    event=r.event, at=aware(r.at), ip=r.ip, user_id=r.user_id, detail=r.detail
                )
                for r in rows
            ]
