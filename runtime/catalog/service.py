"""The catalog's use cases, over its own database only."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    Table,
    and_,
    case,
    exists,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.availability import level_of
from storefleet.runtime.catalog.models import (
    Brand,
    Category,
    CoPurchase,
    Image,
    ProcessedEvent,
    Product,
    Reservation,
    ReservationLine,
    Variant,
    outbox,
)
from storefleet.runtime.catalog.search import (
    PRICE_BUCKETS,
    Vocabulary,
    fts5_query,
    tokenize,
    tsquery,
)
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.readcache import ReadCache
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError

# Core tables for the queries the ORM would make slow or awkward.
P = cast(Table, Product.__table__)
V = cast(Table, Variant.__table__)
B = cast(Table, Brand.__table__)
C = cast(Table, Category.__table__)
IMG = cast(Table, Image.__table__)
COP = cast(Table, CoPurchase.__table__)
R = cast(Table, Reservation.__table__)


def as_utc(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MissingReference(ProblemError):
    """The request is well formed but names a brand or category that doesn't exist.

    409, not 422: the same request succeeds once the referenced thing is created."""

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(409, detail, title="Unknown reference", **extensions)


def format_price_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low // 100}+"
    return f"{low // 100}-{high // 100}"


class CatalogService:
    def __init__(
        self,
        db: Database,
        settings: CatalogSettings,
        relay: OutboxRelay | None = None,
        currency: str = "EUR",
    ) -> None:
        self.db = db
        self.settings = settings
        # The store's currency: every price is in it (carts and orders add prices up).
        self.currency = currency
        self.relay = relay
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_at = 0.0
        self.reads = ReadCache(settings.resolved_read_cache_seconds())

    async def _emit(self, session: AsyncSession, event_type: str, payload: dict[str, Any]) -> None:
        await enqueue(session, outbox, Event(event_type, payload, source="catalog"))

    def _after_commit(self) -> None:
        self._vocabulary = None
        self.reads.invalidate()
        if self.relay is not None:
            self.relay.wake()

    # ------------------------------------------------------------------ search

    async def vocabulary(self, session: AsyncSession) -> Vocabulary:
        ttl = self.settings.search_vocabulary_ttl_seconds
        if self._vocabulary is not None and time.monotonic() - self._vocabulary_at < ttl:
            return self._vocabulary
        if self.db.is_postgres:
            query = text(
                "SELECT word, ndoc FROM ts_stat("
                "'SELECT to_tsvector(''simple'', search_text) FROM products WHERE active')"
            )
        else:
            query = text("SELECT term, doc FROM products_fts_vocab")
        rows = (await session.execute(query)).all()
        self._vocabulary = Vocabulary({str(term): int(count) for term, count in rows})
        self._vocabulary_at = time.monotonic()
        return self._vocabulary

    async def search(
        self,
        *,
        q: str = "",
        category: str | None = None,
        brands: Sequence[str] = (),
        min_price: int | None = None,
        max_price: int | None = None,
        in_stock: bool = False,
        sort: s.SortOrder = "relevance",
        page: int = 1,
        per_page: int = 24,
    ) -> s.SearchResult:
        key = (
            "search",
            q,
            category,
            tuple(brands),
            min_price,
            max_price,
            in_stock,
            sort,
            page,
            per_page,
        )
        return await self.reads.get_or_load(
            key,
            lambda: self._search(
                q=q,
                category=category,
                brands=brands,
                min_price=min_price,
                max_price=max_price,
                in_stock=in_stock,
                sort=sort,
                page=page,
                per_page=per_page,
            ),
        )

    async def _search(
        self,
        *,
        q: str,
        category: str | None,
        brands: Sequence[str],
        min_price: int | None,
        max_price: int | None,
        in_stock: bool,
        sort: s.SortOrder,
        page: int,
        per_page: int,
    ) -> s.SearchResult:
        async with self.db.read() as session:
            words = tokenize(q)
            corrected = (await self.vocabulary(session)).correct_all(words) if words else []
            filters: dict[str, ColumnElement[bool]] = {"active": P.c.active.is_(True)}
            if category:
                path = (
                    await session.execute(select(C.c.path).where(C.c.slug == category))
                ).scalar_one_or_none()
                if path is None:
                    raise NotFound(f"no category '{category}'")
                subtree = select(C.c.id).where(C.c.path.like(path + "%"))
                filters["category"] = P.c.category_id.in_(subtree)
            if brands:
                filters["brand"] = P.c.brand_id.in_(select(B.c.id).where(B.c.slug.in_(brands)))
            price: list[ColumnElement[bool]] = []
            if min_price is not None:
                price.append(P.c.min_price_minor >= min_price)
            if max_price is not None:
                price.append(P.c.min_price_minor <= max_price)
            if price:
                filters["price"] = and_(*price)
            stocked = exists().where(V.c.product_id == P.c.id, V.c.stock > 0)
            if in_stock:
                filters["stock"] = stocked

            strategies = self._text_strategies(q, corrected) if corrected else []
            if strategies and self.db.is_postgres:
                # The trigram fallback's threshold; 0.6 by default misses real typos.
                await session.execute(
                    text("SELECT set_config('pg_trgm.word_similarity_threshold', '0.4', true)")
                )
            rank: ColumnElement[Any] | None = None
            fts_match: str | None = None
            total = -1
            for condition, ranking, match in strategies:
                filters["text"] = condition
                rank, fts_match = ranking, match
                total = await self._count(session, P, filters.values())
                if total:
                    break
            if total < 0:
                total = await self._count(session, P, filters.values())

            order: list[Any]
            if sort == "price_asc":
                order = [P.c.min_price_minor.asc()]
            elif sort == "price_desc":
                order = [P.c.min_price_minor.desc()]
            elif sort == "name":
                order = [P.c.name.asc()]
            elif sort == "relevance" and rank is not None:
                order = [rank]
            else:
                order = [P.c.created_at.desc()]
            offset = (page - 1) * per_page
            if sort == "relevance" and fts_match is not None:
                ids = await self._fts_page(session, fts_match, filters.values(), offset, per_page)
            else:
                page_query = (
                    select(P.c.id)
                    .where(*filters.values())
                    .order_by(*order, P.c.id.desc())
                    .limit(per_page)
                    .offset(offset)
                )
                ids = list((await session.execute(page_query)).scalars())
            items = await self._summaries(session, ids)
            facets = await self._facets(session, P, filters, stocked, brands, min_price)
        return s.SearchResult(
            query=q,
            corrected_query=" ".join(corrected) if corrected and corrected != words else None,
            total=total,
            page=page,
            per_page=per_page,
            sort=sort,
            items=items,
            facets=facets,
        )

    def _text_strategies(
        self, q: str, words: list[str]
    ) -> list[tuple[ColumnElement[bool], ColumnElement[Any] | None, str | None]]:
        """(condition, ordering, FTS5 match) from strictest to loosest; the first
        that finds anything is used."""
        if self.db.is_postgres:
            vector: ColumnElement[Any] = literal_column("products.search_vector")
            every = func.to_tsquery("english", tsquery(words))
            some = func.to_tsquery("english", tsquery(words, any_word=True))
            phrase = " ".join(tokenize(q))
            return [
                (vector.op("@@")(every), func.ts_rank(vector, every).desc(), None),
                # Trigram similarity catches what stemming and prefixes miss.
                (
                    P.c.search_text.op("%>")(phrase),
                    func.word_similarity(phrase, P.c.search_text).desc(),
                    None,
                ),
                (vector.op("@@")(some), func.ts_rank(vector, some).desc(), None),
            ]
        strategies: list[tuple[ColumnElement[bool], ColumnElement[Any] | None, str | None]] = []
        for any_word in (False, True):
            match = fts5_query(words, any_word=any_word)
            # IN (subquery) runs the FTS query once; a join would rerun it per product.
            matched = P.c.id.in_(
                text("SELECT rowid FROM products_fts WHERE products_fts MATCH :m")
                .bindparams(m=match)
                .columns(rowid=Integer)
            )
            strategies.append((matched, None, match))
        return strategies

    async def _fts_page(
        self, session: AsyncSession, match: str, where: Any, offset: int, limit: int
    ) -> list[int]:
        ranks: dict[int, float] = dict(
            (
                await session.execute(
                    text(
                        "SELECT rowid, bm25(products_fts, 10.0, 1.0) FROM products_fts "
                        "WHERE products_fts MATCH :m"
                    ),
                    {"m": match},
                )
            ).all()
        )
        candidates = (await session.execute(select(P.c.id).where(*where))).scalars()
        ordered = sorted(candidates, key=lambda pid: (ranks.get(pid, 0.0), -pid))
        return ordered[offset : offset + limit]

    async def _count(self, session: AsyncSession, source: FromClause, where: Any) -> int:
        query = select(func.count()).select_from(source).where(*where)
        return int((await session.execute(query)).scalar_one())

    async def _facets(
        self,
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
        in_stock = await self._count(session, source, [*without("stock"), stocked])
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
                s.FacetValue(value=slug, label=name, count=count)
                for slug, name, count in category_rows
            ],
            price=price_facet,
            in_stock=in_stock,
        )

    async def _summaries(self, session: AsyncSession, ids: Sequence[int]) -> list[s.ProductSummary]:
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
                .select_from(
                    P.join(C, C.c.id == P.c.category_id).outerjoin(B, B.c.id == P.c.brand_id)
                )
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

    # ------------------------------------------------------------------ browse

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
        if product is None and key.isdigit() and len(key) < 12:
            product = (
                await session.execute(query.where(Product.id == int(key)))
            ).scalar_one_or_none()
        if product is None or (not product.active and not include_inactive):
            raise NotFound(f"no product '{key}'")
        return product

    async def _breadcrumbs(self, session: AsyncSession, path: str) -> list[s.CategoryRef]:
        ids = [int(part) for part in path.strip("/").split("/") if part]
        rows = {
            row.id: row
            for row in (
                await session.execute(select(C.c.id, C.c.slug, C.c.name).where(C.c.id.in_(ids)))
            ).all()
        }
        return [s.CategoryRef(slug=rows[i].slug, name=rows[i].name) for i in ids if i in rows]

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
            if row is None and key.isdigit() and len(key) < 12:
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
            breadcrumbs = await self._breadcrumbs(session, row["category_path"])
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
                breadcrumbs=await self._breadcrumbs(session, category.path),
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
                for summary in await self._summaries(session, list({row["id"] for row in rows}))
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

    # ------------------------------------------------------------ recommendations

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
        if row is None and key.isdigit() and len(key) < 12:
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
            return await self._summaries(session, [row.id for row in ranked])

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
            return await self._summaries(session, list(ids))

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

    # ------------------------------------------------------------------ admin

    async def create_brand(self, data: s.BrandIn) -> s.BrandRef:
        try:
            async with self.db.write() as session:
                session.add(Brand(slug=data.slug, name=data.name))
                await self._emit(session, "catalog.brand_created", data.model_dump())
        except IntegrityError as exc:
            raise Conflict(f"brand '{data.slug}' exists") from exc
        self._after_commit()
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
                await self._emit(session, "catalog.category_created", {"slug": data.slug})
        except IntegrityError as exc:
            raise Conflict(f"category '{data.slug}' exists") from exc
        self._after_commit()
        return await self.category(data.slug)

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
                    await self._reindex(session, product_id)
            await self._emit(session, "catalog.category_updated", {"slug": slug})
        self._after_commit()
        return await self.category(slug)

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
            await self._emit(session, "catalog.category_deleted", {"slug": slug})
        self._after_commit()

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

    async def _reindex(self, session: AsyncSession, product_id: int) -> None:
        """Refresh the product's search text and, on SQLite, its FTS5 row."""
        row = (
            await session.execute(
                select(
                    P.c.name,
                    P.c.description,
                    P.c.attributes,
                    B.c.name.label("brand"),
                    C.c.name.label("category"),
                )
                .select_from(
                    P.join(C, C.c.id == P.c.category_id).outerjoin(B, B.c.id == P.c.brand_id)
                )
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
        if self.db.is_sqlite:
            await session.execute(
                text("DELETE FROM products_fts WHERE rowid = :id"), {"id": product_id}
            )
            await session.execute(
                text("INSERT INTO products_fts(rowid, name, body) VALUES (:id, :name, :body)"),
                {"id": product_id, "name": row.name, "body": body},
            )

    async def create_product(self, data: s.ProductIn) -> s.ProductDetail:
        await self.create_products([data])
        return await self.product(data.slug, include_inactive=True)

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
        self._after_commit()
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
            images=[
                Image(url=image.url, alt=image.alt or data.name, position=index)
                for index, image in enumerate(data.images)
            ],
        )
        session.add(product)
        await session.flush()
        await self._reindex(session, product.id)
        await self._emit(
            session,
            "catalog.product_created",
            {"product_id": product.id, "slug": data.slug, "skus": skus},
        )
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
                product.images = [
                    Image(url=image.url, alt=image.alt or product.name, position=index)
                    for index, image in enumerate(data.images)
                ]
            for field, value in changes.items():
                if value is not None:
                    setattr(product, field, value)
            product.updated_at = utcnow()
            await session.flush()
            await self._reindex(session, product.id)
            await self._emit(
                session, "catalog.product_updated", {"product_id": product.id, "slug": product.slug}
            )
            slug = product.slug
        self._after_commit()
        return await self.product(slug, include_inactive=True)

    async def archive_product(self, key: str) -> None:
        """Archived, not deleted: orders and reservations keep pointing at it."""
        async with self.db.write() as session:
            product = await self._load_product(session, key, include_inactive=True)
            product.active = False
            product.updated_at = utcnow()
            await self._emit(
                session,
                "catalog.product_archived",
                {"product_id": product.id, "slug": product.slug},
            )
        self._after_commit()

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
            await self._reindex(session, variant.product_id)
            await self._emit(
                session,
                "catalog.variant_updated",
                {"sku": sku, **data.model_dump(exclude_none=True)},
            )
        self._after_commit()
        return (await self.lookup_skus([sku])).items[0]

    async def adjust_stock(self, sku: str, delta: int) -> s.VariantStock:
        async with self.db.write() as session:
            result = await session.execute(
                update(V)
                .where(V.c.sku == sku, V.c.stock + delta >= 0)
                .values(stock=V.c.stock + delta)
                .returning(V.c.stock)
            )
            stock = result.scalar_one_or_none()
            if stock is None:
                current = (
                    await session.execute(select(V.c.stock).where(V.c.sku == sku))
                ).scalar_one_or_none()
                if current is None:
                    raise NotFound(f"no SKU '{sku}'")
                raise Conflict(
                    f"only {current} in stock; cannot remove {-delta}", available=current
                )
            await self._emit(
                session, "catalog.stock_adjusted", {"sku": sku, "delta": delta, "stock": stock}
            )
        self._after_commit()
        return (await self.lookup_skus([sku])).items[0]

    # -------------------------------------------------------------- inventory

    async def reserve(self, data: s.ReservationIn) -> s.ReservationOut:
        """Idempotent when the caller names the reservation (``id``, e.g. a checkout
        saga's): a repeat, after a timeout or a crash, answers with the first one."""
        if data.id is None:
            return await self._reserve(data)
        try:
            return await self.reservation(data.id)
        except NotFound:
            pass
        try:
            return await self._reserve(data)
        except IntegrityError:
            # The same id, concurrently: the other request's reservation stands.
            return await self.reservation(data.id)

    async def _reserve(self, data: s.ReservationIn) -> s.ReservationOut:
        """All or nothing. Each line is one conditional UPDATE (stock >= quantity),
        so concurrent reservers can never take stock below zero on either engine."""
        ttl = data.ttl_seconds or self.settings.reservation_ttl_seconds
        wanted = {item.sku: item.quantity for item in data.items}
        async with self.db.write() as session:
            variants = {
                row.sku: row.id
                for row in (
                    await session.execute(
                        select(V.c.id, V.c.sku)
                        .select_from(V.join(P, P.c.id == V.c.product_id))
                        .where(V.c.sku.in_(list(wanted)), P.c.active.is_(True))
                    )
                ).all()
            }
            missing = sorted(set(wanted) - set(variants))
            if missing:
                raise NotFound(f"unknown SKU: {', '.join(missing)}", skus=missing)
            # A fixed lock order: two reservations of the same SKUs can't deadlock.
            for sku in sorted(wanted, key=lambda sku: variants[sku]):
                quantity = wanted[sku]
                taken = await session.execute(
                    update(V)
                    .where(V.c.id == variants[sku], V.c.stock >= quantity)
                    .values(stock=V.c.stock - quantity)
                    .returning(V.c.id)
                )
                if taken.scalar_one_or_none() is None:
                    # Not how many are left: the detail reaches shoppers (an
                    # order's cancel reason), and stock levels are the store's.
                    raise Conflict(
                        f"not enough of {sku} in stock",
                        title="Insufficient stock",
                        sku=sku,
                    )
            reservation = Reservation(
                id=data.id or uuid.uuid4().hex,
                reference=data.reference,
                status="active",
                expires_at=utcnow() + timedelta(seconds=ttl),
                lines=[
                    ReservationLine(variant_id=variants[sku], sku=sku, quantity=quantity)
                    for sku, quantity in wanted.items()
                ],
            )
            session.add(reservation)
            await self._emit(
                session,
                "catalog.stock_reserved",
                {"reservation_id": reservation.id, "reference": data.reference, "items": wanted},
            )
        self._after_commit()
        return await self.reservation(reservation.id)

    async def reservation(self, reservation_id: str) -> s.ReservationOut:
        async with self.db.read() as session:
            reservation = (
                await session.execute(
                    select(Reservation)
                    .options(selectinload(Reservation.lines))
                    .where(Reservation.id == reservation_id)
                )
            ).scalar_one_or_none()
            if reservation is None:
                raise NotFound(f"no reservation '{reservation_id}'")
            return s.ReservationOut(
                id=reservation.id,
                reference=reservation.reference,
                status=reservation.status,  # type: ignore[arg-type]
                expires_at=as_utc(reservation.expires_at),
                items=[
                    s.ReservationItem(sku=line.sku, quantity=line.quantity)
                    for line in reservation.lines
                ],
            )

    async def _finish(
        self, session: AsyncSession, reservation_id: str, status: str, restock: bool
    ) -> bool:
        """Move an active reservation to ``status``; only the caller who wins the
        conditional update restocks, so stock is returned exactly once."""
        conditions = [R.c.id == reservation_id, R.c.status == "active"]
        if status == "committed":
            conditions.append(R.c.expires_at > utcnow())
        won = await session.execute(
            update(R).where(*conditions).values(status=status).returning(R.c.id)
        )
        if won.scalar_one_or_none() is None:
            return False
        if restock:
            lines = (
                await session.execute(
                    select(ReservationLine.variant_id, ReservationLine.quantity).where(
                        ReservationLine.reservation_id == reservation_id
                    )
                )
            ).all()
            for variant_id, quantity in sorted(lines):
                await session.execute(
                    update(V).where(V.c.id == variant_id).values(stock=V.c.stock + quantity)
                )
        await self._emit(
            session, f"catalog.reservation_{status}", {"reservation_id": reservation_id}
        )
        return True

    async def release(self, reservation_id: str) -> s.ReservationOut:
        async with self.db.write() as session:
            await self._finish(session, reservation_id, "released", restock=True)
        current = await self.reservation(reservation_id)
        if current.status == "committed":
            raise Conflict("reservation is already committed and cannot be released")
        self._after_commit()
        return current

    async def commit(self, reservation_id: str) -> s.ReservationOut:
        async with self.db.write() as session:
            await self._finish(session, reservation_id, "committed", restock=False)
        current = await self.reservation(reservation_id)
        if current.status != "committed":
            # Expired but not yet swept: sweep it now so its stock goes back.
            if current.status == "active":
                await self.sweep_expired()
                current = await self.reservation(reservation_id)
            raise Conflict(f"reservation is {current.status}", reservation_status=current.status)
        self._after_commit()
        return current

    async def sweep_expired(self, batch: int = 500) -> int:
        async with self.db.write() as session:
            expired = list(
                (
                    await session.execute(
                        select(R.c.id)
                        .where(R.c.status == "active", R.c.expires_at <= utcnow())
                        .limit(batch)
                    )
                ).scalars()
            )
            count = 0
            for reservation_id in expired:
                count += await self._finish(session, reservation_id, "expired", restock=True)
        if count:
            self._after_commit()
        return count
