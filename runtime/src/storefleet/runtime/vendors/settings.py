from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings, upstream_url


class VendorsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_VENDORS_", extra="ignore")

    service_name: str = "vendors"
    # A static bearer token that acts as a store admin (the operator's Vendor controller).
    admin_token: str = ""
    catalog_url: str = Field(default_factory=lambda: upstream_url("catalog", 8001))
    # The catalog's admin token (its STOREFLEET_CATALOG_ADMIN_TOKEN): vendors'
    # products are written to the catalog with it, after this service checked
    # that the product is the vendor's own.
    catalog_token: str = ""
    # How often the payout scheduler looks for vendors due a payout.
    payout_poll_seconds: float = Field(default=3600.0, gt=0)
    payouts_enabled: bool = True
