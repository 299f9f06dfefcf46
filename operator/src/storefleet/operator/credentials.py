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
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# The services with an admin API token of their own (for the platform team's
# scripts and the operator's own calls; it acts as a store admin there, and only
# the service itself holds it).
ADMIN_SERVICES: Final = (
    "catalog",
    "cart",
    "orders",
    "payments",
    "notifications",
    "vendors",
    "analytics",
)
# (caller, callee): each call between services has a token of its own. The caller
# holds it as STOREFLEET_<CALLER>_<CALLEE>_TOKEN, the callee among its
# STOREFLEET_<CALLEE>_CALLER_TOKENS, where it grants the caller's role only.
CALLS: Final = (
    ("orders", "catalog"),
    ("orders", "cart"),
    ("orders", "payments"),
    ("cart", "catalog"),
    ("vendors", "catalog"),
)


def admin_token(service: str) -> str:
    return f"{service}-admin-token"


def call_token(caller: str, callee: str) -> str:
    return f"{caller}-{callee}-token"


# Generated credential -> (what it is for, whether rotation replaces it).
# Signing keys are not rotated with the rest: a new key signs everyone out and
# voids every cart token; that is a separate, deliberate act (delete the key).
GENERATED: Final[Mapping[str, tuple[str, bool]]] = {
    "database-password": ("the tenant's PostgreSQL role", True),
    "cache-password": ("the tenant's Redis ACL user", True),
    "events-password": ("the tenant's Kafka SCRAM user", True),
    **{admin_token(svc): (f"the {svc} service's admin API token", True) for svc in ADMIN_SERVICES},
    **{
        call_token(caller, callee): (f"the {caller} service's calls to {callee}", True)
        for caller, callee in CALLS
    },
    "webhook-secret": ("the payment sandbox's webhook signatures", True),
    # Only the accounts service holds it; every service gets its public half.
    "token-key": ("the Ed25519 key access tokens are signed with", False),
    "signing-key": ("the accounts service's links and recovery codes", False),
    # Never rotated by a credential rotation: a new key alone could not read the
    # secrets already stored (the runtime takes a list, newest first, to replace it).
    "secrets-key": ("the accounts service's key for secrets at rest (TOTP)", False),
}
# Credentials that must have a shape of their own; the rest are generate_secret().
KEY_FORMATS: Final[Mapping[str, str]] = {"secrets-key": "fernet", "token-key": "ed25519"}

# Service -> its own secret environment (the runtime's setting -> credential).
# No service sees another's: a compromised pod holds its own tokens only.
SERVICE_CREDENTIALS: Final[Mapping[str, Mapping[str, str]]] = {
    "accounts": {
        "STOREFLEET_AUTH_JWT_PRIVATE_KEY": "token-key",
        "STOREFLEET_AUTH_JWT_SECRET": "signing-key",
        "STOREFLEET_ACCOUNTS_SECRETS_KEY": "secrets-key",
    },
    **{
        svc: {
            f"STOREFLEET_{svc.upper()}_ADMIN_TOKEN": admin_token(svc),
            **{
                f"STOREFLEET_{caller.upper()}_{callee.upper()}_TOKEN": call_token(caller, callee)
                for caller, callee in CALLS
                if caller == svc
            },
            **(
                {"STOREFLEET_PAYMENTS_WEBHOOK_SECRET": "webhook-secret"}
                if svc == "payments"
                else {}
            ),
        }
        for svc in ADMIN_SERVICES
    },
}
# Every service: the public half of token-key, to verify access tokens.
PUBLIC_KEY_ENV: Final = "STOREFLEET_AUTH_JWT_PUBLIC_KEY"

# Provisioner output -> runtime environment variable; outputs not listed are
# named STOREFLEET_<OUTPUT>.
OUTPUT_ENV: Final[Mapping[str, str]] = {
    "REDIS_URL": "STOREFLEET_CACHE_URL",
    "REDIS_KEY_PREFIX": "STOREFLEET_CACHE_PREFIX",
    "KAFKA_BOOTSTRAP_SERVERS": "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS",
    "KAFKA_TOPIC_PREFIX": "STOREFLEET_EVENTS_TOPIC_PREFIX",
    "KAFKA_SECURITY_PROTOCOL": "STOREFLEET_EVENTS_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM": "STOREFLEET_EVENTS_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME": "STOREFLEET_EVENTS_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD": "STOREFLEET_EVENTS_SASL_PASSWORD",
    # The realm's issuer and the storefront client: how the runtime signs users in.
    "OIDC_ISSUER": "STOREFLEET_AUTH_OIDC_ISSUER",
    "OIDC_STOREFRONT_SECRET": "STOREFLEET_AUTH_OIDC_CLIENT_SECRET",
}

CREDENTIALS_SECRET: Final = "store-credentials"
RUNTIME_ENV_SECRET: Final = "runtime-env"


def service_env_secret(service: str) -> str:
    """The Secret only that service's pods read their own credentials from."""
    return f"{RUNTIME_ENV_SECRET}-{service}"


def generate_secret(name: str = "") -> str:
    if KEY_FORMATS.get(name) == "ed25519":
        return (
            Ed25519PrivateKey.generate()
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
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


def public_key(private_pem: str) -> str:
    """The public half of token-key, PEM; a placeholder for an offline render's."""
    if not private_pem.startswith("-----BEGIN"):
        return f"(public half of {private_pem})"
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("token-key is not an Ed25519 key; delete it to have a new one made")
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def runtime_env(credentials: Mapping[str, str], outputs: Mapping[str, str]) -> dict[str, str]:
    """What every service of the store reads: provisioner outputs and the key
    that verifies access tokens. Nothing here lets a service act as another."""
    env = {OUTPUT_ENV.get(key, f"STOREFLEET_{key}"): value for key, value in outputs.items()}
    env[PUBLIC_KEY_ENV] = public_key(credentials["token-key"])
    return dict(sorted(env.items()))


def service_env(credentials: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Each service's own secret environment: its tokens, the tokens of the calls
    it makes, and the callers' tokens it checks (JSON, caller -> token)."""
    env = {
        svc: {name: credentials[key] for name, key in own.items()}
        for svc, own in SERVICE_CREDENTIALS.items()
    }
    for callee in sorted({callee for _, callee in CALLS}):
        callers = {c: credentials[call_token(c, callee)] for c, d in CALLS if d == callee}
        env[callee][f"STOREFLEET_{callee.upper()}_CALLER_TOKENS"] = json.dumps(
            callers, sort_keys=True
        )
    return {svc: dict(sorted(values.items())) for svc, values in sorted(env.items())}


def checksum(*parts: Mapping[str, Any]) -> str:
    """A short digest of what the runtime is configured with: a change rolls its pods."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return digest[:16]
