"""OpenID Connect against the store's Keycloak realm.

``JwksCache`` keeps the realm's signing keys and fetches them again when a
token names a key it doesn't know (Keycloak rotated its keys), at most once per
``min_refresh`` seconds so that forged kids can't make us hammer Keycloak.
``OidcClient`` runs the authorization-code flow with PKCE (S256) for the
storefront, the admin console and the vendor portal alike.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt


class OidcError(Exception):
    """Keycloak refused or could not be reached."""


class _Discovery:
    def __init__(self, issuer: str, client: httpx.AsyncClient) -> None:
        self.issuer = issuer.rstrip("/")
        self._client = client
        self._document: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            if self._document is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                try:
                    response = await self._client.get(url)
                except httpx.HTTPError as exc:
                    raise OidcError(f"identity provider unreachable: {exc}") from exc
                if response.status_code != 200:
                    raise OidcError(f"discovery answered {response.status_code}")
                found: dict[str, Any] = response.json()
                if found.get("issuer", "").rstrip("/") != self.issuer:
                    raise OidcError("discovery names another issuer")
                self._document = found
            return self._document


class JwksCache:
    def __init__(self, issuer: str, min_refresh: float = 10.0, timeout: float = 5.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout)
        self._discovery = _Discovery(issuer, self._client)
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._min_refresh = min_refresh
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _refresh(self) -> None:
        document = await self._discovery.document()
        response = await self._client.get(document["jwks_uri"])
        if response.status_code != 200:
            raise OidcError(f"JWKS answered {response.status_code}")
        keys: dict[str, Any] = {}
        for jwk in response.json().get("keys", []):
            if jwk.get("use", "sig") != "sig" or "kid" not in jwk:
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk).key
            except jwt.PyJWTError:
                continue
        self._keys = keys
        self._fetched_at = time.monotonic()
        self.fetches += 1

    async def key(self, kid: str) -> Any | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh:
                try:
                    await self._refresh()
                except (OidcError, httpx.HTTPError, ValueError):
                    return None
        return self._keys.get(kid)

    async def close(self) -> None:
        await self._client.aclose()


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    verifier: str


class OidcClient:
    def __init__(
        self, issuer: str, client_id: str, client_secret: str = "", *, timeout: float = 10.0
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self._client = httpx.AsyncClient(timeout=timeout)
        self._discovery = _Discovery(issuer, self._client)

    async def authorization_request(
        self, redirect_uri: str, *, idp_hint: str = "", prompt: str = ""
    ) -> AuthorizationRequest:
        document = await self._discovery.document()
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if idp_hint:
            # Keycloak skips its own form and goes straight to that identity provider.
            params["kc_idp_hint"] = idp_hint
        if prompt:
            params["prompt"] = prompt
        url = f"{document['authorization_endpoint']}?{urlencode(params)}"
        return AuthorizationRequest(url, state, nonce, verifier)

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        document = await self._discovery.document()
        form = {"client_id": self.client_id, **form}
        auth: tuple[str | bytes, str | bytes] | None = (
            (self.client_id, self._secret) if self._secret else None
        )
        try:
            if auth is None:
                response = await self._client.post(document["token_endpoint"], data=form)
            else:
                response = await self._client.post(document["token_endpoint"], data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise OidcError(f"identity provider unreachable: {exc}") from exc
        if response.status_code != 200:
            raise OidcError(f"token endpoint answered {response.status_code}")
        tokens: dict[str, Any] = response.json()
        return tokens

    async def exchange_code(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def end_session_url(self, id_token: str, redirect_uri: str) -> str:
        document = await self._discovery.document()
        endpoint = document.get("end_session_endpoint")
        if not endpoint:
            return redirect_uri
        query = urlencode(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": redirect_uri,
                "client_id": self.client_id,
            }
        )
        return f"{endpoint}?{query}"

    async def close(self) -> None:
        await self._client.aclose()
