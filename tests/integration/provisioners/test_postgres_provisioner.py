"""Each Store gets its own PostgreSQL role and database, and no other's."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from storefleet.operator.provisioners.base import Tenant
from storefleet.operator.provisioners.postgres import PostgresProvisioner


def tenant(label: str) -> Tenant:
    name = f"{label}-{secrets.token_hex(3)}"
    return Tenant(store=name, namespace=f"store-{name}", spec={"connectionLimit": 20})


CREATED: list[Tenant] = []


@pytest.fixture
async def provisioner(postgres_dsn: str) -> AsyncIterator[PostgresProvisioner]:
    """The provisioner; whatever a test made with it is deleted afterwards."""
    made = PostgresProvisioner(postgres_dsn)
    yield made
    while CREATED:
        await made.delete(CREATED.pop(), "Delete")


async def provisioned(provisioner: PostgresProvisioner, label: str) -> tuple[Tenant, str, str]:
    who, password = tenant(label), secrets.token_urlsafe(16)
    CREATED.append(who)
    result = await provisioner.ensure(who, password)
    assert result.ok, result.condition
    return who, password, result.outputs["DATABASE_URL"]


async def test_a_store_gets_a_database_it_can_use(provisioner: PostgresProvisioner) -> None:
    _, _, dsn = await provisioned(provisioner, "acme")
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute("CREATE TABLE carts (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO carts VALUES (1)")
        row = await (await conn.execute("SELECT count(*) FROM carts")).fetchone()
    assert row == (1,)


async def test_a_store_is_refused_by_another_stores_database(
    provisioner: PostgresProvisioner,
) -> None:
    acme, acme_password, _ = await provisioned(provisioner, "acme")
    globex, _, _ = await provisioned(provisioner, "globex")
    # Acme's role and password, pointed at Globex's database.
    acme_dsn = urlsplit(provisioner.tenant_dsn(acme, acme_password))
    trespass = urlunsplit(acme_dsn._replace(path=f"/{globex.ident}"))
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        await psycopg.AsyncConnection.connect(trespass)


async def test_ensure_is_idempotent_and_converges_a_rotated_password(
    provisioner: PostgresProvisioner,
) -> None:
    who, old_password, old_dsn = await provisioned(provisioner, "acme")
    again = await provisioner.ensure(who, old_password)
    assert again.ok
    assert again.outputs["DATABASE_URL"] == old_dsn

    new_password = secrets.token_urlsafe(16)
    rotated = await provisioner.ensure(who, new_password)
    assert rotated.ok
    async with await psycopg.AsyncConnection.connect(rotated.outputs["DATABASE_URL"]):
        pass
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await psycopg.AsyncConnection.connect(old_dsn)


async def test_delete_drops_and_retain_keeps(provisioner: PostgresProvisioner) -> None:
    kept, _, kept_dsn = await provisioned(provisioner, "kept")
    gone, _, _ = await provisioned(provisioner, "gone")

    retained = await provisioner.delete(kept, "Retain")
    assert retained.condition.reason == "Retained"
    async with await psycopg.AsyncConnection.connect(kept_dsn):
        pass
    assert (await provisioner.describe(kept)).ok

    deleted = await provisioner.delete(gone, "Delete")
    assert deleted.condition.reason == "Deleted"
    described = await provisioner.describe(gone)
    assert described.condition.status == "False"
    assert described.condition.reason == "Missing"


async def test_an_unreachable_server_is_a_condition_not_a_crash() -> None:
    down = PostgresProvisioner(
        "postgresql://nobody:nothing@127.0.0.1:1/postgres", connect_timeout=2
    )
    result = await down.ensure(tenant("acme"), "irrelevant")
    assert result.condition.status == "False"
    assert result.condition.reason == "PostgresUnavailable"
    assert "127.0.0.1" in result.condition.message or "connect" in result.condition.message
