"""The runtime's secret settings from Vault, read once at start.

When the operator keeps a Store's secrets in Vault, a runtime pod gets no
Secret: it gets the Vault address, its Kubernetes-auth role and a projected
ServiceAccount token whose audience only Vault accepts. At start the process
logs in with that token, reads its environment (database URL, cache URL, keys)
from the tenant's KV path, and puts it in ``os.environ`` before any settings
object reads it. A pod that cannot read its secrets exits with the reason, so
Kubernetes shows it failing instead of a service running without a database.

This runs before the event loop starts, so hvac's blocking client is fine here.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

import hvac
import requests
from hvac.exceptions import VaultError
from pydantic_settings import BaseSettings, SettingsConfigDict


class VaultEnvSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_VAULT_", extra="ignore")

    addr: str = ""
    role: str = ""
    auth_mount: str = "kubernetes"
    kv_mount: str = "secret"
    secret_path: str = ""
    # This service's own credentials, read after the shared path (none outside a Store).
    service_secret_path: str = ""
    token_file: Path = Path("/var/run/secrets/storefleet/vault/token")
    timeout_seconds: float = 10.0


class SecretsUnavailableError(RuntimeError):
    """The runtime was told to read its secrets from Vault and could not."""


def load_secret_env(
    environ: MutableMapping[str, str] | None = None, settings: VaultEnvSettings | None = None
) -> list[str]:
    """Adds the secrets under the configured paths (the store's shared one, then the
    service's own) to the environment; returns their names.

    Does nothing without STOREFLEET_VAULT_ADDR. A variable already set in the
    environment is left alone, so one can be overridden for debugging.
    """
    environ = os.environ if environ is None else environ
    settings = settings or VaultEnvSettings()
    if not settings.addr:
        return []
    paths = [p for p in (settings.secret_path, settings.service_secret_path) if p]
    where = f"{settings.addr} ({settings.kv_mount}/{', '.join(paths)}, role {settings.role})"
    try:
        jwt = settings.token_file.read_text().strip()
    except OSError as exc:
        raise SecretsUnavailableError(
            f"cannot read the ServiceAccount token for Vault at {settings.token_file}: {exc}"
        ) from exc
    client = hvac.Client(url=settings.addr, timeout=settings.timeout_seconds)
    data: dict[str, object] = {}
    try:
        client.auth.kubernetes.login(settings.role, jwt, mount_point=settings.auth_mount)
        for path in paths:
            response = client.secrets.kv.v2.read_secret_version(
                path, mount_point=settings.kv_mount, raise_on_deleted_version=True
            )
            data.update(response["data"]["data"])
    except (VaultError, requests.RequestException) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SecretsUnavailableError(f"reading secrets from Vault {where}: {detail}") from exc
    loaded = []
    for name, value in data.items():
        if name not in environ:
            environ[str(name)] = str(value)
            loaded.append(str(name))
    return sorted(loaded)
