from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings, upstream_url


class CartSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_CART_", extra="ignore")

    service_name: str = "cart"
    catalog_url: str = Field(default_factory=lambda: upstream_url("catalog", 8001))
    admin_token: str = ""
    # The token this service gave each service that calls it (orders), as
    # JSON: {"orders": "..."}. Each acts as that caller's role only, never as staff.
    caller_tokens: dict[str, str] = Field(default_factory=dict)
    # The token the catalog gave this service, for exact stock counts (shoppers are
    # only told levels; the operator generates one per call). By default the
    # catalog's own STOREFLEET_CATALOG_ADMIN_TOKEN when this process sees it (serve
    # all). Empty: development mode, where the catalog's staff routes answer without one.
    catalog_token: str = Field(
        default_factory=lambda: os.environ.get("STOREFLEET_CATALOG_ADMIN_TOKEN", "")
    )
    # Verifies signed-in shoppers' tokens; empty means only anonymous carts work.
    auth_secret: str = ""
    cookie_name: str = "sf_cart"
    cookie_secure: bool = False
    cart_ttl_seconds: int = Field(default=30 * 86_400, ge=60)
    max_quantity_per_line: int = Field(default=10, ge=1, le=1000)
    max_lines: int = Field(default=50, ge=1, le=500)
    abandoned_after_hours: float = Field(default=24.0, gt=0)
    abandoned_sweep_seconds: float = Field(default=300.0, gt=0)
    # How long a checkout holds a cart (the orders service releases or spends it
    # sooner); a checkout that died mid-way frees its cart after this.
    checkout_hold_seconds: float = Field(default=300.0, ge=10, le=3600)
