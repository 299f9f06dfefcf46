from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.settings import ServiceSettings, upstream_url


class StorefrontSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    service_name: str = "storefront"
    catalog_url: str = Field(default_factory=lambda: upstream_url("catalog", 8001))
    cart_url: str = Field(default_factory=lambda: upstream_url("cart", 8002))
    cookie_name: str = "sf_cart"
    # Every cookie the shop sets is Secure, except on requests to localhost or
    # 127.0.0.1; off only for plain-http development on another host.
    cookie_secure: bool = True
    cart_cookie_max_age: int = 30 * 86_400
    page_size: int = Field(default=24, ge=1, le=100)
    # The category tree, category headers and recommendations change rarely and
    # fill every page: kept this long (products, prices and stock never are).
    navigation_ttl_seconds: float = Field(default=60.0, ge=0)
    # For template authors: re-read a template when its file changes.
    reload_templates: bool = False
