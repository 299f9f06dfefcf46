from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_PAYMENTS_", extra="ignore")

    service_name: str = "payments"
    admin_token: str = ""
    # The token this service gave each service that calls it (orders), as
    # JSON: {"orders": "..."}. Each acts as that caller's role only, never as staff.
    caller_tokens: dict[str, str] = Field(default_factory=dict)
    gateway: Literal["sandbox", "stripe"] = "sandbox"
    # Signs the sandbox's webhooks and verifies incoming ones; random per process if empty.
    webhook_secret: str = ""
    # Where shoppers reach this service's public pages (the sandbox's 3-D Secure page).
    public_url: str = "/api/payments"
    stripe_api_key: str = ""
    stripe_api_base: str = ""
    stripe_webhook_secret: str = ""
    gateway_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    gateway_retries: int = Field(default=2, ge=0, le=10)
    # Fraud rules (see fraud.py)
    fraud_high_amount_minor: int = Field(default=100_000, ge=1)
    fraud_review_at: int = Field(default=50, ge=1)
    fraud_block_at: int = Field(default=90, ge=1)
    subscription_poll_seconds: float = Field(default=60.0, gt=0)
    subscription_max_failures: int = Field(default=3, ge=1)
