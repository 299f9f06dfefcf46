"""Redis: an ACL user per Store, confined to its key prefix and the runtime's commands.

Key patterns confine every command that names keys; commands that list or wipe
keys across the whole server (KEYS, SCAN, FLUSHALL, ...) are denied outright,
since a key pattern does not filter what they return or touch.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from storefleet.operator.provisioners.base import DeletionPolicy, Result, Tenant, outcome
from storefleet.operator.vocabulary import ConditionType, Reason

CONDITION = ConditionType.CACHE
# Reads, writes, transactions and scripts on its own keys; nothing server-wide.
CATEGORIES: Final = (
    "-@all",
    "+@read",
    "+@write",
    "+@transaction",
    "+@connection",
    "+@scripting",
    "+@pubsub",
    "-@dangerous",
    "-@admin",
)
DENIED_COMMANDS: Final = ("-keys", "-scan", "-randomkey", "-script|flush", "-function|flush")


def key_prefix(tenant: Tenant) -> str:
    return f"{tenant.store}:"


def username(tenant: Tenant) -> str:
    return f"store-{tenant.store}"


class RedisProvisioner:
    condition_type = CONDITION

    def __init__(self, admin_url: str, *, timeout: float = 5.0) -> None:
        self.admin_url = admin_url
        self.timeout = timeout

    def _admin(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.admin_url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )

    def tenant_url(self, tenant: Tenant, password: str) -> str:
        parts = urlsplit(self.admin_url)
        netloc = f"{quote(username(tenant), safe='')}:{quote(password, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/0", "", ""))

    async def ensure(self, tenant: Tenant, password: str) -> Result:
        prefix = key_prefix(tenant)
        try:
            async with self._admin() as admin:
                # reset: the user ends up exactly as listed, whatever it was before.
                await admin.acl_setuser(
                    username(tenant),
                    reset=True,
                    enabled=True,
                    passwords=[f"+{password}"],
                    categories=CATEGORIES,
                    commands=DENIED_COMMANDS,
                    keys=[f"{prefix}*"],
                    channels=[f"{prefix}*"],
                )
        except RedisError as exc:
            return _unavailable(exc)
        return outcome(
            CONDITION,
            Reason.PROVISIONED,
            f"ACL user {username(tenant)} confined to keys {prefix}*",
            {"REDIS_URL": self.tenant_url(tenant, password), "REDIS_KEY_PREFIX": prefix},
        )

    async def describe(self, tenant: Tenant) -> Result:
        try:
            async with self._admin() as admin:
                users = {
                    u.decode() if isinstance(u, bytes) else str(u) for u in await admin.acl_users()
                }
        except RedisError as exc:
            return _unavailable(exc)
        if username(tenant) in users:
            return outcome(CONDITION, Reason.PROVISIONED, f"ACL user {username(tenant)}")
        return outcome(CONDITION, Reason.MISSING, f"no ACL user {username(tenant)}")

    async def delete(self, tenant: Tenant, policy: DeletionPolicy) -> Result:
        prefix = key_prefix(tenant)
        if policy == "Retain":
            return outcome(
                CONDITION,
                Reason.RETAINED,
                f"deletionPolicy Retain: ACL user {username(tenant)} and keys {prefix}* kept",
            )
        removed = 0
        try:
            async with self._admin() as admin:
                await admin.acl_deluser(username(tenant))
                async for key in admin.scan_iter(match=f"{prefix}*", count=500):
                    removed += await admin.unlink(key)
        except RedisError as exc:
            return _unavailable(exc)
        message = f"ACL user {username(tenant)} and {removed} keys under {prefix} removed"
        return outcome(CONDITION, Reason.DELETED, message)


def _unavailable(exc: RedisError) -> Result:
    return outcome(CONDITION, Reason.REDIS_UNAVAILABLE, str(exc) or type(exc).__name__)
