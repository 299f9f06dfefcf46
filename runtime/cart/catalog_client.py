"""The cart's view of the catalog, over the catalog's public HTTP API only."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from storefleet.runtime.platform.errors import UpstreamUnavailable
from storefleet.runtime.platform.resilience import ServiceClient


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
    stock: int
    active: bool
    image: Image | None = None


class _Lookup(BaseModel):
    items: list[StockInfo]
    missing: list[str]


class CatalogClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def lookup(self, skus: Sequence[str]) -> dict[str, StockInfo]:
        if not skus:
            return {}
        response = await self.client.post("/variant-lookup", json={"skus": list(skus)})
        if response.status_code != 200:
            raise UpstreamUnavailable("catalog", f"catalog answered {response.status_code}")
        return {item.sku: item for item in _Lookup.model_validate_json(response.content).items}
