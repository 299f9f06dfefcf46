"""Each Store gets a Redis ACL user confined to its own keys."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError
from redis.retry import Retry

from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.redis import RedisProvisioner


def client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, decode_responses=True, retry=Retry(NoBackoff(), 0))


CREATED: list[Tenant] = []


@pytest.fixture
async def provisioner(redis_url: str) -> AsyncIterator[RedisProvisioner]:
    """The provisioner; whatever a test made with it is deleted afterwards."""
    made = RedisProvisioner(redis_url)
    yield made
    while CREATED:
        await made.delete(CREATED.pop(), "Delete")


async def provisioned(provisioner: RedisProvisioner, label: str) -> tuple[Tenant, str]:
    who = Tenant(store=f"{label}-{secrets.token_hex(3)}", namespace="unused")
    CREATED.append(who)
    result = await provisioner.ensure(who, secrets.token_urlsafe(16))
    assert result.ok, result.condition
    assert result.outputs["REDIS_KEY_PREFIX"] == f"{who.store}:"
    return who, result.outputs["REDIS_URL"]


async def test_a_store_uses_its_own_keys_and_is_refused_anothers(
    provisioner: RedisProvisioner,
) -> None:
    acme, acme_url = await provisioned(provisioner, "acme")
    globex, globex_url = await provisioned(provisioner, "globex")
    async with client(globex_url) as globex_client:
        await globex_client.set(f"{globex.store}:cart:1", "globex's cart")
    async with client(acme_url) as acme_client:
        await acme_client.set(f"{acme.store}:cart:1", "3 items", ex=60)
        assert await acme_client.get(f"{acme.store}:cart:1") == "3 items"
        with pytest.raises(NoPermissionError):
            await acme_client.get(f"{globex.store}:cart:1")
        with pytest.raises(NoPermissionError):
            await acme_client.set(f"{globex.store}:cart:1", "overwritten")


async def test_server_wide_commands_are_refused(provisioner: RedisProvisioner) -> None:
    _, url = await provisioned(provisioner, "acme")
    async with client(url) as tenant:
        for command in (("KEYS", "*"), ("SCAN", "0"), ("FLUSHALL",), ("CONFIG", "GET", "*")):
            with pytest.raises(NoPermissionError):
                await tenant.execute_command(*command)


async def test_delete_removes_user_and_keys_and_retain_keeps_them(
    provisioner: RedisProvisioner, redis_url: str
) -> None:
    kept, kept_url = await provisioned(provisioner, "kept")
    gone, gone_url = await provisioned(provisioner, "gone")
    for who, url in ((kept, kept_url), (gone, gone_url)):
        async with client(url) as tenant:
            await tenant.set(f"{who.store}:session", "data")

    assert (await provisioner.delete(kept, "Retain")).condition.reason == "Retained"
    async with client(kept_url) as tenant:
        assert await tenant.get(f"{kept.store}:session") == "data"

    deleted = await provisioner.delete(gone, "Delete")
    assert deleted.condition.reason == "Deleted"
    assert "1 keys" in deleted.condition.message
    async with client(redis_url) as admin:
        assert await admin.exists(f"{gone.store}:session") == 0
    with pytest.raises(AuthenticationError):
        async with client(gone_url) as tenant:
            await tenant.ping()
