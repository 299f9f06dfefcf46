"""A signed-out session's access tokens are refused before they expire, by
every authenticator that shares the store's cache."""

from __future__ import annotations

import asyncio

from storefleet.runtime.platform.identity.revocations import RevokedSessions
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings
from storefleet.runtime.platform.storage.cache import MemoryCache

SETTINGS = AuthSettings(jwt_secret="unit-test-secret-long-enough-for-hs256", issuer="storefleet:t")


async def test_a_revoked_session_is_refused_by_every_service_sharing_the_cache() -> None:
    shared = MemoryCache()
    accounts = Authenticator(SETTINGS, revocations=RevokedSessions(shared, 310))
    catalog = Authenticator(SETTINGS, revocations=RevokedSessions(shared, 310))
    ended = accounts.issue_access("u1", {"customer"}, session="family-1")
    other = accounts.issue_access("u1", {"customer"}, session="family-2")
    assert await catalog.authenticate(ended) is not None
    await accounts.revocations.revoke("family-1")
    assert await catalog.authenticate(ended) is None
    assert await accounts.authenticate(ended) is None
    assert await catalog.authenticate(other) is not None


async def test_the_list_forgets_a_session_once_its_tokens_have_expired() -> None:
    cache = MemoryCache()
    revocations = RevokedSessions(cache, ttl_seconds=0.05)
    await revocations.revoke("family-1")
    assert await revocations.revoked("family-1")
    assert not await revocations.revoked("")
    await asyncio.sleep(0.1)
    assert not await revocations.revoked("family-1")


def test_the_default_list_lives_as_long_as_a_token_can() -> None:
    auth = Authenticator(SETTINGS)
    assert auth.revocations.ttl == SETTINGS.access_ttl_seconds + SETTINGS.leeway_seconds
