"""The listing's facets: how many products each brand, category, price band and
"in stock" would show, each counted without its own filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.search import PRICE_BUCKETS
from storefleet.runtime.catalog.tables import B, C, P


def format_price_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low // 100}+"
    return f"{low // 100}-{high // 100}"


async def count_matching(session: AsyncSession, source: FromClause, where: Any) -> int:
    query = select(func.count()).select_from(source).where(*where)
    return int((await session.execute(query)).scalar_one())


async def count_facets(
    session: AsyncSession,
    source: FromClause,
    filters: dict[str, ColumnElement[bool]],
    stocked: ColumnElement[bool],
    selected_brands: Sequence[str],
    min_price: int | None,
) -> s.Facets:
    def without(name: str) -> list[ColumnElement[bool]]:
        # A facet ignores its own filter, so a shopper can widen a choice.
        return [cond for key, cond in filters.items() if key != name]

    brand_rows = (
        await session.execute(
            select(B.c.slug, B.c.name, func.count(P.c.id))
            .select_from(source.join(B, B.c.id == P.c.brand_id))
            .where(*without("brand"))
            .group_by(B.c.id, B.c.slug, B.c.name)
            .order_by(func.count(P.c.id).desc(), B.c.name)
            .limit(30)
        )
    ).all()
    category_rows = (
        await session.execute(
            select(C.c.slug, C.c.name, func.count(P.c.id))
            .select_from(source.join(C, C.c.id == P.c.category_id))
            .where(*filters.values())
            .group_by(C.c.id, C.c.slug, C.c.name)
            .order_by(func.count(P.c.id).desc(), C.c.name)
            .limit(30)
        )
    ).all()
    bucket = case(
        *[
            (
                and_(P.c.min_price_minor >= low, P.c.min_price_minor < high)
                if high is not None
                else P.c.min_price_minor >= low,
                index,
            )
            for index, (low, high) in enumerate(PRICE_BUCKETS)
        ],
        else_=len(PRICE_BUCKETS) - 1,
    )
    price_rows = (
        await session.execute(
            select(bucket.label("bucket"), func.count(P.c.id))
            .select_from(source)
            .where(*without("price"))
            .group_by(bucket)
        )
    ).all()
    in_stock = await count_matching(session, source, [*without("stock"), stocked])
    price_counts = {int(index): int(count) for index, count in price_rows}
    price_facet = []
    for index, (low, high) in enumerate(PRICE_BUCKETS):
        count = price_counts.get(index, 0)
        if count:
            price_facet.append(
                s.FacetValue(
                    value=f"{low}-{high if high is not None else ''}",
                    label=format_price_label(low, high),
                    count=count,
                    selected=min_price == low,
                )
            )
    return s.Facets(
        brand=[
            s.FacetValue(value=slug, label=name, count=count, selected=slug in selected_brands)
            for slug, name, count in brand_rows
        ],
        category=[
            s.FacetValue(value=slug, label=name, count=count) for slug, name, count in category_rows
        ],
        price=price_facet,
        in_stock=in_stock,
    )
