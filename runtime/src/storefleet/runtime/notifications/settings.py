from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_NOTIFICATIONS_", extra="ignore")

    service_name: str = "notifications"
    admin_token: str = ""
    # Verifies signed-in shoppers' tokens (preferences, inbox, its stream).
    auth_secret: str = ""
    # Email over SMTP; no host: messages are written as .eml files under
    # <data_dir>/mail instead (a laptop has no mail server).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    # "starttls" (upgrade on 587), "tls" (implicit, 465) or "none" (a local relay).
    smtp_security: str = Field(default="starttls", pattern=r"^(starttls|tls|none)$")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_from: str = "shop@storefleet.local"
    # SMS and push go to a provider's webhook, signed with HMAC-SHA256.
    sms_webhook_url: str = ""
    sms_webhook_secret: str = ""
    push_webhook_url: str = ""
    push_webhook_secret: str = ""
    # Sending: attempts per message (transient failures) and the backoff between.
    max_send_attempts: int = Field(default=5, ge=1, le=50)
    send_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    send_backoff_max_seconds: float = Field(default=300.0, gt=0, le=86_400)
    dispatch_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # How often an open in-app stream looks for messages another replica stored.
    stream_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    stream_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
