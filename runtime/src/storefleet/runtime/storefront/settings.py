from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings, upstream_url
from storefleet.runtime.platform.web.browser_guard import allowed_origin, origin_of


class StorefrontSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    service_name: str = "storefront"
    catalog_url: str = Field(default_factory=lambda: upstream_url("catalog", 8001))
    cart_url: str = Field(default_factory=lambda: upstream_url("cart", 8002))
    cookie_name: str = "sf_cart"
    # Every cookie the shop sets is Secure, except on requests to localhost or
    # 127.0.0.1; off only for plain-http development on another host.
    cookie_secure: bool = True
    # The store's public URL (where Keycloak sends the browser back, and an
    # origin the shop's forms may come from).
    public_url: str = ""
    # More origins the shop's forms may be posted from, comma separated
    # (https://shop.example,https://www.shop.example), besides the public URL and
    # the scheme and host each request came to: behind a proxy that passes
    # another Host on, the browser's origin is one only configuration knows.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cart_cookie_max_age: int = 30 * 86_400
    page_size: int = Field(default=24, ge=1, le=100)
    # The category tree, category headers and recommendations change rarely and
    # fill every page: kept this long (products, prices and stock never are).
    navigation_ttl_seconds: float = Field(default=60.0, ge=0)
    # For template authors: re-read a template when its file changes.
    reload_templates: bool = False

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [allowed_origin(str(part)) for part in value]
        return value

    def form_origins(self) -> list[str]:
        """Where the browser may post the shop's forms from, besides each
        request's own scheme and host."""
        public = origin_of(self.public_url) if self.public_url else None
        return [*([public] if public else []), *self.allowed_origins]
