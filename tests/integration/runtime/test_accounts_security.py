"""Sign-out ends access tokens on every service, the second factor's failures
are not reset by a right password, MFA secrets are encrypted at rest and the
embedded database is readable by its owner only. On SQLite and on
PostgreSQL + Redis."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from accounts_harness import (
    PASSWORD,
    Accounts,
    accounts_database,
    running_accounts,
    totp_next,
    totp_now,
)
from sqlalchemy import select, update

from storefleet.runtime.accounts.models import User
from storefleet.runtime.accounts.secrets_at_rest import encrypt_stored_secrets
from storefleet.runtime.accounts.service import AccountsService

pytestmark = pytest.mark.asyncio(loop_scope="session")
THRESHOLD = 5


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["embedded", "postgres"])
async def accounts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Accounts]:
    kind = request.param
    cache_url, prefix = "memory://", ""
    if kind == "postgres":
        cache_url = request.getfixturevalue("redis_url")
        prefix = f"sf-test-{uuid.uuid4().hex[:8]}:"
    with accounts_database(request, tmp_path_factory.mktemp("accounts"), kind) as url:
        async with running_accounts(
            url,
            cache_url=cache_url,
            cache_prefix=prefix,
            lockout_threshold=THRESHOLD,
            attempts_per_minute=1000,
        ) as running:
            yield running


@pytest_asyncio.fixture(loop_scope="session")
async def client(accounts: Accounts) -> AsyncIterator[httpx.AsyncClient]:
    async with accounts.client() as made:
        yield made


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def service_of(accounts: Accounts) -> AccountsService:
    found: AccountsService = accounts.server.app.state.accounts
    return found


async def with_mfa(accounts: Accounts, client: httpx.AsyncClient) -> tuple[str, str]:
    """A signed-up account with TOTP on: (email, secret); this step's code is
    spent, the next step's is free for a sign-in."""
    address, tokens = await accounts.sign_up(client)
    secret = (await client.post("/me/mfa", headers=bearer(tokens))).json()["secret"]
    confirmed = await client.post(
        "/me/mfa/confirm", json={"code": totp_now(secret)}, headers=bearer(tokens)
    )
    assert confirmed.status_code == 200, confirmed.text
    return address, secret


async def challenge(client: httpx.AsyncClient, address: str) -> str:
    step_one = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    assert step_one.status_code == 200, step_one.text
    found: str = step_one.json()["challenge"]
    return found


async def test_sign_out_ends_the_access_token_on_every_service(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    _, tokens = await accounts.sign_up(client)
    _, other = await accounts.sign_up(client)
    replica = accounts.replica()
    assert (await client.get("/me", headers=bearer(tokens))).status_code == 200
    assert await replica.authenticate(tokens["access_token"]) is not None

    signed_out = await client.post("/sign-out", json={"refresh_token": tokens["refresh_token"]})
    assert signed_out.status_code == 204
    refused = await client.get("/me", headers=bearer(tokens))
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    # Another service (another process, on the postgres backend: another Redis client).
    assert await replica.authenticate(tokens["access_token"]) is None
    # Someone else's sign-in is untouched.
    assert (await client.get("/me", headers=bearer(other))).status_code == 200


async def test_a_password_change_ends_every_access_token(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, first = await accounts.sign_up(client)
    second = (await client.post("/sign-in", json={"email": address, "password": PASSWORD})).json()
    changed = await client.put(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": PASSWORD + " again"},
        headers=bearer(first),
    )
    assert changed.status_code == 204, changed.text
    for tokens in (first, second):
        assert (await client.get("/me", headers=bearer(tokens))).status_code == 401


async def test_a_right_password_does_not_reset_the_second_factors_failures(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, secret = await with_mfa(accounts, client)
    for _ in range(THRESHOLD - 1):
        wrong = await client.post(
            "/sign-in/mfa", json={"challenge": await challenge(client, address), "code": "000000"}
        )
        assert wrong.status_code == 401
    # The password is right every time; the count of wrong codes still stands.
    kept = await challenge(client, address)
    last = await client.post(
        "/sign-in/mfa", json={"challenge": await challenge(client, address), "code": "000001"}
    )
    assert last.status_code == 401
    locked = await client.post("/sign-in", json={"email": address, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    # Until the window ends not even the right code gets in.
    right = await client.post("/sign-in/mfa", json={"challenge": kept, "code": totp_next(secret)})
    assert right.status_code == 429


async def test_wrong_codes_cannot_turn_the_second_factor_off_forever(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, secret = await with_mfa(accounts, client)
    good = await client.post(
        "/sign-in/mfa",
        json={"challenge": await challenge(client, address), "code": totp_next(secret)},
    )
    assert good.status_code == 200, good.text
    tokens = good.json()
    answers = [
        (
            await client.post("/me/mfa/disable", json={"code": f"{n:06d}"}, headers=bearer(tokens))
        ).status_code
        for n in range(THRESHOLD + 1)
    ]
    assert answers == [400] * THRESHOLD + [429]


async def test_mfa_secrets_are_encrypted_at_rest_and_old_rows_get_encrypted(
    accounts: Accounts, client: httpx.AsyncClient
) -> None:
    address, secret = await with_mfa(accounts, client)
    service = service_of(accounts)
    async with service.db.read() as session:
        stored = (
            await session.execute(select(User.mfa_secret).where(User.email == address))
        ).scalar_one()
    assert stored is not None
    assert stored.startswith("fernet:")
    assert secret not in stored

    # A row from before encryption: the secret in the clear.
    async with service.db.write() as session:
        await session.execute(update(User).where(User.email == address).values(mfa_secret=secret))
    assert await encrypt_stored_secrets(service.db, service.box) >= 1
    async with service.db.read() as session:
        again = (
            await session.execute(select(User.mfa_secret).where(User.email == address))
        ).scalar_one()
    assert again is not None
    assert again.startswith("fernet:")
    signed_in = await client.post(
        "/sign-in/mfa",
        json={"challenge": await challenge(client, address), "code": totp_next(secret)},
    )
    assert signed_in.status_code == 200, signed_in.text


async def test_the_embedded_database_is_its_owners_alone(accounts: Accounts) -> None:
    database = service_of(accounts).db.engine.url.database
    if not database or accounts.cache_url != "memory://":
        pytest.skip("[postgres]: accounts writes no data file; the server owns its files")
    path = Path(database)
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
