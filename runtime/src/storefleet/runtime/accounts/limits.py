"""Counting failures and attempts in the cache, so replicas share the counts."""

from __future__ import annotations

import json
import math
import time

from storefleet.runtime.platform.storage.cache import Cache


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
