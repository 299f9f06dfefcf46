from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import ServiceSettings


class AccountsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_ACCOUNTS_", extra="ignore")

    service_name: str = "accounts"
    # Where shoppers open the links we send (verification, password reset).
    public_url: str = "http://127.0.0.1:8000"
    # Store policy: "required" makes every account enrol a second factor.
    mfa_policy: Literal["off", "optional", "required"] = "optional"
    # Accounts with these e-mail addresses become store admins when verified.
    admin_emails: list[str] = Field(default_factory=list)
    verification_ttl_seconds: int = Field(default=2 * 86_400, ge=60)
    reset_ttl_seconds: int = Field(default=3600, ge=60)
    mfa_challenge_ttl_seconds: int = Field(default=300, ge=30)
    # Failed sign-ins per e-mail address (known or not) before it is locked for the window.
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_seconds: int = Field(default=900, ge=1)
    # Sign-in, reset and registration attempts per client address per minute.
    attempts_per_minute: int = Field(default=30, ge=1)
    # Log links at INFO too (a laptop has no mail server); off in a pod.
    log_links: bool = True
    # Lifetime of the minimal records kept about an erased account's security events.
    audit_retention_days: int = Field(default=365, ge=1)
    # Fernet key(s) that encrypt MFA secrets at rest, comma separated, the newest
    # first; required in a pod (a laptop makes one in <data_dir>/accounts-secrets.key).
    secrets_key: str = ""
