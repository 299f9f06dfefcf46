from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings, upstream_url


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_ORDERS_", extra="ignore")

    service_name: str = "orders"
    store: str = Field(default_factory=lambda: os.environ.get("STOREFLEET_STORE_ID", "default"))
    catalog_url: str = Field(default_factory=lambda: upstream_url("catalog", 8001))
    cart_url: str = Field(default_factory=lambda: upstream_url("cart", 8002))
    payments_url: str = Field(default_factory=lambda: upstream_url("payments", 8005))
    admin_token: str = ""
    # Per attempt, for calls to payments: it may itself retry a slow processor.
    payments_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # The token payments gave this service (the operator's, one per call; or its
    # STOREFLEET_PAYMENTS_ADMIN_TOKEN), sent on every call.
    payments_token: str = ""
    # The token the catalog gave this service, for stock reservations; by default
    # the catalog's own STOREFLEET_CATALOG_ADMIN_TOKEN when this process sees it
    # (serve all; the operator gives each call a token of its own).
    catalog_token: str = Field(
        default_factory=lambda: os.environ.get("STOREFLEET_CATALOG_ADMIN_TOKEN", "")
    )
    # The token the cart gave this service, to claim and spend carts and count
    # promo code uses; by default the cart's own STOREFLEET_CART_ADMIN_TOKEN.
    cart_token: str = Field(
        default_factory=lambda: os.environ.get("STOREFLEET_CART_ADMIN_TOKEN", "")
    )
    # Verifies signed-in shoppers' tokens (the same secret as the cart's).
    auth_secret: str = ""
    express_surcharge_minor: int = Field(default=995, ge=0)
    # Stock stays held this long for an order waiting for payment or review.
    reservation_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    # How long a checkout request waits for its saga before answering (it goes on).
    checkout_wait_seconds: float = Field(default=10.0, ge=0, le=60)
    # A payment processor that stays unreachable this long fails the checkout.
    payment_deadline_seconds: float = Field(default=120.0, gt=0)
    # Waiting for the shopper's 3-D Secure: then the order is cancelled.
    action_deadline_seconds: float = Field(default=1800.0, gt=0)
    saga_poll_seconds: float = Field(default=1.0, gt=0)
    saga_lease_seconds: float = Field(default=30.0, gt=0)
    saga_retry_base_seconds: float = Field(default=0.5, gt=0)
    saga_retry_max_seconds: float = Field(default=10.0, gt=0)
