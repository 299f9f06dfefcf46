"""Who works for which vendor: the store's membership list (a token's
``vendor_id`` claim, where there is one, comes first)."""

from __future__ import annotations

from sqlalchemy import select

from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.models import (
    Member,
    Vendor,
)


class Members:
    """The people of each vendor."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_member(self, vendor_id: str, user_id: str) -> s.MemberOut:
        async with self.db.write() as session:
            if await session.get(Vendor, vendor_id) is None:
                raise NotFound(f"no vendor '{vendor_id}'")
            member = await session.get(Member, user_id)
            if member is None:
                member = Member(user_id=user_id, vendor_id=vendor_id, added_at=utcnow())
                session.add(member)
            elif member.vendor_id != vendor_id:
                raise Conflict(f"user '{user_id}' works for vendor '{member.vendor_id}'")
            await session.flush()
            return s.MemberOut(user_id=user_id, vendor_id=vendor_id, added_at=member.added_at)

    async def remove_member(self, vendor_id: str, user_id: str) -> None:
        async with self.db.write() as session:
            member = await session.get(Member, user_id)
            if member is not None and member.vendor_id == vendor_id:
                await session.delete(member)

    async def of_vendor(self, vendor_id: str) -> list[s.MemberOut]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Member).where(Member.vendor_id == vendor_id).order_by(Member.user_id)
            )
            return [
                s.MemberOut(user_id=m.user_id, vendor_id=m.vendor_id, added_at=m.added_at)
                for m in rows
            ]

    async def vendor_of_member(self, user_id: str) -> str | None:
        async with self.db.read() as session:
            member = await session.get(Member, user_id)
            return member.vendor_id if member is not None else None
