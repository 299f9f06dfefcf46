"""Shoppers' ratings of the vendors they bought from."""

from __future__ import annotations

from sqlalchemy import func, select

from storefleet.runtime.platform.events.outbox import OutboxRelay, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import NotFound, ProblemError
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.changes import emit
from storefleet.runtime.vendors.models import (
    Review,
    SubOrder,
    Vendor,
)


class Reviews:
    """Vendors' reviews."""

    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self.db = db
        self.relay = relay

    async def review(self, vendor_id: str, customer_id: str, body: s.ReviewIn) -> s.ReviewOut:
        async with self.db.write() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None or vendor.status == "offboarded":
                raise NotFound(f"no vendor '{vendor_id}'")
            bought = await session.scalar(
                select(SubOrder.id)
                .where(SubOrder.vendor_id == vendor_id, SubOrder.customer_id == customer_id)
                .limit(1)
            )
            if bought is None:
                raise ProblemError(
                    403,
                    "only shoppers who bought from this vendor can rate it",
                    type_="not_a_buyer",
                )
            review = await session.get(Review, (vendor_id, customer_id))
            now = utcnow()
            if review is None:
                review = Review(vendor_id=vendor_id, customer_id=customer_id, created_at=now)
                session.add(review)
            review.rating = body.rating
            review.comment = body.comment.strip()
            review.author = body.author.strip()
            review.updated_at = now
            await session.flush()
            await emit(
                session,
                "vendor.reviewed",
                {"vendor_id": vendor_id, "customer_id": customer_id, "rating": body.rating},
            )
            out = s.ReviewOut(
                vendor_id=vendor_id,
                rating=review.rating,
                comment=review.comment,
                author=review.author,
                created_at=review.created_at,
                updated_at=review.updated_at,
            )
        self.relay.wake()
        return out

    async def page(self, vendor_id: str, limit: int) -> s.ReviewPage:
        async with self.db.read() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None or vendor.status == "offboarded":
                raise NotFound(f"no vendor '{vendor_id}'")
            summary = (
                await session.execute(
                    select(func.avg(Review.rating), func.count()).where(
                        Review.vendor_id == vendor_id
                    )
                )
            ).one()
            rows = await session.scalars(
                select(Review)
                .where(Review.vendor_id == vendor_id)
                .order_by(Review.updated_at.desc())
                .limit(limit)
            )
            return s.ReviewPage(
                vendor_id=vendor_id,
                display_name=vendor.display_name,
                rating_average=round(float(summary[0]), 2) if summary[0] is not None else None,
                rating_count=int(summary[1]),
                items=[
                    s.ReviewOut(
                        vendor_id=r.vendor_id,
                        rating=r.rating,
                        comment=r.comment,
                        author=r.author,
                        created_at=r.created_at,
                        updated_at=r.updated_at,
                    )
                    for r in rows
                ],
            )
