"""Recommendations: similar products, and "customers also bought" counted from
paid orders."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.models import CoPurchase, ProcessedEvent, Product
from storefleet.runtime.catalog.summaries import summaries
from storefleet.runtime.catalog.tables import COP, C, P
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.readcache import ReadCache
from storefleet.runtime.platform.web.errors import NotFound


class Recommendations:
    def __init__(self, db: Database, reads: ReadCache) -> None:
        self.db = db
        self.reads = reads

    async def similar(self, key: str, limit: int = 8) -> list[s.ProductSummary]:
        """Same category first, then siblings; scored on brand, attributes and price."""
        return await self.reads.get_or_load(
            ("similar", key, limit), lambda: self._similar(key, limit)
        )

    async def _core(self, session: AsyncSession, key: str) -> Any:
        """Just what recommendations need of a product, in one query."""
        query = select(
            P.c.id,
            P.c.category_id,
            P.c.brand_id,
            P.c.attributes,
            P.c.min_price_minor,
            C.c.parent_id,
        ).select_from(P.join(C, C.c.id == P.c.category_id))
        active = P.c.active.is_(True)
        row = (await session.execute(query.where(P.c.slug == key, active))).first()
        if row is None and key.isascii() and key.isdigit() and len(key) < 12:
            row = (await session.execute(query.where(P.c.id == int(key), active))).first()
        if row is None:
            raise NotFound(f"no product '{key}'")
        return row

    async def _similar(self, key: str, limit: int) -> list[s.ProductSummary]:
        async with self.db.read() as session:
            product = await self._core(session, key)
            columns = select(
                P.c.id, P.c.brand_id, P.c.category_id, P.c.attributes, P.c.min_price_minor
            ).where(P.c.active.is_(True), P.c.id != product.id)
            candidates = list(
                (
                    await session.execute(
                        columns.where(P.c.category_id == product.category_id).limit(200)
                    )
                ).all()
            )
            if len(candidates) < limit and product.parent_id is not None:
                # Too few neighbours: widen to the sibling categories.
                siblings = select(C.c.id).where(
                    C.c.parent_id == product.parent_id, C.c.id != product.category_id
                )
                candidates += (
                    await session.execute(columns.where(P.c.category_id.in_(siblings)).limit(200))
                ).all()
            own = set((product.attributes or {}).items())
            price = max(product.min_price_minor, 1)

            def score(row: Any) -> float:
                value = 4.0 if row.category_id == product.category_id else 0.0
                value += 2.0 if row.brand_id and row.brand_id == product.brand_id else 0.0
                value += len(own & set((row.attributes or {}).items()))
                value += max(0.0, 1.0 - abs(row.min_price_minor - price) / price)
                return float(value)

            ranked = sorted(candidates, key=lambda row: (-score(row), row.id))[:limit]
            return await summaries(session, [row.id for row in ranked])

    async def also_bought(self, key: str, limit: int = 8) -> list[s.ProductSummary]:
        return await self.reads.get_or_load(
            ("also", key, limit), lambda: self._also_bought(key, limit)
        )

    async def _also_bought(self, key: str, limit: int) -> list[s.ProductSummary]:
        async with self.db.read() as session:
            product = await self._core(session, key)
            ids = (
                await session.execute(
                    select(CoPurchase.other_product_id)
                    .join(Product, Product.id == CoPurchase.other_product_id)
                    .where(CoPurchase.product_id == product.id, Product.active.is_(True))
                    .order_by(CoPurchase.count.desc(), CoPurchase.other_product_id)
                    .limit(limit)
                )
            ).scalars()
            return await summaries(session, list(ids))

    async def record_order(self, event_id: str, product_ids: Sequence[int]) -> bool:
        """Count each pair bought together; an event seen before changes nothing."""
        distinct = sorted(set(product_ids))
        try:
            async with self.db.write() as session:
                session.add(ProcessedEvent(event_id=event_id))
                await session.flush()
                known = set(
                    (await session.execute(select(P.c.id).where(P.c.id.in_(distinct)))).scalars()
                )
                pairs = [
                    {"product_id": a, "other_product_id": b, "count": 1}
                    for a, b in itertools.permutations(sorted(known), 2)
                ]
                if pairs:
                    dialect = postgresql if self.db.is_postgres else sqlite
                    insert = dialect.insert(COP)
                    await session.execute(
                        insert.on_conflict_do_update(
                            index_elements=["product_id", "other_product_id"],
                            set_={"count": COP.c.count + 1},
                        ),
                        pairs,
                    )
        except IntegrityError:
            return False
        self.reads.invalidate()
        return True
