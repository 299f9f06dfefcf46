"""A small cache interface: in memory by default, Redis in cluster mode.

Beyond get/set it offers compare-and-set, because carts are read-modified-written
by concurrent requests and a lost update there is a lost item for a shopper.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import redis.asyncio as aioredis


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        """Store ``value`` only if the key still holds ``expected`` (None: absent)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """A bounded LRU with per-key expiry; one per process, like the embedded mode."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._max = max_entries

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expires = time.monotonic() + ttl if ttl else None
        self._data[key] = (value, expires)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        # No await between the read and the write: atomic on the event loop.
        if self._live(key) != expected:
            return False
        await self.set(key, value, ttl)
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()


_CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then matches = (current == false) else matches = (current == ARGV[2]) end
if not matches then return 0 end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
"""


class RedisCache:
    def __init__(self, url: str, prefix: str = "") -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._cas = self._redis.register_script(_CAS_SCRIPT)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._key(key))
        # The client is built without decode_responses, so values are bytes.
        return value if value is None or isinstance(value, bytes) else value.encode()

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._redis.set(self._key(key), value, px=int(ttl * 1000) if ttl else None)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._key(key))

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        absent = "1" if expected is None else "0"
        result = await self._cas(
            keys=[self._key(key)],
            args=[absent, expected or b"", value, int(ttl * 1000) if ttl else 0],
        )
        return bool(result)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def create_cache(url: str, prefix: str = "") -> Cache:
    if url.startswith("memory://"):
        return MemoryCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(url, prefix)
    raise ValueError(f"unsupported cache URL scheme: {url.split('://', 1)[0]!r}")
