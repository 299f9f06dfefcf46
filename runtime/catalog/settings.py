from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_CATALOG_", extra="ignore")

    service_name: str = "catalog"
    # Empty leaves the admin API open, which is what a laptop demo wants; the
    # operator always sets one in a cluster.
    admin_token: str = ""
    reservation_ttl_seconds: int = Field(default=900, ge=10, le=86_400)
    reservation_sweep_seconds: float = Field(default=5.0, gt=0)
    search_vocabulary_ttl_seconds: float = Field(default=60.0, ge=0)
    # How long browse and search results may be served from memory; 0 turns it off.
    read_cache_seconds: float = Field(default=5.0, ge=0)
