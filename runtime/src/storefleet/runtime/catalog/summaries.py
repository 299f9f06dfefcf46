"""Product cards: what a listing, a recommendation or a SKU lookup shows of a product."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.tables import IMG, B, C, P, V


async def summaries(session: AsyncSession, ids: Sequence[int]) -> list[s.ProductSummary]:
    """The cards of these products, in the order given; an unknown id is left out."""
    if not ids:
        return []
    stocked = exists().where(V.c.product_id == P.c.id, V.c.stock > 0).label("in_stock")
    rows = (
        await session.execute(
            select(
                P.c.id,
                P.c.slug,
                P.c.name,
                P.c.min_price_minor,
                P.c.currency,
                P.c.vendor_id,
                B.c.slug.label("brand_slug"),
                B.c.name.label("brand_name"),
                C.c.slug.label("category_slug"),
                C.c.name.label("category_name"),
                stocked,
            )
            .select_from(P.join(C, C.c.id == P.c.category_id).outerjoin(B, B.c.id == P.c.brand_id))
            .where(P.c.id.in_(ids))
        )
    ).mappings()
    images: dict[int, s.ImageOut] = {}
    for product_id, url, alt in (
        await session.execute(
            select(IMG.c.product_id, IMG.c.url, IMG.c.alt)
            .where(IMG.c.product_id.in_(ids))
            .order_by(IMG.c.product_id, IMG.c.position.desc())
        )
    ).all():
        images[product_id] = s.ImageOut(url=url, alt=alt)
    by_id = {
        row["id"]: s.ProductSummary(
            id=row["id"],
            slug=row["slug"],
            name=row["name"],
            brand=s.BrandRef(slug=row["brand_slug"], name=row["brand_name"])
            if row["brand_slug"]
            else None,
            category=s.CategoryRef(slug=row["category_slug"], name=row["category_name"]),
            price_minor=row["min_price_minor"],
            currency=row["currency"],
            in_stock=bool(row["in_stock"]),
            image=images.get(row["id"]),
            vendor_id=row["vendor_id"],
        )
        for row in rows
    }
    return [by_id[i] for i in ids if i in by_id]
