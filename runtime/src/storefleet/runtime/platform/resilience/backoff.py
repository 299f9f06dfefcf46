"""Retries with full-jitter exponential backoff: the one backoff of the runtime."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def backoff_delays(
    attempts: int, base: float = 0.05, cap: float = 1.0, rng: random.Random | None = None
) -> list[float]:
    """Full-jitter exponential backoff: spreads retries so they don't arrive in waves."""
    rand = rng or random.Random()
    return [rand.uniform(0, min(cap, base * 2**n)) for n in range(attempts)]


class RetryableError(Exception):
    pass


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    retries: int = 2,
    base_delay: float = 0.05,
    max_delay: float = 1.0,
    retry_on: tuple[type[BaseException], ...] = (RetryableError,),
) -> T:
    delays = backoff_delays(retries, base_delay, max_delay)
    for delay in delays:
        try:
            return await operation()
        except retry_on:
            await asyncio.sleep(delay)
    return await operation()
