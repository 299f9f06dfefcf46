"""Signed user tokens for calls that act for a signed-in shopper.

A compact HMAC-SHA256 token (``base64url(json).base64url(mac)``) with an expiry.
The cart still accepts them for signed-in shoppers; the accounts service's JWTs
and Keycloak's tokens (:mod:`.tokens`) are verified beside them, and route
rules live in :mod:`.permissions`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Principal:
    user_id: str
    expires_at: float


def sign(user_id: str, secret: str, ttl_seconds: float = 3600, now: float | None = None) -> str:
    payload = {"sub": user_id, "exp": (now or time.time()) + ttl_seconds}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(token: str, secret: str, now: float | None = None) -> Principal | None:
    """The token's principal, or None if it is malformed, forged or expired."""
    if not secret or token.count(".") != 1 or len(token) > 4096:
        return None
    body, mac = token.split(".")
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    subject, expires = payload.get("sub"), payload.get("exp")
    if not isinstance(subject, str) or not subject or not isinstance(expires, int | float):
        return None
    if expires < (now or time.time()):
        return None
    return Principal(user_id=subject, expires_at=float(expires))


def bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None
