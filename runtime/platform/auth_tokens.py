"""Who is calling: one :class:`Principal` from an embedded JWT or a Keycloak token.

Embedded mode: the accounts service signs short-lived access tokens (HS256)
with the store's shared secret (``STOREFLEET_AUTH_JWT_SECRET``) and its issuer
(``STOREFLEET_AUTH_ISSUER``, one per store). Cluster mode: Keycloak signs them
(RS256) and every service checks them against the realm's JWKS
(``STOREFLEET_AUTH_OIDC_ISSUER``). Either way a token from another store —
another secret, another issuer, another realm — is refused.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp

from storefleet.runtime.platform.oidc import JwksCache
from storefleet.runtime.platform.revocations import RevokedSessions, shared_revocations
from storefleet.runtime.platform.roles import ROLES, STORE_ADMIN

AUDIENCE: Final = "storefleet"
EMBEDDED_ALGORITHM: Final = "HS256"
OIDC_ALGORITHMS: Final = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class AuthSettings(BaseSettings):
    """Process-wide: every service of one store verifies the same tokens."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_AUTH_", extra="ignore")

    # Embedded mode: the shared HS256 secret and this store's issuer.
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
    def development(cls) -> Principal:
        return cls("development", "", frozenset({STORE_ADMIN}), source="development")


class Authenticator:
    """Turns a bearer token into a Principal, or None (never raises for bad input)."""

    def __init__(
        self, settings: AuthSettings | None = None, revocations: RevokedSessions | None = None
    ) -> None:
        self.settings = settings or AuthSettings()
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
        if not self.settings.jwt_secret:
            raise RuntimeError("no STOREFLEET_AUTH_JWT_SECRET: tokens cannot be signed")
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
        return jwt.encode(claims, self.settings.jwt_secret, algorithm=EMBEDDED_ALGORITHM)

    def _embedded(self, token: str) -> Principal | None:
        if not self.settings.jwt_secret:
            return None
        try:
            claims = jwt.decode(
                token,
                self.settings.jwt_secret,
                algorithms=[EMBEDDED_ALGORITHM],
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
