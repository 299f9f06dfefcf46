"""Sign-ins that ended before their access tokens expired.

An access token is a signed JWT that every service checks on its own, so
signing out cannot unsign it. Instead the token's session (its ``sid`` claim:
the sign-in's refresh-token family, or Keycloak's session) goes on a list in
the cache the whole store shares, for as long as a token of it can live, and
every service's :class:`~storefleet.runtime.platform.identity.tokens.Authenticator`
refuses tokens of a session on the list.

In a cluster the list is in Redis (``STOREFLEET_CACHE_URL`` with the store's
``STOREFLEET_CACHE_PREFIX``, which the operator gives every Deployment), so a
sign-out on one replica holds on every replica of every service at once. On a
laptop it is one in-memory list per process, which ``serve all`` shares.
"""

from __future__ import annotations

import os
from typing import Final

from storefleet.runtime.platform.storage.cache import Cache, MemoryCache, create_cache

KEY_PREFIX: Final = "auth:revoked-session:"


class RevokedSessions:
    def __init__(self, cache: Cache, ttl_seconds: float) -> None:
        self.cache = cache
        # The longest an access token of the session can still be accepted.
        self.ttl = ttl_seconds

    async def revoke(self, session: str) -> None:
        if session:
            await self.cache.set(KEY_PREFIX + session, b"1", ttl=self.ttl)

    async def revoked(self, session: str) -> bool:
        return bool(session) and await self.cache.get(KEY_PREFIX + session) is not None


_SHARED: dict[tuple[str, str], Cache] = {}


def shared_revocations(ttl_seconds: float) -> RevokedSessions:
    """The store's list, where the environment says the shared cache is; one
    cache client per place in this process (so every service in it agrees)."""
    url = os.environ.get("STOREFLEET_CACHE_URL", "memory://")
    prefix = os.environ.get("STOREFLEET_CACHE_PREFIX", "")
    place = (url, prefix)
    if place not in _SHARED:
        _SHARED[place] = MemoryCache() if url == "memory://" else create_cache(url, prefix)
    return RevokedSessions(_SHARED[place], ttl_seconds)
