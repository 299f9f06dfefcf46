"""The search index's upkeep: a product's search text and, on SQLite, its FTS5 row."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.catalog.tables import B, C, P, V


async def reindex(session: AsyncSession, product_id: int, *, fts5: bool) -> None:
    """Refresh the product's search text and, with ``fts5`` (SQLite), its FTS5 row."""
    row = (
        await session.execute(
            select(
                P.c.name,
                P.c.description,
                P.c.attributes,
                B.c.name.label("brand"),
                C.c.name.label("category"),
            )
            .select_from(P.join(C, C.c.id == P.c.category_id).outerjoin(B, B.c.id == P.c.brand_id))
            .where(P.c.id == product_id)
        )
    ).one()
    variant_words = (
        await session.execute(select(V.c.name).where(V.c.product_id == product_id))
    ).scalars()
    body = " ".join(
        part
        for part in (
            row.brand or "",
            row.category,
            " ".join(str(value) for value in (row.attributes or {}).values()),
            " ".join(variant_words),
            row.description,
        )
        if part
    )
    await session.execute(
        update(P).where(P.c.id == product_id).values(search_text=f"{row.name} {body}")
    )
    if fts5:
        await session.execute(
            text("DELETE FROM products_fts WHERE rowid = :id"), {"id": product_id}
        )
        await session.execute(
            text("INSERT INTO products_fts(rowid, name, body) VALUES (:id, :name, :body)"),
            {"id": product_id, "name": row.name, "body": body},
        )
