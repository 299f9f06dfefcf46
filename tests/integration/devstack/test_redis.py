"""The dev stack's Redis is a real server that demands its password."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def test_set_and_get_a_key(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    key = f"test:{secrets.token_hex(4)}"
    client.set(key, "basket", ex=30)
    assert client.get(key) == "basket"
    assert 0 < client.ttl(key) <= 30
    client.delete(key)


def test_a_client_without_the_password_is_refused(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    # No retries: a refused login is the answer, not a hiccup to retry.
    anonymous = redis.Redis(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, retry=Retry(NoBackoff(), 0)
    )
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("anything")


def test_an_acl_user_is_confined_to_its_key_prefix(redis_url: str) -> None:
    """ACLs work, as the operator's per-tenant Redis users will rely on."""
    admin = redis.Redis.from_url(redis_url, decode_responses=True)
    user, password = f"tenant-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["acme:*"], commands=["+get", "+set"]
    )
    try:
        parts = urlsplit(redis_url)
        tenant = redis.Redis(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            username=user,
            password=password,
            decode_responses=True,
        )
        tenant.set("acme:cart:1", "2 items")
        assert tenant.get("acme:cart:1") == "2 items"
        with pytest.raises(redis.exceptions.NoPermissionError):
            tenant.get("globex:cart:1")
    finally:
        admin.acl_deluser(user)
        admin.delete("acme:cart:1")
