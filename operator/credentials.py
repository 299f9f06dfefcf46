"""The secrets the operator generates for a tenant, and what the runtime gets from them.

The operator is the only author of a tenant's passwords and keys. It keeps them
where the runtime will read them (Vault when the Store's secrets are
provisioned there, else the Secret ``store-credentials`` in the tenant
namespace) and reads them back on every reconcile, so a password is generated
once and stays until it is rotated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Final

# Generated credential -> (what it is for, whether rotation replaces it).
# Signing keys are not rotated with the rest: a new key signs everyone out and
# voids every cart token; that is a separate, deliberate act (delete the key).
GENERATED: Final[Mapping[str, tuple[str, bool]]] = {
    "database-password": ("the tenant's PostgreSQL role", True),
    "cache-password": ("the tenant's Redis ACL user", True),
    "admin-token": ("the runtime services' admin API token", True),
    "webhook-secret": ("the payment sandbox's webhook signatures", True),
    "signing-key": ("tokens the runtime signs (access tokens, carts, sessions)", False),
    # Never rotated by a credential rotation: a new key alone could not read the
    # secrets already stored (the runtime takes a list, newest first, to replace it).
    "secrets-key": ("the accounts service's key for secrets at rest (TOTP)", False),
}
# Credentials that must have a shape of their own; the rest are generate_secret().
KEY_FORMATS: Final[Mapping[str, str]] = {"secrets-key": "fernet"}

# Runtime environment from generated credentials (the runtime's settings names).
CREDENTIAL_ENV: Final[Mapping[str, str]] = {
    **{
        f"STOREFLEET_{service}_ADMIN_TOKEN": "admin-token"
        for service in (
            "CATALOG",
            "CART",
            "ORDERS",
            "PAYMENTS",
            "NOTIFICATIONS",
            "VENDORS",
            "ANALYTICS",
        )
    },
    # Orders calls payments' staff API (refunds, voids) with payments' admin token, and
    # vendors writes its vendors' products with the catalog's.
    "STOREFLEET_ORDERS_PAYMENTS_TOKEN": "admin-token",
    "STOREFLEET_VENDORS_CATALOG_TOKEN": "admin-token",
    "STOREFLEET_PAYMENTS_WEBHOOK_SECRET": "webhook-secret",
    "STOREFLEET_ACCOUNTS_SECRETS_KEY": "secrets-key",
    # One store, one identity: every service verifies the same tokens.
    "STOREFLEET_AUTH_JWT_SECRET": "signing-key",
    **{
        f"STOREFLEET_{service}_AUTH_SECRET": "signing-key"
        for service in ("CART", "ORDERS", "NOTIFICATIONS")
    },
}

# Provisioner output -> runtime environment variable; outputs not listed are
# named STOREFLEET_<OUTPUT>.
OUTPUT_ENV: Final[Mapping[str, str]] = {
    "REDIS_URL": "STOREFLEET_CACHE_URL",
    "REDIS_KEY_PREFIX": "STOREFLEET_CACHE_PREFIX",
    "KAFKA_BOOTSTRAP_SERVERS": "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS",
    "KAFKA_TOPIC_PREFIX": "STOREFLEET_EVENTS_TOPIC_PREFIX",
    # The realm's issuer and the storefront client: how the runtime signs users in.
    "OIDC_ISSUER": "STOREFLEET_AUTH_OIDC_ISSUER",
    "OIDC_STOREFRONT_SECRET": "STOREFLEET_AUTH_OIDC_CLIENT_SECRET",
}

CREDENTIALS_SECRET: Final = "store-credentials"
RUNTIME_ENV_SECRET: Final = "runtime-env"


def generate_secret(name: str = "") -> str:
    if KEY_FORMATS.get(name) == "fernet":
        # 32 random bytes, URL-safe base64 with padding: what Fernet takes as a key.
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    # URL-safe, so it can sit in a DSN's password field unquoted.
    return secrets.token_urlsafe(32)


def converge(current: Mapping[str, str], rotate: bool) -> dict[str, str]:
    """Every generated credential, keeping the current ones unless rotating."""
    return {
        name: (
            generate_secret(name)
            if name not in current or not current[name] or (rotate and rotates)
            else current[name]
        )
        for name, (_, rotates) in GENERATED.items()
    }


def runtime_env(credentials: Mapping[str, str], outputs: Mapping[str, str]) -> dict[str, str]:
    """The runtime's secret environment: provisioner outputs and generated keys."""
    env = {OUTPUT_ENV.get(key, f"STOREFLEET_{key}"): value for key, value in outputs.items()}
    env.update({name: credentials[key] for name, key in CREDENTIAL_ENV.items()})
    return dict(sorted(env.items()))


def checksum(*parts: Mapping[str, str]) -> str:
    """A short digest of what the runtime is configured with: a change rolls its pods."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return digest[:16]
