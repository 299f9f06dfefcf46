"""Browsing: product pages, the category tree, brands, and SKU lookups."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.availability import level_of
from storefleet.runtime.catalog.models import Category
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.catalog.summaries import summaries
from storefleet.runtime.catalog.tables import IMG, B, C, P, V, as_utc
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.readcache import ReadCache
from storefleet.runtime.platform.web.errors import NotFound


async def breadcrumbs_of(session: AsyncSession, path: str) -> list[s.CategoryRef]:
    ids = [int(part) for part in path.strip("/").split("/") if part]
    rows = {
        row.id: row
        for row in (
            await session.execute(select(C.c.id, C.c.slug, C.c.name).where(C.c.id.in_(ids)))
        ).all()
    }
    return [s.CategoryRef(slug=rows[i].slug, name=rows[i].name) for i in ids if i in rows]


class Browse:
    def __init__(self, db: Database, settings: CatalogSettings, reads: ReadCache) -> None:
        self.db = db
        self.settings = settings
        self.reads = reads

    async def product(self, key: str, *, include_inactive: bool = False) -> s.ProductDetail:
        if include_inactive:
            return await self._product(key, include_inactive=True)
        return await self.reads.get_or_load(("product", key), lambda: self._product(key))

    async def _product(self, key: str, *, include_inactive: bool = False) -> s.ProductDetail:
        # Core queries rather than ORM loading: this is the busiest page there is.
        async with self.db.read() as session:
            query = select(
                P,
                B.c.slug.label("brand_slug"),
                B.c.name.label("brand_name"),
                C.c.slug.label("category_slug"),
                C.c.name.label("category_name"),
                C.c.path.label("category_path"),
            ).select_from(P.join(C, C.c.id == P.c.category_id).outerjoin(B, B.c.id == P.c.brand_id))
            row = (await session.execute(query.where(P.c.slug == key))).mappings().first()
            if row is None and key.isascii() and key.isdigit() and len(key) < 12:
                row = (await session.execute(query.where(P.c.id == int(key)))).mappings().first()
            if row is None or (not row["active"] and not include_inactive):
                raise NotFound(f"no product '{key}'")
            variants = (
                await session.execute(
                    select(
                        V.c.sku, V.c.name, V.c.attributes, V.c.price_minor, V.c.currency, V.c.stock
                    )
                    .where(V.c.product_id == row["id"])
                    .order_by(V.c.id)
                )
            ).all()
            images = [
                s.ImageOut(url=url, alt=alt)
                for url, alt in (
                    await session.execute(
                        select(IMG.c.url, IMG.c.alt)
                        .where(IMG.c.product_id == row["id"])
                        .order_by(IMG.c.position)
                    )
                ).all()
            ]
            breadcrumbs = await breadcrumbs_of(session, row["category_path"])
        return s.ProductDetail(
            id=row["id"],
            slug=row["slug"],
            name=row["name"],
            brand=s.BrandRef(slug=row["brand_slug"], name=row["brand_name"])
            if row["brand_slug"]
            else None,
            category=s.CategoryRef(slug=row["category_slug"], name=row["category_name"]),
            price_minor=row["min_price_minor"],
            currency=row["currency"],
            in_stock=any(variant.stock > 0 for variant in variants),
            image=images[0] if images else None,
            vendor_id=row["vendor_id"],
            description=row["description"],
            attributes=row["attributes"] or {},
            variants=[
                s.VariantOut(
                    sku=variant.sku,
                    name=variant.name,
                    attributes=variant.attributes or {},
                    price_minor=variant.price_minor,
                    currency=variant.currency,
                    availability=level_of(variant.stock, self.settings.low_stock_threshold),
                    stock=variant.stock,
                )
                for variant in variants
            ],
            images=images,
            breadcrumbs=breadcrumbs,
            active=row["active"],
            created_at=as_utc(row["created_at"]),
            updated_at=as_utc(row["updated_at"]),
        )

    async def category_tree(self) -> list[s.CategoryNode]:
        return await self.reads.get_or_load(("tree",), self._category_tree)

    async def _category_tree(self) -> list[s.CategoryNode]:
        async with self.db.read() as session:
            rows = (
                await session.execute(select(Category).order_by(Category.position, Category.name))
            ).scalars()
            nodes: dict[int, s.CategoryNode] = {}
            parents: list[tuple[int | None, int]] = []
            for row in rows:
                nodes[row.id] = s.CategoryNode(
                    slug=row.slug, name=row.name, description=row.description, children=[]
                )
                parents.append((row.parent_id, row.id))
        roots: list[s.CategoryNode] = []
        for parent_id, node_id in parents:
            if parent_id is None or parent_id not in nodes:
                roots.append(nodes[node_id])
            else:
                nodes[parent_id].children.append(nodes[node_id])
        return roots

    async def category(self, slug: str) -> s.CategoryDetail:
        return await self.reads.get_or_load(("category", slug), lambda: self._category(slug))

    async def _category(self, slug: str) -> s.CategoryDetail:
        async with self.db.read() as session:
            category = (
                await session.execute(select(Category).where(Category.slug == slug))
            ).scalar_one_or_none()
            if category is None:
                raise NotFound(f"no category '{slug}'")
            children = (
                await session.execute(
                    select(C.c.slug, C.c.name)
                    .where(C.c.parent_id == category.id)
                    .order_by(C.c.position, C.c.name)
                )
            ).all()
            return s.CategoryDetail(
                slug=category.slug,
                name=category.name,
                description=category.description,
                breadcrumbs=await breadcrumbs_of(session, category.path),
                children=[s.CategoryRef(slug=c.slug, name=c.name) for c in children],
            )

    async def brands(self) -> list[s.BrandRef]:
        async with self.db.read() as session:
            rows = (await session.execute(select(B.c.slug, B.c.name).order_by(B.c.name))).all()
        return [s.BrandRef(slug=slug, name=name) for slug, name in rows]

    async def lookup_skus(self, skus: Sequence[str]) -> s.SkuLookupResult:
        async with self.db.read() as session:
            rows = (
                (
                    await session.execute(
                        select(
                            V.c.sku,
                            V.c.name,
                            V.c.price_minor,
                            V.c.currency,
                            V.c.stock,
                            P.c.id,
                            P.c.slug,
                            P.c.name.label("product_name"),
                            P.c.active,
                            P.c.vendor_id,
                        )
                        .select_from(V.join(P, P.c.id == V.c.product_id))
                        .where(V.c.sku.in_(list(skus)))
                    )
                )
                .mappings()
                .all()
            )
            images = {
                summary.id: summary.image
                for summary in await summaries(session, list({row["id"] for row in rows}))
            }
        found = {
            row["sku"]: s.VariantStock(
                sku=row["sku"],
                product_id=row["id"],
                product_slug=row["slug"],
                product_name=row["product_name"],
                variant_name=row["name"],
                price_minor=row["price_minor"],
                currency=row["currency"],
                availability=level_of(row["stock"], self.settings.low_stock_threshold),
                stock=row["stock"],
                active=row["active"],
                image=images.get(row["id"]),
                vendor_id=row["vendor_id"],
            )
            for row in rows
        }
        return s.SkuLookupResult(
            items=[found[sku] for sku in skus if sku in found],
            missing=[sku for sku in skus if sku not in found],
        )
