"""PostgreSQL: a login role with its own password and a database it owns, per Store.

Connecting to a database needs the CONNECT privilege, which PostgreSQL grants
to PUBLIC by default; revoking it on each tenant database is what keeps one
tenant's role out of another tenant's database.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from storefleet.operator.provisioners.base import DeletionPolicy, Result, Tenant, outcome
from storefleet.operator.vocabulary import ConditionType, Reason

CONDITION = ConditionType.DATABASE
# ALTER on every pass converges a rotated password or a changed limit.
_ROLE = {
    False: "CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT {}",
    True: "ALTER ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT {}",
}


class PostgresProvisioner:
    condition_type = CONDITION

    def __init__(self, admin_dsn: str, *, connect_timeout: float = 5.0) -> None:
        self.admin_dsn = admin_dsn
        self.connect_timeout = connect_timeout

    async def _admin(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        return await psycopg.AsyncConnection.connect(
            self.admin_dsn, autocommit=True, connect_timeout=int(self.connect_timeout)
        )

    def tenant_dsn(self, tenant: Tenant, password: str) -> str:
        """The tenant's own DSN: same server, its role and database."""
        parts = urlsplit(self.admin_dsn)
        netloc = f"{tenant.ident}:{quote(password, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, f"/{tenant.ident}", parts.query, ""))

    async def ensure(self, tenant: Tenant, password: str) -> Result:
        name = sql.Identifier(tenant.ident)
        limit = _connection_limit(tenant.spec)
        try:
            async with await self._admin() as admin:
                role_exists = await _exists(
                    admin, "SELECT 1 FROM pg_roles WHERE rolname = %s", tenant.ident
                )
                await admin.execute(
                    sql.SQL(_ROLE[role_exists]).format(
                        name, sql.Literal(password), sql.Literal(limit)
                    )
                )
                if not await _exists(
                    admin, "SELECT 1 FROM pg_database WHERE datname = %s", tenant.ident
                ):
                    await admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(name, name))
                await admin.execute(
                    sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(name)
                )
                await admin.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(name, name)
                )
        except psycopg.Error as exc:
            return _unavailable(exc)
        return outcome(
            CONDITION,
            Reason.PROVISIONED,
            f"database {tenant.ident} owned by role {tenant.ident} (connection limit {limit})",
            {"DATABASE_URL": self.tenant_dsn(tenant, password)},
        )

    async def describe(self, tenant: Tenant) -> Result:
        try:
            async with await self._admin() as admin:
                present = await _exists(
                    admin,
                    "SELECT 1 FROM pg_database d JOIN pg_roles r ON d.datdba = r.oid"
                    " WHERE d.datname = %s AND r.rolname = %s",
                    tenant.ident,
                    tenant.ident,
                )
        except psycopg.Error as exc:
            return _unavailable(exc)
        if present:
            return outcome(CONDITION, Reason.PROVISIONED, f"database {tenant.ident}")
        return outcome(CONDITION, Reason.MISSING, f"no database {tenant.ident}")

    async def delete(self, tenant: Tenant, policy: DeletionPolicy) -> Result:
        if policy == "Retain":
            return outcome(
                CONDITION,
                Reason.RETAINED,
                f"deletionPolicy Retain: database and role {tenant.ident} kept",
            )
        name = sql.Identifier(tenant.ident)
        try:
            async with await self._admin() as admin:
                await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
                await admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))
        except psycopg.Error as exc:
            return _unavailable(exc)
        return outcome(CONDITION, Reason.DELETED, f"database and role {tenant.ident} dropped")


def _connection_limit(spec: Mapping[str, object]) -> int:
    limit = spec.get("connectionLimit", -1)
    return limit if isinstance(limit, int) else -1


async def _exists(
    conn: psycopg.AsyncConnection[tuple[object, ...]], query: str, *params: str
) -> bool:
    cursor = await conn.execute(query, params)
    return await cursor.fetchone() is not None


def _unavailable(exc: psycopg.Error) -> Result:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return outcome(CONDITION, Reason.POSTGRES_UNAVAILABLE, detail)
