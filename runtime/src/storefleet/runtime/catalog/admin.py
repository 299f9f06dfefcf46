"""The catalog's admin writes: brands, categories, products and their variants
(names, prices, images). Stock is the inventory's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.browse import Browse
from storefleet.runtime.catalog.changes import Changes
from storefleet.runtime.catalog.indexing import reindex
from storefleet.runtime.catalog.models import Brand, Category, Image, Product, Variant
from storefleet.runtime.catalog.tables import B, C, P, V
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError


class MissingReference(ProblemError):
    """The request is well formed but names a brand or category that doesn't exist.

    409, not 422: the same request succeeds once the referenced thing is created."""

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(409, detail, title="Unknown reference", **extensions)


def images_of(images: Sequence[s.ImageIn], name: str) -> list[Image]:
    """A product's images in the order given; one without alt text is described
    by the product's name."""
    return [
        Image(url=image.url, alt=image.alt or name, position=index)
        for index, image in enumerate(images)
    ]


class Admin:
    def __init__(self, db: Database, changes: Changes, browse: Browse, currency: str) -> None:
        self.db = db
        self.changes = changes
        # What a write answers with is what browsing shows (uncached when inactive).
        self.browse = browse
        # The store's currency: every price is in it (carts and orders add prices up).
        self.currency = currency

    async def create_brand(self, data: s.BrandIn) -> s.BrandRef:
        try:
            async with self.db.write() as session:
                session.add(Brand(slug=data.slug, name=data.name))
                await self.changes.emit(session, "catalog.brand_created", data.model_dump())
        except IntegrityError as exc:
            raise Conflict(f"brand '{data.slug}' exists") from exc
        self.changes.committed()
        return s.BrandRef(slug=data.slug, name=data.name)

    async def create_category(self, data: s.CategoryIn) -> s.CategoryDetail:
        try:
            async with self.db.write() as session:
                parent: Category | None = None
                if data.parent:
                    parent = (
                        await session.execute(select(Category).where(Category.slug == data.parent))
                    ).scalar_one_or_none()
                    if parent is None:
                        raise MissingReference(f"no parent category '{data.parent}'")
                category = Category(
                    slug=data.slug,
                    name=data.name,
                    description=data.description,
                    parent_id=parent.id if parent else None,
                    position=data.position,
                    path="/",
                )
                session.add(category)
                await session.flush()
                category.path = f"{parent.path if parent else '/'}{category.id}/"
                await self.changes.emit(session, "catalog.category_created", {"slug": data.slug})
        except IntegrityError as exc:
            raise Conflict(f"category '{data.slug}' exists") from exc
        self.changes.committed()
        return await self.browse.category(data.slug)

    async def update_category(self, slug: str, data: s.CategoryPatch) -> s.CategoryDetail:
        async with self.db.write() as session:
            category = (
                await session.execute(select(Category).where(Category.slug == slug))
            ).scalar_one_or_none()
            if category is None:
                raise NotFound(f"no category '{slug}'")
            for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
                setattr(category, field, value)
            await session.flush()
            if data.name is not None:
                ids = (
                    await session.execute(select(P.c.id).where(P.c.category_id == category.id))
                ).scalars()
                for product_id in list(ids):
                    await reindex(session, product_id, fts5=self.db.is_sqlite)
            await self.changes.emit(session, "catalog.category_updated", {"slug": slug})
        self.changes.committed()
        return await self.browse.category(slug)

    async def delete_category(self, slug: str) -> None:
        async with self.db.write() as session:
            category = (
                await session.execute(select(Category).where(Category.slug == slug))
            ).scalar_one_or_none()
            if category is None:
                raise NotFound(f"no category '{slug}'")
            in_use = await session.execute(
                select(
                    exists().where(P.c.category_id == category.id),
                    exists().where(C.c.parent_id == category.id),
                )
            )
            has_products, has_children = in_use.one()
            if has_products or has_children:
                raise Conflict(f"category '{slug}' still has products or subcategories")
            await session.delete(category)
            await self.changes.emit(session, "catalog.category_deleted", {"slug": slug})
        self.changes.committed()

    async def _resolve_refs(
        self, session: AsyncSession, brand: str | None, category: str | None
    ) -> tuple[int | None, int | None]:
        brand_id = category_id = None
        if brand is not None:
            brand_id = (
                await session.execute(select(B.c.id).where(B.c.slug == brand))
            ).scalar_one_or_none()
            if brand_id is None:
                raise MissingReference(f"no brand '{brand}'")
        if category is not None:
            category_id = (
                await session.execute(select(C.c.id).where(C.c.slug == category))
            ).scalar_one_or_none()
            if category_id is None:
                raise MissingReference(f"no category '{category}'")
        return brand_id, category_id

    async def create_product(self, data: s.ProductIn) -> s.ProductDetail:
        await self.create_products([data])
        return await self.browse.product(data.slug, include_inactive=True)

    async def create_products(self, products: Sequence[s.ProductIn]) -> list[int]:
        """Create products in one transaction: all of them or, on any error, none."""
        ids: list[int] = []
        try:
            async with self.db.write() as session:
                for data in products:
                    ids.append(await self._insert_product(session, data))
        except IntegrityError as exc:
            # Lost a race with a concurrent create of the same slug or SKU.
            raise Conflict("a product slug or SKU already exists") from exc
        self.changes.committed()
        return ids

    async def _insert_product(self, session: AsyncSession, data: s.ProductIn) -> int:
        foreign = [v.sku for v in data.variants if v.currency != self.currency]
        if foreign:
            raise ProblemError(
                422,
                f"this store sells in {self.currency}; {data.variants[0].currency} prices "
                "can't be added to it (convert them first)",
                title="Wrong currency",
                currency=self.currency,
                skus=foreign,
            )
        brand_id, category_id = await self._resolve_refs(session, data.brand, data.category)
        skus = [variant.sku for variant in data.variants]
        taken = list((await session.execute(select(V.c.sku).where(V.c.sku.in_(skus)))).scalars())
        if taken:
            raise Conflict(f"SKU already in use: {', '.join(sorted(taken))}", skus=taken)
        if (await session.execute(select(P.c.id).where(P.c.slug == data.slug))).first():
            raise Conflict(f"product '{data.slug}' exists")
        assert category_id is not None
        product = Product(
            slug=data.slug,
            name=data.name,
            description=data.description,
            brand_id=brand_id,
            category_id=category_id,
            vendor_id=data.vendor_id,
            attributes=data.attributes,
            active=data.active,
            min_price_minor=min(variant.price_minor for variant in data.variants),
            currency=data.variants[0].currency,
            variants=[Variant(**variant.model_dump()) for variant in data.variants],
            images=images_of(data.images, data.name),
        )
        session.add(product)
        await self._product_written(session, product, "catalog.product_created", skus=skus)
        return product.id

    async def update_product(self, key: str, data: s.ProductPatch) -> s.ProductDetail:
        async with self.db.write() as session:
            product = await self._load_product(session, key, include_inactive=True)
            changes = data.model_dump(exclude_unset=True)
            brand_id, category_id = await self._resolve_refs(
                session, changes.pop("brand", None), changes.pop("category", None)
            )
            if brand_id is not None:
                product.brand_id = brand_id
            if category_id is not None:
                product.category_id = category_id
            changes.pop("images", None)
            if data.images is not None:
                product.images = images_of(data.images, product.name)
            for field, value in changes.items():
                if value is not None:
                    setattr(product, field, value)
            product.updated_at = utcnow()
            await self._product_written(session, product, "catalog.product_updated")
            slug = product.slug
        self.changes.committed()
        return await self.browse.product(slug, include_inactive=True)

    async def archive_product(self, key: str) -> None:
        """Archived, not deleted: orders and reservations keep pointing at it."""
        async with self.db.write() as session:
            product = await self._load_product(session, key, include_inactive=True)
            product.active = False
            product.updated_at = utcnow()
            await self.changes.emit(
                session,
                "catalog.product_archived",
                {"product_id": product.id, "slug": product.slug},
            )
        self.changes.committed()

    async def update_variant(self, sku: str, data: s.VariantPatch) -> s.VariantStock:
        async with self.db.write() as session:
            variant = (
                await session.execute(select(Variant).where(Variant.sku == sku))
            ).scalar_one_or_none()
            if variant is None:
                raise NotFound(f"no SKU '{sku}'")
            for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
                setattr(variant, field, value)
            await session.flush()
            await session.execute(
                update(P)
                .where(P.c.id == variant.product_id)
                .values(
                    min_price_minor=select(func.min(V.c.price_minor))
                    .where(V.c.product_id == variant.product_id)
                    .scalar_subquery(),
                    updated_at=utcnow(),
                )
            )
            await reindex(session, variant.product_id, fts5=self.db.is_sqlite)
            await self.changes.emit(
                session,
                "catalog.variant_updated",
                {"sku": sku, **data.model_dump(exclude_none=True)},
            )
        self.changes.committed()
        return (await self.browse.lookup_skus([sku])).items[0]

    async def _product_written(
        self, session: AsyncSession, product: Product, event: str, **details: Any
    ) -> None:
        """What every product write ends with: the row flushed, its search entry
        rebuilt and its event (id, slug and ``details``) in the outbox."""
        await session.flush()
        await reindex(session, product.id, fts5=self.db.is_sqlite)
        await self.changes.emit(
            session, event, {"product_id": product.id, "slug": product.slug, **details}
        )

    async def _load_product(
        self, session: AsyncSession, key: str, *, include_inactive: bool = False
    ) -> Product:
        query = select(Product).options(
            selectinload(Product.variants),
            selectinload(Product.images),
            selectinload(Product.brand),
            selectinload(Product.category),
        )
        product = (await session.execute(query.where(Product.slug == key))).scalar_one_or_none()
        if product is None and key.isascii() and key.isdigit() and len(key) < 12:
            product = (
                await session.execute(query.where(Product.id == int(key)))
            ).scalar_one_or_none()
        if product is None or (not product.active and not include_inactive):
            raise NotFound(f"no product '{key}'")
        return product
