"""Where the shared servers are: one optional block per system, from the environment.

The Helm chart sets these (docs/install.md); a system left unset is not
provisioned, and Stores asking for it fall back to the runtime's in-namespace
defaults.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProvisionerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STOREFLEET_OPERATOR_", extra="ignore", frozen=True
    )

    postgres_dsn: SecretStr | None = Field(
        default=None, description="Superuser DSN of the shared PostgreSQL server."
    )
    redis_url: SecretStr | None = Field(
        default=None, description="URL (with an ACL-admin password) of the shared Redis."
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port...] of the shared Kafka cluster."
    )
    kafka_username: str | None = Field(
        default=None,
        description="SASL/SCRAM-SHA-512 super user of that cluster; with it each Store gets "
        "a SCRAM user and ACLs on its own topics and groups. Unset: no authentication.",
    )
    kafka_password: SecretStr | None = Field(default=None, description="That user's password.")
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="SASL_PLAINTEXT", description="How SASL clients reach the cluster."
    )
    vault_addr: str | None = Field(default=None, description="URL of Vault or OpenBao.")
    vault_token: SecretStr | None = Field(default=None, description="Token of the operator.")
    vault_kv_mount: str = Field(default="secret", description="KV v2 mount for tenant secrets.")
    vault_auth_mount: str = Field(
        default="kubernetes", description="Mount of the Kubernetes auth method."
    )
    keycloak_url: str | None = Field(default=None, description="Base URL of Keycloak.")
    keycloak_username: str | None = Field(default=None, description="Admin of the master realm.")
    keycloak_password: SecretStr | None = Field(default=None, description="That admin's password.")
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Budget of one call to a shared server."
    )
