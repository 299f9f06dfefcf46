"""Who is calling: one :class:`Principal` from an embedded JWT or a Keycloak token.

Embedded mode: the accounts service signs short-lived access tokens with the
store's issuer (``STOREFLEET_AUTH_ISSUER``, one per store). In a cluster it signs
with an Ed25519 key only it holds (``STOREFLEET_AUTH_JWT_PRIVATE_KEY``) and every
other service verifies with the public half (``STOREFLEET_AUTH_JWT_PUBLIC_KEY``),
so no other service can mint a token; on a laptop one shared HS256 secret
(``STOREFLEET_AUTH_JWT_SECRET``) both signs and verifies. Once a key is set only
EdDSA tokens pass: an HS256 token is refused whatever it was signed with.
Keycloak mode: the realm signs them (RS256) and every service checks them against
its JWKS (``STOREFLEET_AUTH_OIDC_ISSUER``). Either way a token from another store
— another key, another issuer, another realm — is refused.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp

from storefleet.runtime.platform.identity.oidc import JwksCache
from storefleet.runtime.platform.identity.revocations import RevokedSessions, shared_revocations
from storefleet.runtime.platform.identity.roles import ROLES, STORE_ADMIN

AUDIENCE: Final = "storefleet"
EMBEDDED_ALGORITHM: Final = "HS256"
KEYED_ALGORITHM: Final = "EdDSA"
OIDC_ALGORITHMS: Final = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class AuthSettings(BaseSettings):
    """Process-wide: every service of one store verifies the same tokens."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_AUTH_", extra="ignore")

    # Embedded mode: the accounts service's Ed25519 signing key and its public
    # half (PEM), or on a laptop one shared HS256 secret; and this store's issuer.
    jwt_private_key: str = ""
    jwt_public_key: str = ""
    jwt_secret: str = ""
    issuer: str = "storefleet:local"
    access_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    refresh_ttl_seconds: int = Field(default=30 * 86_400, ge=300)
    # Cluster mode: the realm's issuer URL (…/realms/store-<name>) and its clients.
    oidc_issuer: str = ""
    oidc_client_id: str = "storefront"
    oidc_client_secret: str = ""
    oidc_clients: list[str] = Field(
        default_factory=lambda: ["storefront", "admin-console", "vendor-portal"]
    )
    # A token naming an unknown key makes us fetch the JWKS again, at most this often.
    jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
    # Refuse unauthenticated admin calls even in development mode (always so in
    # a pod, and wherever a credential is set; see STOREFLEET_DEVELOPMENT_MODE).
    required: bool = False
    leeway_seconds: float = Field(default=10.0, ge=0, le=300)

    @property
    def oidc_mode(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def keyed(self) -> bool:
        """Signed with a key pair: only EdDSA tokens pass."""
        return bool(self.jwt_private_key or self.jwt_public_key)


def new_signing_key() -> str:
    """A fresh Ed25519 private key, PEM (PKCS#8)."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def public_key_of(private_pem: str) -> str:
    """The public half of a PEM Ed25519 private key, PEM (SubjectPublicKeyInfo)."""
    return (
        _private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"STOREFLEET_AUTH_JWT_PRIVATE_KEY is not a PEM private key: {exc}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("STOREFLEET_AUTH_JWT_PRIVATE_KEY is not an Ed25519 key")
    return key


def _public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"STOREFLEET_AUTH_JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("STOREFLEET_AUTH_JWT_PUBLIC_KEY is not an Ed25519 key")
    return key


@dataclass(frozen=True)
class Principal:
    subject: str
    realm: str
    roles: frozenset[str]
    email: str = ""
    source: str = "embedded"  # embedded | oidc | service | development
    expires_at: float = 0.0
    session: str = ""
    # Signed in, but the store requires a second factor not yet set up.
    mfa_pending: bool = False
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def vendor_id(self) -> str | None:
        """The vendor a vendor-admin or vendor-staff member works for: the
        ``vendor_id`` claim (an embedded token's extra claim, a Keycloak user
        attribute mapped into the token)."""
        value = self.claims.get("vendor_id")
        return value if isinstance(value, str) and value else None

    @classmethod
    def service(cls) -> Principal:
        return cls("service", "", frozenset({STORE_ADMIN}), source="service")

    @classmethod
    def caller(cls, name: str, role: str) -> Principal:
        """Another service of the store, by the token its callee gave it."""
        return cls(f"service:{name}", "", frozenset({role}), source="service")

    @classmethod
    def development(cls) -> Principal:
        return cls("development", "", frozenset({STORE_ADMIN}), source="development")


class Authenticator:
    """Turns a bearer token into a Principal, or None (never raises for bad input)."""

    def __init__(
        self, settings: AuthSettings | None = None, revocations: RevokedSessions | None = None
    ) -> None:
        self.settings = settings or AuthSettings()
        s = self.settings
        # Which key signs and which verifies: a key pair when one is set (a bad
        # key fails here, when the service starts, not on the first request).
        self._signing: tuple[Any, str] | None = None
        self._verifying: tuple[Any, str] | None = None
        if s.keyed:
            if s.jwt_private_key:
                self._signing = (_private_key(s.jwt_private_key), KEYED_ALGORITHM)
            public = _public_key(s.jwt_public_key or public_key_of(s.jwt_private_key))
            self._verifying = (public, KEYED_ALGORITHM)
        elif s.jwt_secret:
            self._signing = self._verifying = (s.jwt_secret, EMBEDDED_ALGORITHM)
        # Signed-out sessions, shared by every service of the store.
        self.revocations = revocations or shared_revocations(
            self.settings.access_ttl_seconds + self.settings.leeway_seconds
        )
        self.jwks = (
            JwksCache(self.settings.oidc_issuer, self.settings.jwks_min_refresh_seconds)
            if self.settings.oidc_mode
            else None
        )

    def open_for_development(self) -> bool:
        """Whether these settings let development mode (the one switch,
        ``settings.development_mode``, which ``permissions.require`` reads) admit
        requests without a token: not when sign-in is required or realm-backed."""
        s = self.settings
        return not (s.required or s.oidc_mode)

    # ------------------------------------------------------------ embedded

    def issue_access(
        self,
        subject: str,
        roles: frozenset[str] | set[str],
        *,
        email: str = "",
        session: str = "",
        ttl: float | None = None,
        now: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        if self._signing is None:
            raise RuntimeError(
                "no STOREFLEET_AUTH_JWT_PRIVATE_KEY (or, on a laptop, STOREFLEET_AUTH_JWT_SECRET):"
                " tokens cannot be signed here"
            )
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.settings.issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": issued,
            "exp": issued + int(ttl if ttl is not None else self.settings.access_ttl_seconds),
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "roles": sorted(roles),
            "email": email,
            "sid": session,
            **(extra or {}),
        }
        key, algorithm = self._signing
        return jwt.encode(claims, key, algorithm=algorithm)

    @property
    def can_sign(self) -> bool:
        return self._signing is not None

    def _embedded(self, token: str) -> Principal | None:
        if self._verifying is None:
            return None
        key, algorithm = self._verifying
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=AUDIENCE,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            return None
        if claims.get("typ") != "access" or not isinstance(claims.get("roles"), list):
            return None
        return Principal(
            subject=str(claims["sub"]),
            realm=self.settings.issuer,
            roles=frozenset(r for r in claims["roles"] if r in ROLES),
            email=str(claims.get("email", "")),
            source="embedded",
            expires_at=float(claims["exp"]),
            session=str(claims.get("sid", "")),
            mfa_pending=bool(claims.get("mfa_pending", False)),
            claims=claims,
        )

    # ---------------------------------------------------------------- oidc

    async def _oidc(self, token: str) -> Principal | None:
        if self.jwks is None:
            return None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in OIDC_ALGORITHMS:
            return None
        key = await self.jwks.key(kid)
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(header["alg"])],
                issuer=self.settings.oidc_issuer,
                leeway=self.settings.leeway_seconds,
                options={"verify_aud": False, "require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        return self.principal_from_oidc(claims)

    def principal_from_oidc(self, claims: dict[str, Any]) -> Principal | None:
        # Access tokens name the client they were issued to; refuse other clients'.
        party = claims.get("azp")
        if party is not None and party not in self.settings.oidc_clients:
            return None
        if claims.get("typ") not in (None, "Bearer", "ID"):
            return None
        realm_roles = (claims.get("realm_access") or {}).get("roles") or []
        return Principal(
            subject=str(claims["sub"]),
            realm=self.settings.oidc_issuer.rstrip("/").rsplit("/", 1)[-1],
            roles=frozenset(r for r in realm_roles if r in ROLES),
            email=str(claims.get("email", "")),
            source="oidc",
            expires_at=float(claims["exp"]),
            session=str(claims.get("sid", "")),
            claims=claims,
        )

    async def authenticate(self, token: str) -> Principal | None:
        if len(token) > 16_384 or token.count(".") != 2:
            return None
        found = await self._oidc(token) if self.settings.oidc_mode else None
        found = found or self._embedded(token)
        if found is not None and await self.revocations.revoked(found.session):
            return None  # signed out: the token is dead before it expires
        return found

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()


_DEFAULTS: dict[str, Authenticator] = {}


def default_authenticator() -> Authenticator:
    """The authenticator the environment describes now (one per distinct setting)."""
    settings = AuthSettings()
    key = settings.model_dump_json()
    if key not in _DEFAULTS:
        _DEFAULTS[key] = Authenticator(settings)
    return _DEFAULTS[key]


def authenticator_of(app: ASGIApp, fallback: Authenticator | None = None) -> Authenticator:
    """The app's authenticator (``app.state.authenticator``), else ``fallback``
    (what the environment said when the routes were built), else the
    environment's now; remembered on the app."""
    state = getattr(app, "state", None)
    if state is None:
        raise RuntimeError("permissions need a Starlette/FastAPI app")
    found = getattr(state, "authenticator", None)
    if isinstance(found, Authenticator):
        return found
    made = fallback or default_authenticator()
    state.authenticator = made
    return made


def ensure_secret(settings: AuthSettings) -> AuthSettings:
    """A random secret when none is configured: tokens then verify only in this process."""
    if settings.jwt_secret:
        return settings
    return settings.model_copy(update={"jwt_secret": secrets.token_urlsafe(32)})
