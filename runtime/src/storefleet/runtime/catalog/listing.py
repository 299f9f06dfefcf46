"""The product listing (``GET /products``): full-text, typo-tolerant search
with filters, sorting and facets, on SQLite FTS5 or PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, exists, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.facets import count_facets, count_matching
from storefleet.runtime.catalog.search import Vocabulary, fts5_query, tokenize, tsquery
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.catalog.summaries import summaries
from storefleet.runtime.catalog.tables import B, C, P, V
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.readcache import ReadCache
from storefleet.runtime.platform.web.errors import NotFound


class Listing:
    def __init__(self, db: Database, settings: CatalogSettings, reads: ReadCache) -> None:
        self.db = db
        self.settings = settings
        self.reads = reads
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_at = 0.0

    def forget_vocabulary(self) -> None:
        """After a write: the next search reads the indexed terms anew."""
        self._vocabulary = None

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
                total = await count_matching(session, P, filters.values())
                if total:
                    break
            if total < 0:
                total = await count_matching(session, P, filters.values())

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
            items = await summaries(session, ids)
            facets = await count_facets(session, P, filters, stocked, brands, min_price)
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
