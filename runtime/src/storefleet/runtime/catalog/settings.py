from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_CATALOG_", extra="ignore")

    service_name: str = "catalog"
    # Empty leaves the admin API open, which is what a laptop demo wants; the
    # operator always sets one in a cluster.
    admin_token: str = ""
    # The token this service gave each service that calls it (orders, cart and vendors), as
    # JSON: {"orders": "..."}. Each acts as that caller's role only, never as staff.
    caller_tokens: dict[str, str] = Field(default_factory=dict)
    reservation_ttl_seconds: int = Field(default=900, ge=10, le=86_400)
    reservation_sweep_seconds: float = Field(default=5.0, gt=0)
    # A variant with this many units or fewer (but some) is ``low_stock`` to
    # shoppers, who never see the count itself ("only a few left").
    low_stock_threshold: int = Field(default=5, ge=0, le=1000)
    search_vocabulary_ttl_seconds: float = Field(default=60.0, ge=0)
    # How long browse and search results may be served from memory; 0 turns it
    # off. This process's own writes empty the cache at once, so the time only
    # bounds how late other replicas' writes show. Empty: 5 s on PostgreSQL
    # (replicas share it), 300 s on SQLite (one process is its only writer).
    read_cache_seconds: float | None = Field(default=None, ge=0)

    def resolved_read_cache_seconds(self) -> float:
        if self.read_cache_seconds is not None:
            return self.read_cache_seconds
        return 300.0 if self.resolved_database_url().startswith("sqlite") else 5.0
