"""The shopper's account pages: sign up, sign in (password + TOTP, or the
store's Keycloak realm), MFA, profile, addresses, preferences, privacy.

The pages talk to the accounts service's HTTP API with the shopper's own
access token, kept server-side in the session (the browser holds only the
session id; ``storefront.viewers``). Every form carries the browser's CSRF
token (``browser_guard``).
"""

from __future__ import annotations

from fastapi import APIRouter

from storefleet.runtime.storefront.pages.account import (
    addresses,
    inbox,
    mfa,
    oidc,
    password_reset,
    privacy,
    profile,
    sign_in,
    sign_up,
)

router = APIRouter()
for journey in (inbox, sign_up, sign_in, oidc, mfa, profile, addresses, privacy, password_reset):
    router.include_router(journey.router)
