"""Password hashing: argon2id, off the event loop."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


async def verify_password(hashed: str, password: str) -> bool:
    def check() -> bool:
        try:
            return HASHER.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def dummy_hash() -> str:
    """A hash of no one's password, checked against when an address has no
    account, so that the answer takes the same argon2 work."""
    return HASHER.hash(secrets.token_urlsafe(16))
