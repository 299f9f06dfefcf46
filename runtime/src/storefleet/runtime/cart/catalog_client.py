"""The cart's view of the catalog, over the catalog's HTTP API only.

The cart needs exact counts to refuse a quantity the store does not have, so it
asks the catalog's staff lookup with the catalog's token; it tells shoppers
only the level (``availability``) that came with them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.web.errors import UpstreamUnavailable

log = logging.getLogger(__name__)
# The catalog's availability levels (its StockLevel), as the cart passes them on.
StockLevel = Literal["in_stock", "low_stock", "out_of_stock"]


class Image(BaseModel):
    url: str
    alt: str


class StockInfo(BaseModel):
    sku: str
    product_slug: str
    product_name: str
    variant_name: str
    price_minor: int
    currency: str
    availability: StockLevel
    stock: int
    active: bool
    image: Image | None = None


class _Lookup(BaseModel):
    items: list[StockInfo]
    missing: list[str]


class CatalogClient:
    def __init__(self, client: ServiceClient, token: str = "") -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def lookup(self, skus: Sequence[str]) -> dict[str, StockInfo]:
        if not skus:
            return {}
        response = await self.client.post(
            "/admin/variant-lookup", json={"skus": list(skus)}, headers=self.headers
        )
        if response.status_code in (401, 403):
            log.error(
                "the catalog refused the cart's stock lookup (%s): set "
                "STOREFLEET_CART_CATALOG_TOKEN to the catalog's admin token",
                response.status_code,
            )
        if response.status_code != 200:
            raise UpstreamUnavailable("catalog", f"catalog answered {response.status_code}")
        return {item.sku: item for item in _Lookup.model_validate_json(response.content).items}
