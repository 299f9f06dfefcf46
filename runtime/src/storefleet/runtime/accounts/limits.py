"""Counting failures and attempts in the cache, so replicas share the counts:
the attempts of one network (``Throttle``) and the failed sign-ins of one
address (``Lockout``)."""

from __future__ import annotations

import json
import math
import time

from storefleet.runtime.accounts.audit import Client
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.accounts.users import sha256
from storefleet.runtime.platform.storage.cache import Cache
from storefleet.runtime.platform.web.errors import ProblemError


class AttemptCounter:
    """How many times ``key`` happened within the last ``window`` seconds.

    A fixed window per key, started by its first hit; compare-and-set keeps
    concurrent hits from losing counts (memory or Redis alike).
    """

    def __init__(self, cache: Cache, prefix: str) -> None:
        self._cache = cache
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def count(self, key: str) -> tuple[int, float]:
        """(hits in the current window, seconds until it ends)."""
        raw = await self._cache.get(self._key(key))
        if raw is None:
            return 0, 0.0
        state = json.loads(raw)
        remaining = float(state["until"]) - time.time()
        if remaining <= 0:
            return 0, 0.0
        return int(state["n"]), remaining

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        """Record one; returns the count including it and the seconds left."""
        for _ in range(50):
            raw = await self._cache.get(self._key(key))
            now = time.time()
            state = json.loads(raw) if raw is not None else None
            if state is None or float(state["until"]) <= now:
                fresh = {"n": 1, "until": now + window}
            else:
                fresh = {"n": int(state["n"]) + 1, "until": float(state["until"])}
            remaining = float(fresh["until"]) - now
            written = await self._cache.compare_and_set(
                self._key(key), raw, json.dumps(fresh).encode(), ttl=max(1.0, remaining)
            )
            if written:
                return int(fresh["n"]), remaining
        return 1_000_000, window  # under extreme contention: treat as over any limit

    async def reset(self, key: str) -> None:
        await self._cache.delete(self._key(key))


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class Throttle:
    """Sign-in, reset and registration attempts per client address per minute."""

    def __init__(self, cache: Cache, settings: AccountsSettings) -> None:
        self.attempts = AttemptCounter(cache, "acct-rate")
        self.settings = settings

    async def check(self, client: Client, action: str) -> None:
        """Count this attempt; 429 once the network made too many this minute."""
        count, left = await self.attempts.hit(f"{action}:{client.ip}", 60)
        if count > self.settings.attempts_per_minute:
            raise ProblemError(
                429,
                "too many attempts from your network; wait a minute",
                headers={"Retry-After": retry_after(left)},
            )


class Lockout:
    """Failed sign-ins per e-mail address, known or not (counted by its digest)."""

    def __init__(self, cache: Cache, settings: AccountsSettings) -> None:
        self.failures = AttemptCounter(cache, "acct-fail")
        self.settings = settings

    async def check(self, email: str) -> None:
        """429 once the address had too many failed sign-ins. Password and
        second-factor failures count together and only a complete sign-in
        (both factors) clears them: a right password alone never does, or
        whoever knows it would get unlimited guesses at the code."""
        count, left = await self.failures.count(sha256(email))
        if count >= self.settings.lockout_threshold:
            raise ProblemError(
                429,
                "too many failed sign-ins for this address; try again later",
                headers={"Retry-After": retry_after(left)},
            )

    async def fail(self, email: str) -> None:
        await self.failures.hit(sha256(email), self.settings.lockout_seconds)

    async def clear(self, email: str) -> None:
        await self.failures.reset(sha256(email))
